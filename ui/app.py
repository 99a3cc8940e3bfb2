"""The Gradio page: ask, see the answer in its article, manage the library.

Everything goes through qa.engine.Engine; this module only turns its results
into HTML and its errors into messages.
"""

from __future__ import annotations

import html
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr

from qa.articles import SUFFIXES, slug
from qa.config import Config, default_index_dir
from qa.engine import Engine
from qa.errors import QAError
from qa.index import PassageIndex

EXAMPLES = [
    "Who leads next week's talks?",
    "In which city will Trump meet Putin?",
    "Who is Moscow's special envoy?",
    "Who warned of nuclear retaliation?",
]

CSS = """
#answer .answer-text { font-size: 2rem; font-weight: 700; line-height: 1.2; }
#answer .meta, .candidate .meta { color: #666; font-size: 0.9rem; }
#answer .passage { margin-top: .75rem; padding: .75rem; border-left: 4px solid #f59e0b; background: rgba(245,158,11,.06); }
#answer mark { background: #fde68a; padding: 0 .15em; border-radius: 3px; }
#answer .dont-know { font-size: 1.5rem; font-weight: 600; }
.candidate { margin: .25rem 0; }
"""


class Library:
    """The engine behind the page; one lock, since the models and index are shared by all visitors."""

    def __init__(self, index_dir: Path, config: Config, max_upload_mb: float) -> None:
        self.index_dir = Path(index_dir)
        self.config = config
        self.max_upload_bytes = int(max_upload_mb * 1024 * 1024)
        self.lock = threading.Lock()
        if PassageIndex.exists(self.index_dir) or self.index_dir == default_index_dir():
            self.engine = Engine.open_or_seed(self.index_dir, config)
        else:  # a new library, filled from the page
            self.engine = Engine.create(self.index_dir, config)

    # ----- asking ------------------------------------------------------------
    def ask(self, question: str, retrieval: str = "hybrid", top_k: int = 5, always_answer: bool = False) -> dict[str, Any]:
        with self.lock:
            result = self.engine.ask(question, top_k=int(top_k), retrieval=retrieval,  # type: ignore[arg-type]
                                     always_answer=bool(always_answer))
        return result.to_dict()

    # ----- the library -------------------------------------------------------
    def rows(self) -> list[list[Any]]:
        counts = self.engine.passage_counts()
        return [[a.title, a.date or "", a.source or "", counts.get(a.id, 0), a.id] for a in self.engine.articles()]

    def choices(self) -> list[tuple[str, str]]:
        return [(f"{a.title} ({a.id})", a.id) for a in self.engine.articles()]

    def stats(self) -> str:
        return f"**Index:** {self.engine.stats().describe()} — `{self.index_dir}`"

    def add_uploads(self, files: list[str]) -> str:
        if not files:
            return "Choose one or more files to add first."
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for n, upload in enumerate(files):
                source = Path(upload)
                suffix = source.suffix.lower()
                if suffix not in SUFFIXES:
                    return f"{source.name} is not a supported file; upload .txt, .md, .html or .jsonl files. Nothing was added."
                if source.stat().st_size > self.max_upload_bytes:
                    return (f"{source.name} is larger than the {self.max_upload_bytes // (1024 * 1024)} MB upload limit; "
                            "split it into smaller files. Nothing was added.")
                # The uploaded name only ever becomes a slug, never a path of its own.
                target = Path(tmp) / f"{slug(source.stem)}{suffix}"
                if target.exists():
                    target = Path(tmp) / f"{slug(source.stem)}-{n}{suffix}"
                shutil.copyfile(source, target)
                paths.append(target)
            with self.lock:
                report = self.engine.add(paths)
        return report.describe()

    def remove(self, ids: list[str]) -> str:
        if not ids:
            return "Choose the articles to remove first."
        with self.lock:
            removed = self.engine.remove(ids)
        return f"Removed {removed} article(s)."


def render_answer(result: dict[str, Any]) -> tuple[str, str]:
    """The answer card and the other candidates, as HTML."""
    e = html.escape
    seconds = result["seconds"]
    timing = (f"<p class='meta' id='timing'>Answered in {seconds.get('total', 0):.2f} s "
              f"(retrieval {seconds.get('retrieval', 0):.2f} s, reading {seconds.get('reading', 0):.2f} s)</p>")
    answer = result["answer"]
    if not answer:
        closest = "".join(f"<li><p>{e(p['text'])}</p></li>" for p in result["passages"][:3])
        card = ("<div class='dont-know'>The articles don't say.</div>"
                "<p class='meta'>No passage answers this with enough confidence."
                + (" These came closest:</p><ol class='closest'>" + closest + "</ol>" if closest else "</p>") + timing)
    else:
        where = " · ".join(e(x) for x in (answer["title"], answer["date"], answer["source"]) if x)
        passage = answer["passage"]
        a0 = answer["start"] - answer["passage_start"]
        a1 = answer["end"] - answer["passage_start"]
        marked = f"{e(passage[:a0])}<mark>{e(passage[a0:a1])}</mark>{e(passage[a1:])}"
        sure = "confident" if result.get("confident", True) else "confident — a best guess, below the confidence threshold"
        card = (f"<div class='answer-text'>{e(answer['text'])}</div>"
                f"<p class='meta'>{answer['score']:.0%} {sure} · {where}</p>"
                f"<div class='passage'>{marked}</div>{timing}")
    others = [c for c in result["candidates"] if not answer or c["text"] != answer["text"]][:5]
    listing = "".join(f"<li class='candidate'><b>{e(c['text'])}</b> <span class='meta'>{c['score']:.0%} · {e(c['title'])}"
                      f"{' · ' + e(c['source']) if c['source'] else ''}</span></li>" for c in others)
    # data-answered-at lets a browser test tell a fresh answer from the previous one.
    stamp = time.time_ns()
    return f"<div id='answer-card' data-question='{e(result['question'])}' data-answered-at='{stamp}'>{card}</div>", (f"<h4>Other candidates</h4><ul>{listing}</ul>" if listing else "")


def build_app(library: Library) -> gr.Blocks:
    def ask_page(question: str, retrieval: str, top_k: float, always_answer: bool) -> tuple[str, str]:
        try:
            return render_answer(library.ask(question, retrieval, int(top_k), always_answer))
        except QAError as exc:
            return f"<div class='error' id='ask-error'>{html.escape(str(exc))}</div>", ""

    def refresh() -> tuple[str, list[list[Any]], Any]:
        return library.stats(), library.rows(), gr.update(choices=library.choices(), value=[])

    def add(files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[str, str, list[list[Any]], Any]:
        progress(0.1, desc="Reading and indexing the articles")
        try:
            message = library.add_uploads(files or [])
        except QAError as exc:
            message = f"{exc} Nothing was added."
        return (message, *refresh())

    def remove(ids: list[str] | None) -> tuple[str, str, list[list[Any]], Any]:
        try:
            message = library.remove(ids or [])
        except QAError as exc:
            message = str(exc)
        return (message, *refresh())

    with gr.Blocks(title="News QA") as app:
        gr.Markdown("# News QA\nAsk your articles a question; every answer is shown in the sentence it came from.")
        with gr.Tab("Ask"):
            with gr.Row():
                question = gr.Textbox(label="Question", placeholder=EXAMPLES[0], elem_id="question", scale=5, max_length=1000)
                ask = gr.Button("Ask", variant="primary", elem_id="ask", scale=1)
            with gr.Row():
                retrieval = gr.Radio(["hybrid", "dense", "bm25"], value=library.config.retrieval, label="Retrieval")
                top_k = gr.Slider(1, 20, value=library.config.top_k, step=1, label="Passages to read (top-k)")
                always = gr.Checkbox(False, label="Always show the best guess", elem_id="always-answer",
                                     info="even when the articles don't say it with enough confidence")
            gr.Examples(EXAMPLES, inputs=question)
            answer = gr.HTML(elem_id="answer")
            candidates = gr.HTML(elem_id="candidates")
        with gr.Tab("Library"):
            stats = gr.Markdown(library.stats(), elem_id="stats")
            table = gr.Dataframe(library.rows(), headers=["title", "date", "source", "passages", "id"], interactive=False, elem_id="articles")
            upload = gr.File(label=f"Add articles (.txt, .md, .html, .jsonl; up to {library.max_upload_bytes // (1024 * 1024)} MB each)",
                             file_count="multiple", elem_id="upload")
            add_button = gr.Button("Add to the index", elem_id="add")
            chosen = gr.Dropdown(library.choices(), multiselect=True, label="Articles to remove", elem_id="remove-choice")
            remove_button = gr.Button("Remove", variant="stop", elem_id="remove")
            message = gr.Markdown(elem_id="library-message")

        ask.click(ask_page, [question, retrieval, top_k, always], [answer, candidates], api_visibility="undocumented",
                  concurrency_limit=4)
        question.submit(ask_page, [question, retrieval, top_k, always], [answer, candidates], api_visibility="undocumented",
                        concurrency_limit=4)
        add_button.click(add, [upload], [message, stats, table, chosen], api_visibility="undocumented")
        remove_button.click(remove, [chosen], [message, stats, table, chosen], api_visibility="undocumented")
        app.load(refresh, None, [stats, table, chosen], api_visibility="undocumented")

        def api_ask(question: str, retrieval: str = "hybrid", top_k: int = 5, always_answer: bool = False) -> dict[str, Any]:
            """Answer a question from the indexed articles; returns the answer, its citation and the candidates."""
            try:
                return library.ask(question, retrieval, top_k, always_answer)
            except QAError as exc:
                raise gr.Error(str(exc)) from None

        gr.api(api_ask, api_name="ask", concurrency_limit=4)
    app.queue(default_concurrency_limit=1)
    return app


def serve(index_dir: Path | None = None, host: str = "127.0.0.1", port: int = 7860, config: Config | None = None,
          max_upload_mb: float = 20.0, share: bool = False) -> None:
    index_dir = Path(index_dir) if index_dir else default_index_dir()
    library = Library(index_dir, config or Config(), max_upload_mb)
    library.ask(EXAMPLES[0])  # load the models before the first visitor waits for them
    app = build_app(library)
    print(f"Serving on http://{host}:{port} (index {index_dir}); Ctrl+C stops.", flush=True)
    app.launch(server_name=host, server_port=port, share=share, quiet=not share, css=CSS, show_error=False,
               max_file_size=int(max_upload_mb * 4 * 1024 * 1024), footer_links=["api"])
