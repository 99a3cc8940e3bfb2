"""The Gradio page: ask, see the answer in its article, manage the service.

Everything goes through qa.engine.Engine; this module only turns its results
into HTML and its errors into messages.
"""

from __future__ import annotations

import errno
import html
import inspect
import json
import logging
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware
from starlette.routing import Mount

from qa.config import FILE_TYPES, Config, default_index_dir
from qa.errors import InputError, QAError, one_line
from ui.api import API_PREFIX, SignInGuard, build_api
from ui.desk_page import search_tab
from ui.guards import OriginGuard, UploadGuard, install_cors
from ui.service import (  # noqa: F401 - the page's names, kept importable from here
    MAX_FILES,
    SEED_EXAMPLES,
    SEED_ID,
    PageService,
    article_from_fields,
    file_states,
    library_in_words,
)

logger = logging.getLogger(__name__)
# Questions Gradio hands over at once: they wait in qa.batching for a shared batch, not in Gradio's queue,
# so a crowd's questions are read together (bench/concurrent_ask.py measures it).
ASK_CONCURRENCY = 64

CSS = """
#answer .answer-text { font-size: 2rem; font-weight: 700; line-height: 1.2; }
#answer .meta, .candidate .meta { color: #666; font-size: 0.9rem; }
#answer .passage { margin-top: .75rem; padding: .75rem; border-left: 4px solid #f59e0b;
                  background: rgba(245,158,11,.06); }
#answer mark { background: #fde68a; padding: 0 .15em; border-radius: 3px; }
#answer .dont-know { font-size: 1.5rem; font-weight: 600; }
#answer .likely { font-size: 1.5rem; }
.candidate { margin: .25rem 0; }
/* The library table in the page's font, headers whole. */
#articles table, #articles td, #articles th, #articles span { font-family: var(--font) !important; }
#articles th span { word-break: keep-all; overflow-wrap: normal; }
"""


# Gradio's default theme declares its fonts in weights 400 and 600, and its 600 files hold only a few dozen
# letters, so bold text mixed letters of two fonts ("News QA"); the full 400 and 700 files are used instead.
THEME = gr.themes.Default(
    font=[
        gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)),
        "ui-sans-serif",
        "system-ui",
        "sans-serif",
    ],
    font_mono=[gr.themes.LocalFont("IBM Plex Mono", weights=(400, 700)), "ui-monospace", "monospace"],
)


def upload_markdown(uploaded: dict[str, Any]) -> str:
    """What an upload did, for the page: its summary, then a line per file."""
    lines = [uploaded["message"]]
    for row in uploaded["files"]:
        said = f"failed — {row['error']}" if "error" in row else row["state"]
        said += "".join(
            f" (as {new!r}: {old!r} is another article's, kept as it was)"
            for old, new in row.get("kept_apart", {}).items()
        )
        lines.append(f"- **{row['name']}**: {said}")
    return "\n".join(lines)


def visitor_line(exc: Exception) -> str:
    """The message a visitor sees (qa.errors.one_line); a bug's traceback goes to the server's log."""
    if not isinstance(exc, QAError):
        logger.exception("The page failed on a request")
    return one_line(exc)


def where(item: dict[str, Any]) -> str:
    """Title · date · source, and a link to the article when it has a url (HTML)."""
    e = html.escape
    parts = [e(x) for x in (item.get("title"), item.get("date"), item.get("source")) if x]
    url = item.get("url")
    if url and url.startswith(("http://", "https://")):
        parts.append(f"<a href='{e(url)}' target='_blank' rel='noopener noreferrer'>open the article</a>")
    return " · ".join(parts)


def render_answer(result: dict[str, Any]) -> tuple[str, str]:
    """The answer card and the other candidates, as HTML: an answer, a likely answer ("Probably ..."), or
    the articles don't say with the closest passages (and then no candidates: there is no first one)."""
    e = html.escape
    answer, likely = result["answer"], result.get("likely")
    timing = timing_line(result, "Answered" if answer else "Searched")
    if answer:
        sure = (
            "confident"
            if result.get("confident", True)
            else "confident — a best guess, below the confidence threshold"
        )
        when = (
            f" · <span class='as-of'>article of {e(result['article_date'])}</span>"
            if result.get("article_date")
            else ""
        )
        card = (
            f"<div class='answer-text'>{e(answer['text'])}</div>"
            f"<p class='meta'>{answer['score']:.0%} {sure} · {where(answer)}{when}</p>"
            f"<div class='passage'>{marked_passage(answer)}</div>{timing}"
        )
        if result.get("timeline"):
            card += (
                "<p class='meta timeline'>Other answers, newest first: "
                + "; ".join(
                    f"<b>{e(t['text'])}</b> \u2014 {e((t['date'] or '')[:10])}"
                    for t in result["timeline"][:4]
                )
                + "</p>"
            )
    elif likely:
        card = (
            f"<div class='likely' id='likely'>Probably <b class='likely-text'>{e(likely['text'])}</b> "
            f"({likely['score']:.0%})</div><p class='meta'>The articles don't say it for sure · "
            f"{where(likely)}</p><div class='passage'>{marked_passage(likely)}</div>{timing}"
        )
    else:
        closest = "".join(
            f"<li><p class='meta'>{where(p)}</p><p>{e(p['text'])}</p></li>" for p in result["passages"][:3]
        )
        card = (
            "<div class='dont-know'>The articles don't say.</div>"
            "<p class='meta'>No passage answers this with enough confidence."
            + (" These came closest:</p><ol class='closest'>" + closest + "</ol>" if closest else "</p>")
            + timing
        )
    shown = answer or likely
    others = [c for c in result["candidates"] if c["text"] != shown["text"]][:5] if shown else []
    listing = "".join(
        f"<li class='candidate'><b>{e(c['text'])}</b> <span class='meta'>{c['score']:.0%} · {where(c)}</span></li>"
        for c in others
    )
    # data-answered-at lets a browser test tell a fresh answer from the previous one.
    stamp = time.time_ns()
    return (
        f"<div id='answer-card' data-question='{e(result['question'])}' data-tier='{e(result.get('tier', ''))}' "
        f"data-answered-at='{stamp}'>{card}</div>",
        (f"<h4>Other candidates</h4><ul>{listing}</ul>" if listing else ""),
    )


def timing_line(result: dict[str, Any], verb: str) -> str:
    """How long the question took ("Answered in ...", or "Searched in ..." when nothing was answered)."""
    seconds = result["seconds"]
    asked = result.get("asked_as_of")
    return (
        f"<p class='meta' id='timing'>{verb} in {seconds.get('total', 0):.2f} s "
        f"(retrieval {seconds.get('retrieval', 0):.2f} s, reading {seconds.get('reading', 0):.2f} s)"
        + (f" · asked as of <span id='asked-as-of'>{html.escape(asked)}</span>" if asked else "")
        + "</p>"
    )


def marked_passage(answer: dict[str, Any]) -> str:
    """The answer's passage with the answer marked (HTML)."""
    e = html.escape
    passage = answer["passage"]
    a0, a1 = answer["start"] - answer["passage_start"], answer["end"] - answer["passage_start"]
    return f"{e(passage[:a0])}<mark>{e(passage[a0:a1])}</mark>{e(passage[a1:])}"


class PageHandlers:
    """What the page's buttons do, over the service; each failure is shown as its one line (visitor_line)."""

    def __init__(self, service: PageService) -> None:
        self.service = service

    def ask_page(
        self,
        question: str,
        retrieval: str,
        top_k: float,
        always_answer: bool,
        since: str,
        until: str,
        source: str,
        as_of: str,
    ) -> tuple[str, str]:
        try:
            return render_answer(
                self.service.ask(
                    question,
                    retrieval,
                    int(top_k),
                    always_answer,
                    since=since,
                    until=until,
                    source=source,
                    as_of=as_of,
                )
            )
        except Exception as exc:  # QAError's one line, or a bug's, never Gradio's generic error
            return f"<div class='error' id='ask-error'>{html.escape(visitor_line(exc))}</div>", ""

    def refresh(self) -> tuple[Any, ...]:
        """What shows the library, after a change: its line in words, the table's first page, the removal
        choices, the examples, and the date boxes' placeholders (the library's first and last day)."""
        listed = self.service.listing()  # read once for every view below
        rows, page, line = self.service.rows(listed=listed)
        first, last = self.service.date_range(listed)
        return (
            self.service.stats(listed),
            rows,
            line,
            page,
            "",
            gr.update(choices=self.service.choices(listed), value=[]),
            self.examples_update(),
            *[gr.update(placeholder=first or "2025-10-01"), gr.update(placeholder=last or "2025-10-31")] * 2,
        )

    def library_page(self, find: str, page: int = 1, step: int = 0) -> tuple[list[list[Any]], int, str]:
        """The table's page `page + step` of the titles holding `find`'s words (the first page for a new find)."""
        rows, page, line = self.service.rows(find, int(page or 1) + step)
        return rows, page, line

    def examples_update(self) -> Any:
        return gr.Dataset(samples=[[q] for q in self.service.examples()])

    def add(
        self,
        files: list[str] | None,
        replace: bool,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's idiom)
    ) -> tuple[Any, ...]:
        progress(0.1, desc="Reading and indexing the articles")
        try:
            message = upload_markdown(
                self.service.add_uploads(files or [], getattr(request, "username", None), bool(replace))
            )
        except Exception as exc:
            message = f"{visitor_line(exc)} Nothing was added."
        return (message, *self.refresh())

    def confirm_removal(self, ids: list[str] | None) -> tuple[Any, ...]:
        """Name what the Remove button would remove and ask to confirm it; nothing is removed yet."""
        if not ids:
            return "Choose the articles to remove first.", gr.update(visible=False)
        titles = dict((v, k) for k, v in self.service.choices())
        named = "; ".join(titles.get(i, i) for i in ids)
        return f"Remove {len(ids)} article(s) for good? {named}", gr.update(visible=True)

    def remove(self, ids: list[str] | None) -> tuple[Any, ...]:
        try:
            message = self.service.remove(ids or [])
        except Exception as exc:
            message = visitor_line(exc)
        return (message, gr.update(visible=False), *self.refresh())

    def api_ask(
        self,
        question: str,
        retrieval: str = "hybrid",
        top_k: int = 5,
        always_answer: bool = False,
        since: str = "",
        until: str = "",
        source: str = "",
        as_of: str = "",
    ) -> dict[str, Any]:
        """Answer a question from the indexed articles; returns the answer, its citation and the candidates.

        `since`/`until` (dates) and `source` restrict the articles searched; `as_of` (a day) asks as on
        that day, so nothing published after it is searched; empty means all.
        """
        try:
            return self.service.ask(
                question,
                retrieval,
                top_k,
                always_answer,
                since=since,
                until=until,
                source=source,
                as_of=as_of,
            )
        except Exception as exc:
            raise gr.Error(visitor_line(exc)) from None


def build_app(service: PageService, mcp: bool = False) -> gr.Blocks:
    """The page; with `mcp`, the tools of qa.tools are also endpoints, which Gradio's MCP server offers."""
    handlers = PageHandlers(service)
    # Files Gradio took for the page are deleted an hour after they came (checked every ten minutes).
    with gr.Blocks(title="News QA", delete_cache=(600, 3600)) as app:
        gr.Markdown(
            "# News QA\nAsk your articles a question; every answer is shown in the sentence it came from."
        )
        with gr.Tab("Ask"):
            asking = ask_tab(service, handlers)
        with gr.Tab("Search"):
            searching = search_tab(service, asking["as_of"])
        with gr.Tab("Library"):
            library = library_tab(service)
        shown = [
            *(library[k] for k in ("stats", "table", "page_line", "page", "find", "chosen")),
            asking["examples"],
            *(tab[k] for tab in (asking, searching) for k in ("since", "until")),
        ]
        wire_library(handlers, library, shown)
        app.load(handlers.refresh, None, shown, api_visibility="undocumented")
        api_endpoints(service, handlers, mcp)
    app.queue(default_concurrency_limit=1)
    return app


def ask_tab(service: PageService, handlers: PageHandlers) -> dict[str, Any]:
    """The Ask tab's question, options, filters, examples and answer, wired to ask; its components by name."""
    with gr.Row():
        question = gr.Textbox(
            label="Question", placeholder=SEED_EXAMPLES[0], elem_id="question", scale=5, max_length=1000
        )
        ask = gr.Button("Ask", variant="primary", elem_id="ask", scale=1)
    with gr.Row():
        retrieval = gr.Radio(["hybrid", "dense", "bm25"], value=service.config.retrieval, label="Retrieval")
        top_k = gr.Slider(1, 20, value=service.config.top_k, step=1, label="Passages to read (top-k)")
        always = gr.Checkbox(
            False,
            label="Always show the best guess",
            elem_id="always-answer",
            info="even when the articles don't say it with enough confidence",
        )
    with gr.Accordion("Only some articles", open=False, elem_id="filters"):
        with gr.Row():
            first, last = service.date_range()
            since = gr.Textbox(label="Published since", placeholder=first or "2025-10-01", elem_id="since")
            until = gr.Textbox(label="Published until", placeholder=last or "2025-10-31", elem_id="until")
            as_of = gr.Textbox(
                label="Asked as of",
                placeholder="today",
                elem_id="as-of",
                info="nothing published after this day is searched",
            )
            source = gr.Dropdown(
                service.sources(), value=None, label="Source", allow_custom_value=True, elem_id="source"
            )
    examples = gr.Dataset(
        components=[gr.Textbox(visible=False)],
        samples=[[q] for q in service.examples()],
        label="Try",
        elem_id="examples",
    )
    answer = gr.HTML(elem_id="answer")
    candidates = gr.HTML(elem_id="candidates")
    examples.click(lambda sample: sample[0], examples, question, api_visibility="undocumented")
    for trigger in (ask.click, question.submit):
        trigger(
            handlers.ask_page,
            [question, retrieval, top_k, always, since, until, source, as_of],
            [answer, candidates],
            api_visibility="undocumented",
            concurrency_limit=ASK_CONCURRENCY,
        ).then(
            handlers.examples_update, None, examples, api_visibility="undocumented", show_progress="hidden"
        )
    return {"examples": examples, "as_of": as_of, "since": since, "until": until}


def library_tab(service: PageService) -> dict[str, Any]:
    """The Library tab: the table of articles and, unless read-only, upload and removal; its components."""
    parts: dict[str, Any] = {"stats": gr.Markdown(service.stats(), elem_id="stats")}
    rows, page, line = service.rows()
    with gr.Row():
        parts["find"] = gr.Textbox(
            label="Find by title",
            placeholder="words of a title",
            elem_id="library-find",
            scale=4,
            max_length=200,
        )
        parts["newer"] = gr.Button("← Newer", elem_id="library-newer", scale=1)
        parts["older"] = gr.Button("Older →", elem_id="library-older", scale=1)
    parts["page_line"] = gr.Markdown(line, elem_id="library-page")
    parts["page"] = gr.Number(page, visible=False, precision=0)  # (a gr.State would hold a connection open)
    parts["table"] = gr.Dataframe(
        rows,
        headers=["new", "title", "date", "source", "passages", "id"],
        interactive=False,
        elem_id="articles",
        wrap=True,
        column_widths=["6%", "44%", "12%", "14%", "8%", "16%"],
    )
    with gr.Group(visible=not service.read_only):
        parts["upload"] = gr.File(
            label=f"Add articles ({FILE_TYPES}; up to "
            f"{service.max_upload_bytes // (1024 * 1024)} MB each, {service.max_files} files at once)",
            file_count="multiple",
            elem_id="upload",
        )
        parts["replace"] = gr.Checkbox(
            False,
            label="Replace articles of the same name",
            info="otherwise an upload named like another article is kept beside it under a new id",
            elem_id="replace",
        )
        parts["add"] = gr.Button("Add to the index", elem_id="add")
        parts["added"] = gr.Markdown(elem_id="library-message")  # beside the upload box it reports on
        parts["chosen"] = gr.Dropdown(
            service.choices(), multiselect=True, label="Articles to remove", elem_id="remove-choice"
        )
        parts["remove"] = gr.Button("Remove", variant="stop", elem_id="remove")
        parts["removed"] = gr.Markdown(elem_id="remove-message")
        with gr.Row(visible=False) as confirming:
            parts["confirm"] = gr.Button("Yes, remove them", variant="stop", elem_id="confirm-remove")
            parts["cancel"] = gr.Button("Cancel", elem_id="cancel-remove")
        parts["confirming"] = confirming
    if service.read_only:
        gr.Markdown("This page is read-only: articles are added and removed with `qa index`.")
    return parts


def wire_library(handlers: PageHandlers, parts: dict[str, Any], shown: list[Any]) -> None:
    """Upload adds and refreshes what is shown; Remove asks first, Yes removes, Cancel says nothing was."""
    hidden: Any = "undocumented"
    paging = [parts["table"], parts["page"], parts["page_line"]]
    parts["find"].submit(handlers.library_page, [parts["find"]], paging, api_visibility=hidden)
    for button, step in ((parts["newer"], -1), (parts["older"], 1)):
        button.click(
            lambda find, page, step=step: handlers.library_page(find, page, step),
            [parts["find"], parts["page"]],
            paging,
            api_visibility=hidden,
        )
    parts["add"].click(
        handlers.add, [parts["upload"], parts["replace"]], [parts["added"], *shown], api_visibility=hidden
    )
    confirmation = [parts["removed"], parts["confirming"]]
    parts["remove"].click(handlers.confirm_removal, [parts["chosen"]], confirmation, api_visibility=hidden)
    parts["confirm"].click(handlers.remove, [parts["chosen"]], [*confirmation, *shown], api_visibility=hidden)
    parts["cancel"].click(
        lambda: ("Nothing was removed.", gr.update(visible=False)), None, confirmation, api_visibility=hidden
    )


def api_endpoints(service: PageService, handlers: PageHandlers, mcp: bool) -> None:
    """The page's named endpoint `ask` and, with `mcp`, the tools Gradio's MCP server offers."""
    # With MCP on, the full answer stays callable by name but is not offered as a tool: the tools' small
    # answers fit a model's context.
    visibility: Any = "undocumented" if mcp else "public"
    gr.api(handlers.api_ask, api_name="ask", concurrency_limit=ASK_CONCURRENCY, api_visibility=visibility)
    if mcp:
        for tool in (
            service.tools.ask,
            service.tools.search,
            service.tools.search_articles,
            service.tools.list_articles,
        ):
            gr.api(
                as_tool(tool),
                api_name=f"tool_{tool.__name__}",
                queue=False,  # called in the MCP request itself, not through a loopback client (and its sign-in)
            )


def as_tool(method: Any) -> Any:
    """A tool for Gradio's MCP server: its result as JSON text, its failures as Gradio's one-line error."""

    def call(*args: Any, **kwargs: Any) -> str:
        try:
            return json.dumps(method(*args, **kwargs), ensure_ascii=False)
        except Exception as exc:
            raise gr.Error(visitor_line(exc)) from None

    call.__name__ = call.__qualname__ = method.__name__  # the tool's name
    call.__doc__ = method.__doc__  # its description and its parameters'
    call.__signature__ = inspect.signature(method).replace(return_annotation=str)  # type: ignore[attr-defined]
    call.__annotations__ = {**typing.get_type_hints(method), "return": str}
    return call


@dataclass
class Serving:
    """How `qa serve` serves the page: where, to whom, and what visitors may change."""

    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    max_upload_mb: float = 20.0
    max_files: int = MAX_FILES
    credentials: list[tuple[str, str]] = field(default_factory=list)  # empty: no sign-in
    read_only: bool = False
    mcp: bool = False
    allowed_origins: tuple[str, ...] = ()  # other sites' pages that may call it (--allow-origin)
    allow_replace: bool = False  # any signed-in user may replace another's article when asked


def serve(
    index_dir: Path | None = None, config: Config | None = None, serving: Serving | None = None
) -> None:
    """Serve the page, its HTTP API (/api/v1) and, with `serving.mcp`, its MCP server, until Ctrl+C."""
    serving = serving or Serving()
    index_dir = Path(index_dir) if index_dir else default_index_dir()
    check_port(serving.host, serving.port)
    service = PageService(
        index_dir,
        config or Config(),
        serving.max_upload_mb,
        serving.read_only,
        serving.max_files,
        serving.allow_replace,
        share_questions=len(serving.credentials) < 2,
    )
    service.ask(SEED_EXAMPLES[0], remember=False)  # load the models before the first visitor waits for them
    app = build_app(service, mcp=serving.mcp)
    install_cors(frozenset(serving.allowed_origins))
    where = f"http://{serving.host}:{serving.port}"
    print(
        f"Serving on {where} (index {index_dir}); the API at {where}{API_PREFIX}"
        + (f", MCP at {where}/gradio_api/mcp/" if serving.mcp else "")
        + "; Ctrl+C stops.",
        flush=True,
    )
    launch(
        app,
        server_name=serving.host,
        server_port=serving.port,
        share=serving.share,
        quiet=not serving.share,
        max_file_size=int(serving.max_upload_mb * 4 * 1024 * 1024),
        auth=serving.credentials or None,
        mcp_server=serving.mcp,
        app_kwargs={
            "routes": [Mount(API_PREFIX, app=build_api(service))],
            "middleware": [
                Middleware(OriginGuard, allowed=frozenset(serving.allowed_origins)),
                Middleware(
                    UploadGuard,
                    read_only=serving.read_only,
                    most_bytes=serving.max_files * service.max_upload_bytes + (1 << 20),
                ),
                Middleware(SignInGuard, credentials=serving.credentials),
            ],
        },
    )


def check_port(host: str, port: int) -> None:
    """Refuse in one line, before the models load, a port another program already listens on."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise InputError(f"Port {port} is in use on {host}; pass another with --port.") from None
        raise InputError(
            f"Cannot listen on {host}:{port} ({exc.strerror}); check --host and --port."
        ) from None


def launch(app: gr.Blocks, **options: Any) -> tuple[Any, str, Any]:
    """Start the page with its style and text fixes; `qa serve` and scripts/screenshot.py both start it here."""
    # Gradio 6.31's status tracker announces the untranslated key "common.complete" to screen readers
    # after an event completes; its English dictionary lacks the key, so the page supplies it.
    i18n = gr.I18n(en={"common.complete": "Complete"})
    return app.launch(css=CSS, i18n=i18n, theme=THEME, show_error=False, footer_links=["api"], **options)
