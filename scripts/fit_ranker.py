"""Fit the answer ranker (qa/answer_ranking.py) and its threshold on the collected fit questions.

    python scripts/answer_data.py          # once: what the answer stage sees, for every fit question
    python scripts/fit_ranker.py [--data bench/results/answer-data.pkl] [--output qa/models/ranker/ranker.json]

Every candidate answer the engine finds (reader, retrieval, merging as shipped; the ranker off) is a row of
the ranker's features (SHIPPED_FEATURES, chosen by bench/experiments/answer_ranking.py), labelled right or
wrong:
- news: every question of 2025 and of 2023's fit half (bench/realtimeqa.py's split; the report half is never
  read), asked as of its day over its year's archive; and again with every article that contains the answer
  left out, so that nothing it finds is right. Right = RealTimeQA's containment rule.
- SQuAD v1.1 train: 800 random questions of its first 60 topics over an index of those topics' paragraphs,
  and again with the question's own topic left out. Right = F1 >= 0.5 (the reader's calibration's notion).
A logistic regression is fitted on all rows. The threshold is the lowest at which the engine withholds at
least `--abstain` of both sets' questions whose answer was left out; scripts/choose_tiers.py then chooses
the answer and likely tiers on the news rows this writes with --rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from common import ROOT  # noqa: E402 - first: this checkout's qa, models offline
from realtimeqa import right  # noqa: E402

from qa.answer_ranking import FEATURES, PLAUSIBLE_SHARE, AnswerRanker, answer_features, fit_ranker  # noqa: E402
from qa.assembly import Assembly, Question  # noqa: E402
from qa.calibration import fit_calibration  # noqa: E402
from qa.config import Config  # noqa: E402
from qa.dates import PRESENT, day_number  # noqa: E402
from qa.squad import score  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SQUAD_TRAIN = ROOT.parent / "shared" / "data" / "squad" / "train-v1.1.json.gz"
SQUAD_TOPICS = 60
DEPTH = 5  # passages read per question, as Config.top_k
SHIPPED_FEATURES = FEATURES  # chosen by bench/experiments/answer_ranking.py


Row = tuple[
    np.ndarray, np.ndarray, list[int], bool
]  # features, right, cited article's day, asks for the present


def rows_of(entry: dict[str, Any], part: str, assembly: Assembly, depth: int = DEPTH) -> Row | None:
    """The candidates the engine finds for one collected question (scripts/answer_data.py) as it asks today:
    its first `depth` passages, the first alone where the reader is already sure of it (Config.decided_at)."""
    data = entry.get(part)
    if not data:
        return None
    hits, readings = data["hits"][:depth], data["readings"][:depth]
    if assembly.reads_first_alone(entry["question"]) and assembly.sure_enough(readings[:1]):
        readings = readings[:1]
    asked = Question(entry["question"], hits, readings, data["asked_as_of"], data["left_out"])
    answers = assembly.candidates(asked, data["carried"])
    ranks = {h.passage.id: r for r, h in enumerate(hits)}
    features = answer_features(entry["question"], answers, ranks, data["asked_as_of"])
    truth = entry["truth"]
    if isinstance(truth, list):  # SQuAD: F1 >= 0.5 with one of its answers (the reader calibration's notion)
        correct = [score(a.text, truth)[1] >= 0.5 for a in answers]
    else:  # news: RealTimeQA's containment rule
        correct = [right(a.text, truth) for a in answers]
    days = [day_number(a.citation.date) or -1 for a in answers]
    return features, np.array(correct, dtype=bool), days, bool(PRESENT.search(entry["question"]))


def read_sets(path: Path) -> tuple[Sets, list[dict[str, Any]]]:
    """The collected questions as rows: news (2025 and 2023's fit half) and SQuAD, each as asked ("found")
    and with the answer's articles or topic left out ("left_out"); and the news entries, in the same order."""
    entries = pickle.loads(path.read_bytes())
    assembly = Assembly.from_config(Config(answer_ranker=None))
    sets: Sets = {"news": {"found": [], "left_out": []}, "squad": {"found": [], "left_out": []}}
    news = []
    for key, entry in entries.items():
        if entry.get("refused"):
            continue
        kind = "squad" if key.startswith("squad:") else "news"
        found, without = rows_of(entry, "found", assembly), rows_of(entry, "without", assembly)
        if found is not None:
            sets[kind]["found"].append(found)
            if kind == "news":
                news.append({"key": key, **entry})
        if without is not None:
            sets[kind]["left_out"].append(without)
    return sets, news


def present_rule_check(ranker: AnswerRanker, rows: list[Row]) -> dict[str, int]:
    """On questions of the present with candidates of several days: how often the first answer is right in
    the ranker's order, and with the newest of the plausible ones first (qa.answer_ranking.newest_first)."""
    counts = {"questions": 0, "ranker_first_right": 0, "newest_plausible_first_right": 0}
    for row in rows:
        features, correct, days, present = row
        if not present or len(set(days)) < 2:
            continue
        counts["questions"] += 1
        counts["ranker_first_right"] += int(correct[int(np.argmax(ranker.probabilities(features)))])
        counts["newest_plausible_first_right"] += int(correct[first_place(ranker, row)[0]])
    return counts


def first_place(ranker: AnswerRanker, row: Row) -> tuple[int, float]:
    """The candidate the engine puts first (qa.answer_ranking: by probability, newest plausible first for
    questions of the present) and the probability of that place, before calibration."""
    features, _, days, present = row
    p = ranker.probabilities(features)
    order = [int(i) for i in np.argsort(-p, kind="stable")]
    if present:
        plausible = [i for i in order if p[i] >= PLAUSIBLE_SHARE * p[order[0]]]
        return max(plausible, key=lambda i: (days[i], -plausible.index(i))), float(p[order[0]])
    return order[0], float(p[order[0]])


def calibrate(ranker: AnswerRanker, rows: list[Row], regimes: tuple[str, ...]) -> None:
    """Isotonic calibrations of the first place's probability, for these regimes (dated, undated) apart."""
    by_regime: dict[str, tuple[list[float], list[bool]]] = {name: ([], []) for name in regimes}
    for row in rows:
        if len(row[0]):
            first, p = first_place(ranker, row)
            kept = by_regime.get("dated" if row[2][first] != -1 else "undated")
            if kept is not None:
                kept[0].append(p)
                kept[1].append(bool(row[1][first]))
    ranker.calibrations = {
        name: fit_calibration(scores, right, f"{len(scores)} first answers of scripts/fit_ranker.py's rows")
        for name, (scores, right) in by_regime.items()
        if len(scores) >= 50
    }


def shown(ranker: AnswerRanker, row: Row) -> float:
    """The confidence the engine shows for its first answer to this row's question."""
    if not len(row[0]):
        return 0.0
    first, p = first_place(ranker, row)
    calibration = ranker.calibrations.get("dated" if row[2][first] != -1 else "undated")
    return calibration(p) if calibration is not None else p


def threshold_for(ranker: AnswerRanker, left_out: list[Row], share: float) -> float:
    """The lowest threshold at which at least `share` of these questions' best answers are withheld."""
    best = sorted(shown(ranker, row) for row in left_out)
    at = min(len(best) - 1, int(np.ceil(share * len(best))) - 1)
    return float(np.nextafter(best[at], 1.0)) if best else 0.5


Sets = dict[str, dict[str, list[Row]]]


def fitted(sets: Sets, calibrated: tuple[str, ...], per_kind: bool, abstain: float) -> AnswerRanker:
    """The ranker fitted on these rows: regression, calibrations of the kinds named, threshold(s)."""
    everything = [row for parts in sets.values() for rows in parts.values() for row in rows if len(row[0])]
    columns = [FEATURES.index(name) for name in SHIPPED_FEATURES]
    weights, bias = fit_ranker(
        np.concatenate([row[0][:, columns] for row in everything]),
        np.concatenate([row[1] for row in everything]),
    )
    ranker = AnswerRanker(weights, bias, 0.5, {}, features=SHIPPED_FEATURES)
    calibrate(ranker, [row for parts in sets.values() for rows in parts.values() for row in rows], calibrated)
    thresholds = {name: threshold_for(ranker, parts["left_out"], abstain) for name, parts in sets.items()}
    if per_kind:
        ranker.thresholds = {"dated": thresholds["news"], "undated": thresholds["squad"]}
    ranker.threshold = max(thresholds.values())
    return ranker


CONFIGURATIONS = {  # name: (kinds calibrated, a threshold per kind)
    "output alone, one threshold (shipped)": ((), False),
    "both kinds calibrated, one threshold": (("dated", "undated"), False),
    "undated calibrated, a threshold per kind": (("undated",), True),
}


def cross_validate(sets: Sets, abstain: float, folds: int = 5) -> dict[str, Any]:
    """Each configuration fitted on 4/5 of the fit rows and scored on the other fifth, in turn (rows are
    dealt to folds by their place, a question's found and left-out rows not always together): per set, ECE
    over the answered found questions, how often the first answer is right (answered or not) and the share of
    left-out questions withheld."""
    from qa.calibration import expected_calibration_error

    out: dict[str, Any] = {}
    for name, (calibrated, per_kind) in CONFIGURATIONS.items():
        scored: dict[str, dict[str, list[Any]]] = {
            s: {"shown": [], "right": [], "withheld": [], "first_right": []} for s in sets
        }
        for fold in range(folds):
            train = {
                s: {p: [r for i, r in enumerate(rows) if i % folds != fold] for p, rows in parts.items()}
                for s, parts in sets.items()
            }
            ranker = fitted(train, calibrated, per_kind, abstain)
            for s, parts in sets.items():
                for part, rows in parts.items():
                    for row in [r for i, r in enumerate(rows) if i % folds == fold]:
                        confidence = shown(ranker, row)
                        first = first_place(ranker, row)[0] if len(row[0]) else -1
                        kind = "dated" if first >= 0 and row[2][first] != -1 else "undated"
                        gives = first >= 0 and confidence >= ranker.thresholds.get(kind, ranker.threshold)
                        if part == "left_out":
                            scored[s]["withheld"].append(not gives)
                            continue
                        scored[s]["first_right"].append(first >= 0 and bool(row[1][first]))
                        if gives:
                            scored[s]["shown"].append(confidence)
                            scored[s]["right"].append(bool(row[1][first]))
        out[name] = {
            s: {
                "ece_answered": round(expected_calibration_error(v["shown"], v["right"]), 3),
                "answered": len(v["shown"]),
                "right_first_pct": round(100 * float(np.mean(v["first_right"])), 1),
                "withheld_left_out_pct": round(100 * float(np.mean(v["withheld"])), 1),
            }
            for s, v in scored.items()
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=RESULTS / "answer-data.pkl", help="written by scripts/answer_data.py"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "qa" / "models" / "ranker" / "ranker.json")
    parser.add_argument(
        "--rows", type=Path, help="also write the news questions' first answers for choose_tiers"
    )
    parser.add_argument(
        "--abstain", type=float, default=0.8, help="share withheld when the answer is left out"
    )
    parser.add_argument(
        "--calibrate",
        nargs="*",
        choices=("dated", "undated"),
        default=[],
        help="calibrate the confidence of these kinds of answer (isotonic; default: none)",
    )
    parser.add_argument(
        "--per-kind-thresholds", action="store_true", help="a threshold for dated and one for undated answers"
    )
    parser.add_argument(
        "--cross-validate",
        action="store_true",
        help="compare the configurations by 5-fold cross-validation on the fit rows, write nothing",
    )
    args = parser.parse_args()
    config = Config(answer_ranker=None)
    weights_file = Path(config.reader_model) / "model.safetensors"
    reader_key = hashlib.sha256(weights_file.read_bytes()).hexdigest()[:12]
    retrieval = f"candidates {config.candidates}, passage ranker " + (
        hashlib.sha256(Path(config.passage_ranker).read_bytes()).hexdigest()[:12]
        if config.passage_ranker
        else "none"
    )
    sets, news = read_sets(args.data)
    ranker = fitted(sets, tuple(args.calibrate), args.per_kind_thresholds, args.abstain)
    if args.cross_validate:
        print(json.dumps(cross_validate(sets, args.abstain), indent=1))
        return
    everything = [row for parts in sets.values() for rows in parts.values() for row in rows if len(row[0])]
    labels = np.concatenate([row[1] for row in everything])
    thresholds = {
        name: threshold_for(ranker, parts["left_out"], args.abstain) for name, parts in sets.items()
    }
    ranker.info = {
        "reader": "the shipped reader",
        "reader_weights_sha256_12": reader_key,
        "retrieval": retrieval,
        "fitted_on": {
            "news": f"2025 and 2023's fit half (bench/realtimeqa.py): {len(sets['news']['found'])} questions as "
            f"of their day, {len(sets['news']['left_out'])} again with the answer's articles left out",
            "squad": f"{len(sets['squad']['found'])} SQuAD v1.1 train questions of its first {SQUAD_TOPICS} "
            "topics, and the same with their topic left out",
        },
        "candidates": int(len(labels)),
        "right": int(labels.sum()),
        "threshold_rule": f"lowest withholding {args.abstain:.0%} of each set's left-out questions"
        + (
            " (news: dated answers, SQuAD: undated ones)" if args.per_kind_thresholds else "; the larger kept"
        ),
        "thresholds": {k: round(v, 4) for k, v in thresholds.items()},
        "command": "python scripts/build_answer_ranker.py",
        "present_rule_on_news_fit": present_rule_check(ranker, sets["news"]["found"]),
    }
    if args.rows:  # the first answers' confidences, for scripts/choose_tiers.py
        shipped = []
        for entry, row in zip(news, sets["news"]["found"]):
            first = first_place(ranker, row)[0] if len(row[0]) else -1
            shipped.append(
                {
                    "id": entry["key"].split(":", 1)[1],
                    "confidence": shown(ranker, row),
                    "right": bool(first >= 0 and row[1][first]),
                }
            )
        args.rows.write_text(json.dumps({"as shipped": shipped}))
    old = AnswerRanker.load(args.output) if args.output.exists() else None
    if old is not None:  # the tiers stay until scripts/choose_tiers.py chooses them again
        ranker.likely_threshold = old.likely_threshold
    ranker.save(args.output)
    print(
        json.dumps(
            {"weights": dict(zip(ranker.features, np.round(ranker.weights, 3).tolist())), **ranker.info},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
