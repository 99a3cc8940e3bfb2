"""Checking and repairing an index: `Checkup` verifies it, `Repair` rebuilds BM25 and unsound segments."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from typing import Any

import numpy as np

from qa.articles import Article
from qa.commits import Commits
from qa.errors import IndexUnusable, SaveFailed
from qa.files import fsync, sha256_file
from qa.fulltext import FullText
from qa.layout import (
    ARTICLE_COLUMNS,
    DATABASE,
    JOB_ID,
    SEGMENT_FILE,
    SEGMENTS,
    TEXT,
    TEXT_NEW,
    TEXT_OLD,
    own_file,
    select_in,
    unsafe_entries,
)
from qa.snapshots import StoreReader
from qa.writing import Writer

logger = logging.getLogger(__name__)
READ_CHECKED_AT_MOST = 2000  # passages whose BM25 document `check --quick` queries (all without --quick)


def segment_fault(reader: StoreReader, name: str, digest: str, kind: str) -> str | None:
    """Why a live segment cannot be searched, in one line (None when it is sound): not a file of this index,
    missing, changed since it was written, or holding vectors that are not the index's kind."""
    path = own_file(reader.folder, SEGMENTS, name, SEGMENT_FILE)
    if path is None:
        return f"the segment list names {str(name)[:80]!r}, not a file of this index"
    if not path.is_file():
        return f"vector segment {name} is missing"
    if sha256_file(path) != digest:
        return f"vector segment {name} has changed since it was written (checksum differs)"
    try:
        reader.read_segment(name, kind)  # its vectors of the index's dimension
    except IndexUnusable as exc:
        return str(exc).split(" is damaged: ", 1)[-1].split("; run `qa index check", 1)[0]
    return None


class Checkup:
    """`qa index check`: everything wrong with an index, one line each; it settles an interrupted change."""

    def __init__(self, reader: StoreReader, writer: Writer) -> None:
        self.reader = reader
        self.writer = writer

    def check(self, quick: bool = False) -> list[str]:
        """Everything wrong with the index, one line each (nothing when it is sound).

        Checks the database, each segment's checksum, the counts, every article's checksum and each passage
        against its article's text, and queries the BM25 index for each passage (with `quick`, a sample of
        READ_CHECKED_AT_MOST passages). Files the database names that are not of this index's own patterns
        are reported as foreign and left alone.
        """
        unsafe = unsafe_entries(self.reader.folder)
        if unsafe:  # nothing more is opened: a link leads elsewhere, a FIFO would hang the check
            return [f"{line}: an index opens only regular files inside its own folder" for line in unsafe]
        try:
            problems = self._foreign()
            with self.reader.reading() as db:
                pending = db.execute(
                    "SELECT (SELECT count(*) FROM unsettled) + "
                    "(SELECT count(*) FROM segments WHERE state != 'live') + "
                    "(SELECT count(*) FROM settings WHERE key LIKE 'job:%')"
                ).fetchone()[0]
            if (
                pending or self.writer.temporary_files()
            ):  # an interrupted change: settle it (what the next write would do)
                try:
                    with self.writer.writing():
                        pass
                except SaveFailed as exc:
                    problems.append(f"an interrupted change could not be settled: {exc}")
            with self.reader.reading() as db:
                problems += self._check_database(db, quick)
        except IndexUnusable as exc:
            return [str(exc)]
        return problems

    def _foreign(self) -> list[str]:
        """Names in the database that are not files of this index (left alone, reported)."""
        with self.reader.reading() as db:
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
        malformed = self._malformed(db)
        if malformed:  # what follows would read them as what they are not
            return problems + malformed
        passages = db.execute("SELECT count(*) FROM passages").fetchone()[0]
        rows = db.execute("SELECT file, vectors, sha256, kind FROM segments WHERE state='live'").fetchall()
        removed = db.execute("SELECT count(*) FROM removed").fetchone()[0]
        orphans = db.execute(
            "SELECT count(*) FROM passages WHERE article_id NOT IN (SELECT id FROM articles)"
        ).fetchone()[0]
        unindexed = db.execute(
            "SELECT count(*) FROM passages WHERE segment NOT IN "
            "(SELECT number FROM segments WHERE state='live')"
        ).fetchone()[0]
        for name, _vectors, digest, kind in rows:
            if own_file(self.reader.folder, SEGMENTS, name, SEGMENT_FILE) is None:
                continue  # reported as foreign
            fault = segment_fault(self.reader, name, digest, kind)
            if fault:
                problems.append(fault)
        live = sum(v for _, v, _, _ in rows) - removed
        if live != passages:
            problems.append(f"the segments hold {live} live vectors for {passages} passages")
        if orphans:
            problems.append(f"{orphans} passage(s) belong to no article")
        if unindexed:
            problems.append(f"{unindexed} passage(s) have no vector segment")
        problems += self._check_texts(db, quick)
        problems += self._check_bm25(db, passages, quick)
        return problems

    def _malformed(self, db: sqlite3.Connection) -> list[str]:
        """Rows whose values are not of their kind (a generation that is no number, text stored as bytes)."""
        problems = []
        try:
            self.reader.generation_of(db)
        except IndexUnusable:
            problems.append("the settings' generation is not a number")
        for table, columns in (
            ("articles", ("id", "title", "text")),
            ("passages", ("id", "article_id", "text")),
        ):
            wrong = " OR ".join(f"typeof({c}) != 'text'" for c in columns)
            count = db.execute(f"SELECT count(*) FROM {table} WHERE {wrong}").fetchone()[0]
            if count:
                problems.append(
                    f"{count} row(s) of {table} hold a value that is not text ({', '.join(columns)})"
                )
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
            damaged = self.reader.text.damaged_files()
            if damaged:
                return [f"the BM25 file {name} is damaged (its checksum differs)" for name in damaged]
            self.reader.text.reload()
            documents = self.reader.text.count()
            if documents != passages:
                return [f"the BM25 index holds {documents} passages, the database {passages}"]
            limit = f" ORDER BY random() LIMIT {READ_CHECKED_AT_MOST}" if quick else ""
            lost = sum(
                not self.reader.text.finds(rowid, text)
                for rowid, text in db.execute(f"SELECT rowid, text FROM passages{limit}")
            )
            return [f"the BM25 index does not find {lost} passage(s) by their own words"] if lost else []
        except (OSError, IndexUnusable) as exc:
            return [f"the BM25 index cannot be read ({exc})"]


class Repair:
    """`qa index rebuild`: the BM25 index and unsound segments rebuilt from the database (optimize: qa.commits)."""

    def __init__(self, reader: StoreReader, writer: Writer, commits: Commits) -> None:
        self.reader = reader
        self.writer = writer
        self.commits = commits

    def rebuild(self, encode: Any) -> str:
        """Rebuild what can be derived from the database: the BM25 index, and vectors of unsound segments.

        The new BM25 index is written beside the old one (text.new) and swapped in only once the
        database has committed the rebuilt segments, so a failure at any point leaves the old index.

        Args:
            encode: texts -> normalised vectors (the engine's embedder), for segments that must be re-embedded.
        Returns:
            One line saying what was rebuilt.
        """
        with self.writer.writing(settle_text=False) as db:  # settling BM25 could need the damage rebuilt here
            try:
                self.reader.generation_of(db)
            except IndexUnusable:  # a generation that is no number: counting starts again
                self.writer.put_settings(db, generation=1)
            rows = db.execute("SELECT rowid, text FROM passages ORDER BY rowid").fetchall()
            shutil.rmtree(self.reader.folder / TEXT_NEW, ignore_errors=True)
            FullText(self.reader.folder / TEXT_NEW).change(add=rows)
            bad = [
                number
                for number, name, digest, kind in db.execute(
                    "SELECT number, file, sha256, kind FROM segments WHERE state='live'"
                ).fetchall()
                if segment_fault(self.reader, name, digest, kind) is not None
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
            rebuilt += select_in(db, "SELECT rowid, text FROM passages WHERE rowid IN ({})", orphans)
            if rebuilt or bad:
                self._replace_segments(db, bad, rebuilt, encode)
            self._swap_text()
            db.execute("BEGIN IMMEDIATE")
            self.commits.commit(db)  # readers reload the BM25 index
            db.execute("DELETE FROM unsettled")
        return f"Rebuilt the BM25 index ({len(rows)} passages)" + (
            f" and re-embedded {len(rebuilt)} passage(s) of {len(bad)} damaged segment(s)."
            if rebuilt
            else "."
        )

    def _replace_segments(
        self, db: sqlite3.Connection, bad: list[int], rebuilt: list[tuple[int, str]], encode: Any
    ) -> None:
        """Re-embed passages into one new segment that replaces the `bad` ones (committed)."""
        vectors = (
            encode([t for _, t in rebuilt]) if rebuilt else np.zeros((0, self.reader.dimension), np.float32)
        )
        _, number, name = self.commits.reserve(db, 0)
        rowids = np.array([r for r, _ in rebuilt], dtype=np.int64)
        kind, count, size, digest = self.commits.write_segment(number, name, rowids, vectors)
        marks = ",".join("?" * len(bad))
        db.execute("BEGIN IMMEDIATE")
        if bad:
            foreign = [
                n
                for n, name in db.execute(f"SELECT number, file FROM segments WHERE number IN ({marks})", bad)
                if own_file(self.reader.folder, SEGMENTS, name, SEGMENT_FILE) is None
            ]
            db.execute(f"UPDATE segments SET state='retired' WHERE number IN ({marks})", bad)
            db.executemany("DELETE FROM segments WHERE number=?", [(n,) for n in foreign])  # no file of ours
            db.execute(f"DELETE FROM removed WHERE segment IN ({marks})", bad)
        db.executemany("UPDATE passages SET segment=? WHERE rowid=?", [(number, int(r)) for r in rowids])
        db.execute(
            "UPDATE segments SET state='live', kind=?, vectors=?, bytes=?, sha256=? WHERE number=?",
            (kind, count, size, digest, number),
        )
        self.commits.commit(db)

    def _swap_text(self) -> None:
        """Put the BM25 index built in text.new in the place of text/ (see _settle_text for a crash between)."""
        text, new, old = (
            self.reader.folder / TEXT,
            self.reader.folder / TEXT_NEW,
            self.reader.folder / TEXT_OLD,
        )
        fsync(new)
        if text.exists():
            os.replace(text, old)
        os.replace(new, text)
        fsync(self.reader.folder)
        shutil.rmtree(old, ignore_errors=True)
        self.reader.text = FullText(text)
