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


class Forbidden(InputError):
    """A change asked of something opened read-only (a `qa serve --read-only` page)."""

    exit_code = 2
