"""Filters (sources, dates, the day asked as of) and which passages they keep, answered in memory so that a
filter costs the filter, not the archive.

An index's facts (each live passage's row id and article, each article's date, source and id) are read
once per committed generation (`PassageFacts.read`) and kept beside the loaded segments. A filter is
then a few vectorised comparisons over the articles and one gather over the passages, with no SQL on
the question's path; the result is a boolean mask over row ids that both searchers use: FAISS through a
bitmap selector, BM25 by checking its hits against it (`keeps`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qa.articles import iso_day, valid_bound
from qa.errors import InputError


@dataclass
class Filters:
    """Restrict retrieval to some sources, a date range, and what was published by a day.

    Dates are ISO 8601 (`qa.articles.normalise_date`), so they compare as text; `date_to`
    takes in the whole of its day (or month, for "2025-10"). Articles without a
    normalised date are left out when a date bound is set. `as_of` (a day) leaves out
    every article published after it, as if asked on that day; undated articles stay.
    `exclude` leaves out the articles of these ids.
    """

    sources: list[str] = field(default_factory=list)
    date_from: str | None = None
    date_to: str | None = None
    as_of: str | None = None
    exclude: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Refuse in one line what would silently match nothing: a bad date, an inverted range, a non-text source."""
        self.date_from, self.date_to, self.as_of = (
            self.date_from or None,
            self.date_to or None,
            self.as_of or None,
        )
        if isinstance(self.sources, str):
            self.sources = [self.sources] if self.sources else []  # one source
        if not isinstance(self.sources, (list, tuple)) or not all(isinstance(s, str) for s in self.sources):
            raise InputError(f"Filters(sources=...) takes a list of source names, not {self.sources!r}.")
        self.sources = list(self.sources)
        if not isinstance(self.exclude, (list, tuple, set)) or not all(
            isinstance(i, str) for i in self.exclude
        ):
            raise InputError(f"Filters(exclude=...) takes a list of article ids, not {self.exclude!r}.")
        self.exclude = list(self.exclude)
        for name, value in (("date_from", self.date_from), ("date_to", self.date_to)):
            if value is not None and not valid_bound(value):
                raise InputError(
                    f"Filters({name}={value!r}) is not a date; pass it as YYYY-MM-DD (or YYYY-MM, YYYY), "
                    "or read a typed date with qa.articles.read_date."
                )
        if self.as_of is not None and (not isinstance(self.as_of, str) or iso_day(self.as_of) != self.as_of):
            raise InputError(f"Filters(as_of={self.as_of!r}) is not a day; pass it as YYYY-MM-DD.")
        if self.date_from and self.date_to and self.date_from[: len(self.date_to)] > self.date_to:
            raise InputError(
                f"The date range is inverted: from {self.date_from} until {self.date_to}; "
                "put the earlier date first."
            )

    def __bool__(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to or self.as_of or self.exclude)


@dataclass
class Kept:
    """The passages a filter keeps: their row ids, and a lookup by row id (True = kept)."""

    rowids: np.ndarray  # int64, ascending
    by_rowid: np.ndarray  # bool, indexed by row id
    share: float  # kept / live passages
    bits: np.ndarray | None = None  # the packed bitmap a FAISS selector of these reads: kept alive here
    live: np.ndarray | None = None  # every live passage's row id, ascending (what `spans` runs over)
    live_kept: np.ndarray | None = None  # per live passage: whether the filter keeps it

    def spans(self) -> list[tuple[int, int]] | None:
        """The kept rows as (first, last) row id ranges holding no other live passage, when they make at most
        SPANS_MAX of them (an archive added in date order keeps a date range in a few), else None. Computed
        when asked: only BM25 with a wide filter uses them (qa.fulltext)."""
        if self.live is None or self.live_kept is None:
            return None
        return kept_spans(self.live, self.live_kept)

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

    def articles_kept(self, filters: Filters) -> np.ndarray:
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

    def kept(self, filters: Filters) -> Kept:
        passage_kept = self.articles_kept(filters)[self.article_of] if len(self.rowids) else np.zeros(0, bool)
        rowids = self.rowids[passage_kept]
        size = int(self.rowids[-1]) + 1 if len(self.rowids) else 0
        by_rowid = np.zeros(size, dtype=bool)
        by_rowid[rowids] = True
        return Kept(
            rowids,
            by_rowid,
            len(rowids) / max(1, len(self.rowids)),
            live=self.rowids,
            live_kept=passage_kept,
        )


SPANS_MAX = 128  # more ranges than this: the kept row ids are listed in the query instead (qa.fulltext)


def kept_spans(live: np.ndarray, kept: np.ndarray) -> list[tuple[int, int]] | None:
    """(first, last) row id of each run of kept rows among the live ones (`live` ascending, `kept` a mask
    over it): no live row outside the filter lies in a range. None when there are more than SPANS_MAX."""
    edges = np.diff(np.concatenate([[0], kept.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    if len(starts) > SPANS_MAX:
        return None
    return list(zip(live[starts].tolist(), live[ends].tolist()))
