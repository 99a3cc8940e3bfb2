"""The one Python API: build, update and ask. The CLI and the web page only call this.

engine = Engine.build(["my-articles/"], "index")  # or Engine.open("index")
engine.add(["more-articles/"]); engine.remove(["some-id"])
result = engine.ask("Who leads next week's talks?")
print(result.best.text, result.best.citation.sentence)

An engine *has* two parts: its `archive` (qa/archive.py: the index folder, opened or made, and what adds to
it and removes from it) and its `asker` (qa/asking.py: the models that search and read that folder's store).
Its methods are their one face to callers.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qa.answers import Result
from qa.archive import Archive
from qa.articles import Article
from qa.asking import MOST_QUESTIONS, Asker, as_of_filters
from qa.config import Config, Retrieval
from qa.embeddings import Embedder
from qa.layout import Stats
from qa.reading import Reader
from qa.retrieval import Filters, Hit
from qa.store import Store

if TYPE_CHECKING:
    from qa.adding import AddReport
    from qa.distributed import RayOptions

__all__ = ["MOST_QUESTIONS", "Engine", "as_of_filters"]


class Engine:
    """An index folder (`archive`) plus the models that search and read it (`asker`); models load on first
    use (or `warm_up`)."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.asker = Asker(archive.index, archive.embedder, archive.config)

    # ----- opening (qa.archive.Archive) -------------------------------------------
    @classmethod
    def create(
        cls, index_dir: str | Path, config: Config | None = None, progress: bool = False, force: bool = False
    ) -> Engine:
        """An empty engine that will save into `index_dir` (see `Archive.create`)."""
        return cls(Archive.create(index_dir, config, progress, force))

    @classmethod
    def build(
        cls,
        paths: Iterable[str | Path],
        index_dir: str | Path,
        config: Config | None = None,
        progress: bool = False,
        force: bool = False,
        strict: bool = False,
        ray: RayOptions | None = None,
        fetch_pages: bool = False,
    ) -> Engine:
        """A new index from files and folders, replacing any index in `index_dir` only once complete; files
        that cannot be read are listed in `engine.report` (see `Archive.build`)."""
        return cls(Archive.build(paths, index_dir, config, progress, force, strict, ray, fetch_pages))

    @classmethod
    def open(cls, index_dir: str | Path, config: Config | None = None, progress: bool = False) -> Engine:
        """Open a saved index; refuses one built with another embedding model than `config` names."""
        return cls(Archive.open(index_dir, config, progress))

    @classmethod
    def upgrade(cls, index_dir: str | Path, config: Config | None = None, progress: bool = False) -> Engine:
        """Convert an index written in format 1 to the current format, keeping its vectors."""
        return cls(Archive.upgrade(index_dir, config, progress))

    @classmethod
    def open_or_seed(
        cls, index_dir: str | Path, config: Config | None = None, progress: bool = False
    ) -> Engine:
        """Open an index; the built-in default one is first built from the seed article."""
        return cls(Archive.open_or_seed(index_dir, config, progress))

    @classmethod
    def open_or_create(cls, index_dir: str | Path, config: Config | None = None) -> Engine:
        """The index at `index_dir` (the default one seeded first), or a new empty one when the folder has none."""
        return cls(Archive.open_or_create(index_dir, config))

    def with_config(self, config: Config) -> Engine:
        """Another engine over the same open store, asking as `config` says (for comparing settings)."""
        return Engine(Archive(self.index_dir, self.index, config, self.archive.progress))

    # ----- what the archive holds -------------------------------------------------
    @property
    def index(self) -> Store:
        return self.archive.index

    @property
    def index_dir(self) -> Path:
        return self.archive.index_dir

    @property
    def config(self) -> Config:
        return self.archive.config

    @property
    def embedder(self) -> Embedder:
        return self.archive.embedder

    @property
    def report(self) -> AddReport | None:
        """What the build that made this engine did (None for an engine opened)."""
        return self.archive.report

    @property
    def reader(self) -> Reader:
        return self.asker.reader

    # ----- changing (qa.archive.Archive) ------------------------------------------
    def add(
        self,
        paths: Iterable[str | Path],
        strict: bool = False,
        ray: RayOptions | None = None,
        fetch_pages: bool = False,
    ) -> AddReport:
        """Add articles from files or folders; unchanged ones are skipped, changed ones replaced; with
        `fetch_pages`, a feed's entries are read from the web pages they link to."""
        return self.archive.add(paths, strict, ray, fetch_pages)

    def add_articles(
        self,
        articles: Sequence[Article],
        replace_all: bool = False,
        ray: RayOptions | None = None,
        keep_apart: bool = True,
    ) -> AddReport:
        """Add (or replace) articles in one commit; with `replace_all` they replace everything."""
        return self.archive.add_articles(articles, replace_all, ray, keep_apart)

    def remove(self, keys: Iterable[str]) -> int:
        """Remove articles named by id, url or exact title; nothing is removed if any name matches none."""
        return self.archive.remove(keys)

    def resolve(self, key: str) -> list[str]:
        """The ids of the articles `key` names: an id, else a url, else an exact title."""
        return self.archive.resolve(key)

    def optimize(self) -> int:
        return self.archive.optimize()

    def check(self, quick: bool = False) -> list[str]:
        return self.archive.check(quick)

    def rebuild(self) -> str:
        return self.archive.rebuild()

    # ----- looking (qa.archive.Archive) -------------------------------------------
    def articles(self, text: bool = True, filters: Filters | None = None) -> list[Article]:
        """All articles, oldest first, or those `filters` keep; `text=False` leaves their text out."""
        return self.archive.articles(text, filters)

    def article(self, article_id: str) -> Article | None:
        return self.archive.article(article_id)

    def stories(self) -> dict[str, list[Article]]:
        return self.archive.stories()

    def checksums(self, ids: Sequence[str]) -> dict[str, str]:
        return self.archive.checksums(ids)

    def origins(self, ids: Sequence[str]) -> dict[str, str]:
        return self.archive.origins(ids)

    def passage_counts(self, ids: Sequence[str] | None = None) -> dict[str, int]:
        return self.archive.passage_counts(ids)

    def stats(self) -> Stats:
        return self.archive.stats()

    # ----- asking (qa.asking.Asker) -----------------------------------------------
    def check_question(self, question: str) -> str:
        """The question as the models will read it, or InputError in one line saying what is wrong with it."""
        return self.asker.check_question(question)

    def check_top_k(self, top_k: int | None) -> int:
        return self.asker.check_top_k(top_k)

    def check_search(self, retrieval: Retrieval | None, filters: Filters | None) -> Retrieval:
        return self.asker.check_search(retrieval, filters)

    def warm_up(self) -> None:
        """Load the question encoder and the reader now rather than on the first question."""
        self.asker.warm_up()

    def search(
        self,
        question: str,
        top_k: int | None = None,
        retrieval: Retrieval | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        return self.asker.search(question, top_k, retrieval, filters)

    def search_many(
        self,
        questions: Sequence[str],
        top_k: int | None = None,
        retrieval: Retrieval | None = None,
        filters: Filters | None = None,
    ) -> list[list[Hit]]:
        """The passages for many questions at once (one batched encoding and search)."""
        return self.asker.search_many(questions, top_k, retrieval, filters)

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        retrieval: Retrieval | None = None,
        filters: Filters | None = None,
        always_answer: bool = False,
        as_of: str | datetime.date | None = None,
    ) -> Result:
        """Answer from the articles, or say honestly that they don't say.

        With `always_answer`, the best guess is given even below the threshold;
        `Result.confident` still says whether it passed. With `as_of` (a day), the
        question is asked as on that day: nothing published after it is searched.
        """
        return self.asker.ask_many([question], top_k, retrieval, filters, always_answer, as_of)[0]

    def ask_many(
        self,
        questions: Sequence[str],
        top_k: int | None = None,
        retrieval: Retrieval | None = None,
        filters: Filters | None = None,
        always_answer: bool = False,
        as_of: str | datetime.date | None = None,
    ) -> list[Result]:
        """Answer many questions at once (one batched retrieval, passages read in shared batches); a bad
        question raises InputError naming it, before any work. `as_of`: see `ask`."""
        return self.asker.ask_many(questions, top_k, retrieval, filters, always_answer, as_of)
