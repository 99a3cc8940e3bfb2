"""Candidate answers → ranked by a learned P(right), the confidence shown and the no-answer decision.

The reader scores a span within one passage; whether that span is the answer to a news question also
depends on how many passages and articles carry it, how high retrieval ranked them, how new its articles
are next to the other candidates' (a question about "this week" or the "current" holder wants the newest),
and whether the span merely repeats the question. `AnswerRanker` weighs these with a logistic regression
fitted by `scripts/fit_ranker.py` on the news benchmark's fit half and SQuAD v1.1 train questions asked
through the engine; its weights, the threshold chosen on the same data and the features' names are one
small JSON file (`qa/models/ranker/ranker.json`, described by the README beside it).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.answer_types import content_words, expected_type, type_fit
from qa.answers import Answer
from qa.calibration import Calibration
from qa.config import SHIPPED_RANKER as DEFAULT_RANKER
from qa.dates import PRESENT, RELATIVE_TIME, day_number, outside, question_window, sentence_windows
from qa.errors import IndexUnusable
from qa.text import normalize_answer

PLAUSIBLE_SHARE = 0.5  # for questions of the present: answers this likely next to the best compete on date
FEATURES = (
    "answerability",  # the reader's log-odds of the span against no answer, in its best passage
    "span_logit",  # the span's own probability in that passage, as log-odds
    "margin",  # answerability minus the best candidate's
    "passages",  # log(1 + passages that carry it)
    "articles",  # log(1 + articles that carry it)
    "retrieval_rank",  # 1 / (1 + the best retrieval rank among its passages)
    "position",  # 1 / (1 + its place among the candidates by answerability)
    "older_days",  # log(1 + days its newest article is older than the newest candidate's)
    "older_present",  # older_days when the question asks for the present ("current", "latest")
    "older_relative",  # older_days when the question speaks relative to its day ("this week")
    "undated",  # none of its articles has a date
    "words",  # log(words in the answer)
    "in_question",  # the share of the answer's words that the question already has
    "number_given",  # the question asks how many / how much / what year, and the answer has a number
    "number_missing",  # it asks for one, and the answer has none
    "name_given",  # the question asks who, and the answer's words are capitalised (a name)
    "capitalised",  # the share of the answer's words that are capitalised
    "type_match",  # the question's expected type is known (qa.answer_types) and the answer is of it
    "type_other",  # it is known and the answer is plainly of another type
    "support",  # log(sum over its passages of the reader's probability of it): agreement across passages
    "sentence_overlap",  # the share of the question's content words found in its cited sentence
    "time_inside",  # the question names a window ("this week") and the cited sentence speaks of a time in it
    "time_outside",  # ... and the sentence speaks only of times outside it (qa.dates)
    "before_window",  # log(1 + days its newest article is older than the question's window)
)
WANTS_NUMBER = re.compile(
    r"\b(how (many|much|long|old|far)|what (year|percent|percentage|number|age))\b", re.I
)
WANTS_NAME = re.compile(r"\b(who|whom|whose)\b", re.I)
NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|"
    r"thousand|million|billion|trillion|dozen)\b",
    re.I,
)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def answer_features(
    question: str, answers: Sequence[Answer], ranks: dict[str, int], asked_as_of: str | None = None
) -> np.ndarray:
    """One row of FEATURES per candidate; `ranks` maps a passage id to its retrieval rank (0 = first);
    `asked_as_of` the day the question is asked as of (its time words are read against it)."""
    if not answers:
        return np.zeros((0, len(FEATURES)))
    present = bool(PRESENT.search(question))
    relative = bool(RELATIVE_TIME.search(question))
    asked = set(normalize_answer(question).split())
    wants_number, wants_name = bool(WANTS_NUMBER.search(question)), bool(WANTS_NAME.search(question))
    newest = [
        max((d for d in (day_number(e.date) for e in a.evidence) if d is not None), default=None)
        for a in answers
    ]
    top = max((d for d in newest if d is not None), default=None)
    best = max(a.answerability for a in answers)
    by_answerability = sorted(range(len(answers)), key=lambda i: -answers[i].answerability)
    place = {i: n for n, i in enumerate(by_answerability)}  # whatever order the candidates come in
    expected = expected_type(question)
    window = question_window(question, asked_as_of)
    asked_day = day_number(asked_as_of)
    content = content_words(question)
    rows = []
    for i, (a, day) in enumerate(zip(answers, newest)):
        words = normalize_answer(a.text).split()
        older = math.log1p(max(0, top - day)) if day is not None and top is not None else 0.0
        rank = min((ranks.get(e.passage_id, 99) for e in a.evidence), default=99)
        rows.append(
            [
                a.answerability,
                _logit(a.citation.score),
                a.answerability - best,
                math.log1p(len(a.evidence)),
                math.log1p(len({e.article_id for e in a.evidence})),
                1.0 / (1 + rank),
                1.0 / (1 + place[i]),
                older,
                older if present else 0.0,
                older if relative else 0.0,
                1.0 if day is None else 0.0,
                math.log(max(1, len(words))),
                sum(w in asked for w in words) / max(1, len(words)),
                *answer_shape(a.text, wants_number, wants_name),
                *type_fit(expected, a.text),
                math.log(max(1e-6, sum(e.score for e in a.evidence))),
                _overlap(content, a.citation.sentence),
                *outside(window, sentence_windows(a.citation.sentence, a.citation.date)),
                _before(window, day, asked_day),
            ]
        )
    return np.array(rows, dtype=np.float64)


def _before(window: tuple[int, int] | None, day: int | None, asked: int | None) -> float:
    """log(1 + days an answer's newest article is older than the window of the past its question names);
    0 for a window ahead of the day asked ("next week": articles speak of it before it comes)."""
    if window is None or day is None or asked is None or window[0] > asked or day >= window[0]:
        return 0.0
    return math.log1p(window[0] - day)


def _overlap(content: set[str], sentence: str) -> float:
    if not content:
        return 0.0
    return len(content & content_words(sentence)) / len(content)


def answer_shape(text: str, wants_number: bool, wants_name: bool) -> list[float]:
    """number_given, number_missing, name_given, capitalised (see FEATURES)."""
    has_number = bool(NUMBER.search(text))
    words = [w for w in text.split() if w[:1].isalpha()]
    capitalised = sum(w[0].isupper() for w in words) / max(1, len(words))
    return [
        float(wants_number and has_number),
        float(wants_number and not has_number),
        capitalised if wants_name else 0.0,
        capitalised,
    ]


@dataclass
class AnswerRanker:
    """A logistic regression over FEATURES that orders the candidates and gives the confidence shown, where a
    regime (dated or undated archive: their rates of right answers differ) has a calibration, calibrated on
    the best answers of its fit data (isotonic); the best is given when that confidence reaches its regime's
    threshold."""

    weights: np.ndarray
    bias: float
    threshold: float
    info: dict[str, Any]
    calibrations: dict[str, Calibration] = field(default_factory=dict)  # "dated" / "undated"
    thresholds: dict[str, float] = field(default_factory=dict)  # per regime; `threshold` for the others
    # the likely tier's lower bound: a best answer under the threshold but at least this sure is shown as
    # "probably ..." (None: no likely tier); chosen on fit data (scripts/choose_tiers.py)
    likely_threshold: float | None = None
    features: tuple[str, ...] = FEATURES  # the FEATURES it weighs, in the order of `weights`

    def gives(self, best: Answer) -> bool:
        """Whether the first answer is sure enough to give, by its regime's threshold."""
        return best.confidence >= self.thresholds.get(regime(best), self.threshold)

    def likely(self, best: Answer) -> bool:
        """Whether a first answer that is not given is sure enough to show as likely."""
        return self.likely_threshold is not None and best.confidence >= self.likely_threshold

    @classmethod
    def load(cls, path: Path = DEFAULT_RANKER) -> AnswerRanker:
        try:
            stored = json.loads(Path(path).read_text(encoding="utf-8"))
            features = tuple(str(f) for f in stored["features"])
            unknown = [f for f in features if f not in FEATURES]
            if unknown or len(features) != len(stored["weights"]):
                raise ValueError(f"features it was fitted on are unknown here: {', '.join(unknown)}")
            weights = np.array([float(w) for w in stored["weights"]], dtype=np.float64)
            calibrations = {}
            for regime_name, data in dict(stored.get("calibrations", {})).items():
                calibration = Calibration.from_dict(data)
                if calibration is None:
                    raise ValueError(f"its {regime_name} calibration is malformed")
                calibrations[str(regime_name)] = calibration
            return cls(
                weights,
                float(stored["bias"]),
                float(stored["threshold"]),
                dict(stored.get("info", {})),
                calibrations,
                {str(k): float(v) for k, v in dict(stored.get("thresholds", {})).items()},
                float(stored["likely_threshold"]) if stored.get("likely_threshold") is not None else None,
                features,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexUnusable(
                f"The answer ranker {path} cannot be read ({exc}); reinstall the package or fit one again "
                "with `python scripts/fit_ranker.py`."
            ) from None

    def save(self, path: Path) -> None:
        from qa.files import write_atomic

        stored = {
            "features": list(self.features),
            "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "threshold": round(self.threshold, 6),
            "info": self.info,
            "calibrations": {regime: c.to_dict() for regime, c in self.calibrations.items()},
            "thresholds": {regime: round(t, 6) for regime, t in self.thresholds.items()},
            "likely_threshold": None if self.likely_threshold is None else round(self.likely_threshold, 6),
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(Path(path), json.dumps(stored, indent=1) + "\n")

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """P(right) per row of `answer_features` (all FEATURES; the ranker weighs its own)."""
        columns = [FEATURES.index(f) for f in self.features]
        return 1.0 / (1.0 + np.exp(-(features[:, columns] @ self.weights + self.bias)))

    def rank(
        self, question: str, answers: list[Answer], ranks: dict[str, int], asked_as_of: str | None = None
    ) -> list[Answer]:
        """The candidates by P(right), best first; each answer's score becomes that probability.

        A question that asks for the present ("current", "latest") gets the newest of the answers at least
        PLAUSIBLE_SHARE as likely as the best first: the fit data have too few such questions to learn it
        (scripts/fit_ranker.py prints how often the first answer is right with and without this rule), and an
        archive's newest report is what "current" means.
        """
        if not answers:
            return answers
        for answer, p in zip(
            answers, self.probabilities(answer_features(question, answers, ranks, asked_as_of))
        ):
            answer.confidence = float(p)
        ranked = sorted(answers, key=lambda a: a.confidence, reverse=True)
        if PRESENT.search(question):
            ranked = newest_first(ranked, PLAUSIBLE_SHARE)
        calibration = self.calibrations.get(regime(ranked[0]))
        if calibration is not None:  # monotone, and the scores descend with the places: the order stands
            for answer in ranked:
                answer.confidence = calibration(answer.confidence)
        return ranked


def regime(answer: Answer) -> str:
    """Which calibration speaks for an answer: its cited article's, dated or undated."""
    return "dated" if day_number(answer.citation.date) is not None else "undated"


def newest_first(ranked: list[Answer], share: float) -> list[Answer]:
    """The answers at least `share` as likely as the first, newest first (by the date of the article each
    cites), then the rest. The confidences stay with the places: the first place's is the chance that the
    answer put first is right, which on the fit data this rule earns as well as the ranker's own order."""
    if len(ranked) < 2:
        return ranked
    plausible = [a for a in ranked if a.confidence >= share * ranked[0].confidence]
    rest = ranked[len(plausible) :]
    places = [a.confidence for a in plausible]
    plausible.sort(key=lambda a: day_number(a.citation.date) or -1, reverse=True)  # stable: ties keep order
    for answer, score in zip(plausible, places):
        answer.confidence = score
    return plausible + rest


def fit_ranker(features: np.ndarray, right: np.ndarray, c: float = 1.0) -> tuple[np.ndarray, float]:
    """Weights and bias of a logistic regression of `right` on standardised features, unstandardised."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = features.mean(axis=0), features.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=2000).fit((features - mean) / scale, right.astype(int))
    weights = model.coef_[0] / scale
    return weights, float(model.intercept_[0] - np.sum(model.coef_[0] * mean / scale))
