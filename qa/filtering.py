"""Which passages a filter keeps, answered in memory so that a filter costs the filter, not the archive.

An index's facts (each live passage's row id and article, each article's date, source and id) are read
once per committed generation (`PassageFacts.read`) and kept beside the loaded segments. A filter is
then a few vectorised comparisons over the articles and one gather over the passages, with no SQL on
the question's path; the result is a boolean mask over row ids that both searchers use: FAISS through a
bitmap selector, BM25 by checking its hits against it (`keeps`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class FilterLike(Protocol):
    sources: list[str]
    date_from: str | None
    date_to: str | None
    as_of: str | None
    exclude: list[str]


@dataclass
class Kept:
    """The passages a filter keeps: their row ids, and a lookup by row id (True = kept)."""

    rowids: np.ndarray  # int64, ascending
    by_rowid: np.ndarray  # bool, indexed by row id
    share: float  # kept / live passages
    bits: np.ndarray | None = None  # the packed bitmap a FAISS selector of these reads: kept alive here

    def keeps(self, rowid: int) -> bool:
        return 0 <= rowid < self.by_rowid.size and bool(self.by_rowid[rowid])

    def faiss_selector(self) -> Any:
        """A FAISS selector over these row ids (a bitmap: its cost is the archive's size in bits, no hashing)."""
        import faiss

        self.bits = np.packbits(self.by_rowid, bitorder="little")
        return faiss.IDSelectorBitmap(self.by_rowid.size, faiss.swig_ptr(self.bits))


class PassageFacts:
    """Per-article dates, sources and ids, and each live passage's article, as arrays."""

    def __init__(
        self,
        rowids: np.ndarray,
        article_of: np.ndarray,
        ids: np.ndarray,
        days: np.ndarray,
        sources: np.ndarray,
    ) -> None:
        self.rowids = rowids  # live passages' row ids, ascending
        self.article_of = article_of  # per passage: the index of its article in the arrays below
        self.ids = ids  # article ids
        self.days = days  # ISO dates as text ("" when undated), compared as text as the database does
        self.sources = sources  # sources lower-cased ("" when none)

    @classmethod
    def read(cls, db: sqlite3.Connection) -> PassageFacts:
        articles = db.execute("SELECT rowid, id, iso_date, source FROM articles ORDER BY rowid").fetchall()
        article_rowids = np.array([a[0] for a in articles], dtype=np.int64)
        passages = np.array(
            db.execute(
                "SELECT p.rowid, a.rowid FROM passages p JOIN articles a ON a.id = p.article_id ORDER BY p.rowid"
            ).fetchall(),
            dtype=np.int64,
        ).reshape(-1, 2)
        return cls(
            rowids=passages[:, 0],
            article_of=np.searchsorted(article_rowids, passages[:, 1]),
            ids=np.array([a[1] for a in articles], dtype=object),
            days=np.array([a[2] or "" for a in articles], dtype=str),
            sources=np.array([(a[3] or "").lower() for a in articles], dtype=object),
        )

    def articles_kept(self, filters: FilterLike) -> np.ndarray:
        """A boolean per article: whether the filters keep it (the same rules as the database's columns)."""
        keep = np.ones(len(self.ids), dtype=bool)
        dated = self.days != ""
        if filters.sources:
            keep &= np.isin(self.sources, [s.lower() for s in filters.sources])
        if filters.date_from:
            keep &= dated & (self.days >= filters.date_from)
        if filters.date_to:  # a bound takes in all of its day (or month, or year): compare as many characters
            keep &= dated & (self.days.astype(f"U{len(filters.date_to)}") <= filters.date_to)
        if filters.as_of:  # undated articles stay
            keep &= ~dated | (self.days.astype("U10") <= filters.as_of)
        if filters.exclude:
            keep &= ~np.isin(self.ids, list(filters.exclude))
        return keep

    def kept(self, filters: FilterLike) -> Kept:
        passage_kept = self.articles_kept(filters)[self.article_of] if len(self.rowids) else np.zeros(0, bool)
        rowids = self.rowids[passage_kept]
        size = int(self.rowids[-1]) + 1 if len(self.rowids) else 0
        by_rowid = np.zeros(size, dtype=bool)
        by_rowid[rowids] = True
        return Kept(rowids, by_rowid, len(rowids) / max(1, len(self.rowids)))
