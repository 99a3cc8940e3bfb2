"""Retrieved passages → reordered by a learned P(this passage holds the answer), before the reader sees them.

The hybrid search ranks passages by their words and meaning alone. News adds what a passage cannot say by
itself: whether its article's title is about the question, how old the article was on the day asked (and
whether the question asks about "this week"), whether the passage leads its article, and how many of the
retrieved passages come from the same article. A logistic regression over those features and the search's
own ranks (`PassageRanker`, fitted on the news fit half by scripts/passage_ranking.py; its card in
qa/models/ranker/README.md) orders the candidates; the reader then reads the first `top_k`.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.dates import PRESENT, RELATIVE_TIME, day_number
from qa.errors import IndexUnusable
from qa.text import normalize_answer, normalized_words

if TYPE_CHECKING:
    from qa.passages import Hit

PASSAGE_FEATURES = (
    "fused",  # 1 / (1 + the fused rank)
    "dense",  # 1 / (1 + dense rank), 0 when dense search did not find it
    "bm25",  # 1 / (1 + BM25 rank), 0 when BM25 did not find it
    "title_share",  # the share of the question's content words in the article's title
    "passage_share",  # the share of the question's content words in the passage
    "age",  # log(1 + days from the article's date to the day asked)
    "age_timely",  # age, when the question asks for the present or speaks relative to its day
    "week",  # the article is at most 7 days older than the day asked
    "undated",
    "lead",  # the passage is its article's first
    "article_hits",  # log(1 + passages of the same article among the candidates)
    "article_best",  # 1 / (1 + the best fused rank of a passage of the same article)
)
STOP_WORDS = frozenset(
    "a an the of in on at to for by with from and or but is are was were be been being this that these those "
    "what which who whom whose when where why how did does do has have had will would can could its it as "
    "his her their they he she we you i not no than then so such into over after before about week year "
    "month new".split()
)


def content_words(text: str) -> set[str]:
    return {w for w in normalize_answer(text).split() if w not in STOP_WORDS and len(w) > 1}


def passage_features(question: str, asked_on: datetime.date, hits: Sequence[Hit]) -> np.ndarray:
    """One row of PASSAGE_FEATURES per hit, in the search's order (rank 0 first)."""
    words = content_words(question)
    asked = asked_on.toordinal()
    timely = bool(PRESENT.search(question) or RELATIVE_TIME.search(question))
    per_article: dict[str, list[int]] = {}
    for rank, hit in enumerate(hits):
        per_article.setdefault(hit.article.id, []).append(rank)
    titles: dict[str, float] = {}
    rows = []
    for rank, hit in enumerate(hits):
        article = hit.article
        if article.id not in titles:
            titles[article.id] = len(words & content_words(article.title)) / max(1, len(words))
        published = day_number(article.date)
        days = asked - published if published is not None else None
        age = math.log1p(max(0, days)) if days is not None else 0.0
        rows.append(
            [
                1.0 / (1 + rank),
                1.0 / (1 + hit.dense_rank) if hit.dense_rank is not None else 0.0,
                1.0 / (1 + hit.bm25_rank) if hit.bm25_rank is not None else 0.0,
                titles[article.id],
                # the question's content words hold no stop word, so the passage's plain words do here
                len(words & normalized_words(hit.passage.text)) / max(1, len(words)),
                age,
                age if timely else 0.0,
                float(days is not None and days <= 7),
                float(published is None),
                float(hit.passage.start == 0),
                math.log1p(len(per_article[article.id])),
                1.0 / (1 + per_article[article.id][0]),
            ]
        )
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(PASSAGE_FEATURES))


@dataclass
class PassageRanker:
    """A logistic regression over standardised PASSAGE_FEATURES."""

    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    info: dict[str, Any]

    def scores(self, question: str, asked_on: datetime.date, hits: Sequence[Hit]) -> np.ndarray:
        if not hits:
            return np.zeros(0)
        return self.score_rows(passage_features(question, asked_on, hits))

    def score_rows(self, features: np.ndarray) -> np.ndarray:
        """The log-odds of rows of PASSAGE_FEATURES (one row per passage)."""
        return ((features - self.mean) / self.scale) @ self.weights + self.bias

    def order(self, question: str, asked_on: datetime.date, hits: list[Hit]) -> list[Hit]:
        """The hits, most likely to hold the answer first (ties keep the search's order)."""
        scores = self.scores(question, asked_on, hits)
        return [hits[i] for i in np.argsort(-scores, kind="stable")]

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(
                {
                    "features": list(PASSAGE_FEATURES),
                    "weights": self.weights.tolist(),
                    "bias": self.bias,
                    "mean": self.mean.tolist(),
                    "scale": self.scale.tolist(),
                    "info": self.info,
                },
                indent=1,
            )
            + "\n"
        )

    @classmethod
    def load(cls, path: Path) -> PassageRanker:
        try:
            data = json.loads(Path(path).read_text())
            if data["features"] != list(PASSAGE_FEATURES):
                raise ValueError("its features are not this version's")
            arrays = [np.array(data[k], dtype=np.float64) for k in ("weights", "mean", "scale")]
            if any(a.shape != (len(PASSAGE_FEATURES),) for a in arrays) or not np.all(arrays[2] > 0):
                raise ValueError("its weights are malformed")
            return cls(arrays[0], float(data["bias"]), arrays[1], arrays[2], dict(data.get("info", {})))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexUnusable(
                f"The passage ranker {path} cannot be used ({exc}); reinstall the package or refit it with "
                "scripts/passage_ranking.py --save."
            ) from None
