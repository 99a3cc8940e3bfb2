"""What the store answers about its articles outside a search: counts, articles by id, sources, stories."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from qa.articles import Article
from qa.filtering import Filters
from qa.layout import ARTICLE_COLUMNS, SegmentInfo, Stats, select_in
from qa.passages import Passage
from qa.snapshots import StoreReader

logger = logging.getLogger(__name__)


class Catalog:
    """The read queries about articles (each in one snapshot), asked through the store's reader."""

    def __init__(self, reader: StoreReader) -> None:
        self.reader = reader

    def stats(self) -> Stats:
        if self.reader.empty:
            return Stats(
                0, 0, self.reader.embedding_model, self.reader.dimension, encoder=self.reader.encoder
            )
        with self.reader.reading() as db:
            articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
            passages = db.execute("SELECT count(*) FROM passages").fetchone()[0]
            removed = dict(db.execute("SELECT segment, count(*) FROM removed GROUP BY segment"))
            rows = db.execute(
                "SELECT number, kind, vectors, bytes FROM segments WHERE state='live' ORDER BY number"
            )
            infos = [SegmentInfo(n, k, v, removed.get(n, 0), b) for n, k, v, b in rows]
        return Stats(
            articles,
            passages,
            self.reader.embedding_model,
            self.reader.dimension,
            infos,
            encoder=self.reader.encoder,
        )

    def articles(self, ids: Sequence[str] | None = None, text: bool = True) -> dict[str, Article]:
        """Articles by id (all of them when `ids` is None; `text=False` leaves their text empty, for listings)."""
        columns = ARTICLE_COLUMNS if text else ARTICLE_COLUMNS.replace("text", "''")
        if self.reader.empty:
            return {}
        with self.reader.reading() as db:
            if ids is None:
                rows = db.execute(f"SELECT {columns} FROM articles ORDER BY rowid").fetchall()
            else:
                rows = select_in(db, f"SELECT {columns} FROM articles WHERE id IN ({{}})", list(ids))
        return {r[0]: Article(*r) for r in rows}

    def checksums(self, ids: Sequence[str]) -> dict[str, str]:
        if self.reader.empty:
            return {}
        with self.reader.reading() as db:
            return dict(select_in(db, "SELECT id, checksum FROM articles WHERE id IN ({})", list(ids)))

    def sources(self) -> list[str]:
        """The distinct sources of the articles, sorted."""
        if self.reader.empty:
            return []
        with self.reader.reading() as db:
            return [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT source FROM articles WHERE source IS NOT NULL ORDER BY 1"
                )
            ]

    def left_out_by(self, filters: Filters) -> dict[str, int]:
        """How many articles a filter leaves out for lack of what it tests: no readable date, no source."""
        if self.reader.empty or not (filters.date_from or filters.date_to or filters.sources):
            return {}  # as_of keeps undated articles, and exclusions test nothing: no query on the hot path
        counts = {}
        with self.reader.reading() as db:
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
        if self.reader.empty:
            return {}
        with self.reader.reading() as db:
            if "origin" not in {r[1] for r in db.execute("PRAGMA table_info(articles)")}:
                return {}  # an index from before origins were recorded
            rows = select_in(
                db, "SELECT id, origin FROM articles WHERE origin IS NOT NULL AND id IN ({})", list(ids)
            )
        return dict(rows)

    def find(self, column: str, value: str) -> list[str]:
        """Ids of the articles whose `column` (id, url or title) is `value`."""
        assert column in ("id", "url", "title")
        if self.reader.empty:
            return []
        with self.reader.reading() as db:
            return [
                r[0] for r in db.execute(f"SELECT id FROM articles WHERE {column}=? ORDER BY rowid", (value,))
            ]

    def passage_counts(self, ids: Sequence[str] | None = None) -> dict[str, int]:
        """How many passages each article has: all of them, or only those of `ids` (a page of a listing)."""
        if self.reader.empty or (ids is not None and not ids):
            return {}
        with self.reader.reading() as db:
            if ids is None:
                return dict(db.execute("SELECT article_id, count(*) FROM passages GROUP BY article_id"))
            query = "SELECT article_id, count(*) FROM passages WHERE article_id IN ({}) GROUP BY article_id"
            return dict(select_in(db, query, list(ids)))

    def passages_of(self, article_id: str) -> list[tuple[Passage, np.ndarray]]:
        """An article's passages with their vectors, in order (for checks and tests)."""
        with self.reader.snapshot() as view:
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
        if self.reader.empty:
            return {}
        with self.reader.reading() as db:
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

    def story_keys(self, ids: Sequence[str]) -> dict[str, frozenset[int]]:
        """Each named article's story band keys (qa.duplicates): two articles that share one tell the same story."""
        if self.reader.empty or not ids:
            return {}
        with self.reader.reading() as db:
            rows = select_in(
                db, "SELECT article_id, key FROM story_bands WHERE article_id IN ({})", list(ids)
            )
        keys: dict[str, set[int]] = {}
        for article_id, key in rows:
            keys.setdefault(article_id, set()).add(int(key))
        return {article_id: frozenset(k) for article_id, k in keys.items()}

    def carried_by(self, roots: Sequence[str]) -> dict[str, int]:
        """For each story named, by how many sources it was carried (articles, where none is named)."""
        if self.reader.empty:
            return {}
        with self.reader.reading() as db:
            return dict(
                select_in(
                    db,
                    "SELECT coalesce(copy_of, id) AS root, count(DISTINCT coalesce(source, id)) "
                    "FROM articles WHERE root IN ({}) GROUP BY root",
                    list(roots),
                )
            )
