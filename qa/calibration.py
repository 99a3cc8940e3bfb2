"""Confidence that means what it says: answerability scores mapped to P(the answer is right).

The reader's scores are log-odds of an answer against "no answer" in one passage;
they rank well but are not probabilities a person can trust ("48% confident").
An isotonic regression (scikit-learn's), fitted on a realistic mix of answerable
and unanswerable questions, turns a score into the share of answers with that
score that were right. It is stored in the reader's training.json as knots and
applied with `numpy.interp`, so asking a question needs no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Calibration:
    """A monotone map from answerability to probability, as knots (x ascending, y in [0, 1])."""

    x: list[float]
    y: list[float]
    fitted_on: str = ""

    def __call__(self, score: float) -> float:
        return float(np.interp(score, self.x, self.y))

    def to_dict(self) -> dict[str, Any]:
        return {
            "x": [round(v, 5) for v in self.x],
            "y": [round(v, 5) for v in self.y],
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Calibration | None:
        """The calibration stored in a card, or None if it is missing or malformed."""
        try:
            x, y = [float(v) for v in data["x"]], [float(v) for v in data["y"]]
        except (TypeError, KeyError, ValueError):
            return None
        if (
            not x
            or len(x) != len(y)
            or any(b < a for a, b in zip(x, x[1:]))
            or not all(0 <= v <= 1 for v in y)
        ):
            return None
        return cls(x, y, str(data.get("fitted_on", "")))


def fit_calibration(scores: Sequence[float], right: Sequence[bool], fitted_on: str = "") -> Calibration:
    """Isotonic regression of "the answer was right" on the answerability score."""
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(np.asarray(scores, dtype=float), np.asarray(right, dtype=float))
    return Calibration(
        [float(v) for v in model.X_thresholds_], [float(v) for v in model.y_thresholds_], fitted_on
    )


def reliability(confidence: Sequence[float], right: Sequence[bool], bins: int = 10) -> list[dict[str, float]]:
    """Equal-width confidence bins: how many answers, their mean confidence, and the share that were right."""
    conf, ok = np.asarray(confidence, dtype=float), np.asarray(right, dtype=float)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "count": int(inside.sum()),
                    "confidence": float(conf[inside].mean()),
                    "accuracy": float(ok[inside].mean()),
                }
            )
    return rows


def expected_calibration_error(confidence: Sequence[float], right: Sequence[bool], bins: int = 10) -> float:
    """The count-weighted mean gap between confidence and accuracy over equal-width bins."""
    rows = reliability(confidence, right, bins)
    total = sum(r["count"] for r in rows)
    return sum(r["count"] * abs(r["confidence"] - r["accuracy"]) for r in rows) / total if total else 0.0


def reliability_diagram(confidence: Sequence[float], right: Sequence[bool], path: Path, title: str) -> Path:
    """A PNG of accuracy against confidence per bin (a perfect calibration is the diagonal)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = reliability(confidence, right)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot([0, 1], [0, 1], linestyle="--", color="#888", label="perfect calibration")
    ax.bar(
        [(r["low"] + r["high"]) / 2 for r in rows],
        [r["accuracy"] for r in rows],
        width=0.09,
        color="#f59e0b",
        edgecolor="#b45309",
        label="share of answers right",
    )
    ax.plot(
        [r["confidence"] for r in rows],
        [r["accuracy"] for r in rows],
        "o-",
        color="#1f2937",
        label="share right at the bin's mean confidence",
    )
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence shown", ylabel="share right", title=title)
    ax.legend(loc="upper left", fontsize=8)
    ece = expected_calibration_error(confidence, right)
    ax.text(
        0.98,
        0.03,
        f"ECE {ece:.3f}, {len(confidence)} answers",
        ha="right",
        fontsize=9,
        transform=ax.transAxes,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
