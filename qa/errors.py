"""The errors a user can meet: each carries one sentence saying what is wrong and what to do."""

from __future__ import annotations


class QAError(Exception):
    """A failure to show the user as one line; `exit_code` 2 means bad usage or input."""

    exit_code = 1


class InputError(QAError):
    """The question, a file or an option is unusable."""

    exit_code = 2


class IndexUnusable(QAError):
    """The index directory is missing, damaged, or was built differently."""

    exit_code = 1


class SaveFailed(QAError):
    """Writing the index failed (disk full, read-only, permissions); the previous index is still live."""

    exit_code = 1


class NoIndex(IndexUnusable):
    """There is no index where one was named: a wrong path, so bad input."""

    exit_code = 2


class NotFound(InputError):
    """What a request names does not exist (an article id): HTTP 404."""

    exit_code = 2


class Forbidden(InputError):
    """A change asked of something opened read-only (a `qa serve --read-only` page)."""

    exit_code = 2


INTERNAL_EXIT_CODE = 70  # EX_SOFTWARE: a bug, not the user's input


def one_line(exc: BaseException, details: str = "the server's log has it", with_message: bool = False) -> str:
    """The line a user sees for a failure: a QAError's own sentence; anything else is a bug, marked as one
    with its type (and, `with_message`, its own words: only where the user is the one who runs it) and
    `details`, where its traceback went; never dressed as an ordinary error."""
    if isinstance(exc, QAError):
        return str(exc)
    what = type(exc).__name__ + (f": {' '.join(str(exc).split())[:300]}" if with_message and str(exc) else "")
    return f"internal error, not a problem with your input ({what}); {details}"
