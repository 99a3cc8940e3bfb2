"""The engine behind the page and the HTTP API, shared by all visitors: asking in shared batches, adding
uploads as their uploader's, the library. `ui.app` draws the page on it and `ui.api` serves its routes; it
depends on neither (no Gradio here).
"""

from __future__ import annotations

import datetime
import math
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from qa.articles import (
    FIELD_MOST_CHARS,
    MAX_FILE_BYTES,
    SUFFIXES,
    Article,
    clean_text,
    collect_articles,
    distinct_id,
    iso_day,
    normalise_date,
    plain,
    slug,
)
from qa.batching import MicroBatcher
from qa.config import FILE_TYPES, Config
from qa.engine import Engine
from qa.errors import Forbidden, InputError
from qa.tools import Tools, filters_from

SEED_ID = "trump-putin-budapest-summit"
SEED_EXAMPLES = [
    "Who leads next week's talks?",
    "In which city will Trump meet Putin?",
    "Who is Moscow's special envoy?",
    "Who warned of nuclear retaliation?",
]

MAX_FILES = 100  # files one upload may hold (qa serve --max-files)


class PageService:
    """The engine behind the page, shared by all visitors.

    Questions take no lock: each search reads its own snapshot of the index, so
    they are answered while an upload is being embedded and committed. Questions
    that arrive together are answered in shared batches (qa.batching). Uploads
    and removals from the page go one at a time (other programs writing to the
    same index wait on the index's own lock).
    """

    def __init__(
        self,
        index_dir: Path,
        config: Config,
        max_upload_mb: float,
        read_only: bool = False,
        max_files: int = MAX_FILES,
        allow_replace: bool = False,
        share_questions: bool = True,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.share_questions = share_questions  # off with several users: no one sees another's questions
        self.allow_replace = allow_replace  # any signed-in user may replace anyone's article when asked
        self.config = config
        self.max_upload_bytes = int(max_upload_mb * 1024 * 1024)
        self.read_only = read_only  # asking and browsing only: no uploads, no removal
        self.max_files = max_files  # files per upload
        self.writing = threading.Lock()  # one upload or removal at a time from this page
        self.remembering = threading.Lock()  # the recent questions list
        self.recent: list[str] = []  # questions answered here lately, newest first: the page's examples
        self.just_added: set[str] = set()  # ids the last upload added or changed, marked in the table
        self.engine = Engine.open_or_create(self.index_dir, config)  # a new library is filled from the page
        self.batcher = MicroBatcher(self.engine)
        self.tools = Tools(self.engine, asker=self.batcher.ask)  # the HTTP API's and MCP's tools

    # ----- asking ------------------------------------------------------------
    def ask(
        self,
        question: str,
        retrieval: str = "hybrid",
        top_k: int = 5,
        always_answer: bool = False,
        remember: bool = True,
        since: str = "",
        until: str = "",
        source: str = "",
        as_of: str = "",
    ) -> dict[str, Any]:
        """The answer as a dict; confident answers are remembered as examples for the page (`remember`).

        `since`/`until` are dates in any common form, `source` one source name, `as_of` the day to ask as
        of (nothing published after it is searched); empty means no filter.
        """
        filters = filters_from(since, until, source, as_of)
        try:  # the API may send anything: "5", 5.0, "five"
            top_k = (
                int(float(top_k))
                if not isinstance(top_k, bool) and float(top_k) == int(float(top_k))
                else top_k
            )
        except (TypeError, ValueError, OverflowError):
            pass  # the engine refuses it in one line
        result = self.batcher.ask(
            question,
            top_k=top_k,
            retrieval=retrieval,  # type: ignore[arg-type]
            filters=filters,
            always_answer=bool(always_answer),
        )
        with self.remembering:
            if remember and self.share_questions and result.confident and result.question not in self.recent:
                self.recent.insert(0, result.question)
                del self.recent[3:]
        return result.to_dict()

    # ----- the library -------------------------------------------------------
    # Each view below lists the library itself, or takes `listed` (`listing()`), so that a refresh of the
    # page reads it once for all of them.
    def listing(self) -> list[Article]:
        """Every article of the library, without its text."""
        return self.engine.articles(text=False)

    def rows(
        self, find: str = "", page: int = 1, listed: list[Article] | None = None
    ) -> tuple[list[list[Any]], int, str]:
        """One page of the library table, newest first (undated last), of the articles whose title holds
        every word of `find` (without case); what the last upload added or changed is marked "new". Returns
        the rows, the page shown (kept within the pages there are) and a line saying which they are."""
        words = str(find or "").lower().split()[:20]
        articles = [a for a in (listed or self.listing()) if all(w in (a.title or "").lower() for w in words)]
        articles.sort(key=lambda a: a.date or "", reverse=True)
        pages = max(1, math.ceil(len(articles) / LIBRARY_PAGE))
        page = min(max(1, int(page or 1)), pages)
        shown = articles[(page - 1) * LIBRARY_PAGE : page * LIBRARY_PAGE]
        counts = self.engine.passage_counts([a.id for a in shown])
        rows = [
            [
                "new" if a.id in self.just_added else "",
                a.title,
                a.date or "",
                a.source or "",
                counts.get(a.id, 0),
                a.id,
            ]
            for a in shown
        ]
        matching = f" matching “{' '.join(words)}”" if words else ""
        if not articles:
            return rows, page, f"No article{matching}." if words else "No articles yet."
        first = (page - 1) * LIBRARY_PAGE + 1
        line = f"Articles {first:,}–{first + len(shown) - 1:,} of {len(articles):,}{matching}, newest first"
        return rows, page, line + (f" (page {page} of {pages})." if pages > 1 else ".")

    def date_range(self, listed: list[Article] | None = None) -> tuple[str, str]:
        """The first and last day of the library's dated articles ("" where there are none)."""
        days = dated_days(listed or self.listing())
        return (days[0], days[-1]) if days else ("", "")

    def examples(self) -> list[str]:
        """Questions to try, only real ones with answers: those answered confidently here lately, and the seed
        article's when it is in the library; else none (a question made from a title answered junk)."""
        questions = list(self.recent)
        if self.engine.checksums([SEED_ID]):
            questions += SEED_EXAMPLES
        return list(dict.fromkeys(questions))[:6]

    def sources(self) -> list[str]:
        return sorted({a.source for a in self.engine.articles(text=False) if a.source})

    def choices(self, listed: list[Article] | None = None) -> list[tuple[str, str]]:
        return [(f"{a.title} ({a.id})", a.id) for a in (listed or self.listing())]

    def stats(self, listed: list[Article] | None = None) -> str:
        """What the library holds, in words: "1,204 articles from 3 sources, 2 Jan 2024 – 28 Feb 2024"."""
        return library_in_words(listed or self.listing())

    def claim(self, articles: list[Article], user: str | None, replace: bool) -> dict[str, str]:
        """Mark articles as uploaded by `user` (None: no sign-in) and decide which stored ones they replace.

        An upload replaces only an article the same uploader added. A name or id another origin holds (another
        user's upload, an article of `qa index add`) is kept apart under a new id, unless `replace` is asked:
        then, with sign-in, only the uploader who added it may, or anyone when the server allows it
        (--allow-replace); Forbidden otherwise. Returns {asked id: id kept apart} for what was kept apart."""
        origin = f"upload:{user or ''}"
        stored = self.engine.checksums([a.id for a in articles])
        owners = self.engine.origins(list(stored))
        moved: dict[str, str] = {}
        for article in articles:
            article.origin = origin
            if article.id not in stored or owners.get(article.id) == origin:
                continue
            if stored[article.id] == article.checksum:
                continue  # the very same article: unchanged, and it stays whose it was
            if not replace:
                moved[article.id] = article.id = distinct_id(article)
            elif user is not None and not self.allow_replace:
                raise Forbidden(
                    f"{article.id!r} was added by someone else, so only they may replace it (or the server's "
                    "owner, with `qa serve --allow-replace`); upload it without replacing to keep both."
                )
        return moved

    def add_uploads(self, files: list[str], user: str | None = None, replace: bool = False) -> dict[str, Any]:
        """Add what can be read: {"message": what the add did, "files": [{"name", "state" or "error"}]}, a row
        per file (added, updated, unchanged, or why it failed), its id where another article's was taken.

        `user`: who signed in (None without sign-in); `replace`: may replace stored articles of the same names
        (see `claim`)."""
        self.check_writable()
        if not files:
            return {"message": "Choose one or more files to add first.", "files": []}
        if len(files) > self.max_files:
            raise InputError(
                f"{len(files)} files in one upload; at most {self.max_files} are taken at once: upload them in parts."
            )
        rows: list[dict[str, Any]] = []
        per_file: list[tuple[dict[str, Any], list[Article]]] = []  # each file read, and its articles
        with tempfile.TemporaryDirectory() as tmp:
            for n, upload in enumerate(files):
                row: dict[str, Any] = {"name": Path(upload).name}
                rows.append(row)
                read = read_upload(Path(upload), Path(tmp), n, self.max_upload_bytes)
                if isinstance(read, str):
                    row["error"] = read
                else:
                    per_file.append((row, read))
            articles = [a for _, read in per_file for a in read]
            if articles:
                with self.writing:
                    moved = self.claim(articles, user, replace)
                    report = self.engine.add_articles(articles, keep_apart=False)
                self.just_added = {a.id for a in articles}
        for row, read in per_file:  # ids as the add kept them
            row["state"] = file_states([report.states[a.id] for a in read])
            row["ids"] = [a.id for a in read]
            row["kept_apart"] = {old: new for old, new in moved.items() if new in row["ids"]}
        return {"message": report.describe() if articles else "Nothing was added.", "files": rows}

    def add_texts(
        self, records: list[dict[str, Any]], user: str | None = None, replace: bool = False
    ) -> dict[str, Any]:
        """Add articles given as fields (the API's JSON); what the add did, each article's id, and the ids
        that were kept apart because another origin holds them (see `claim`)."""
        self.check_writable()
        if not records:
            raise InputError('No articles given; send {"articles": [{"title": ..., "text": ...}]}.')
        if len(records) > self.max_files:
            raise InputError(
                f"{len(records)} articles in one request; send at most {self.max_files} at once."
            )
        articles = [article_from_fields(record) for record in records]
        if any(not a.text.strip() for a in articles):
            raise InputError("An article has no text; every article needs its text.")
        with self.writing:
            moved = self.claim(articles, user, replace)
            report = self.engine.add_articles(articles, keep_apart=False)
        self.just_added = {a.id for a in articles}
        return {"message": report.describe(), "ids": [a.id for a in articles], "kept_apart": moved}

    def remove(self, ids: list[str]) -> str:
        """Remove articles by id; says which were removed, by title."""
        self.check_writable()
        if not ids:
            return "Choose the articles to remove first."
        titles = {a.id: a.title or a.id for a in self.engine.articles(text=False)}
        with self.writing:
            removed = self.engine.remove(ids)
        named = "; ".join(titles.get(i, i) for i in ids if i in titles)
        return (
            f"Removed {removed} article(s): {named}." if removed else "Nothing was removed: no such article."
        )

    def check_writable(self) -> None:
        if self.read_only:
            raise Forbidden(
                "This page is read-only: ask and browse here; add or remove articles with `qa index`."
            )


def read_upload(source: Path, tmp: Path, n: int, max_bytes: int) -> list[Article] | str:
    """An uploaded file's articles, read from a copy under a plain name; or why it cannot be added."""
    suffix = source.suffix.lower()
    if suffix not in SUFFIXES:
        return f"not a supported file; upload {FILE_TYPES} files."
    if source.stat().st_size > max_bytes:
        return f"larger than the {max_bytes // (1024 * 1024)} MB upload limit; split it into smaller files."
    # The uploaded name only ever becomes a slug, never a path of its own.
    target = tmp / f"{slug(source.stem)}{suffix}"
    if target.exists():
        target = tmp / f"{slug(source.stem)}-{n}{suffix}"
    shutil.copyfile(source, target)
    collected = collect_articles([target], local_links=False)  # a feed's links stay links
    if collected.failed:
        return collected.failed[0][1].replace(str(target), source.name)
    return collected.articles


def article_from_fields(record: dict[str, Any]) -> Article:
    """An article from the API's fields, cleaned as a file's are (qa.articles.clean_text: no zero-width or
    direction-override characters); a field with a lone surrogate or over its length is refused in one line."""
    fields = {
        k: plain(v, f"The article's {k!r}", MAX_FILE_BYTES if k == "text" else FIELD_MOST_CHARS)
        for k, v in record.items()
        if isinstance(v, str)
    }
    text = clean_text(fields.pop("text", "")).strip()
    title = clean_text(fields.pop("title", "")).strip()
    date = normalise_date(fields.pop("date", None))
    return Article.from_text(text, title, date=date, **{k: v or None for k, v in fields.items()})


def dated_days(articles: list[Article]) -> list[str]:
    """The days of the dated articles (ISO, one per article), in order."""
    return sorted(d for a in articles if a.date and (d := iso_day(a.date[:10])))


LIBRARY_PAGE = 50  # rows of the Library tab's table at a time


def library_in_words(articles: list[Article]) -> str:
    """How many articles from how many sources, and the days they span (undated ones counted apart)."""
    if not articles:
        return "The library is empty: add articles below, or with `qa index add`."
    sources = {a.source.strip().lower() for a in articles if a.source and a.source.strip()}
    days = dated_days(articles)
    said = f"{len(articles):,} article{'s' if len(articles) != 1 else ''}"
    if sources:
        said += f" from {len(sources):,} source{'s' if len(sources) != 1 else ''}"
    if days:
        first, last = (datetime.date.fromisoformat(d).strftime("%-d %b %Y") for d in (days[0], days[-1]))
        said += f", {first}" + (f" – {last}" if last != first else "")
    undated = len(articles) - len(days)
    return said + (f" ({undated:,} undated)" if undated and days else "") + "."


def file_states(states: list[str]) -> str:
    """What an upload's file did: its article's state, or how many of its articles were in each."""
    if len(states) == 1:
        return states[0]
    counts = ", ".join(f"{states.count(x)} {x}" for x in ("added", "updated", "unchanged") if x in states)
    return f"{len(states)} articles: {counts}"
