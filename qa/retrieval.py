"""Question → passages: dense (FAISS), BM25, or both fused by reciprocal rank (qa.fusion).

Each kind of search is a `Searcher`: given a snapshot of the store, the questions, how deep to go and
what a filter keeps, it returns each question's (row id, score) list, best first. The retriever runs one
or both, fuses them, folds syndicated copies into one story and, for news, lets the passage ranker
reorder the candidates (qa.passage_ranking).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from qa.config import Retrieval
from qa.dates import day_number
from qa.embeddings import Embedder
from qa.filtering import Filters, Kept
from qa.fusion import Ranked, fuse
from qa.passage_ranking import PassageRanker
from qa.passages import Hit
from qa.snapshots import Snapshot
from qa.store import Store

__all__ = ["Filters", "Hit", "Retriever"]


class Searcher(Protocol):
    """One kind of search: each question's passages as (row id, score), best first, in one snapshot."""

    def __call__(
        self, view: Snapshot, questions: Sequence[str], depth: int, allowed: Kept | None
    ) -> list[Ranked]: ...


@dataclass
class DenseSearcher:
    """Nearest passages to the question's embedding (FAISS segments)."""

    embedder: Embedder

    def __call__(
        self, view: Snapshot, questions: Sequence[str], depth: int, allowed: Kept | None
    ) -> list[Ranked]:
        return view.dense(self.embedder.encode(list(questions)), depth, allowed)


class BM25Searcher:
    """Passages by BM25 over their words (tantivy)."""

    def __call__(
        self, view: Snapshot, questions: Sequence[str], depth: int, allowed: Kept | None
    ) -> list[Ranked]:
        return view.bm25(questions, depth, allowed)


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
        self.searchers: dict[str, Searcher] = {"dense": DenseSearcher(embedder), "bm25": BM25Searcher()}
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.passage_ranker = (
            passage_ranker  # reorders the hybrid search's first `candidates` (qa.passage_ranking)
        )

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
            none: list[Ranked] = [[] for _ in questions]
            dense, sparse = (
                self.searchers[kind](view, questions, depth, allowed) if mode in (kind, "hybrid") else none
                for kind in ("dense", "bm25")
            )
            ranked_per_question = []
            for q in range(len(questions)):
                ranked: list[tuple[int, float, int | None, int | None]]
                if mode == "dense":
                    ranked = [(i, s, r, None) for r, (i, s) in enumerate(dense[q])]
                elif mode == "bm25":
                    ranked = [(i, s, None, r) for r, (i, s) in enumerate(sparse[q])]
                else:
                    ranked = fuse(dense[q], sparse[q], self.rrf_k)
                ranked_per_question.append(ranked)
            passages = view.passages([i for ranked in ranked_per_question for i, *_ in ranked])
            articles = view.articles(list({p.article_id for p in passages.values()}), text=False)
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
