"""Reading an index folder: opening it, one database snapshot per search, the segments and filter facts
cached per committed generation, and clear one-line errors when the folder is gone or damaged."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from qa import segments as seg
from qa.articles import Article
from qa.config import APPROXIMATE_ABOVE
from qa.embeddings import FP32_ENCODER
from qa.errors import IndexUnusable, NoIndex
from qa.filtering import Filters, Kept, PassageFacts
from qa.format1 import OLD_POINTER
from qa.fulltext import FullText
from qa.layout import (
    ARTICLE_COLUMNS,
    DATABASE,
    FORMAT_VERSION,
    SEGMENT_FILE,
    SEGMENTS,
    TEXT,
    free_bytes,
    holds_index,
    own_file,
    select_in,
    unsafe_entries,
)
from qa.passages import Passage

logger = logging.getLogger(__name__)
Opened = TypeVar("Opened", bound="StoreReader")


class StoreReader:
    """An index folder as read: opened, then searched through snapshots (the base of `qa.store.Store`).

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
        self.folder = Path(folder)
        self.embedding_model = embedding_model
        self.dimension = dimension
        self.encoder = encoder
        self.approximate_above = approximate_above
        self.text = FullText(self.folder / TEXT)
        self._local = threading.local()
        self._cache_lock = threading.Lock()
        self._generation: int | None = None
        self._segments: dict[int, seg.Segment] = {}
        self._facts: tuple[int, PassageFacts] | None = None  # (generation, what filters test) once asked
        self.seen = False  # its database has been read: from then on, a missing database means it was deleted

    # ----- opening ----------------------------------------------------------
    @classmethod
    def exists(cls, folder: Path) -> bool:
        return holds_index(folder)

    @classmethod
    def open(cls: type[Opened], folder: Path, approximate_above: int | None = APPROXIMATE_ABOVE) -> Opened:
        """Open a committed index: reads its settings; segments are mapped on the first search."""
        folder = Path(folder)
        if not folder.is_dir():
            raise NoIndex(
                f"There is no index in {folder}; build one with `qa index build --index-dir {folder} PATH...`."
            )
        index = cls(folder, "", 0, approximate_above)
        index.check_own_files()  # before anything is opened
        if (folder / OLD_POINTER).is_file():
            raise IndexUnusable(
                f"The index in {folder} is in an older format (1), this program reads format "
                f"{FORMAT_VERSION}; convert it with `qa index upgrade --index-dir {folder}`."
            )
        if not (folder / DATABASE).is_file() and ((folder / SEGMENTS).is_dir() or (folder / TEXT).is_dir()):
            raise IndexUnusable(
                f"The index in {folder} has lost its database ({DATABASE}); its articles cannot be "
                f"recovered from what is left: build it again with `qa index build`."
            )
        if not (folder / DATABASE).is_file():
            raise NoIndex(
                f"{folder} is not an index (no {DATABASE}); build one with "
                f"`qa index build --index-dir {folder} PATH...`."
            )
        with index.reading() as db:
            settings = dict(db.execute("SELECT key, value FROM settings"))
        if settings.get("format_version") != str(FORMAT_VERSION):
            raise IndexUnusable(
                f"The index in {folder} has format version {settings.get('format_version')}, "
                f"this program reads version {FORMAT_VERSION}; rebuild it with `qa index build`."
            )
        index.embedding_model, index.dimension = settings["embedding_model"], int(settings["dimension"])
        index.encoder = settings.get("encoder", FP32_ENCODER)  # indexes from before the int8 encoder
        return index

    # ----- reading ----------------------------------------------------------
    def connect(self, reading: bool = False) -> sqlite3.Connection:
        """A connection; on a read-only folder (an archive on read-only media), an immutable read-only one."""
        path = self.folder / DATABASE
        if reading and not os.access(self.folder, os.W_OK):
            return sqlite3.connect(
                f"{path.absolute().as_uri()}?immutable=1",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
        db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA synchronous=FULL")
        return db

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection inside one read transaction (a consistent snapshot); errors in one line."""
        try:
            db = self._connection()
            db.execute("BEGIN")
            try:
                yield db
            finally:
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise IndexUnusable(self._read_failure(exc)) from None

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection; a new one when the database file was replaced; a clear error when it is gone."""
        try:
            inode = os.lstat(self.folder / DATABASE).st_ino
        except OSError:
            if self.seen:
                raise self.gone() from None
            raise NoIndex(
                f"There is no index in {self.folder} (no {DATABASE}); build one with `qa index build`."
            ) from None
        db = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "inode", None) != inode:
            self.check_own_files()  # a new database file: the folder's files are looked at again
            if db is not None:
                db.close()
            db = self._local.db = self.connect(reading=True)
            if getattr(self._local, "inode", inode) != inode:  # another database now: nothing cached holds
                with self._cache_lock:
                    self._generation, self._segments = None, {}
                    self.text = FullText(self.folder / TEXT)
            self._local.inode = inode
        self.seen = True
        return db

    def _read_failure(self, exc: sqlite3.Error) -> str:
        """One line for a database that cannot be read: locked, a full disk, or damage."""
        message = str(exc).lower()
        if "locked" in message or "busy" in message:
            return (
                f"The index's database in {self.folder} is locked by another program; wait until it is done "
                "(or close it) and try again."
            )
        if "full" in message or free_bytes(self.folder) < (1 << 20):
            return (
                f"The disk that holds {self.folder} is full, so the index cannot be read; "
                "free some space and try again."
            )
        return self.damaged(f"its database cannot be read ({exc})")

    def damaged(self, what: str) -> str:
        return (
            f"The index in {self.folder} is damaged: {what}; run `qa index check --index-dir {self.folder}`, "
            f"then `qa index rebuild` (or build it again from the articles)."
        )

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """A consistent view for one search: the database as of now and the segments it names."""
        if self.empty:
            yield Snapshot(self, None, [])
            return
        with self.reading() as db:
            generation = self.generation_of(db)
            yield Snapshot(self, db, self._segments_as_of(db, generation), generation)

    def generation_of(self, db: sqlite3.Connection) -> int:
        """The committed generation, or IndexUnusable when the database holds something else there."""
        row = db.execute("SELECT value FROM settings WHERE key='generation'").fetchone()
        try:
            return int(row[0])
        except (TypeError, ValueError):
            raise IndexUnusable(
                self.damaged(f"its generation is {str(row[0] if row else None)[:40]!r}, not a number")
            ) from None

    def _segments_as_of(self, db: sqlite3.Connection, generation: int) -> list[seg.Segment]:
        with self._cache_lock:
            if generation != self._generation:
                self.check_own_files()
                live = db.execute(
                    "SELECT number, file, kind FROM segments WHERE state='live' ORDER BY number"
                ).fetchall()
                removed: dict[int, list[int]] = {}
                for rowid, number in db.execute("SELECT rowid, segment FROM removed"):
                    removed.setdefault(number, []).append(rowid)
                loaded = {}
                for number, name, kind in live:
                    old = self._segments.get(number)
                    gone = np.array(sorted(removed.get(number, [])), dtype=np.int64)
                    if old is not None and np.array_equal(old.removed, gone):
                        loaded[number] = old
                        continue
                    index = old.index if old is not None else self.read_segment(name, kind)
                    loaded[number] = seg.Segment(number, index, gone)
                self._segments, self._generation = loaded, generation
                if (self.folder / TEXT).is_dir():
                    self.text.reload()
            return list(self._segments.values())

    def facts_as_of(self, db: sqlite3.Connection, generation: int) -> PassageFacts:
        """What filters test, read once per committed generation (then a filter needs no SQL)."""
        with self._cache_lock:
            if self._facts is None or self._facts[0] != generation:
                self._facts = (generation, PassageFacts.read(db))
            return self._facts[1]

    def read_segment(self, name: str, kind: str) -> Any:
        path = own_file(self.folder, SEGMENTS, name, SEGMENT_FILE)
        if path is None:
            raise IndexUnusable(
                self.damaged(
                    f"its list of vector segments names {str(name)[:80]!r}, "
                    "which is not a segment file of this index"
                )
            )
        try:
            index = seg.read(path, kind == "approximate")
        except (RuntimeError, OSError):
            what = "is missing" if not path.is_file() else "cannot be read"
            raise IndexUnusable(self.damaged(f"the vector segment {name} {what}")) from None
        if index.d != self.dimension:
            raise IndexUnusable(
                self.damaged(
                    f"the vector segment {name} holds {index.d}-d vectors, the index {self.dimension}-d"
                )
            )
        return index

    @property
    def empty(self) -> bool:
        """Nothing committed yet (a new index writes its database with its first articles); IndexUnusable once
        the database that was read is gone (an index deleted while in use is never taken for a new one)."""
        if (self.folder / DATABASE).is_file():
            return False
        if self.seen:
            raise self.gone()
        return True

    def gone(self) -> IndexUnusable:
        return IndexUnusable(
            f"The index in {self.folder} is gone (its folder or database was deleted or moved while in use); "
            "nothing was written. Restore it, or build a new one with `qa index build`."
        )

    def check_own_files(self) -> None:
        """Refuse to work in an index with a link, FIFO or device among its own files (layout.unsafe_entries):
        nothing is read or written through one, and opening a FIFO would hang."""
        unsafe = unsafe_entries(self.folder)
        if unsafe:
            more = f" (and {len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
            raise IndexUnusable(
                f"The index in {self.folder} is not sound: {unsafe[0]}{more}; an index reads and writes only "
                f"regular files inside its own folder. Remove what `qa index check --index-dir {self.folder}` "
                "names, then `qa index rebuild` (or build the index again)."
            )


class Snapshot:
    """One consistent view of an index for one search (see StoreReader.snapshot)."""

    def __init__(
        self,
        index: StoreReader,
        db: sqlite3.Connection | None,
        segments: list[seg.Segment],
        generation: int = 0,
    ) -> None:
        self.index = index
        self.db = db
        self.segments = segments
        self.generation = generation

    @property
    def empty(self) -> bool:
        """No live passages (asked without counting them: a count is a full scan of a large archive)."""
        return (
            self.db is None
            or self.db.execute("SELECT NOT EXISTS (SELECT 1 FROM passages)").fetchone()[0] == 1
        )

    def allowed(self, filters: Filters) -> Kept:
        """The live passages the filters keep (from facts read once per generation: no SQL per question)."""
        if self.db is None:
            return Kept(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), 0.0)
        return self.index.facts_as_of(self.db, self.generation).kept(filters)

    def article_ids(self, filters: Filters) -> list[str]:
        """The ids of the articles the filters keep, by the same rules as the searches (`allowed`)."""
        if self.db is None:
            return []
        facts = self.index.facts_as_of(self.db, self.generation)
        return [str(i) for i in facts.ids[facts.articles_kept(filters)]]

    def dense(
        self, queries: np.ndarray, depth: int, allowed: Kept | None = None
    ) -> list[list[tuple[int, float]]]:
        """Top `depth` (row id, inner product) per query over all segments, removed passages masked."""
        if allowed is not None and allowed.rowids.size == 0 or not self.segments:
            return [[] for _ in range(len(queries))]
        # Everything kept: each segment's own selector (its removed passages) is the whole filter.
        selector = allowed.faiss_selector() if allowed is not None and allowed.share < 1.0 else None
        parts = [segment.search(queries, depth, selector) for segment in self.segments if segment.size]
        if not parts:
            return [[] for _ in range(len(queries))]
        scores = np.concatenate([s for s, _ in parts], axis=1)
        ids = np.concatenate([i for _, i in parts], axis=1)
        scores[ids < 0] = -np.inf  # FAISS pads a segment's results with id -1 when it has fewer
        best = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
        return [
            [(int(i), float(s)) for i, s in zip(ids[q, best[q]], scores[q, best[q]]) if i >= 0]
            for q in range(len(queries))
        ]

    def bm25(
        self, questions: Sequence[str], depth: int, allowed: Kept | None = None
    ) -> list[list[tuple[int, float]]]:
        """Top `depth` (row id, BM25 score) per question, only passages live in this snapshot."""
        if self.db is None or (allowed is not None and allowed.rowids.size == 0):
            return [[] for _ in questions]
        if allowed is not None:  # its row ids are live ones
            return self.index.text.search_kept(questions, depth, allowed)
        results = self.index.text.search(questions, depth + 10)
        ids = {r for found in results for r, _ in found}
        live = {r[0] for r in select_in(self.db, "SELECT rowid FROM passages WHERE rowid IN ({})", list(ids))}
        return [[(r, s) for r, s in found if r in live][:depth] for found in results]

    def passages(self, rowids: Sequence[int]) -> dict[int, Passage]:
        rows = select_in(
            self.db,
            "SELECT rowid, id, article_id, text, start, end FROM passages WHERE rowid IN ({})",
            list(rowids),
        )
        if not all(isinstance(r[3], str) and isinstance(r[4], int) and isinstance(r[5], int) for r in rows):
            raise IndexUnusable(self.index.damaged("a passage's text or offsets are not what they must be"))
        return {r[0]: Passage(*r[1:]) for r in rows}

    def articles(self, ids: Sequence[str], text: bool = True) -> dict[str, Article]:
        """Articles by id; `text=False` leaves their text empty (a search needs their titles, dates and
        sources, and reading every whole text would cost more than the search)."""
        columns = ARTICLE_COLUMNS if text else ARTICLE_COLUMNS.replace("text", "''")
        rows = select_in(self.db, f"SELECT {columns} FROM articles WHERE id IN ({{}})", list(ids))
        if not all(isinstance(r[0], str) and isinstance(r[1], str) and isinstance(r[2], str) for r in rows):
            raise IndexUnusable(self.index.damaged("an article's id, title or text is not text"))
        return {r[0]: Article(*r) for r in rows}

    def vectors(self, rowids: Sequence[int]) -> dict[int, np.ndarray]:
        wanted = set(int(r) for r in rowids)
        out = {}
        for segment in self.segments:
            ids, vectors = seg.contents(segment.index)
            for i, v in zip(ids, vectors):
                if int(i) in wanted:
                    out[int(i)] = v
        return out
