"""Articles, passages, BM25 and vectors on disk: SQLite is the one commit point.

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

import errno
import logging
import os
import re
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa import segments as seg
from qa.articles import Article, is_iso_date
from qa.config import APPROXIMATE_ABOVE
from qa.duplicates import band_keys, from_bytes, signature
from qa.embeddings import FP32_ENCODER
from qa.errors import IndexUnusable, InputError, NoIndex, SaveFailed
from qa.files import fsync, sha256_file
from qa.filtering import Filters, Kept, PassageFacts
from qa.format1 import OLD_CATALOG, OLD_POINTER
from qa.fulltext import FullText
from qa.passages import Passage

FORMAT_VERSION = 2
DATABASE = "index.sqlite"
SEGMENTS = "segments"
TEXT = "text"
LOCK = ".lock"
TEXT_NEW, TEXT_OLD = "text.new", "text.old"  # a rebuild writes the new BM25 index beside the old, then swaps
OWN_FILES = {
    DATABASE,
    DATABASE + "-wal",
    DATABASE + "-shm",
    SEGMENTS,
    TEXT,
    TEXT_NEW,
    TEXT_OLD,
    LOCK,
    OLD_POINTER,
    OLD_CATALOG,
}
# The only names an index's database may give its files (see own_file).
SEGMENT_FILE = re.compile(r"(seg-\d{6,}|job-[0-9a-f]{12}-\d{12})\.faiss")
TEMPORARY_FILE = re.compile(
    r"seg-\d{6,}\.faiss\.[0-9a-f]{12}\.tmp"
)  # a local writer's (files.temporary_name)
JOB_ID = re.compile(r"[0-9a-f]{12}")
READ_CHECKED_AT_MOST = (
    2000  # passages whose BM25 document `check --quick` queries (all of them without --quick)
)
_RUNNING_JOBS: set[str] = set()  # the distributed adds this process is running (see PassageIndex.staging)
logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles(
    id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, date TEXT, source TEXT, url TEXT,
    copy_of TEXT, checksum TEXT NOT NULL, iso_date TEXT, signature BLOB, origin TEXT);
CREATE INDEX IF NOT EXISTS articles_by_date ON articles(iso_date);
CREATE INDEX IF NOT EXISTS articles_by_source ON articles(source);
CREATE INDEX IF NOT EXISTS articles_by_source_nocase ON articles(source COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS articles_by_url ON articles(url);
CREATE INDEX IF NOT EXISTS articles_by_title ON articles(title);
CREATE INDEX IF NOT EXISTS articles_by_story ON articles(copy_of);
CREATE TABLE IF NOT EXISTS passages(
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL, article_id TEXT NOT NULL, text TEXT NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL, segment INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS passages_by_article ON passages(article_id);
CREATE INDEX IF NOT EXISTS passages_by_segment ON passages(segment);
CREATE TABLE IF NOT EXISTS segments(
    number INTEGER PRIMARY KEY, file TEXT NOT NULL, state TEXT NOT NULL, kind TEXT,
    vectors INTEGER, bytes INTEGER, sha256 TEXT);
CREATE TABLE IF NOT EXISTS removed(rowid INTEGER PRIMARY KEY, segment INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS unsettled(rowid INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS story_bands(key INTEGER NOT NULL, article_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS story_bands_by_key ON story_bands(key);
CREATE INDEX IF NOT EXISTS story_bands_by_article ON story_bands(article_id);
"""
ARTICLE_COLUMNS = "id, title, text, date, source, url, copy_of"


@dataclass
class SegmentInfo:
    number: int
    kind: str  # "exact" or "approximate"
    vectors: int
    removed: int
    bytes: int


@dataclass
class Stats:
    articles: int
    passages: int
    embedding_model: str
    dimension: int
    segments: list[SegmentInfo] = field(default_factory=list)
    format_version: int = FORMAT_VERSION
    encoder: str = FP32_ENCODER

    @property
    def index_type(self) -> str:
        kinds = {s.kind for s in self.segments}
        return "approximate (IVF) and exact" if len(kinds) > 1 else (kinds.pop() if kinds else "exact")

    def describe(self) -> str:
        return (
            f"{self.articles} article(s), {self.passages} passage(s) in {len(self.segments)} vector segment(s) "
            f"({self.index_type}) of {self.embedding_model} ({self.dimension}-d, {self.encoder})"
        )


def own_file(folder: Path, subfolder: str, name: object, pattern: re.Pattern[str]) -> Path | None:
    """`folder/subfolder/name` when `name` is a plain file name of `pattern` and neither the subfolder nor the
    file is a link; None otherwise (the name is foreign: never opened nor deleted)."""
    if not isinstance(name, str) or not pattern.fullmatch(name):
        return None
    path = folder / subfolder / name
    if path.parent.is_symlink() or path.is_symlink():
        return None
    return path


class PassageIndex:
    """An index folder: what is committed in its database, searched through snapshots, changed by commits.

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
        self._seen = (
            False  # its database has been read: from then on, a missing database means it was deleted
        )

    # ----- opening ----------------------------------------------------------
    @classmethod
    def exists(cls, folder: Path) -> bool:
        return (Path(folder) / DATABASE).is_file() or (Path(folder) / OLD_POINTER).is_file()

    @classmethod
    def open(cls, folder: Path, approximate_above: int | None = APPROXIMATE_ABOVE) -> PassageIndex:
        """Open a committed index: reads its settings; segments are mapped on the first search."""
        folder = Path(folder)
        if not folder.is_dir():
            raise NoIndex(
                f"There is no index in {folder}; build one with `qa index build --index-dir {folder} PATH...`."
            )
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
        index = cls(folder, "", 0, approximate_above)
        with index._reading() as db:
            settings = dict(db.execute("SELECT key, value FROM settings"))
        if settings.get("format_version") != str(FORMAT_VERSION):
            raise IndexUnusable(
                f"The index in {folder} has format version {settings.get('format_version')}, "
                f"this program reads version {FORMAT_VERSION}; rebuild it with `qa index build`."
            )
        index.embedding_model, index.dimension = settings["embedding_model"], int(settings["dimension"])
        index.encoder = settings.get("encoder", FP32_ENCODER)  # indexes from before the int8 encoder
        return index

    @classmethod
    def check_new_home(cls, folder: Path, force: bool = False) -> None:
        """Refuse to build into a folder that holds other things than an index, unless forced.

        An index never deletes what it did not write, but mixing it into, say, a
        Documents folder is almost always a mistaken --index-dir.
        """
        if not folder.exists():
            return
        if not folder.is_dir():
            raise InputError(f"{folder} is a file, not a folder; pass a folder for --index-dir.")
        if force or cls.exists(folder):
            return
        others = sorted(p.name for p in folder.iterdir() if p.name not in OWN_FILES)
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise InputError(
                f"{folder} is not an index and already holds other files ({shown}); pass an empty "
                f"or new folder such as {folder / 'qa-index'}, or add --force to put the index beside them."
            )

    # ----- reading ----------------------------------------------------------
    def _connect(self, reading: bool = False) -> sqlite3.Connection:
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
    def _reading(self) -> Iterator[sqlite3.Connection]:
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
            inode = (self.folder / DATABASE).stat().st_ino
        except OSError:
            if self._seen:
                raise IndexUnusable(
                    f"The index in {self.folder} is gone (its database was deleted or moved while "
                    "in use); restore the folder or build it again with `qa index build`."
                ) from None
            raise NoIndex(
                f"There is no index in {self.folder} (no {DATABASE}); build one with `qa index build`."
            ) from None
        db = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "inode", None) != inode:
            if db is not None:
                db.close()
            db = self._local.db = self._connect(reading=True)
            if getattr(self._local, "inode", inode) != inode:  # another database now: nothing cached holds
                with self._cache_lock:
                    self._generation, self._segments = None, {}
                    self.text = FullText(self.folder / TEXT)
            self._local.inode = inode
        self._seen = True
        return db

    def _read_failure(self, exc: sqlite3.Error) -> str:
        """One line for a database that cannot be read: locked, a full disk, or damage."""
        message = str(exc).lower()
        if "locked" in message or "busy" in message:
            return (
                f"The index's database in {self.folder} is locked by another program; wait until it is done "
                "(or close it) and try again."
            )
        if "full" in message or _free_bytes(self.folder) < (1 << 20):
            return (
                f"The disk that holds {self.folder} is full, so the index cannot be read; "
                "free some space and try again."
            )
        return self._damaged(f"its database cannot be read ({exc})")

    def _damaged(self, what: str) -> str:
        return (
            f"The index in {self.folder} is damaged: {what}; run `qa index check --index-dir {self.folder}`, "
            f"then `qa index rebuild` (or build it again from the articles)."
        )

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """A consistent view for one search: the database as of now and the segments it names."""
        if self.empty and not self._seen:
            yield Snapshot(self, None, [])
            return
        with self._reading() as db:
            generation = int(db.execute("SELECT value FROM settings WHERE key='generation'").fetchone()[0])
            yield Snapshot(self, db, self._segments_as_of(db, generation), generation)

    def _segments_as_of(self, db: sqlite3.Connection, generation: int) -> list[seg.Segment]:
        with self._cache_lock:
            if generation != self._generation:
                self._own_subfolders()
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
                    index = old.index if old is not None else self._read_segment(name, kind)
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

    def _read_segment(self, name: str, kind: str) -> Any:
        path = own_file(self.folder, SEGMENTS, name, SEGMENT_FILE)
        if path is None:
            raise IndexUnusable(
                self._damaged(
                    f"its list of vector segments names {str(name)[:80]!r}, "
                    "which is not a segment file of this index"
                )
            )
        try:
            return seg.read(path, kind == "approximate")
        except (RuntimeError, OSError):
            what = "is missing" if not path.is_file() else "cannot be read"
            raise IndexUnusable(self._damaged(f"the vector segment {name} {what}")) from None

    @property
    def empty(self) -> bool:
        """Nothing committed yet (a new index writes its database with its first articles)."""
        return not (self.folder / DATABASE).is_file()

    def stats(self) -> Stats:
        if self.empty:
            return Stats(0, 0, self.embedding_model, self.dimension, encoder=self.encoder)
        with self._reading() as db:
            articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
            passages = db.execute("SELECT count(*) FROM passages").fetchone()[0]
            removed = dict(db.execute("SELECT segment, count(*) FROM removed GROUP BY segment"))
            rows = db.execute(
                "SELECT number, kind, vectors, bytes FROM segments WHERE state='live' ORDER BY number"
            )
            infos = [SegmentInfo(n, k, v, removed.get(n, 0), b) for n, k, v, b in rows]
        return Stats(articles, passages, self.embedding_model, self.dimension, infos, encoder=self.encoder)

    def articles(self, ids: Sequence[str] | None = None, text: bool = True) -> dict[str, Article]:
        """Articles by id (all of them when `ids` is None; `text=False` leaves their text empty, for listings)."""
        columns = ARTICLE_COLUMNS if text else ARTICLE_COLUMNS.replace("text", "''")
        if self.empty:
            return {}
        with self._reading() as db:
            if ids is None:
                rows = db.execute(f"SELECT {columns} FROM articles ORDER BY rowid").fetchall()
            else:
                rows = _select_in(db, f"SELECT {columns} FROM articles WHERE id IN ({{}})", list(ids))
        return {r[0]: Article(*r) for r in rows}

    def checksums(self, ids: Sequence[str]) -> dict[str, str]:
        if self.empty:
            return {}
        with self._reading() as db:
            return dict(_select_in(db, "SELECT id, checksum FROM articles WHERE id IN ({})", list(ids)))

    def sources(self) -> list[str]:
        """The distinct sources of the articles, sorted."""
        if self.empty:
            return []
        with self._reading() as db:
            return [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT source FROM articles WHERE source IS NOT NULL ORDER BY 1"
                )
            ]

    def left_out_by(self, filters: Filters) -> dict[str, int]:
        """How many articles a filter leaves out for lack of what it tests: no readable date, no source."""
        if self.empty or not (filters.date_from or filters.date_to or filters.sources):
            return {}  # as_of keeps undated articles, and exclusions test nothing: no query on the hot path
        counts = {}
        with self._reading() as db:
            if filters.date_from or filters.date_to:
                counts["undated"] = db.execute(
                    "SELECT count(*) FROM articles WHERE iso_date IS NULL"
                ).fetchone()[0]
            if filters.sources:
                counts["no_source"] = db.execute(
                    "SELECT count(*) FROM articles WHERE source IS NULL"
                ).fetchone()[0]
        return {k: v for k, v in counts.items() if v}

    def origins(self, ids: Sequence[str]) -> dict[str, str]:
        """The file each of these articles was read from, where one was recorded."""
        if self.empty:
            return {}
        with self._reading() as db:
            if "origin" not in {r[1] for r in db.execute("PRAGMA table_info(articles)")}:
                return {}  # an index from before origins were recorded
            rows = _select_in(
                db, "SELECT id, origin FROM articles WHERE origin IS NOT NULL AND id IN ({})", list(ids)
            )
        return dict(rows)

    def find(self, column: str, value: str) -> list[str]:
        """Ids of the articles whose `column` (id, url or title) is `value`."""
        assert column in ("id", "url", "title")
        if self.empty:
            return []
        with self._reading() as db:
            return [
                r[0] for r in db.execute(f"SELECT id FROM articles WHERE {column}=? ORDER BY rowid", (value,))
            ]

    def passage_counts(self) -> dict[str, int]:
        if self.empty:
            return {}
        with self._reading() as db:
            return dict(db.execute("SELECT article_id, count(*) FROM passages GROUP BY article_id"))

    def passages_of(self, article_id: str) -> list[tuple[Passage, np.ndarray]]:
        """An article's passages with their vectors, in order (for checks and tests)."""
        with self.snapshot() as view:
            assert view.db is not None, "an index with articles has a database"
            rows = view.db.execute(
                "SELECT rowid FROM passages WHERE article_id=? ORDER BY rowid", (article_id,)
            )
            rowids = [r[0] for r in rows]
            passages = view.passages(rowids)
            vectors = view.vectors(rowids)
        return [(passages[r], vectors[r]) for r in rowids]

    def stories(self) -> dict[str, list[Article]]:
        """Articles by story (the first article's id), for the stories told more than once."""
        if self.empty:
            return {}
        with self._reading() as db:
            rows = db.execute(
                f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE coalesce(copy_of, id) IN "
                "(SELECT coalesce(copy_of, id) AS root FROM articles GROUP BY root HAVING count(*) > 1) "
                "ORDER BY rowid"
            ).fetchall()
        groups: dict[str, list[Article]] = {}
        for row in rows:
            article = Article(*row)
            groups.setdefault(article.copy_of or article.id, []).append(article)
        return groups

    def carried_by(self, roots: Sequence[str]) -> dict[str, int]:
        """For each story named, by how many sources it was carried (articles, where none is named)."""
        if self.empty:
            return {}
        with self._reading() as db:
            return dict(
                _select_in(
                    db,
                    "SELECT coalesce(copy_of, id) AS root, count(DISTINCT coalesce(source, id)) "
                    "FROM articles WHERE root IN ({}) GROUP BY root",
                    list(roots),
                )
            )

    def story_candidates(self, keys: list[int]) -> list[tuple[str, str]]:
        """(id, first article of its story) of the stored articles sharing an LSH band key (qa.duplicates)
        with `keys`, oldest first."""
        if self.empty:
            return []
        with self._reading() as db:
            filled = self._settings(db).get("story_bands") == "1"
        if not filled:  # an index from before story bands: the writer fills them in, once
            with self._writing():
                pass
        with self._reading() as db:
            marks = ",".join("?" * len(keys))
            return db.execute(
                "SELECT id, coalesce(copy_of, id) FROM articles WHERE id IN "
                f"(SELECT article_id FROM story_bands WHERE key IN ({marks})) ORDER BY rowid",
                keys,
            ).fetchall()

    def _band_rows(self, signatures: dict[str, bytes]) -> list[tuple[int, str]]:
        return [(key, i) for i, stored in signatures.items() for key in band_keys(from_bytes(stored))]

    def _fill_story_bands(self, db: sqlite3.Connection) -> None:
        """Once, for an index written before story bands were kept: the bands of every stored article."""
        settings = self._settings(db)
        if not settings or settings.get("story_bands") == "1":
            return  # a new index (its settings, written with its first articles, say story bands are kept)
        rows = db.execute("SELECT id, signature, CASE WHEN signature IS NULL THEN text END FROM articles")
        keys = [
            (key, i)
            for i, stored, text in rows
            for key in band_keys(from_bytes(stored) if stored else signature(text or ""))
        ]
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM story_bands")
        db.executemany("INSERT INTO story_bands(key, article_id) VALUES (?, ?)", keys)
        self._set(db, story_bands=1)
        db.execute("COMMIT")

    # ----- changing ---------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """Be the one writer: take the lock, settle what a dead writer left, and fail in one line (SaveFailed)."""
        from filelock import FileLock, Timeout

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with FileLock(self.folder / LOCK, timeout=600):
                db = self._connect()
                try:
                    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(SCHEMA)
                    if "origin" not in {r[1] for r in db.execute("PRAGMA table_info(articles)")}:
                        db.execute("ALTER TABLE articles ADD COLUMN origin TEXT")  # indexes from before it
                    self._settle(db)
                    self._fill_story_bands(db)
                    try:
                        yield db
                    except BaseException:
                        self._undo(db)
                        raise
                    # index.sqlite alone holds what is committed, unless a reader is in the middle of a
                    # transaction: then the checkpoint does what it can now, and the writers' lock is not held
                    # waiting for a reader (the next write finishes it).
                    db.execute("PRAGMA busy_timeout=0")
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    db.close()
        except (SaveFailed, IndexUnusable):
            raise
        except Timeout:
            raise SaveFailed(
                f"Another program has been changing the index in {self.folder} for ten minutes; "
                "try again when it is done."
            ) from None
        except (
            OSError,
            sqlite3.Error,
            RuntimeError,
            ValueError,
        ) as exc:  # RuntimeError: FAISS; ValueError: tantivy
            raise SaveFailed(_save_failure(self.folder, exc)) from None

    def _undo(self, db: sqlite3.Connection) -> None:
        """After a failed change: roll back, and remove what it wrote now if the disk lets us (else the next write
        will)."""
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
            for (name,) in db.execute("SELECT file FROM segments WHERE state='writing'").fetchall():
                path = own_file(self.folder, SEGMENTS, name, SEGMENT_FILE)
                if path is not None:
                    path.unlink(missing_ok=True)  # frees space even when nothing else can
            self._settle(db)
        except (OSError, sqlite3.Error, RuntimeError, ValueError, IndexUnusable) as exc:
            logger.info("Cleaning up after a failed change must wait for the next write (%s).", exc)

    def _settle(self, db: sqlite3.Connection) -> None:
        """Finish or undo what an earlier writer left: files it never committed, files merges replaced, BM25 documents.

        Only files of this index's own name patterns (`own_file`) are ever deleted; a row naming anything
        else is dropped from the list without touching the file it names.
        """
        self._own_subfolders()
        self._settle_jobs(db)
        for number, name, state in db.execute(
            "SELECT number, file, state FROM segments WHERE state != 'live'"
        ).fetchall():
            path = own_file(self.folder, SEGMENTS, name, SEGMENT_FILE)
            if path is not None:
                path.unlink(missing_ok=True)
                logger.info("Removed segment file %s (%s).", name, state)
            else:
                logger.warning(
                    "Dropped a segment row naming %r, not a file of this index (left alone).", name
                )
            db.execute("DELETE FROM segments WHERE number=?", (number,))
        for (
            path
        ) in self._temporary_files():  # a local writer killed between writing a segment and renaming it
            path.unlink(missing_ok=True)
            logger.info("Removed %s, left by a writer that did not finish.", path.name)
        self._settle_text()
        rowids = [r[0] for r in db.execute("SELECT rowid FROM unsettled")]
        if rowids:
            live = _select_in(db, "SELECT rowid, text FROM passages WHERE rowid IN ({})", rowids)
            self.text.change(add=live, delete=rowids)
            db.execute("DELETE FROM unsettled")

    def _settle_jobs(self, db: sqlite3.Connection) -> None:
        """Forget distributed jobs whose driver is gone (their lease is free), and remove their files."""
        from filelock import FileLock, Timeout

        for (key,) in db.execute("SELECT key FROM settings WHERE key LIKE 'job:%'").fetchall():
            lease = own_file(
                self.folder, SEGMENTS, f"job-{key[4:]}.lock", re.compile(r"job-[0-9a-f]{12}\.lock")
            )
            if lease is None:
                continue  # not a job of ours: `check` reports it as foreign
            if key[4:] in _RUNNING_JOBS:
                continue  # this process's own (file locks tell other processes' holds apart, not our own)
            try:
                with FileLock(lease, timeout=0):  # free: the job's driver is gone
                    db.execute("DELETE FROM settings WHERE key=?", (key,))
                    logger.info("Removing the segment files of an unfinished job (%s).", key)
                lease.unlink(missing_ok=True)
            except Timeout:
                pass  # the job is still running
        # A job's files are those no running job and no segment row names; this also takes the file of a
        # dead job's worker that finished its batch after its job was settled.
        running = {key[4:] for (key,) in db.execute("SELECT key FROM settings WHERE key LIKE 'job:%'")}
        named = {name for (name,) in db.execute("SELECT file FROM segments")}
        for path in (self.folder / SEGMENTS).glob("job-*"):
            if path.name[4:16] not in running and path.name not in named and not path.is_dir():
                path.unlink(missing_ok=True)

    def _temporary_files(self) -> list[Path]:
        """Segment files a local writer was still writing (only the lock holder writes them)."""
        folder = self.folder / SEGMENTS
        if not folder.is_dir() or folder.is_symlink():
            return []
        return [p for p in folder.glob("seg-*.tmp") if TEMPORARY_FILE.fullmatch(p.name)]

    def _own_subfolders(self) -> None:
        """Refuse to work in an index whose segments/ or text/ is a link to another folder."""
        for name in (SEGMENTS, TEXT, TEXT_NEW, TEXT_OLD):
            if (self.folder / name).is_symlink():
                raise IndexUnusable(
                    f"{self.folder / name} is a link to another folder; an index keeps its files in "
                    f"its own folder, so nothing is read or written through it. Replace the link "
                    f"with a real folder (then `qa index rebuild`)."
                )

    def _settle_text(self) -> None:
        """Finish or undo a BM25 rebuild that was interrupted (it builds text.new, then swaps it in)."""
        text, new, old = self.folder / TEXT, self.folder / TEXT_NEW, self.folder / TEXT_OLD
        if not new.exists() and not old.exists():
            return
        if not text.exists() and old.is_dir():
            os.replace(old, text)  # killed between the two renames: the old index is whole
        shutil.rmtree(new, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
        self.text = FullText(text)

    def _settings(self, db: sqlite3.Connection) -> dict[str, str]:
        return dict(db.execute("SELECT key, value FROM settings"))

    def _set(self, db: sqlite3.Connection, **values: Any) -> None:
        db.executemany(
            "INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)",
            [(k, str(v)) for k, v in values.items()],
        )

    def _reserve(
        self, db: sqlite3.Connection, rows: int, unsettled: Sequence[int] = ()
    ) -> tuple[int, int, str]:
        """Commit, before any file is written: the next row ids and segment number, the file's name, and the
        row ids whose BM25 documents are about to change. Returns (first row id, segment number, file name)."""
        settings = self._settings(db)
        first, number = int(settings["next_rowid"]), int(settings["next_segment"])
        name = f"seg-{number:06d}.faiss"
        db.execute("BEGIN IMMEDIATE")
        self._set(db, next_rowid=first + rows, next_segment=number + 1)
        db.execute("INSERT INTO segments(number, file, state) VALUES (?, ?, 'writing')", (number, name))
        db.executemany(
            "INSERT OR IGNORE INTO unsettled(rowid) VALUES (?)",
            [(r,) for r in [*unsettled, *range(first, first + rows)]],
        )
        db.execute("COMMIT")
        return first, number, name

    def _write_segment(
        self, number: int, name: str, rowids: np.ndarray, vectors: np.ndarray
    ) -> tuple[str, int, int, str]:
        """Write a segment file; returns what its database row records (kind, vectors, bytes, sha256)."""
        (self.folder / SEGMENTS).mkdir(exist_ok=True)
        return write_segment_file(self.folder / SEGMENTS / name, rowids, vectors, self.approximate_above)

    def add(
        self,
        articles: Sequence[Article],
        passages: Sequence[Passage],
        vectors: np.ndarray,
        signatures: dict[str, bytes] | None = None,
        replace_all: bool = False,
        encoder: str | None = None,
    ) -> None:
        """Commit articles (replacing any with the same ids), their passages and vectors, as one change.

        Args:
            signatures: each article's MinHash signature (qa.duplicates), kept for later adds.
            replace_all: the articles replace everything the index held (a build).
            encoder: how `vectors` were computed; an index's vectors are never of two kinds.
        """
        if len(passages) != len(vectors):
            raise ValueError("one vector per passage")
        with self._writing() as db:
            self._prepare(db, replace_all, encoder or self.encoder)
            old = self._replaced(db, articles, replace_all)
            first, number, name = self._reserve(db, len(passages), [r for r, _ in old])
            rowids = np.arange(first, first + len(passages), dtype=np.int64)
            kind, count, size, digest = self._write_segment(number, name, rowids, vectors)
            self.text.change(
                add=[(int(r), p.text) for r, p in zip(rowids, passages)]
            )  # invisible until committed
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "UPDATE segments SET state='live', kind=?, vectors=?, bytes=?, sha256=? WHERE number=?",
                (kind, count, size, digest, number),
            )
            self._apply(
                db,
                articles,
                passages,
                rowids,
                np.full(len(passages), number),
                [number],
                old,
                signatures or {},
                replace_all,
            )

    def _prepare(self, db: sqlite3.Connection, replace_all: bool, encoder: str) -> None:
        """Write a new index's settings (or a rebuilt one's); refuse vectors of another encoder than the index's."""
        settings = self._settings(db)
        recorded = settings.get("encoder", FP32_ENCODER)
        if settings and not replace_all and recorded != encoder:
            raise InputError(
                f"The index in {self.folder} holds vectors from the {recorded} encoder, these are from "
                f"{encoder}; add with the same encoder or rebuild it with `qa index build`."
            )
        if not settings or replace_all:
            self.encoder = encoder
            if settings.get("embedding_model", self.embedding_model) != self.embedding_model:
                logger.info("The index is rebuilt with %s.", self.embedding_model)
            db.execute("BEGIN IMMEDIATE")
            self._set(
                db,
                format_version=FORMAT_VERSION,
                embedding_model=self.embedding_model,
                dimension=self.dimension,
                encoder=self.encoder,
                generation=settings.get("generation", 0),
                next_rowid=settings.get("next_rowid", 1),
                next_segment=settings.get("next_segment", 1),
                story_bands=1,
            )
            db.execute("COMMIT")

    def _replaced(
        self, db: sqlite3.Connection, articles: Sequence[Article], replace_all: bool
    ) -> list[tuple[int, int]]:
        """(row id, segment) of the passages a change replaces: all of them, or those of these articles."""
        if replace_all:
            return db.execute("SELECT rowid, segment FROM passages").fetchall()
        return _select_in(
            db, "SELECT rowid, segment FROM passages WHERE article_id IN ({})", [a.id for a in articles]
        )

    def _apply(
        self,
        db: sqlite3.Connection,
        articles: Sequence[Article],
        passages: Sequence[Passage],
        rowids: np.ndarray,
        segment_of: np.ndarray,
        new: Sequence[int],
        old: list[tuple[int, int]],
        signatures: dict[str, bytes],
        replace_all: bool,
    ) -> None:
        """Inside the open transaction, the `new` segments already live: replace the old passages by the new
        ones (in segments `segment_of`), commit, then settle BM25 and merge."""
        if replace_all:
            db.execute("DELETE FROM articles")
            db.execute("DELETE FROM passages")
            db.execute("DELETE FROM removed")
            db.execute("DELETE FROM story_bands")
            db.execute(
                f"UPDATE segments SET state='retired' WHERE state='live' AND number NOT IN "
                f"({','.join('?' * len(new))})",
                list(new),
            )
        else:
            db.executemany("INSERT OR REPLACE INTO removed(rowid, segment) VALUES (?, ?)", old)
            db.executemany("DELETE FROM passages WHERE rowid=?", [(r,) for r, _ in old])
            db.executemany("DELETE FROM story_bands WHERE article_id=?", [(a.id,) for a in articles])
        db.executemany("INSERT INTO story_bands(key, article_id) VALUES (?, ?)", self._band_rows(signatures))
        db.executemany(
            "INSERT OR REPLACE INTO articles(id, title, text, date, source, url, copy_of, checksum, iso_date, "
            "signature, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    a.id,
                    a.title,
                    a.text,
                    a.date,
                    a.source,
                    a.url,
                    a.copy_of,
                    a.checksum,
                    a.date if is_iso_date(a.date) else None,
                    signatures.get(a.id),
                    a.origin,
                )
                for a in articles
            ],
        )
        db.executemany(
            "INSERT INTO passages(rowid, id, article_id, text, start, end, segment) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (int(r), p.id, p.article_id, p.text, p.start, p.end, int(n))
                for r, p, n in zip(rowids, passages, segment_of)
            ],
        )
        self._commit(db)
        self.text.change(delete=[r for r, _ in old])  # old documents go once nobody can see them live
        db.execute("DELETE FROM unsettled")
        self._merge(db, everything=False)

    # ----- distributed adds (qa.distributed) ---------------------------------
    @contextmanager
    def staging(self, passages: int, replace_all: bool = False, encoder: str | None = None) -> Iterator[Job]:
        """Row ids for `passages` new passages, reserved for a job whose workers write segment files.

        While the job runs, its lease (a lock file the job holds) keeps other writers
        from taking its files for a dead writer's; if the job dies, the next write
        removes them, and the index is as it was. Commit with `commit_staged`.
        """
        from filelock import FileLock

        job = Job(uuid.uuid4().hex[:12], str(self.folder), 0, self.approximate_above)
        try:
            (self.folder / SEGMENTS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SaveFailed(_save_failure(self.folder, exc)) from None
        lease = FileLock(self.folder / SEGMENTS / f"{job.prefix}.lock")
        lease.acquire()
        _RUNNING_JOBS.add(job.id)
        try:
            with self._writing() as db:
                self._prepare(db, replace_all, encoder or self.encoder)
                job.first = int(self._settings(db)["next_rowid"])
                db.execute("BEGIN IMMEDIATE")
                self._set(db, next_rowid=job.first + passages, **{f"job:{job.id}": "staging"})
                db.execute("COMMIT")
            yield job
        except BaseException:
            lease.release()
            _RUNNING_JOBS.discard(job.id)
            try:
                with self._writing():
                    pass  # settling removes what the job wrote
            except (SaveFailed, IndexUnusable):
                pass  # the next write will
            raise
        finally:
            _RUNNING_JOBS.discard(job.id)
            if lease.is_locked:
                lease.release()
            Path(lease.lock_file).unlink(missing_ok=True)

    def commit_staged(
        self,
        job: Job,
        articles: Sequence[Article],
        passages: Sequence[Passage],
        written: Sequence[dict[str, Any]],
        signatures: dict[str, bytes] | None = None,
        replace_all: bool = False,
        encoder: str | None = None,
    ) -> None:
        """Commit a job's articles and passages with the segment files its workers wrote (Job.write's records)."""
        written = sorted(written, key=lambda w: min(w["rowids"]))
        held = np.sort(
            np.concatenate([np.asarray(w["rowids"], dtype=np.int64) for w in written] or [np.zeros(0, int)])
        )
        if not np.array_equal(held, np.arange(job.first, job.first + len(passages))):
            raise ValueError("the job's segments do not hold one vector per passage")
        with self._writing() as db:
            if self._settings(db).get(f"job:{job.id}") != "staging":
                raise SaveFailed(
                    f"The job's segment files in {self.folder} were cleaned up before it finished; "
                    "run it again."
                )
            self._prepare(db, replace_all, encoder or self.encoder)
            old = self._replaced(db, articles, replace_all)
            rowids = np.arange(job.first, job.first + len(passages), dtype=np.int64)
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR IGNORE INTO unsettled(rowid) VALUES (?)",
                [(int(r),) for r in [*(r for r, _ in old), *rowids]],
            )
            db.execute("COMMIT")
            self.text.change(
                add=[(int(r), p.text) for r, p in zip(rowids, passages)]
            )  # invisible until committed
            number = int(self._settings(db)["next_segment"])
            segment_of = np.zeros(len(passages), dtype=np.int64)
            db.execute("BEGIN IMMEDIATE")
            for n, w in enumerate(written, number):
                db.execute(
                    "INSERT INTO segments(number, file, state, kind, vectors, bytes, sha256) "
                    "VALUES (?, ?, 'live', ?, ?, ?, ?)",
                    (n, w["file"], w["kind"], w["vectors"], w["bytes"], w["sha256"]),
                )
                segment_of[np.asarray(w["rowids"], dtype=np.int64) - job.first] = n
            self._set(db, next_segment=number + len(written))
            db.execute("DELETE FROM settings WHERE key=?", (f"job:{job.id}",))
            self._apply(
                db,
                articles,
                passages,
                rowids,
                segment_of,
                list(range(number, number + len(written))),
                old,
                signatures or {},
                replace_all,
            )

    def remove(self, ids: Sequence[str]) -> int:
        """Remove articles by id (their vectors are masked until their segment is merged); returns how many."""
        with self._writing() as db:
            gone = [r[0] for r in _select_in(db, "SELECT id FROM articles WHERE id IN ({})", list(ids))]
            if not gone:
                return 0
            old = _select_in(db, "SELECT rowid, segment FROM passages WHERE article_id IN ({})", gone)
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR IGNORE INTO unsettled(rowid) VALUES (?)", [(r,) for r, _ in old])
            db.executemany("INSERT OR REPLACE INTO removed(rowid, segment) VALUES (?, ?)", old)
            db.executemany("DELETE FROM passages WHERE rowid=?", [(r,) for r, _ in old])
            db.executemany("DELETE FROM articles WHERE id=?", [(i,) for i in gone])
            db.executemany("DELETE FROM story_bands WHERE article_id=?", [(i,) for i in gone])
            self._commit(db)
            self.text.change(delete=[r for r, _ in old])
            db.execute("DELETE FROM unsettled")
        return len(gone)

    def optimize(self) -> int:
        """Merge all segments into one, dropping removed vectors; returns how many segments were merged."""
        with self._writing() as db:
            return self._merge(db, everything=True)

    def _commit(self, db: sqlite3.Connection) -> None:
        generation = int(self._settings(db)["generation"]) + 1
        self._set(db, generation=generation)
        db.execute("COMMIT")

    def _merge(self, db: sqlite3.Connection, everything: bool) -> int:
        """Merge segments: all of them (optimize), or whatever the size-tiered policy picks, repeatedly."""
        merged = 0
        while True:
            rows = db.execute(
                "SELECT number, file, vectors, kind FROM segments WHERE state='live'"
            ).fetchall()
            removed = dict(db.execute("SELECT segment, count(*) FROM removed GROUP BY segment"))
            if everything:
                chosen = [n for n, _, _, _ in rows] if len(rows) > 1 or removed else []
            else:
                chosen = seg.to_merge({n: v - removed.get(n, 0) for n, _, v, _ in rows})
            if not chosen:
                return merged
            files = {n: (f, k) for n, f, _, k in rows}
            ids, vectors = [], []
            for number in chosen:
                found, vecs = seg.contents(self._read_segment(*files[number]))
                keep = ~np.isin(
                    found, [r[0] for r in db.execute("SELECT rowid FROM removed WHERE segment=?", (number,))]
                )
                ids.append(found[keep])
                vectors.append(vecs[keep])
            rowids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
            stacked = np.concatenate(vectors) if vectors else np.zeros((0, self.dimension), np.float32)
            _, number, name = self._reserve(db, 0)
            kind, count, size, digest = self._write_segment(number, name, rowids, stacked)
            db.execute("BEGIN IMMEDIATE")
            marks = ",".join("?" * len(chosen))
            db.execute(f"UPDATE segments SET state='retired' WHERE number IN ({marks})", chosen)
            db.execute(f"UPDATE passages SET segment=? WHERE segment IN ({marks})", [number, *chosen])
            db.execute(f"DELETE FROM removed WHERE segment IN ({marks})", chosen)
            db.execute(
                "UPDATE segments SET state='live', kind=?, vectors=?, bytes=?, sha256=? WHERE number=?",
                (kind, count, size, digest, number),
            )
            self._commit(db)
            db.execute("DELETE FROM unsettled")
            merged += len(chosen)
            if everything:
                return merged

    # ----- checking and repairing -------------------------------------------
    def check(self, quick: bool = False) -> list[str]:
        """Everything wrong with the index, one line each (nothing when it is sound).

        Checks the database, each segment's checksum, the counts, every article's checksum and each passage
        against its article's text, and queries the BM25 index for each passage (with `quick`, a sample of
        READ_CHECKED_AT_MOST passages). Files the database names that are not of this index's own patterns
        are reported as foreign and left alone.
        """
        try:
            problems = self._foreign()
            self._own_subfolders()
            with self._reading() as db:
                pending = db.execute(
                    "SELECT (SELECT count(*) FROM unsettled) + "
                    "(SELECT count(*) FROM segments WHERE state != 'live') + "
                    "(SELECT count(*) FROM settings WHERE key LIKE 'job:%')"
                ).fetchone()[0]
            if (
                pending or self._temporary_files()
            ):  # an interrupted change: settle it (what the next write would do)
                try:
                    with self._writing():
                        pass
                except SaveFailed as exc:
                    problems.append(f"an interrupted change could not be settled: {exc}")
            with self._reading() as db:
                problems += self._check_database(db, quick)
        except IndexUnusable as exc:
            return [str(exc)]
        return problems

    def _foreign(self) -> list[str]:
        """Names in the database that are not files of this index (left alone, reported)."""
        with self._reading() as db:
            rows = db.execute("SELECT file, state FROM segments").fetchall()
            keys = [k for (k,) in db.execute("SELECT key FROM settings WHERE key LIKE 'job:%'")]
        problems = [
            f"the segment list names {str(name)[:80]!r} ({state}), not a file of this index: left alone"
            for name, state in rows
            if not isinstance(name, str) or not SEGMENT_FILE.fullmatch(name)
        ]
        problems += [
            f"the settings name a job {k[4:][:80]!r} that is not one of this index's: left alone"
            for k in keys
            if not JOB_ID.fullmatch(k[4:])
        ]
        return problems

    def _check_database(self, db: sqlite3.Connection, quick: bool) -> list[str]:
        problems = []
        if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            problems.append(f"{DATABASE} fails SQLite's integrity check")
        passages = db.execute("SELECT count(*) FROM passages").fetchone()[0]
        rows = db.execute("SELECT number, file, vectors, sha256 FROM segments WHERE state='live'").fetchall()
        removed = db.execute("SELECT count(*) FROM removed").fetchone()[0]
        orphans = db.execute(
            "SELECT count(*) FROM passages WHERE article_id NOT IN (SELECT id FROM articles)"
        ).fetchone()[0]
        unindexed = db.execute(
            "SELECT count(*) FROM passages WHERE segment NOT IN "
            "(SELECT number FROM segments WHERE state='live')"
        ).fetchone()[0]
        for _number, name, _vectors, digest in rows:
            path = own_file(self.folder, SEGMENTS, name, SEGMENT_FILE)
            if path is None:
                continue  # reported as foreign
            if not path.is_file():
                problems.append(f"vector segment {name} is missing")
            elif sha256_file(path) != digest:
                problems.append(f"vector segment {name} has changed since it was written (checksum differs)")
        if sum(v for _, _, v, _ in rows) - removed != passages:
            problems.append(
                f"the segments hold {sum(v for _, _, v, _ in rows) - removed} live vectors "
                f"for {passages} passages"
            )
        if orphans:
            problems.append(f"{orphans} passage(s) belong to no article")
        if unindexed:
            problems.append(f"{unindexed} passage(s) have no vector segment")
        problems += self._check_texts(db, quick)
        problems += self._check_bm25(db, passages, quick)
        return problems

    def _check_texts(self, db: sqlite3.Connection, quick: bool) -> list[str]:
        """Articles whose stored checksum no longer matches their fields, and passages that are not their text."""
        sample = (
            f" WHERE rowid IN (SELECT rowid FROM articles ORDER BY random() LIMIT {READ_CHECKED_AT_MOST})"
            if quick
            else ""
        )
        changed, wrong = [], 0
        for row in db.execute(f"SELECT {ARTICLE_COLUMNS}, checksum FROM articles{sample}"):
            article = Article(*row[:-1])
            if article.checksum != row[-1]:
                changed.append(article.id)
                continue
            for text, start, end in db.execute(
                "SELECT text, start, end FROM passages WHERE article_id=?", (article.id,)
            ):
                wrong += article.text[start:end] != text
        problems = []
        if changed:
            problems.append(
                f"{len(changed)} article(s) changed since they were added (checksum differs), e.g. "
                f"{changed[0][:80]!r}: add them again from their files"
            )
        if wrong:
            problems.append(f"{wrong} passage(s) differ from their article's text")
        return problems

    def _check_bm25(self, db: sqlite3.Connection, passages: int, quick: bool) -> list[str]:
        """The BM25 index holds one document per passage and finds each (or a sample) by its own words."""
        try:
            damaged = self.text.damaged_files()
            if damaged:
                return [f"the BM25 file {name} is damaged (its checksum differs)" for name in damaged]
            self.text.reload()
            documents = self.text.count()
            if documents != passages:
                return [f"the BM25 index holds {documents} passages, the database {passages}"]
            limit = f" ORDER BY random() LIMIT {READ_CHECKED_AT_MOST}" if quick else ""
            lost = sum(
                not self.text.finds(rowid, text)
                for rowid, text in db.execute(f"SELECT rowid, text FROM passages{limit}")
            )
            return [f"the BM25 index does not find {lost} passage(s) by their own words"] if lost else []
        except (OSError, IndexUnusable) as exc:
            return [f"the BM25 index cannot be read ({exc})"]

    def rebuild(self, encode: Any) -> str:
        """Rebuild what can be derived from the database: the BM25 index, and vectors of unsound segments.

        The new BM25 index is written beside the old one (text.new) and swapped in only once the
        database has committed the rebuilt segments, so a failure at any point leaves the old index.

        Args:
            encode: texts -> normalised vectors (the engine's embedder), for segments that must be re-embedded.
        Returns:
            One line saying what was rebuilt.
        """
        with self._writing() as db:
            rows = db.execute("SELECT rowid, text FROM passages ORDER BY rowid").fetchall()
            shutil.rmtree(self.folder / TEXT_NEW, ignore_errors=True)
            FullText(self.folder / TEXT_NEW).change(add=rows)
            bad = [
                number
                for number, name, digest in db.execute(
                    "SELECT number, file, sha256 FROM segments WHERE state='live'"
                ).fetchall()
                if not self._sound_segment(name, digest)
            ]
            orphans = [
                r[0]
                for r in db.execute(
                    "SELECT rowid FROM passages WHERE segment NOT IN "
                    "(SELECT number FROM segments WHERE state='live')"
                )
            ]
            marks = ",".join("?" * len(bad))
            rebuilt = (
                [r for r in db.execute(f"SELECT rowid, text FROM passages WHERE segment IN ({marks})", bad)]
                if bad
                else []
            )
            rebuilt += _select_in(db, "SELECT rowid, text FROM passages WHERE rowid IN ({})", orphans)
            if rebuilt or bad:
                self._replace_segments(db, bad, rebuilt, encode)
            self._swap_text()
            db.execute("BEGIN IMMEDIATE")
            self._commit(db)  # readers reload the BM25 index
            db.execute("DELETE FROM unsettled")
        return f"Rebuilt the BM25 index ({len(rows)} passages)" + (
            f" and re-embedded {len(rebuilt)} passage(s) of {len(bad)} damaged segment(s)."
            if rebuilt
            else "."
        )

    def _sound_segment(self, name: str, digest: str) -> bool:
        path = own_file(self.folder, SEGMENTS, name, SEGMENT_FILE)
        return path is not None and path.is_file() and sha256_file(path) == digest

    def _replace_segments(
        self, db: sqlite3.Connection, bad: list[int], rebuilt: list[tuple[int, str]], encode: Any
    ) -> None:
        """Re-embed passages into one new segment that replaces the `bad` ones (committed)."""
        vectors = encode([t for _, t in rebuilt]) if rebuilt else np.zeros((0, self.dimension), np.float32)
        _, number, name = self._reserve(db, 0)
        rowids = np.array([r for r, _ in rebuilt], dtype=np.int64)
        kind, count, size, digest = self._write_segment(number, name, rowids, vectors)
        marks = ",".join("?" * len(bad))
        db.execute("BEGIN IMMEDIATE")
        if bad:
            foreign = [
                n
                for n, name in db.execute(f"SELECT number, file FROM segments WHERE number IN ({marks})", bad)
                if own_file(self.folder, SEGMENTS, name, SEGMENT_FILE) is None
            ]
            db.execute(f"UPDATE segments SET state='retired' WHERE number IN ({marks})", bad)
            db.executemany("DELETE FROM segments WHERE number=?", [(n,) for n in foreign])  # no file of ours
            db.execute(f"DELETE FROM removed WHERE segment IN ({marks})", bad)
        db.executemany("UPDATE passages SET segment=? WHERE rowid=?", [(number, int(r)) for r in rowids])
        db.execute(
            "UPDATE segments SET state='live', kind=?, vectors=?, bytes=?, sha256=? WHERE number=?",
            (kind, count, size, digest, number),
        )
        self._commit(db)

    def _swap_text(self) -> None:
        """Put the BM25 index built in text.new in the place of text/ (see _settle_text for a crash between)."""
        text, new, old = self.folder / TEXT, self.folder / TEXT_NEW, self.folder / TEXT_OLD
        fsync(new)
        if text.exists():
            os.replace(text, old)
        os.replace(new, text)
        fsync(self.folder)
        shutil.rmtree(old, ignore_errors=True)
        self.text = FullText(text)


@dataclass
class Job:
    """A distributed add's reservation, sent to its workers: where to write and the first of its row ids."""

    id: str
    folder: str
    first: int
    approximate_above: int | None

    @property
    def prefix(self) -> str:
        return f"job-{self.id}"

    def write(self, rowids: np.ndarray, vectors: np.ndarray) -> dict[str, Any]:
        """Write one segment file of the job (on a worker); returns the record commit_staged needs."""
        name = f"{self.prefix}-{int(rowids.min()):012d}.faiss"  # a batch run again writes the same file
        kind, count, size, digest = write_segment_file(
            Path(self.folder) / SEGMENTS / name, rowids, vectors, self.approximate_above
        )
        return {
            "file": name,
            "rowids": rowids.tolist(),
            "kind": kind,
            "vectors": count,
            "bytes": size,
            "sha256": digest,
        }


def write_segment_file(
    path: Path, rowids: np.ndarray, vectors: np.ndarray, approximate_above: int | None
) -> tuple[str, int, int, str]:
    """Write and fsync one segment file (IVF above `approximate_above` vectors).

    Returns (kind, vectors, bytes, sha256)."""
    approximate = approximate_above is not None and len(rowids) > approximate_above
    seg.write(seg.build(rowids, vectors, approximate), path)
    fsync(path.parent)
    return ("approximate" if approximate else "exact"), len(rowids), path.stat().st_size, sha256_file(path)


class Snapshot:
    """One consistent view of an index for one search (see PassageIndex.snapshot)."""

    def __init__(
        self,
        index: PassageIndex,
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
        found: list[list[tuple[int, float]]] = [[] for _ in range(len(queries))]
        for segment in self.segments:
            if segment.size == 0:
                continue
            scores, ids = segment.search(queries, depth, selector)
            for q in range(len(queries)):
                found[q] += [(int(i), float(s)) for i, s in zip(ids[q], scores[q]) if i >= 0]
        return [sorted(f, key=lambda x: -x[1])[:depth] for f in found]

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
        live = {
            r[0] for r in _select_in(self.db, "SELECT rowid FROM passages WHERE rowid IN ({})", list(ids))
        }
        return [[(r, s) for r, s in found if r in live][:depth] for found in results]

    def passages(self, rowids: Sequence[int]) -> dict[int, Passage]:
        rows = _select_in(
            self.db,
            "SELECT rowid, id, article_id, text, start, end FROM passages WHERE rowid IN ({})",
            list(rowids),
        )
        return {r[0]: Passage(*r[1:]) for r in rows}

    def articles(self, ids: Sequence[str]) -> dict[str, Article]:
        rows = _select_in(self.db, f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id IN ({{}})", list(ids))
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


def _select_in(db: sqlite3.Connection | None, sql: str, values: list[Any], chunk: int = 900) -> list[tuple]:
    """Run `sql` whose `IN ({})` takes `values`, in chunks under SQLite's parameter limit (no database: no rows)."""
    rows: list[tuple] = []
    if db is None:
        return rows
    for at in range(0, len(values), chunk):
        part = values[at : at + chunk]
        rows += db.execute(sql.format(",".join("?" * len(part))), part).fetchall()
    return rows


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder if folder.exists() else folder.parent).free
    except OSError:
        return 1 << 62


def _read_only_file_system(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder if folder.exists() else folder.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _save_failure(folder: Path, exc: BaseException) -> str:
    """One line for a failed change: what went wrong in words, and what to do."""
    errno_ = getattr(exc, "errno", None)
    message = str(exc).lower()
    if (
        errno_ in (errno.ENOSPC, errno.EDQUOT)
        or "disk is full" in message
        or "no space" in message
        or _free_bytes(folder) < (1 << 20)
    ):
        what, fix = "the disk is full", "free some space"
    elif errno_ == errno.EROFS or _read_only_file_system(folder):
        what, fix = "the file system is read-only", "save to a writable folder"
    elif errno_ in (errno.EACCES, errno.EPERM) or any(
        w in message for w in ("readonly", "read-only", "permission", "unable to open")
    ):
        what, fix = "permission denied", "make the index folder and its files writable for you"
    elif "locked" in message or "busy" in message:
        what, fix = "another program holds its database locked", "close that program"
    else:
        what, fix = f"a file could not be written ({getattr(exc, 'strerror', None) or exc})", "check the disk"
    return (
        f"Could not save the index in {folder}: {what}. The previous index is unchanged; {fix} and try again."
    )
