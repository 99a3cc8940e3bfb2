"""The HTTP API beside the page: versioned JSON routes under /api/v1, their OpenAPI schema at
/api/v1/openapi.json, and the sign-in guard that keeps them (and the MCP endpoint) behind `--auth`.

Errors are one line in `{"error": ..., "exit_code": ...}` with the status that matches the CLI's exit
code: 400 for bad input (exit 2), 403 for a change asked of a read-only page, 401 without sign-in,
503 when the index cannot be used and 507 when it cannot be written (exit 1), 500 for a bug (exit 70,
marked as an internal error).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from qa import __version__
from qa.articles import slug
from qa.errors import (
    INTERNAL_EXIT_CODE,
    Forbidden,
    IndexUnusable,
    InputError,
    NotFound,
    QAError,
    SaveFailed,
    one_line,
)

if TYPE_CHECKING:
    from ui.service import PageService

API_PREFIX = "/api/v1"
MOST_QUESTIONS = 100  # questions in one POST /ask (each answered in the page's shared batches)
GUARDED = (API_PREFIX, "/gradio_api/mcp")  # what the sign-in guard protects besides Gradio's own page
logger = logging.getLogger(__name__)


class Strict(BaseModel):
    """A request body: a field it does not know is refused, naming it (a typo is never silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class AskRequest(Strict):
    question: str = Field(description="the question in plain words")
    as_of: str = Field("", description="ask as on this day (YYYY-MM-DD); empty: today")
    since: str = Field("", description="only articles published on or after this date")
    until: str = Field("", description="only articles published on or before this date")
    source: str = Field("", description="only articles from this source (case does not matter)")
    top_k: int = Field(5, description="passages to read, 1 to 20")


class ManyQuestions(Strict):
    questions: list[AskRequest] = Field(
        description=f"questions, each with its own as_of and filters; at most {MOST_QUESTIONS}"
    )


class SearchRequest(Strict):
    query: str = Field(
        "", description="what to look for, as a question or keywords (with like: may be empty)"
    )
    as_of: str = Field("", description="search as on this day (YYYY-MM-DD); empty: everything")
    since: str = ""
    until: str = ""
    source: str = ""
    limit: int = Field(5, description="passages to return, 1 to 20 (with articles: to look at, 1 to 50)")
    articles: bool = Field(
        False, description="the news desk's view: articles grouped, with counts by source and by day"
    )
    sort: str = Field("relevance", description='with articles: "relevance" or "date" (newest first)')
    like: str = Field("", description="with articles: an article's id, to find articles like it")


class NewArticle(Strict):
    text: str = Field(description="the article's text")
    title: str = ""
    id: str | None = Field(
        None, description="a stable id: the same id updates the article; default from url/text"
    )
    date: str | None = Field(None, description="publication date, any common form")
    source: str | None = None
    url: str | None = None


class AddRequest(Strict):
    articles: list[NewArticle]
    replace: bool = Field(
        False,
        description="replace stored articles of the same ids that another origin added (with sign-in: "
        "only its own uploader, unless the server allows it); otherwise they are kept apart under new ids",
    )


def status_of(exc: QAError) -> int:
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, SaveFailed):
        return 507
    if isinstance(exc, IndexUnusable):
        return 503
    return 500


def failure(line: str, status: int, exit_code: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": line, "exit_code": exit_code}, status_code=status, headers=headers)


def build_api(service: PageService) -> FastAPI:
    """The /api/v1 application over the page's service (the same engine, batcher, lock and limits)."""
    api = FastAPI(
        title="qa-news",
        version=__version__,
        summary="Extractive question answering over your news archive, with citations.",
        docs_url=None,  # Swagger's page loads its scripts from a CDN; the schema is at /api/v1/openapi.json
        redoc_url=None,
    )
    _answer_failures_in_one_line(api)
    _add_question_routes(api, service)
    _add_article_routes(api, service)
    return api


def _answer_failures_in_one_line(api: FastAPI) -> None:
    """Every failure as {"error": one line, "exit_code": the CLI's}, with the status that says what went wrong."""

    @api.exception_handler(QAError)
    async def expected_failure(request: Request, exc: QAError) -> JSONResponse:
        return failure(one_line(exc), status_of(exc), exc.exit_code)

    @api.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return failure(validation_line(exc.errors()), 400, 2)

    @api.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        logger.error("The API failed on %s", request.url.path, exc_info=exc)
        return failure(one_line(exc), 500, INTERNAL_EXIT_CODE)


def _add_question_routes(api: FastAPI, service: PageService) -> None:
    """/health, /ask and /search."""

    @api.get("/health", summary="Whether the engine is up, and how much it holds")
    def health() -> Any:
        try:
            stats = service.engine.stats()
        except IndexUnusable as exc:  # e.g. the folder deleted under the running page: "gone", never "ok"
            gone = "is gone" in str(exc)
            body = {"status": "gone" if gone else "unusable", "error": one_line(exc), "exit_code": 1}
            return JSONResponse(body, status_code=503)
        return {
            "status": "ok",
            "articles": stats.articles,
            "passages": stats.passages,
            "read_only": service.read_only,
            "version": __version__,
        }

    @api.post(
        "/ask",
        summary="Answer a question, citing the sentence it comes from; or several, each with its own as_of",
    )
    def ask(request: AskRequest | ManyQuestions) -> dict[str, Any]:
        if isinstance(request, AskRequest):
            return service.tools.ask(**request.model_dump())
        if not 1 <= len(request.questions) <= MOST_QUESTIONS:
            raise InputError(f"Send 1 to {MOST_QUESTIONS} questions at once, not {len(request.questions)}.")
        return {"answers": [service.tools.ask(**q.model_dump()) for q in request.questions]}

    @api.post("/search", summary="The passages that best match a query, or (articles) the desk's view")
    def search(request: SearchRequest) -> list[dict[str, Any]] | dict[str, Any]:
        asked = request.model_dump()
        if asked.pop("articles"):
            return service.tools.search_articles(**asked)
        if asked.pop("sort") != "relevance" or asked.pop("like"):
            raise InputError('sort and like go with "articles": true (the desk\'s view of a search).')
        return service.tools.search(**asked)


def _add_article_routes(api: FastAPI, service: PageService) -> None:
    """/articles and /files: list, read, add and remove articles."""

    @api.get("/articles", summary="The articles, newest first, a page at a time")
    def articles(
        since: str = "", until: str = "", source: str = "", offset: int = 0, limit: int = 20
    ) -> dict[str, Any]:
        return service.tools.list_articles(since, until, source, offset, limit)

    @api.get("/articles/{article_id:path}", summary="One article: its text and what is known of it")
    def article(article_id: str) -> dict[str, Any]:
        return service.tools.article(article_id)

    @api.delete("/articles/{article_id:path}", summary="Remove one article")
    def remove_article(article_id: str) -> dict[str, Any]:
        service.tools.article(article_id)  # 404 for an unknown id, in one line
        return {"message": service.remove([article_id]), "removed": article_id}

    @api.post("/articles", summary="Add or update articles given as JSON")
    def add_articles(body: AddRequest, request: Request) -> dict[str, Any]:
        return service.add_texts([a.model_dump() for a in body.articles], user_of(request), body.replace)

    @api.post("/files", summary="Add article files (.txt, .md, .html, .jsonl, RSS/Atom), as the page does")
    def add_files(
        request: Request,
        files: list[UploadFile] = File(...),  # noqa: B008 (FastAPI's idiom)
        replace: bool = Form(False),  # noqa: B008
    ) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for n, upload in enumerate(files):
                path = Path(tmp) / str(n) / upload_name(upload.filename, n)
                path.parent.mkdir()
                with path.open("wb") as out:
                    copy_at_most(upload, out, service.max_upload_bytes + 1)  # one byte over: refused by size
                paths.append(str(path))
            return service.add_uploads(paths, user_of(request), replace)


def validation_line(errors: Any) -> str:
    """One line a person understands for a request FastAPI could not take: bad JSON, a field it does not know,
    a missing or mistyped one."""
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        at = first.get("loc", ("body", 0))[-1]
        return (
            f"The request body is not valid JSON (it breaks off or goes wrong at character {at}); send one JSON "
            'object, e.g. {"question": "Who leads the talks?"}.'
        )
    if first.get("type") == "extra_forbidden":
        return (
            f"Unknown field {str(first.get('loc', ('?',))[-1])!r}; see /api/v1/openapi.json for the fields."
        )
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "AskRequest", "ManyQuestions"))
    return f"{where or 'the request'}: {first.get('msg', 'is not valid')}; see /api/v1/openapi.json."


def upload_name(raw: str | None, n: int) -> str:
    """A file name for an upload's temporary copy: the name's last part as a short slug and its suffix (a name
    of any length, with slashes or "..", becomes a plain name; only its type matters to the reader)."""
    name = PurePosixPath(str(raw or "").replace("\\", "/")).name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,10}", suffix):
        stem, suffix = name, "txt"
    return f"{slug(stem)[:80] or f'upload-{n}'}.{suffix.lower()}"


def user_of(request: Request) -> str | None:
    """Who signed in to this request (SignInGuard), or None on a server without sign-in."""
    return request.scope.get("qa_user")


def copy_at_most(upload: UploadFile, out: Any, most: int) -> None:
    """Copy at most `most` bytes of an upload to `out`; the rest is never read."""
    while most > 0 and (chunk := upload.file.read(min(1 << 20, most))):
        out.write(chunk)
        most -= len(chunk)


class SignInGuard:
    """ASGI middleware: the API and the MCP endpoint answer only requests that sign in (HTTP Basic) when the page
    has credentials; Gradio's own sign-in guards the page itself."""

    def __init__(self, app: Any, credentials: list[tuple[str, str]]) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        guarded = scope["type"] == "http" and str(scope.get("path", "")).startswith(GUARDED)
        user = self.signed_in(scope) if guarded and self.credentials else None
        if guarded and self.credentials and user is None:
            response = failure(
                "Sign in first: send the page's user name and password (HTTP Basic, e.g. curl -u USER:PASSWORD).",
                401,
                2,
                headers={"WWW-Authenticate": 'Basic realm="qa-news"'},
            )
            await response(scope, receive, send)
            return
        if user is not None:
            scope["qa_user"] = user  # who adds what (ui.service.PageService.claim)
        await self.app(scope, receive, send)

    def signed_in(self, scope: dict[str, Any]) -> str | None:
        """The user whose name and password the request sends (HTTP Basic), or None."""
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, encoded = header.partition(b" ")
        if scheme.lower() != b"basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        matches = [
            secrets.compare_digest(user.encode(), u.encode())
            & secrets.compare_digest(password.encode(), p.encode())
            for u, p in self.credentials
        ]
        return user if any(matches) else None
