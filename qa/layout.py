"""The index folder's layout and database schema, what a store reports about itself, and the small
helpers every part of the store shares (chunked `IN` queries, one line for a failed save)."""

from __future__ import annotations

import errno
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.embeddings import FP32_ENCODER
from qa.errors import InputError
from qa.files import not_plain
from qa.format1 import OLD_CATALOG, OLD_POINTER

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
# What the project's own index/ folder (a checkout's default index) holds beside the index: its scripts.
CHECKOUT_FILES = {"README.md", "rebuild.sh", "refresh-feeds.sh"}
# The only names an index's database may give its files (see own_file).
SEGMENT_FILE = re.compile(r"(seg-\d{6,}|job-[0-9a-f]{12}-\d{12})\.faiss")
TEMPORARY_FILE = re.compile(
    r"seg-\d{6,}\.faiss\.[0-9a-f]{12}\.tmp"
)  # a local writer's (files.temporary_name)
JOB_ID = re.compile(r"[0-9a-f]{12}")
RUNNING_JOBS: set[str] = (
    set()
)  # the distributed adds this process is running (see Staging.staging, store.jobs)


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


TOP_FILES = (DATABASE, DATABASE + "-wal", DATABASE + "-shm", LOCK, OLD_POINTER, OLD_CATALOG)
TOP_FOLDERS = (SEGMENTS, TEXT, TEXT_NEW, TEXT_OLD)


def unsafe_entries(folder: Path) -> list[str]:
    """The index's own entries that are not what it may open: a link (to anywhere), or a FIFO, device or socket
    where a file belongs (opening one would hang); one line each, nothing opened or followed to find them."""
    found = [(name, not_plain(folder / name)) for name in TOP_FILES]
    found += [(name, not_plain(folder / name, folder=True)) for name in TOP_FOLDERS]
    for sub in (SEGMENTS, TEXT):
        if (folder / sub).is_dir() and not (folder / sub).is_symlink():
            found += [(f"{sub}/{p.name}", not_plain(p)) for p in sorted((folder / sub).iterdir())]
    return [f"{name[:80]} is {what}" for name, what in found if what]


def select_in(db: sqlite3.Connection | None, sql: str, values: list[Any], chunk: int = 900) -> list[tuple]:
    """Run `sql` whose `IN ({})` takes `values`, in chunks under SQLite's parameter limit (no database: no rows)."""
    rows: list[tuple] = []
    if db is None:
        return rows
    for at in range(0, len(values), chunk):
        part = values[at : at + chunk]
        rows += db.execute(sql.format(",".join("?" * len(part))), part).fetchall()
    return rows


def free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder if folder.exists() else folder.parent).free
    except OSError:
        return 1 << 62


def read_only_file_system(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder if folder.exists() else folder.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def save_failure(folder: Path, exc: BaseException) -> str:
    """One line for a failed change: what went wrong in words, and what to do."""
    errno_ = getattr(exc, "errno", None)
    message = str(exc).lower()
    if (
        errno_ in (errno.ENOSPC, errno.EDQUOT)
        or "disk is full" in message
        or "no space" in message
        or free_bytes(folder) < (1 << 20)
    ):
        what, fix = "the disk is full", "free some space"
    elif errno_ == errno.EROFS or read_only_file_system(folder):
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


def holds_index(folder: Path) -> bool:
    """The folder holds an index (of this format or the older one `qa index upgrade` converts)."""
    return (Path(folder) / DATABASE).is_file() or (Path(folder) / OLD_POINTER).is_file()


def check_new_home(folder: Path, force: bool = False) -> None:
    """Refuse to build into a folder that holds other things than an index, unless forced.

    An index never deletes what it did not write, but mixing it into, say, a
    Documents folder is almost always a mistaken --index-dir.
    """
    if not folder.exists():
        return
    if not folder.is_dir():
        raise InputError(f"{folder} is a file, not a folder; pass a folder for --index-dir.")
    if force or holds_index(folder):
        return
    others = sorted(p.name for p in folder.iterdir() if p.name not in OWN_FILES | CHECKOUT_FILES)
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise InputError(
            f"{folder} is not an index and already holds other files ({shown}); pass an empty "
            f"or new folder such as {folder / 'qa-index'}, or add --force to put the index beside them."
        )
