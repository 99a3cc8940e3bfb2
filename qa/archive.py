"""The archive side of the engine: an index folder opened or made, articles added, replaced and removed,
copies of one story found, and what it holds listed. A `qa.engine.Engine` has one (and an `Asker` beside
it); callers use Engine.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qa.adding import Adder, AddReport, NeedsFreshFolder
from qa.articles import Article
from qa.config import SEEDS_DIR, Config, is_seeded_default
from qa.duplicates import signature, to_bytes
from qa.embeddings import INT8_ENCODER, Embedder, canonical_name
from qa.errors import IndexUnusable, InputError, NoIndex
from qa.format1 import OLD_POINTER, read_format_1, remove_format_1
from qa.layout import Stats, check_new_home
from qa.retrieval import Filters
from qa.store import Store
from qa.writing import put_in_place

if TYPE_CHECKING:
    from qa.distributed import RayOptions

logger = logging.getLogger(__name__)


def _checked(index_dir: object, config: object) -> tuple[Path, Config]:
    """The index folder and config of an Engine constructor, or InputError in one line for the wrong types."""
    if not isinstance(index_dir, (str, os.PathLike)) or not str(index_dir).strip():
        raise InputError(f"The index folder must be a path (text or pathlib.Path), not {index_dir!r}.")
    if config is not None and not isinstance(config, Config):
        raise InputError(f"config must be a qa.Config, not {type(config).__name__}.")
    return Path(index_dir), config or Config()


def _commit_format_1(index_dir: Path, config: Config) -> str:
    """Commit a format-1 index's articles, passages and vectors in today's format; returns its embedding model."""
    articles, passages, vectors, model = read_format_1(index_dir)
    index = Store(index_dir, model, int(vectors.shape[1]), config.approximate_threshold())
    signatures = {a.id: to_bytes(signature(a.text)) for a in articles}
    index.add(articles, passages, vectors, signatures, replace_all=True)
    return model


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
        self.adder = Adder(index, self.embedder, config, progress)  # adds go through it
        self.report: AddReport | None = None  # what the build that made this engine did

    # ----- adding (qa.adding.Adder) -------------------------------------------
    def add(
        self,
        paths: Iterable[str | Path],
        strict: bool = False,
        ray: RayOptions | None = None,
        fetch_pages: bool = False,
    ) -> AddReport:
        """Add articles from files or folders; unchanged ones are skipped, changed ones replaced (`Adder.add`:
        unreadable files listed in the report, or with `strict` stopping the add before anything is written;
        with `ray`, read and embedded on Ray; with `fetch_pages`, feeds' entries read from their web pages)."""
        return self.adder.add(paths, strict, ray, fetch_pages)

    def add_articles(
        self,
        articles: Sequence[Article],
        replace_all: bool = False,
        ray: RayOptions | None = None,
        keep_apart: bool = True,
    ) -> AddReport:
        """Add (or replace) articles in one commit; with `replace_all` they replace everything
        (`Adder.add_articles`)."""
        return self.adder.add_articles(articles, replace_all, ray, keep_apart)

    # ----- opening ----------------------------------------------------------
    @classmethod
    def create(
        cls,
        index_dir: str | Path,
        config: Config | None = None,
        progress: bool = False,
        force: bool = False,
    ) -> Archive:
        """An empty archive that will save into `index_dir` (nothing is written until articles are added).

        A folder that holds other things than an index is refused unless `force` is set.
        """
        index_dir, config = _checked(index_dir, config)
        check_new_home(index_dir, force)
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
        cls,
        paths: Iterable[str | Path],
        index_dir: str | Path,
        config: Config | None = None,
        progress: bool = False,
        force: bool = False,
        strict: bool = False,
        ray: RayOptions | None = None,
        fetch_pages: bool = False,
    ) -> Archive:
        """A new index from files and folders; it replaces any index in `index_dir` only once complete.

        A folder that holds other things than an index is refused unless `force` is set.
        Files that cannot be read are left out and listed in `engine.report` (with
        `strict`, any of them stops the build before anything is written). With `ray`,
        files are read and passages embedded on Ray (see qa.distributed).
        """
        index_dir, config = _checked(index_dir, config)
        check_new_home(index_dir, force)
        paths = list(paths) if not isinstance(paths, (str, Path)) else [paths]
        engine = cls.create(index_dir, config, progress, force=True)
        try:
            engine.report = engine.adder.add_paths(paths, strict, ray, True, fetch_pages)
        except NeedsFreshFolder:  # more than one batch: built beside the old index, which stays until then
            fresh = index_dir.parent / f".{index_dir.name}.building-{uuid.uuid4().hex[:8]}"
            try:
                report = cls.create(fresh, config, progress, force=True).adder.add_paths(
                    paths, strict, ray, True, fetch_pages
                )
                put_in_place(fresh, index_dir)
            finally:
                shutil.rmtree(fresh, ignore_errors=True)
            engine = cls.open(index_dir, config, progress)
            engine.report = report
        return engine

    @classmethod
    def open(cls, index_dir: str | Path, config: Config | None = None, progress: bool = False) -> Archive:
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
    def upgrade(cls, index_dir: str | Path, config: Config | None = None, progress: bool = False) -> Archive:
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
        model = _commit_format_1(index_dir, config)
        remove_format_1(index_dir)
        return cls.open(index_dir, config.with_(embedding_model=model), progress)

    @classmethod
    def open_or_seed(
        cls, index_dir: str | Path, config: Config | None = None, progress: bool = False
    ) -> Archive:
        """Open an index; the built-in default one (see `qa.config.is_seeded_default`) is first built from the
        seed article. A folder named by $QA_INDEX_DIR that holds no index is refused, as --index-dir is."""
        index_dir, config = _checked(index_dir, config)
        if is_seeded_default(index_dir) and not Store.exists(index_dir):
            logger.warning(
                "The folder %s holds no index yet: building one from the seed article ...", index_dir
            )
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
    def open_or_create(cls, index_dir: str | Path, config: Config | None = None) -> Archive:
        """The index at `index_dir` (the default one seeded first), or a new empty one when the folder has none."""
        index_dir, config = _checked(index_dir, config)
        if Store.exists(index_dir) or is_seeded_default(index_dir):
            return cls.open_or_seed(index_dir, config)
        return cls.create(index_dir, config)

    # ----- changing ---------------------------------------------------------
    def resolve(self, key: str) -> list[str]:
        """The ids of the articles `key` names: an id, else a url, else an exact title."""
        for field_ in ("id", "url", "title"):
            found = self.index.find(field_, key)
            if found:
                return found
        return []

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
                f"No article with id, url or title {', '.join(repr(k) for k in unknown)} in the index; "
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

    def article(self, article_id: str) -> Article | None:
        """The article of this id, with its text; None when there is none."""
        return self.index.articles([article_id]).get(article_id)

    def checksums(self, ids: Sequence[str]) -> dict[str, str]:
        """The stored checksum of each of these articles that the index holds (what an add compares)."""
        return self.index.checksums(ids)

    def origins(self, ids: Sequence[str]) -> dict[str, str]:
        """Where each of these stored articles came from, where that was recorded (a file's path, or
        `upload:USER` for the page's and the API's)."""
        return self.index.origins(ids)

    def passage_counts(self, ids: Sequence[str] | None = None) -> dict[str, int]:
        """How many passages each article has (all, or those of `ids`)."""
        return self.index.passage_counts(ids)

    def stats(self) -> Stats:
        return self.index.stats()
