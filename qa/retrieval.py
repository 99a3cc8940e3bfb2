"""Question → passages: dense (FAISS), BM25, or both fused by reciprocal rank."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from qa.answers import day_number
from qa.articles import Article
from qa.config import Retrieval
from qa.embeddings import Embedder
from qa.filtering import Filters
from qa.passages import Passage
from qa.reranking import PassageRanker
from qa.store import Store

__all__ = ["Filters", "Hit", "Retriever", "fuse"]


@dataclass
class Hit:
    passage: Passage
    article: Article  # the article the passage comes from
    score: float  # fused score (hybrid) or the retriever's own
    dense_rank: int | None = None
    bm25_rank: int | None = None


class Retriever:
    def __init__(
        self,
        index: Store,
        embedder: Embedder,
        candidates: int = 50,
        rrf_k: int = 60,
        passage_ranker: PassageRanker | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.passage_ranker = passage_ranker  # reorders the hybrid search's first `candidates` (qa.reranking)

    def search(
        self, question: str, top_k: int = 5, mode: Retrieval = "hybrid", filters: Filters | None = None
    ) -> list[Hit]:
        return self.batch_search([question], top_k, mode, filters)[0]

    def batch_search(
        self,
        questions: Sequence[str],
        top_k: int = 5,
        mode: Retrieval = "hybrid",
        filters: Filters | None = None,
    ) -> list[list[Hit]]:
        """The best `top_k` passages per question, all searched in one snapshot of the index."""
        with self.index.snapshot() as view:
            if view.empty:
                return [[] for _ in questions]
            allowed = view.allowed(filters) if filters else None
            # Deeper than top_k, so that top_k distinct stories remain once syndicated copies are folded.
            depth = max(top_k, self.candidates) if mode == "hybrid" else top_k * 3
            none: list[list[tuple[int, float]]] = [[] for _ in questions]
            dense = (
                view.dense(self.embedder.encode(list(questions)), depth, allowed) if mode != "bm25" else none
            )
            sparse = view.bm25(questions, depth, allowed) if mode != "dense" else none
            ranked_per_question = []
            for q in range(len(questions)):
                ranked: list[tuple[int, float, int | None, int | None]]
                if mode == "dense":
                    ranked = [(i, s, r, None) for r, (i, s) in enumerate(dense[q])]
                elif mode == "bm25":
                    ranked = [(i, s, None, r) for r, (i, s) in enumerate(sparse[q])]
                else:
                    ranked = self._fuse(dense[q], sparse[q])
                ranked_per_question.append(ranked)
            passages = view.passages([i for ranked in ranked_per_question for i, *_ in ranked])
            articles = view.articles(list({p.article_id for p in passages.values()}))
        results = []
        # Filters hold as_of as an ISO day (checked when they are made)
        asked_on = (
            datetime.date.fromisoformat(filters.as_of) if filters and filters.as_of else datetime.date.today()
        )
        for question, ranked in zip(questions, ranked_per_question):
            hits = [
                Hit(passages[i], articles[passages[i].article_id], float(s), dr, br)
                for i, s, dr, br in ranked
                if i in passages
            ]
            if mode == "hybrid" and self.passage_ranker is not None:
                hits = self._reordered(
                    question, asked_on, self._one_per_story(hits, max(top_k, self.candidates))
                )
            results.append(self._one_per_story(hits, top_k))
        return results

    def _reordered(self, question: str, asked_on: datetime.date, hits: list[Hit]) -> list[Hit]:
        """The passage ranker's order, where any candidate is dated (it learned from news; else the search's)."""
        assert self.passage_ranker is not None
        if all(day_number(h.article.date) is None for h in hits):
            return hits
        return self.passage_ranker.order(question, asked_on, hits)

    def _one_per_story(self, hits: list[Hit], top_k: int) -> list[Hit]:
        """The best hits, where a story republished by several articles is searched once (its best-ranked copy)."""
        chosen: dict[str, str] = {}  # story -> the article that stands for it
        kept = []
        for hit in hits:
            article = hit.article
            story = article.copy_of or article.id
            if chosen.setdefault(story, article.id) == article.id:
                kept.append(hit)
                if len(kept) == top_k:
                    break
        return kept

    def _fuse(
        self, dense: list[tuple[int, float]], sparse: list[tuple[int, float]]
    ) -> list[tuple[int, float, int | None, int | None]]:
        return fuse(dense, sparse, self.rrf_k)


def fuse(
    dense: list[tuple[int, float]], sparse: list[tuple[int, float]], rrf_k: int
) -> list[tuple[int, float, int | None, int | None]]:
    """Reciprocal rank fusion of two ranked (id, score) lists into (id, fused score, dense rank, BM25 rank).

    Equal fused scores are broken by the scores relative to each side's best: ties are
    common (one side ranks A over B, the other B over A), and the side whose margin is
    larger is then the surer one.
    """
    ranks: dict[int, list[int | None]] = {}
    relative: dict[int, float] = {}
    for side, results in enumerate((dense, sparse)):
        top = results[0][1] if results and results[0][1] > 0 else 1.0
        for r, (i, score) in enumerate(results):
            ranks.setdefault(i, [None, None])[side] = r
            relative[i] = relative.get(i, 0.0) + score / top
    fused = [
        (i, sum(1.0 / (rrf_k + r + 1) for r in rs if r is not None), rs[0], rs[1]) for i, rs in ranks.items()
    ]
    return sorted(fused, key=lambda x: (round(x[1], 12), relative[x[0]]), reverse=True)
