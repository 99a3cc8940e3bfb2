"""Question → passages: dense (FAISS), BM25, or both fused by reciprocal rank."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from qa.config import Retrieval
from qa.embeddings import Embedder
from qa.index import PassageIndex, bm25_tokens
from qa.passages import Passage


@dataclass
class Filters:
    """Restrict retrieval to some sources and/or a date range (ISO dates compare as text)."""

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
        depth = max(top_k, self.candidates) if mode == "hybrid" else top_k
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
            results.append([Hit(self.index.passages[i], float(s), dr, br) for i, s, dr, br in ranked[:top_k]])
        return results

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
        ok = []
        for p in self.index.passages:
            article = self.index.articles[p.article_id]
            good = (not filters.sources or (article.source or "") in filters.sources)
            good = good and (not filters.date_from or (article.date or "") >= filters.date_from)
            good = good and (not filters.date_to or ((article.date or "\uffff")[: len(filters.date_to)] <= filters.date_to))
            ok.append(good)
        return np.array(ok, dtype=bool)

    def _dense(self, questions: Sequence[str], depth: int, allowed: np.ndarray | None) -> list[list[tuple[int, float]]]:
        queries = self.embedder.encode(list(questions))
        if allowed is not None:  # exact search over the allowed passages only
            rows = np.flatnonzero(allowed)
            scores = queries @ self.index.vectors[rows].T
            order = np.argsort(-scores, axis=1)[:, :depth]
            return [[(int(rows[j]), float(scores[q, j])) for j in order[q]] for q in range(len(questions))]
        scores, ids = self.index.dense.search(queries, min(depth, len(self.index.passages)))
        return [[(int(i), float(s)) for i, s in zip(ids[q], scores[q]) if i >= 0] for q in range(len(questions))]

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
