"""Probe (2026-12-07): which answer-ranker features, model and reading depth put the right answer first.

    python bench/experiments/answer_ranking.py [--data bench/results/answer-data.pkl]

Reads the fit questions collected by scripts/answer_data.py (2025's and 2023's fit half, news; SQuAD train)
and, for each configuration, fits on three quarters of the weeks and scores the fourth, in turn (2023's
report half is not in the data). Prints per configuration: on news questions asked as of their day, how
often the first answer is right, how often the right one is anywhere among the candidates, and how many
answers a threshold chosen on the training folds for 70 % precision gives and gets right on the held-out
ones; and the share of questions withheld when their answer's articles are left out.
Decided: which features scripts/fit_ranker.py fits (its FEATURES_SHIPPED) and the model.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent.parent / "scripts"))
from common import ROOT  # noqa: E402 - first: this checkout's qa, models offline
from fit_ranker import first_place  # noqa: E402
from realtimeqa import right  # noqa: E402

from qa.answer_ranking import FEATURES, AnswerRanker, answer_features, fit_ranker  # noqa: E402
from qa.assembly import Assembly, Question  # noqa: E402
from qa.config import Config  # noqa: E402
from qa.dates import PRESENT, day_number  # noqa: E402
from qa.squad import score  # noqa: E402

Row = dict[str, Any]
OLD = FEATURES[:17]
FOLDS = 4


def rows_of(entry: dict[str, Any], part: str, depth: int, assembly: Assembly) -> Row | None:
    data = entry.get(part)
    if not data:
        return None
    hits, readings = data["hits"][:depth], data["readings"][:depth]
    if depth <= 5 and assembly.reads_first_alone(entry["question"]) and assembly.sure_enough(readings[:1]):
        readings = readings[:1]
    asked = Question(entry["question"], hits, readings, data["asked_as_of"], data["left_out"])
    answers = assembly.candidates(asked, data["carried"])
    ranks = {h.passage.id: r for r, h in enumerate(hits)}
    truth = entry["truth"]
    judge: Callable[[str], bool] = (
        (lambda t: score(t, truth)[1] >= 0.5) if isinstance(truth, list) else (lambda t: right(t, truth))
    )
    return {
        "features": answer_features(entry["question"], answers, ranks, data["asked_as_of"]),
        "right": np.array([judge(a.text) for a in answers], dtype=bool),
        "days": [day_number(a.citation.date) or -1 for a in answers],
        "present": bool(PRESENT.search(entry["question"])),
        "week": f"{entry['year']}:{entry['week']}",
        "news": entry["year"] != 0,
        "part": part,
    }


def as_tuple(row: Row) -> tuple[Any, ...]:
    return row["features"], row["right"], row["days"], row["present"]


def fit(rows: list[Row], names: tuple[str, ...], model: str) -> Any:
    columns = [FEATURES.index(n) for n in names]
    usable = [r for r in rows if len(r["right"])]
    x = np.concatenate([r["features"][:, columns] for r in usable])
    y = np.concatenate([r["right"] for r in usable])
    if model == "logistic":
        weights, bias = fit_ranker(x, y)
        return AnswerRanker(weights, bias, 0.5, {}, features=names)
    from sklearn.ensemble import HistGradientBoostingClassifier

    booster = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15).fit(x, y)

    class Boosted:  # first_place needs only probabilities over the ranker's own columns
        def probabilities(self, features: np.ndarray) -> np.ndarray:
            return booster.predict_proba(features[:, columns])[:, 1]

    return Boosted()


def evaluate(rows: list[Row], names: tuple[str, ...], model: str) -> dict[str, float]:
    weeks = sorted({r["week"] for r in rows})
    fold_of = {w: i % FOLDS for i, w in enumerate(weeks)}
    firsts, anywhere, given, given_right, withheld, total = [], [], 0, 0, [], 0
    for fold in range(FOLDS):
        train = [r for r in rows if fold_of[r["week"]] != fold]
        test = [r for r in rows if fold_of[r["week"]] == fold]
        ranker = fit(train, names, model)

        def first(row: Row, ranker: Any = ranker) -> tuple[bool, float]:
            if not len(row["right"]):
                return False, 0.0
            place, p = first_place(ranker, as_tuple(row))
            return bool(row["right"][place]), p

        scored = sorted((first(r) for r in train if r["news"] and r["part"] == "found"), key=lambda t: -t[1])
        threshold, hits = 1.0, 0
        for n, (ok, p) in enumerate(scored, 1):
            hits += ok
            if n >= 30 and hits / n >= 0.70:
                threshold = p
        for r in test:
            if not r["news"]:
                continue
            ok, p = first(r)
            if r["part"] == "without":
                withheld.append(p < threshold)
                continue
            total += 1
            firsts.append(ok)
            anywhere.append(bool(r["right"].any()))
            if p >= threshold:
                given += 1
                given_right += ok
    return {
        "right_first_pct": round(100 * float(np.mean(firsts)), 1),
        "right_anywhere_pct": round(100 * float(np.mean(anywhere)), 1),
        "ratio": round(float(np.mean(firsts)) / max(1e-9, float(np.mean(anywhere))), 3),
        "given": given,
        "given_right_pct_of_questions": round(100 * given_right / max(1, total), 1),
        "precision_pct": round(100 * given_right / max(1, given), 1),
        "withheld_left_out_pct": round(100 * float(np.mean(withheld)), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "results" / "answer-data.pkl")
    parser.add_argument("--depths", type=int, nargs="*", default=[5, 10])
    args = parser.parse_args()
    entries = [e for e in pickle.loads(args.data.read_bytes()).values() if not e.get("refused")]
    assembly = Assembly.from_config(Config())
    sets = {
        "old features": OLD,
        "+ type": OLD + ("type_match", "type_other"),
        "+ support, overlap": OLD + ("support", "sentence_overlap"),
        "+ time": OLD + ("time_inside", "time_outside", "before_window"),
        "+ type, support, overlap": OLD + ("type_match", "type_other", "support", "sentence_overlap"),
        "all": FEATURES,
    }
    for depth in args.depths:
        rows = [
            r for e in entries for part in ("found", "without") if (r := rows_of(e, part, depth, assembly))
        ]
        print(
            f"reading depth {depth}: {sum(r['news'] and r['part'] == 'found' for r in rows)} news questions"
        )
        for name, names in sets.items():
            print(f"  {name:22} logistic {evaluate(rows, names, 'logistic')}", flush=True)
        print(f"  {'all':22} boosted  {evaluate(rows, FEATURES, 'boosted')}", flush=True)


if __name__ == "__main__":
    main()
