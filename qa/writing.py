"""The one writer of an index: its lock, settling what an earlier writer left unfinished (files it never
committed, BM25 documents, a dead Ray job's files), its settings, and the story bands older indexes lack."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qa.duplicates import band_keys, from_bytes, signature, to_bytes
from qa.errors import IndexUnusable, SaveFailed
from qa.fulltext import FullText
from qa.layout import (
    DATABASE,
    LOCK,
    RUNNING_JOBS,
    SCHEMA,
    SEGMENT_FILE,
    SEGMENTS,
    TEMPORARY_FILE,
    TEXT,
    TEXT_NEW,
    TEXT_OLD,
    own_file,
    save_failure,
    select_in,
)
from qa.snapshots import StoreReader

logger = logging.getLogger(__name__)


class Writer:
    """Be the one writer (`_writing`), and leave the folder settled for the next."""

    def __init__(self, reader: StoreReader) -> None:
        self.reader = reader

    def story_candidates(self, keys: list[int]) -> list[tuple[str, str]]:
        """(id, first article of its story) of the stored articles sharing an LSH band key (qa.duplicates)
        with `keys`, oldest first."""
        if self.reader.empty:
            return []
        with self.reader.reading() as db:
            filled = self.settings(db).get("story_bands") == "1"
        if not filled:  # an index from before story bands: the writer fills them in, once
            with self.writing():
                pass
        with self.reader.reading() as db:
            marks = ",".join("?" * len(keys))
            return db.execute(
                "SELECT id, coalesce(copy_of, id) FROM articles WHERE id IN "
                f"(SELECT article_id FROM story_bands WHERE key IN ({marks})) ORDER BY rowid",
                keys,
            ).fetchall()

    def _fill_story_bands(self, db: sqlite3.Connection) -> None:
        """Once, for an index written before story bands were kept: the bands of every stored article."""
        settings = self.settings(db)
        if not settings or settings.get("story_bands") == "1":
            return  # a new index (its settings, written with its first articles, say story bands are kept)
        rows = db.execute("SELECT id, signature, CASE WHEN signature IS NULL THEN text END FROM articles")
        signatures = {i: stored or to_bytes(signature(text or "")) for i, stored, text in rows}
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM story_bands")
        db.executemany("INSERT INTO story_bands(key, article_id) VALUES (?, ?)", band_rows(signatures))
        self.put_settings(db, story_bands=1)
        db.execute("COMMIT")

    # ----- changing ---------------------------------------------------------
    @contextmanager
    def writing(self, settle_text: bool = True) -> Iterator[sqlite3.Connection]:
        """Be the one writer: take the lock, settle what a dead writer left, and fail in one line (SaveFailed).

        A rebuild passes `settle_text=False`: the BM25 index it is about to replace may be what is damaged, so
        the BM25 documents an earlier writer left unsettled are left to the rebuild (which writes them all)."""
        from filelock import FileLock, Timeout

        if self.reader.seen and not (self.reader.folder / DATABASE).exists():
            raise self.reader.gone()
        try:
            self.reader.folder.mkdir(parents=True, exist_ok=True)
            self.reader.check_own_files()  # before the lock file is opened: it may be a link or a FIFO too
            with FileLock(self.reader.folder / LOCK, timeout=600):
                db = self.reader.connect()
                try:
                    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(SCHEMA)
                    if "origin" not in {r[1] for r in db.execute("PRAGMA table_info(articles)")}:
                        db.execute("ALTER TABLE articles ADD COLUMN origin TEXT")  # indexes from before it
                    self._settle(db, settle_text)
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
                f"Another program has been changing the index in {self.reader.folder} for ten minutes; "
                "try again when it is done."
            ) from None
        except (
            OSError,
            sqlite3.Error,
            RuntimeError,
            ValueError,
        ) as exc:  # RuntimeError: FAISS; ValueError: tantivy
            raise SaveFailed(save_failure(self.reader.folder, exc)) from None

    def _undo(self, db: sqlite3.Connection) -> None:
        """After a failed change: roll back, and remove what it wrote now if the disk lets us (else the next write
        will)."""
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
            for (name,) in db.execute("SELECT file FROM segments WHERE state='writing'").fetchall():
                path = own_file(self.reader.folder, SEGMENTS, name, SEGMENT_FILE)
                if path is not None:
                    path.unlink(missing_ok=True)  # frees space even when nothing else can
            self._settle(db)
        except (OSError, sqlite3.Error, RuntimeError, ValueError, IndexUnusable) as exc:
            logger.info("Cleaning up after a failed change must wait for the next write (%s).", exc)

    def _settle(self, db: sqlite3.Connection, settle_text: bool = True) -> None:
        """Finish or undo what an earlier writer left: files it never committed, files merges replaced, BM25 documents.

        Only files of this index's own name patterns (`own_file`) are ever deleted; a row naming anything
        else is dropped from the list without touching the file it names.
        """
        self.reader.check_own_files()
        self._settle_jobs(db)
        for number, name, state in db.execute(
            "SELECT number, file, state FROM segments WHERE state != 'live'"
        ).fetchall():
            path = own_file(self.reader.folder, SEGMENTS, name, SEGMENT_FILE)
            if path is not None:
                path.unlink(missing_ok=True)
                logger.info("Removed segment file %s (%s).", name, state)
            else:
                logger.warning(
                    "Dropped a segment row naming %r, not a file of this index (left alone).", name
                )
            db.execute("DELETE FROM segments WHERE number=?", (number,))
        for path in self.temporary_files():  # a local writer killed between writing a segment and renaming it
            path.unlink(missing_ok=True)
            logger.info("Removed %s, left by a writer that did not finish.", path.name)
        self._settle_text()
        rowids = [r[0] for r in db.execute("SELECT rowid FROM unsettled")]
        if rowids and settle_text:
            live = select_in(db, "SELECT rowid, text FROM passages WHERE rowid IN ({})", rowids)
            self.reader.text.change(add=live, delete=rowids)
            db.execute("DELETE FROM unsettled")

    def _settle_jobs(self, db: sqlite3.Connection) -> None:
        """Forget distributed jobs whose driver is gone (their lease is free), and remove their files."""
        from filelock import FileLock, Timeout

        for (key,) in db.execute("SELECT key FROM settings WHERE key LIKE 'job:%'").fetchall():
            lease = own_file(
                self.reader.folder, SEGMENTS, f"job-{key[4:]}.lock", re.compile(r"job-[0-9a-f]{12}\.lock")
            )
            if lease is None:
                continue  # not a job of ours: `check` reports it as foreign
            if key[4:] in RUNNING_JOBS:
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
        for path in (self.reader.folder / SEGMENTS).glob("job-*"):
            if path.name[4:16] not in running and path.name not in named and not path.is_dir():
                path.unlink(missing_ok=True)

    def temporary_files(self) -> list[Path]:
        """Segment files a local writer was still writing (only the lock holder writes them)."""
        folder = self.reader.folder / SEGMENTS
        if not folder.is_dir() or folder.is_symlink():
            return []
        return [p for p in folder.glob("seg-*.tmp") if TEMPORARY_FILE.fullmatch(p.name)]

    def _settle_text(self) -> None:
        """Finish or undo a BM25 rebuild that was interrupted (it builds text.new, then swaps it in)."""
        text, new, old = (
            self.reader.folder / TEXT,
            self.reader.folder / TEXT_NEW,
            self.reader.folder / TEXT_OLD,
        )
        if not new.exists() and not old.exists():
            return
        if not text.exists() and old.is_dir():
            os.replace(old, text)  # killed between the two renames: the old index is whole
        shutil.rmtree(new, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
        self.reader.text = FullText(text)

    def settings(self, db: sqlite3.Connection) -> dict[str, str]:
        return dict(db.execute("SELECT key, value FROM settings"))

    def put_settings(self, db: sqlite3.Connection, **values: Any) -> None:
        db.executemany(
            "INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)",
            [(k, str(v)) for k, v in values.items()],
        )


def band_rows(signatures: dict[str, bytes]) -> list[tuple[int, str]]:
    """The story_bands rows (band key, article id) of articles' stored MinHash signatures."""
    return [(key, i) for i, stored in signatures.items() for key in band_keys(from_bytes(stored))]


def put_in_place(built: Path, target: Path) -> None:
    """Put the index folder `built` in the place of the index folder `target`, under target's writer lock, and
    delete the old one: readers see the old index or the new one (each reconnects when its database changed)."""
    from filelock import FileLock

    from qa.files import fsync
    from qa.layout import unsafe_entries

    unsafe = unsafe_entries(target)
    if unsafe:
        raise IndexUnusable(f"The index in {target} is not sound: {unsafe[0]}; nothing was replaced.")
    old = target.parent / f".{target.name}.old-{built.name[-8:]}"
    with FileLock(target / LOCK, timeout=600):
        os.rename(target, old)
        os.rename(built, target)
        fsync(target.parent)
    shutil.rmtree(old, ignore_errors=True)
