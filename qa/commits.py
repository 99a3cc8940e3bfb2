"""Changing an index: one writer at a time, new files written before the one SQLite commit that names them,
then settling (BM25, removed files) and merging small segments; see qa/store.py for the protocol."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

import numpy as np

from qa import segments as seg
from qa.articles import Article, is_iso_date
from qa.embeddings import FP32_ENCODER
from qa.errors import InputError
from qa.layout import (
    FORMAT_VERSION,
    SEGMENTS,
    select_in,
)
from qa.passages import Passage
from qa.snapshots import StoreReader
from qa.writing import Writer, band_rows

logger = logging.getLogger(__name__)


class Commits:
    """Adds, removals and merges, each committed in one transaction (see the module's docstring)."""

    def __init__(self, reader: StoreReader, writer: Writer) -> None:
        self.reader = reader
        self.writer = writer

    def reserve(
        self, db: sqlite3.Connection, rows: int, unsettled: Sequence[int] = ()
    ) -> tuple[int, int, str]:
        """Commit, before any file is written: the next row ids and segment number, the file's name, and the
        row ids whose BM25 documents are about to change. Returns (first row id, segment number, file name)."""
        settings = self.writer.settings(db)
        first, number = int(settings["next_rowid"]), int(settings["next_segment"])
        name = f"seg-{number:06d}.faiss"
        db.execute("BEGIN IMMEDIATE")
        self.writer.put_settings(db, next_rowid=first + rows, next_segment=number + 1)
        db.execute("INSERT INTO segments(number, file, state) VALUES (?, ?, 'writing')", (number, name))
        db.executemany(
            "INSERT OR IGNORE INTO unsettled(rowid) VALUES (?)",
            [(r,) for r in [*unsettled, *range(first, first + rows)]],
        )
        db.execute("COMMIT")
        return first, number, name

    def write_segment(
        self, number: int, name: str, rowids: np.ndarray, vectors: np.ndarray
    ) -> tuple[str, int, int, str]:
        """Write a segment file; returns what its database row records (kind, vectors, bytes, sha256)."""
        (self.reader.folder / SEGMENTS).mkdir(exist_ok=True)
        return seg.write_segment_file(
            self.reader.folder / SEGMENTS / name, rowids, vectors, self.reader.approximate_above
        )

    def add(
        self,
        articles: Sequence[Article],
        passages: Sequence[Passage],
        vectors: np.ndarray,
        signatures: dict[str, bytes] | None = None,
        replace_all: bool = False,
        encoder: str | None = None,
    ) -> dict[str, str]:
        """Commit articles (replacing any with the same ids), their passages and vectors, as one change.
        Returns the checksums the index held for these ids when the change committed (none for a build): what
        was added, updated or unchanged, as the commit found it, whatever another writer did meanwhile.

        Args:
            signatures: each article's MinHash signature (qa.duplicates), kept for later adds.
            replace_all: the articles replace everything the index held (a build).
            encoder: how `vectors` were computed; an index's vectors are never of two kinds.
        """
        if len(passages) != len(vectors):
            raise ValueError("one vector per passage")
        with self.writer.writing() as db:
            self.prepare(db, replace_all, encoder or self.reader.encoder)
            old = self.replaced(db, articles, replace_all)
            first, number, name = self.reserve(db, len(passages), [r for r, _ in old])
            rowids = np.arange(first, first + len(passages), dtype=np.int64)
            kind, count, size, digest = self.write_segment(number, name, rowids, vectors)
            self.reader.text.change(
                add=[(int(r), p.text) for r, p in zip(rowids, passages)]
            )  # invisible until committed
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "UPDATE segments SET state='live', kind=?, vectors=?, bytes=?, sha256=? WHERE number=?",
                (kind, count, size, digest, number),
            )
            return self.apply(
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

    def prepare(self, db: sqlite3.Connection, replace_all: bool, encoder: str) -> None:
        """Write a new index's settings (or a rebuilt one's); refuse vectors of another encoder than the index's."""
        settings = self.writer.settings(db)
        recorded = settings.get("encoder", FP32_ENCODER)
        if settings and not replace_all and recorded != encoder:
            raise InputError(
                f"The index in {self.reader.folder} holds vectors from the {recorded} encoder, these are from "
                f"{encoder}; add with the same encoder or rebuild it with `qa index build`."
            )
        if not settings or replace_all:
            self.reader.encoder = encoder
            if settings.get("embedding_model", self.reader.embedding_model) != self.reader.embedding_model:
                logger.info("The index is rebuilt with %s.", self.reader.embedding_model)
            db.execute("BEGIN IMMEDIATE")
            self.writer.put_settings(
                db,
                format_version=FORMAT_VERSION,
                embedding_model=self.reader.embedding_model,
                dimension=self.reader.dimension,
                encoder=self.reader.encoder,
                generation=settings.get("generation", 0),
                next_rowid=settings.get("next_rowid", 1),
                next_segment=settings.get("next_segment", 1),
                story_bands=1,
            )
            db.execute("COMMIT")

    def replaced(
        self, db: sqlite3.Connection, articles: Sequence[Article], replace_all: bool
    ) -> list[tuple[int, int]]:
        """(row id, segment) of the passages a change replaces: all of them, or those of these articles."""
        if replace_all:
            return db.execute("SELECT rowid, segment FROM passages").fetchall()
        return select_in(
            db, "SELECT rowid, segment FROM passages WHERE article_id IN ({})", [a.id for a in articles]
        )

    def apply(
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
    ) -> dict[str, str]:
        """Inside the open transaction, the `new` segments already live: replace the old passages by the new
        ones (in segments `segment_of`), commit, then settle BM25 and merge. Returns the checksums held
        before for these articles' ids (none when everything is replaced)."""
        held: dict[str, str] = {}
        if not replace_all:
            ids = [a.id for a in articles]
            held = dict(select_in(db, "SELECT id, checksum FROM articles WHERE id IN ({})", ids))
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
        insert_rows(db, articles, passages, rowids, segment_of, signatures)
        self.commit(db)
        self.reader.text.change(delete=[r for r, _ in old])  # old documents go once nobody can see them live
        db.execute("DELETE FROM unsettled")
        self.merge(db, everything=False)
        return held

    def remove(self, ids: Sequence[str]) -> int:
        """Remove articles by id (their vectors are masked until their segment is merged); returns how many."""
        with self.writer.writing() as db:
            gone = [r[0] for r in select_in(db, "SELECT id FROM articles WHERE id IN ({})", list(ids))]
            if not gone:
                return 0
            old = select_in(db, "SELECT rowid, segment FROM passages WHERE article_id IN ({})", gone)
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR IGNORE INTO unsettled(rowid) VALUES (?)", [(r,) for r, _ in old])
            db.executemany("INSERT OR REPLACE INTO removed(rowid, segment) VALUES (?, ?)", old)
            db.executemany("DELETE FROM passages WHERE rowid=?", [(r,) for r, _ in old])
            db.executemany("DELETE FROM articles WHERE id=?", [(i,) for i in gone])
            db.executemany("DELETE FROM story_bands WHERE article_id=?", [(i,) for i in gone])
            self.commit(db)
            self.reader.text.change(delete=[r for r, _ in old])
            db.execute("DELETE FROM unsettled")
        return len(gone)

    def optimize(self) -> int:
        """Merge all segments into one, dropping removed vectors; returns how many segments were merged."""
        with self.writer.writing() as db:
            return self.merge(db, everything=True)

    def commit(self, db: sqlite3.Connection) -> None:
        generation = self.reader.generation_of(db) + 1
        self.writer.put_settings(db, generation=generation)
        db.execute("COMMIT")

    def merge(self, db: sqlite3.Connection, everything: bool) -> int:
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
                chosen = seg.to_merge(
                    {n: v - removed.get(n, 0) for n, _, v, _ in rows},
                    frozenset(n for n, _, _, kind in rows if kind == "exact"),
                    self.reader.approximate_above,  # None: never IVF, so flat segments are never merged for it
                )
            if not chosen:
                return merged
            files = {n: (f, k) for n, f, _, k in rows}
            ids, vectors = [], []
            for number in chosen:
                found, vecs = seg.contents(self.reader.read_segment(*files[number]))
                keep = ~np.isin(
                    found, [r[0] for r in db.execute("SELECT rowid FROM removed WHERE segment=?", (number,))]
                )
                ids.append(found[keep])
                vectors.append(vecs[keep])
            rowids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
            stacked = np.concatenate(vectors) if vectors else np.zeros((0, self.reader.dimension), np.float32)
            _, number, name = self.reserve(db, 0)
            kind, count, size, digest = self.write_segment(number, name, rowids, stacked)
            db.execute("BEGIN IMMEDIATE")
            marks = ",".join("?" * len(chosen))
            db.execute(f"UPDATE segments SET state='retired' WHERE number IN ({marks})", chosen)
            db.execute(f"UPDATE passages SET segment=? WHERE segment IN ({marks})", [number, *chosen])
            db.execute(f"DELETE FROM removed WHERE segment IN ({marks})", chosen)
            db.execute(
                "UPDATE segments SET state='live', kind=?, vectors=?, bytes=?, sha256=? WHERE number=?",
                (kind, count, size, digest, number),
            )
            self.commit(db)
            db.execute("DELETE FROM unsettled")
            merged += len(chosen)
            if everything:
                return merged


def insert_rows(
    db: sqlite3.Connection,
    articles: Sequence[Article],
    passages: Sequence[Passage],
    rowids: np.ndarray,
    segment_of: np.ndarray,
    signatures: dict[str, bytes],
) -> None:
    """The articles' rows (with their story bands) and their passages' rows, in the open transaction."""
    db.executemany("INSERT INTO story_bands(key, article_id) VALUES (?, ?)", band_rows(signatures))
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
