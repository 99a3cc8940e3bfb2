"""The store: articles, passages, BM25 and vectors on disk: SQLite is the one commit point.

Layout of an index folder:

    index.sqlite   articles, passages, the list of vector segments, settings (SQLite, WAL mode)
    segments/      seg-000001.faiss, ...: one FAISS file per batch of added passages (qa.segments)
    text/          the tantivy BM25 index over the same passages (qa.fulltext)
    .lock          one writer at a time (filelock)

Like Lucene's commit points: a change writes its new files first (a segment file,
fsynced; new BM25 documents), then commits one SQLite transaction that names them,
so a crash at any moment leaves the previous state or the new one. Removed
passages are deleted from the database and masked in their segment at search
time; merges drop them for good. A file a change wrote is named in the database
*before* it is created, and only files named there are ever deleted (files a
merge replaced are kept until the next write, for readers still opening them).
Readers never take a lock: each search reads one database snapshot, and sees a
new commit from any process as soon as it is made.

The cost of a change depends on the change, not on the archive: an add writes one
small segment and its passages; opening reads a few settings and maps the segment files.

Nothing in the folder is trusted to name a path: a file name read from the database
(segments, job keys) or from the format-1 pointer is used only when it is a plain name
of the expected pattern (`own_file`), inside a subfolder that is not a link to
elsewhere; anything else is reported by `check` as foreign and never opened or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.articles import Article
from qa.catalog import Catalog
from qa.commits import Commits
from qa.embeddings import FP32_ENCODER
from qa.filtering import Filters
from qa.layout import Stats
from qa.maintenance import Checkup, Repair
from qa.passages import Passage
from qa.snapshots import APPROXIMATE_ABOVE, StoreReader
from qa.staging import Staging
from qa.writing import Writer


class Store(StoreReader):
    """An index folder: what is committed in its database, searched through snapshots, changed by commits.

    It is the snapshot reader (`qa.snapshots.StoreReader`: open, snapshots, cached segments and filter facts)
    and it has its parts, each handed the reader (and the parts it works through) when the store is made:
    `catalog` (`qa.catalog.Catalog`, questions about articles), `writer` (`qa.writing.Writer`, the one
    writer's lock, settling, story bands), `commits` (`qa.commits.Commits`, adds, removals, merges),
    `jobs` (`qa.staging.Staging`, Ray jobs: qa.distributed calls it directly), `checkup` and `repair`
    (`qa.maintenance.Checkup` and `Repair`: check, rebuild). The methods below are the store's face to its other
    callers; the folder's layout and schema are in `qa.layout`.

    Args:
        folder: the index folder.
        embedding_model, dimension: what its vectors are (read from the database once it exists).
        approximate_above: segments with more vectors than this are IVF indexes (0: all, None: never).
        encoder: how the vectors are computed (qa.embeddings.Embedder.encoder); adds keep to it.
    """

    def __init__(
        self,
        folder: Path,
        embedding_model: str,
        dimension: int,
        approximate_above: int | None = APPROXIMATE_ABOVE,
        encoder: str = FP32_ENCODER,
    ) -> None:
        super().__init__(folder, embedding_model, dimension, approximate_above, encoder)
        self.catalog = Catalog(self)
        self.writer = Writer(self)
        self.commits = Commits(self, self.writer)
        self.jobs = Staging(self, self.writer, self.commits)
        self.checkup = Checkup(self, self.writer)
        self.repair = Repair(self, self.writer, self.commits)

    # ----- questions about articles (Catalog) ---------------------------------
    def stats(self) -> Stats:
        return self.catalog.stats()

    def articles(self, ids: Sequence[str] | None = None, text: bool = True) -> dict[str, Article]:
        return self.catalog.articles(ids, text)

    def checksums(self, ids: Sequence[str]) -> dict[str, str]:
        return self.catalog.checksums(ids)

    def sources(self) -> list[str]:
        return self.catalog.sources()

    def left_out_by(self, filters: Filters) -> dict[str, int]:
        return self.catalog.left_out_by(filters)

    def origins(self, ids: Sequence[str]) -> dict[str, str]:
        return self.catalog.origins(ids)

    def find(self, column: str, value: str) -> list[str]:
        return self.catalog.find(column, value)

    def passage_counts(self, ids: Sequence[str] | None = None) -> dict[str, int]:
        return self.catalog.passage_counts(ids)

    def passages_of(self, article_id: str) -> list[tuple[Passage, np.ndarray]]:
        return self.catalog.passages_of(article_id)

    def stories(self) -> dict[str, list[Article]]:
        return self.catalog.stories()

    def story_keys(self, ids: Sequence[str]) -> dict[str, frozenset[int]]:
        return self.catalog.story_keys(ids)

    def carried_by(self, roots: Sequence[str]) -> dict[str, int]:
        return self.catalog.carried_by(roots)

    # ----- changes (Writer, Commits, Staging) ----------------------------------
    def story_candidates(self, keys: list[int]) -> list[tuple[str, str]]:
        return self.writer.story_candidates(keys)

    def add(
        self,
        articles: Sequence[Article],
        passages: Sequence[Passage],
        vectors: np.ndarray,
        signatures: dict[str, bytes] | None = None,
        replace_all: bool = False,
        encoder: str | None = None,
    ) -> dict[str, str]:
        """See `Commits.add`."""
        return self.commits.add(articles, passages, vectors, signatures, replace_all, encoder)

    def remove(self, ids: Sequence[str]) -> int:
        return self.commits.remove(ids)

    def optimize(self) -> int:
        return self.commits.optimize()

    # ----- looking after it (Checkup, Repair) ---------------------------------
    def check(self, quick: bool = False) -> list[str]:
        return self.checkup.check(quick)

    def rebuild(self, encode: Any) -> str:
        return self.repair.rebuild(encode)


__all__ = ["Store"]
