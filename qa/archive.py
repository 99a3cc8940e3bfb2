"""The archive side of the engine: an index folder opened or made, articles added, replaced and removed,
copies of one story found, and what it holds listed. `qa.engine.Engine` adds asking on top of it; callers
use Engine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from qa.articles import (
    Article,
    Collected,
    collect_articles,
    distinct_id,
    gather,
    list_files,
)
from qa.config import SEEDS_DIR, Config, is_seeded_default
from qa.duplicates import Stories, signature, to_bytes
from qa.embeddings import INT8_ENCODER, Embedder, canonical_name
from qa.errors import IndexUnusable, InputError, NoIndex
from qa.format1 import OLD_POINTER, read_format_1, remove_format_1
from qa.layout import Stats
from qa.passages import split_passages
from qa.retrieval import Filters
from qa.store import Store

if TYPE_CHECKING:
    from qa.distributed import RayOptions

logger = logging.getLogger(__name__)
Opened = TypeVar("Opened", bound="Archive")


@dataclass
class AddReport:
    """What an add did, and each file it could not read (failed) or passed over (skipped: not an article type)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    passages: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    no_news: list[str] = field(default_factory=list)  # articles whose text is all boilerplate: never searched
    states: dict[str, str] = field(default_factory=dict)  # article id -> added, updated or unchanged

    def counted(self, states: dict[str, str]) -> AddReport:
        """This report with each article's state, as the commit found it, and the counts of each."""
        self.states = states
        values = list(states.values())
        self.added, self.updated, self.unchanged = (
            values.count(x) for x in ("added", "updated", "unchanged")
        )
        return self

    def describe(self) -> str:
        return (
            f"Added {self.added}, updated {self.updated}, unchanged {self.unchanged} article(s) "
            f"({self.passages} new passage(s)).{self.files_note()}"
            + (
                f" {len(self.no_news)} article(s) held nothing but datelines, credits or ads and will not be "
                f"searched: {', '.join(self.no_news[:3])}{' ...' if len(self.no_news) > 3 else ''}."
                if self.no_news
                else ""
            )
        )

    def files_note(self) -> str:
        """ " N file(s) failed, M skipped." when any did, else nothing."""
        return (
            f" {len(self.failed)} file(s) failed, {len(self.skipped)} skipped."
            if self.failed or self.skipped
            else ""
        )


def _checked(index_dir: object, config: object) -> tuple[Path, Config]:
    """The index folder and config of an Engine constructor, or InputError in one line for the wrong types."""
    if not isinstance(index_dir, (str, os.PathLike)) or not str(index_dir).strip():
        raise InputError(f"The index folder must be a path (text or pathlib.Path), not {index_dir!r}.")
    if config is not None and not isinstance(config, Config):
        raise InputError(f"config must be a qa.Config, not {type(config).__name__}.")
    return Path(index_dir), config or Config()


def _collect(paths: Iterable[str | Path], strict: bool, ray: RayOptions | None = None) -> Collected:
    """The articles to add (read by Ray workers with `ray`); with `strict`, any file that fails stops
    everything before anything is written."""
    if ray is None:
        collected = collect_articles(paths)
    else:
        from qa.distributed import read_files

        collected, files = list_files(paths)
        collected = gather(collected, read_files(files, ray))
    if collected.failed and (strict or not collected.articles):
        if len(collected.failed) == 1:
            raise InputError(collected.failed[0][1])
        raise InputError(
            f"{len(collected.failed)} files could not be read, the first: {collected.failed[0][1]}"
            + ("" if strict else " Nothing else was found to add.")
        )
    return collected


class Archive:
    """An index directory and the embedding model its passages are encoded with."""

    def __init__(
        self,
        index_dir: Path,
        index: Store,
        config: Config,
        progress: bool = False,
        embedder: Embedder | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.index = index
        self.config = config
        self.progress = progress
        # Passages are embedded as the index's were (a later add keeps to the index's encoder).
        self.embedder = embedder or Embedder.from_config(
            config, "int8" if index.encoder == INT8_ENCODER else "fp32"
        )
        self.report: AddReport | None = None  # what the build that made this engine did

    # ----- opening ----------------------------------------------------------
    @classmethod
    def create(
        cls: type[Opened],
        index_dir: str | Path,
        config: Config | None = None,
        progress: bool = False,
        force: bool = False,
    ) -> Opened:
        """An empty engine that will save into `index_dir` (nothing is written until articles are added).

        A folder that holds other things than an index is refused unless `force` is set.
        """
        index_dir, config = _checked(index_dir, config)
        Store.check_new_home(index_dir, force)
        embedder = Embedder.from_config(config, "int8" if config.encoder_int8 else "fp32")
        index = Store(
            Path(index_dir),
            embedder.name,
            embedder.dimension,
            config.approximate_threshold(),
            embedder.encoder,
        )
        return cls(Path(index_dir), index, config, progress, embedder)

    @classmethod
    def build(
        cls: type[Opened],
        paths: Iterable[str | Path],
        index_dir: str | Path,
        config: Config | None = None,
        progress: bool = False,
        force: bool = False,
        strict: bool = False,
        ray: RayOptions | None = None,
    ) -> Opened:
        """A new index from files and folders; it replaces any index in `index_dir` only once complete.

        A folder that holds other things than an index is refused unless `force` is set.
        Files that cannot be read are left out and listed in `engine.report` (with
        `strict`, any of them stops the build before anything is written). With `ray`,
        files are read and passages embedded on Ray (see qa.distributed).
        """
        index_dir, config = _checked(index_dir, config)
        Store.check_new_home(index_dir, force)
        engine = cls.create(index_dir, config, progress, force=True)
        engine.report = engine._add_paths(paths, strict, ray, replace_all=True)
        return engine

    @classmethod
    def open(
        cls: type[Opened], index_dir: str | Path, config: Config | None = None, progress: bool = False
    ) -> Opened:
        """Open a saved index; refuses one built with another embedding model than `config` names."""
        index_dir, config = _checked(index_dir, config)
        index = Store.open(index_dir, config.approximate_threshold())
        wanted = canonical_name(config.embedding_model)
        if index.embedding_model != wanted:
            raise IndexUnusable(
                f"The index in {index_dir} was built with the embedding model "
                f"'{index.embedding_model}', not '{wanted}'; "
                f"pass --embedding-model {index.embedding_model} or rebuild it with `qa index build`."
            )
        return cls(Path(index_dir), index, config, progress)

    @classmethod
    def upgrade(
        cls: type[Opened], index_dir: str | Path, config: Config | None = None, progress: bool = False
    ) -> Opened:
        """Convert an index written in format 1 to the current format, keeping its vectors.

        The old files are removed only once the new index is committed; an
        interrupted upgrade is simply run again.
        """
        index_dir, config = _checked(index_dir, config)
        if not (index_dir / OLD_POINTER).is_file():
            if not Store.exists(index_dir):
                raise NoIndex(f"There is no index in {index_dir} to upgrade.")
            remove_format_1(index_dir)  # what an interrupted upgrade left, if anything
            return cls.open(index_dir, config, progress)
        articles, passages, vectors, model = read_format_1(index_dir)
        index = Store(index_dir, model, int(vectors.shape[1]), config.approximate_threshold())
        index.add(
            articles,
            passages,
            vectors,
            {a.id: to_bytes(signature(a.text)) for a in articles},
            replace_all=True,
        )
        remove_format_1(index_dir)
        return cls.open(index_dir, config.with_(embedding_model=model), progress)

    @classmethod
    def open_or_seed(
        cls: type[Opened], index_dir: str | Path, config: Config | None = None, progress: bool = False
    ) -> Opened:
        """Open an index; the built-in default one (see `qa.config.is_seeded_default`) is first built from the
        seed article. A folder named by $QA_INDEX_DIR that holds no index is refused, as --index-dir is."""
        index_dir, config = _checked(index_dir, config)
        if is_seeded_default(index_dir) and not Store.exists(index_dir):
            logger.warning("No index in %s: building it from the seed article ...", index_dir)
            return cls.build([SEEDS_DIR], index_dir, config, progress)
        if (
            not Store.exists(index_dir)
            and os.environ.get("QA_INDEX_DIR")
            and index_dir == Path(os.environ["QA_INDEX_DIR"]).expanduser()
        ):
            raise NoIndex(
                f"There is no index in {index_dir}, the folder $QA_INDEX_DIR names; correct the variable, "
                f"or build one there with `qa index build PATH...`."
            )
        return cls.open(index_dir, config, progress)

    @classmethod
    def open_or_create(cls: type[Opened], index_dir: str | Path, config: Config | None = None) -> Opened:
        """The index at `index_dir` (the default one seeded first), or a new empty one when the folder has none."""
        index_dir, config = _checked(index_dir, config)
        if Store.exists(index_dir) or is_seeded_default(index_dir):
            return cls.open_or_seed(index_dir, config)
        return cls.create(index_dir, config)

    # ----- changing ---------------------------------------------------------
    def add(
        self, paths: Iterable[str | Path], strict: bool = False, ray: RayOptions | None = None
    ) -> AddReport:
        """Add articles from files or folders; unchanged ones are skipped, changed ones replaced.

        Files that cannot be read are left out and listed in the report (with
        `strict`, any of them stops the add before anything is written). With `ray`,
        files are read and passages embedded on Ray (see qa.distributed).
        """
        return self._add_paths(paths, strict, ray)

    def _add_paths(
        self, paths: Iterable[str | Path], strict: bool, ray: RayOptions | None, replace_all: bool = False
    ) -> AddReport:
        """Add what the files hold; the report also names each file that failed or was skipped."""
        if ray is None:
            return self._add_collected(_collect(paths, strict), replace_all)
        from qa.distributed import Runtime

        with Runtime(ray):  # one Ray runtime for reading and embedding
            return self._add_collected(_collect(paths, strict, ray), replace_all, ray)

    def _add_collected(
        self, collected: Collected, replace_all: bool = False, ray: RayOptions | None = None
    ) -> AddReport:
        report = self.add_articles(collected.articles, replace_all, ray)
        report.failed, report.skipped = collected.failed, collected.skipped
        return report

    def add_articles(
        self, articles: Sequence[Article], replace_all: bool = False, ray: RayOptions | None = None
    ) -> AddReport:
        """Add (or replace) articles in one commit; with `replace_all` they replace everything (a build).

        The slow part, embedding, runs before the index's writer lock is taken, so
        questions and other writers are not held up by it; with `ray`, it runs on Ray
        workers, which write the segment files the commit then takes in.
        """
        report = AddReport()
        if not replace_all:
            self._keep_apart(articles)
        known_sums = {} if replace_all else self.index.checksums([a.id for a in articles])
        fresh = [a for a in articles if known_sums.get(a.id) != a.checksum]
        if not fresh and not replace_all:
            return report.counted({a.id: "unchanged" for a in articles})
        signatures = self._mark_copies(fresh, replace_all)
        split = {
            a.id: split_passages(a, self.config.passage_words, self.config.overlap_sentences) for a in fresh
        }
        passages = [p for a in fresh for p in split[a.id]]
        report.no_news = [a.id for a in fresh if not split[a.id] and a.text.strip()]
        if ray is None:
            vectors = self.embedder.encode([p.text for p in passages], progress=self.progress)
            held = self.index.add(
                fresh, passages, vectors, signatures, replace_all=replace_all, encoder=self.embedder.encoder
            )
        else:
            from qa.distributed import embed_and_commit

            held = embed_and_commit(
                self.index, self.embedder, fresh, passages, signatures, replace_all, ray, self.progress
            )
        report.passages = len(passages)
        # What each article was to the index when the change committed (another writer may have been first).
        states = {a.id: "unchanged" for a in articles if known_sums.get(a.id) == a.checksum}
        for a in fresh:
            states[a.id] = (
                "added" if a.id not in held else "unchanged" if held[a.id] == a.checksum else "updated"
            )
        return report.counted(states)

    def _keep_apart(self, articles: Sequence[Article]) -> None:
        """An article whose id is its file's name, read from another file than the stored article of that id
        (report.txt of another folder), gets a distinct id (`distinct_id`) instead of replacing it."""
        stored = self.index.origins([a.id for a in articles if a.origin])
        for article in articles:
            if article.origin and stored.get(article.id, article.origin) != article.origin:
                article.id = distinct_id(article)

    def resolve(self, key: str) -> list[str]:
        """The ids of the articles `key` names: an id, else a url, else an exact title."""
        for field_ in ("id", "url", "title"):
            found = self.index.find(field_, key)
            if found:
                return found
        return []

    def _mark_copies(self, fresh: Sequence[Article], replace_all: bool) -> dict[str, bytes]:
        """Mark each new or changed article that republishes a story already stored (unless everything is
        being replaced) or earlier in `fresh`. Returns each article's MinHash signature, stored with it."""
        stories = Stories() if replace_all else Stories(self.index.story_candidates)
        signatures = {}
        for article in fresh:
            minhash = signature(article.text)
            article.copy_of = stories.original_of(article, minhash)
            signatures[article.id] = stories.add(article, minhash)
        return signatures

    def stories(self) -> dict[str, list[Article]]:
        """Articles by story (the first article's id), for the stories told more than once."""
        return self.index.stories()

    def remove(self, keys: Iterable[str]) -> int:
        """Remove articles named by id, url or exact title; nothing is removed if any name matches none."""
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, Iterable):
            raise InputError(f"remove takes article ids, urls or titles as text, not {keys!r}.")
        keys = list(keys)
        if not all(isinstance(k, str) for k in keys):
            raise InputError(f"remove takes article ids, urls or titles as text, not {keys!r}.")
        found = {k: self.resolve(k) for k in keys}
        unknown = [k for k, ids in found.items() if not ids]
        if unknown:
            raise InputError(
                f"No article with id, url or title {', '.join(unknown)} in the index; "
                "see `qa index info` for them."
            )
        ids = list(dict.fromkeys(i for k in keys for i in found[k]))
        return self.index.remove(ids)

    def optimize(self) -> int:
        """Merge the index's vector segments into one, dropping removed passages' vectors; returns how many."""
        return self.index.optimize()

    def check(self, quick: bool = False) -> list[str]:
        """What is wrong with the index on disk, one line each; empty when it is sound.

        `quick` checks a sample of the articles' texts and BM25 documents instead of all of them.
        """
        return self.index.check(quick)

    def rebuild(self) -> str:
        """Rebuild the BM25 index and the vectors of damaged segments from the database; says what it did."""
        return self.index.rebuild(self.embedder.encode)

    # ----- looking ----------------------------------------------------------
    def articles(self, text: bool = True, filters: Filters | None = None) -> list[Article]:
        """All articles, oldest first, or those `filters` keep (by the searches' rules); `text=False` leaves
        their text out, for listings of a large archive."""
        if not filters:
            return list(self.index.articles(text=text).values())
        with self.index.snapshot() as view:
            kept = view.article_ids(filters)
        return list(self.index.articles(kept, text=text).values()) if kept else []

    def checksums(self, ids: Sequence[str]) -> dict[str, str]:
        """The stored checksum of each of these articles that the index holds (what an add compares)."""
        return self.index.checksums(ids)

    def passage_counts(self) -> dict[str, int]:
        return self.index.passage_counts()

    def stats(self) -> Stats:
        return self.index.stats()
