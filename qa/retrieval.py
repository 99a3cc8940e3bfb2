"""Question → passages: dense (FAISS), BM25, or both fused by reciprocal rank."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from qa.articles import is_iso_date
from qa.config import Retrieval
from qa.embeddings import Embedder
from qa.index import PassageIndex, bm25_tokens
from qa.passages import Passage


@dataclass
class Filters:
    """Restrict retrieval to some sources and/or a date range.

    Dates are ISO 8601 (`qa.articles.normalise_date`), so they compare as text; `date_to`
    takes in the whole of its day (or month, for "2025-10"). Articles without a
    normalised date are left out when a date bound is set.
    """

    sources: list[str] = field(default_factory=list)
    date_from: str | None = None
    date_to: str | None = None

    def __bool__(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to)


@dataclass
class Hit:
    passage: Passage
    score: float  # fused score (hybrid) or the retriever's own
    dense_rank: int | None = None
    bm25_rank: int | None = None


class Retriever:
    def __init__(self, index: PassageIndex, embedder: Embedder, candidates: int = 50, rrf_k: int = 60) -> None:
        self.index = index
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k

    def search(self, question: str, top_k: int = 5, mode: Retrieval = "hybrid", filters: Filters | None = None) -> list[Hit]:
        return self.batch_search([question], top_k, mode, filters)[0]

    def batch_search(self, questions: Sequence[str], top_k: int = 5, mode: Retrieval = "hybrid",
                     filters: Filters | None = None) -> list[list[Hit]]:
        if not self.index.passages:
            return [[] for _ in questions]
        allowed = self._allowed(filters) if filters else None
        # Deeper than top_k, so that top_k distinct stories remain once syndicated copies are folded.
        depth = max(top_k, self.candidates) if mode == "hybrid" else top_k * 3
        dense = self._dense(questions, depth, allowed) if mode in ("dense", "hybrid") else None
        sparse = self._bm25(questions, depth, allowed) if mode in ("bm25", "hybrid") else None
        results = []
        for q in range(len(questions)):
            if mode == "dense":
                ranked = [(i, s, r, None) for r, (i, s) in enumerate(dense[q])]
            elif mode == "bm25":
                ranked = [(i, s, None, r) for r, (i, s) in enumerate(sparse[q])]
            else:
                ranked = self._fuse(dense[q], sparse[q])
            results.append(self._one_per_story([Hit(self.index.passages[i], float(s), dr, br) for i, s, dr, br in ranked],
                                               top_k))
        return results

    def _one_per_story(self, hits: list[Hit], top_k: int) -> list[Hit]:
        """The best hits, where a story republished by several articles is searched once (its best-ranked copy)."""
        articles = self.index.articles
        chosen: dict[str, str] = {}  # story -> the article that stands for it
        kept = []
        for hit in hits:
            article = articles[hit.passage.article_id]
            story = article.copy_of or article.id
            if chosen.setdefault(story, article.id) == article.id:
                kept.append(hit)
                if len(kept) == top_k:
                    break
        return kept

    def _fuse(self, dense: list[tuple[int, float]], sparse: list[tuple[int, float]]) -> list[tuple[int, float, int | None, int | None]]:
        """Reciprocal rank fusion; equal fused ranks are broken by the scores relative to each side's best.

        Ties are common (one side ranks A over B, the other B over A); the side
        whose margin is larger is then the surer one.
        """
        ranks: dict[int, list[int | None]] = {}
        relative: dict[int, float] = {}
        for side, results in enumerate((dense, sparse)):
            top = results[0][1] if results and results[0][1] > 0 else 1.0
            for r, (i, score) in enumerate(results):
                ranks.setdefault(i, [None, None])[side] = r
                relative[i] = relative.get(i, 0.0) + score / top
        fused = [(i, sum(1.0 / (self.rrf_k + r + 1) for r in rs if r is not None), rs[0], rs[1]) for i, rs in ranks.items()]
        return sorted(fused, key=lambda x: (round(x[1], 12), relative[x[0]]), reverse=True)

    def _allowed(self, filters: Filters) -> np.ndarray:
        """Which passages the filters keep, as one vectorised mask (no loop over passages)."""
        dates, sources = self._passage_fields()
        ok = np.ones(len(dates), dtype=bool)
        if filters.sources:
            ok &= np.isin(sources, list(filters.sources))
        if filters.date_from:
            ok &= (dates != "") & (dates >= filters.date_from)
        if filters.date_to:
            # A day's bound takes in all of that day: compare as many characters as the bound has.
            ok &= (dates != "") & (dates.astype(f"<U{len(filters.date_to)}") <= filters.date_to)
        return ok

    def _passage_fields(self) -> tuple[np.ndarray, np.ndarray]:
        """Each passage's article date (normalised ones only; "" for none) and source, cached per index state."""
        key = (id(self.index.passages), len(self.index.passages), id(self.index.articles), len(self.index.articles))
        if getattr(self, "_fields_key", None) != key:
            articles = self.index.articles
            by_article = {a.id: ((a.date if is_iso_date(a.date) else "") or "", a.source or "") for a in articles.values()}
            pairs = [by_article[p.article_id] for p in self.index.passages]
            self._fields = (np.array([d for d, _ in pairs], dtype=str), np.array([s for _, s in pairs], dtype=str))
            self._fields_key = key
        return self._fields

    def _dense(self, questions: Sequence[str], depth: int, allowed: np.ndarray | None) -> list[list[tuple[int, float]]]:
        import faiss

        queries = self.embedder.encode(list(questions))
        params = None
        if allowed is not None:  # the filter runs inside FAISS's search, over the allowed ids only
            ids = np.flatnonzero(allowed).astype(np.int64)
            if ids.size == 0:
                return [[] for _ in questions]
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids))
            depth = min(depth, int(ids.size))
        scores, found = self.index.dense.search(queries, min(depth, len(self.index.passages)), params=params)
        return [[(int(i), float(s)) for i, s in zip(found[q], scores[q]) if i >= 0] for q in range(len(questions))]

    def _bm25(self, questions: Sequence[str], depth: int, allowed: np.ndarray | None) -> list[list[tuple[int, float]]]:
        tokens = bm25_tokens(list(questions))
        n = len(self.index.passages)
        results = []
        for toks in tokens:
            if not toks:  # only stopwords: BM25 has nothing to match
                results.append([])
                continue
            ids, scores = self.index.bm25.retrieve([toks], k=min(depth, n), show_progress=False, n_threads=1,
                                                   weight_mask=allowed.astype(np.float32) if allowed is not None else None)
            results.append([(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if s > 0])
        return results
