"""Fit the answer ranker (qa/ranking.py) and its threshold on the news fit half and SQuAD v1.1 train.

    python scripts/fit_ranker.py [--reader DIR] [--output qa/models/ranker/ranker.json] [--squad-questions 800]

Every candidate answer the engine finds (reader, retrieval, merging as shipped; the ranker off) is a row of
`qa.ranking.FEATURES`, labelled right or wrong:
- news: each question of the fit half of bench/realtimeqa.py (the report half is never read), asked as of
  its day over the 2023 archive; and again with every article that contains the answer left out, so that
  nothing it finds is right. Right = RealTimeQA's containment rule.
- SQuAD v1.1 train: `--squad-questions` random questions of the first 60 topics over an index of those
  topics' paragraphs, and again with the question's own topic left out. Right = F1 >= 0.5 (the reader's
  calibration's notion).
A logistic regression is fitted on all rows. The threshold is the lowest at which the engine withholds at
least `--abstain` of both sets' questions whose answer was left out (fit data only), so that it says "the
articles don't say" when they don't. Rows are cached in bench/results/ per reader.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from common import ROOT  # noqa: E402 - first: this checkout's qa, models offline
from realtimeqa import DATA, archive, half, holders, read_jsonl, right  # noqa: E402

from qa.answers import PRESENT, day_number  # noqa: E402
from qa.articles import Article  # noqa: E402
from qa.calibration import fit_calibration  # noqa: E402
from qa.config import Config  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.errors import NoIndex  # noqa: E402
from qa.ranking import FEATURES, PLAUSIBLE_SHARE, AnswerRanker, answer_features, fit_ranker  # noqa: E402
from qa.retrieval import Filters  # noqa: E402
from qa.squad import load_examples, normalize_answer, score  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SQUAD_TRAIN = ROOT.parent / "shared" / "data" / "squad" / "train-v1.1.json.gz"
SQUAD_TOPICS = 60


Row = tuple[
    np.ndarray, np.ndarray, list[int], bool
]  # features, right, cited article's day, asks for the present


def rows_of(engine: Engine, question: str, judge: Any, **asked: Any) -> Row:
    result = engine.ask(question, always_answer=True, **asked)
    ranks = {h.passage.id: r for r, h in enumerate(result.passages)}
    features = answer_features(result.question, result.answers, ranks)
    days = [day_number(a.citation.date) or -1 for a in result.answers]
    correct = np.array([judge(a.text) for a in result.answers], dtype=bool)
    return features, correct, days, bool(PRESENT.search(result.question))


def present_rule_check(ranker: AnswerRanker, rows: list[Row]) -> dict[str, int]:
    """On questions of the present with candidates of several days: how often the first answer is right in
    the ranker's order, and with the newest of the plausible ones first (qa.ranking.newest_first)."""
    counts = {"questions": 0, "ranker_first_right": 0, "newest_plausible_first_right": 0}
    for row in rows:
        features, correct, days, present = row
        if not present or len(set(days)) < 2:
            continue
        counts["questions"] += 1
        counts["ranker_first_right"] += int(correct[int(np.argmax(ranker.probabilities(features)))])
        counts["newest_plausible_first_right"] += int(correct[first_place(ranker, row)[0]])
    return counts


def news_rows(config: Config) -> dict[str, list[Row]]:
    questions = read_jsonl(DATA / "questions.jsonl.gz")
    weeks = sorted({q["week"] for q in questions})
    fit = [q for q in questions if half(q["week"], weeks) == "fit"]
    articles = archive(read_jsonl(DATA / "articles.jsonl.gz"))
    texts = {a.id: normalize_answer(a.text) for a in articles}
    engine = Engine.open(RESULTS / "realtimeqa-index", config)
    out: dict[str, list[Row]] = {"found": [], "left_out": []}
    for n, q in enumerate(fit, 1):

        def judge(text: str, truth: str = q["answer_text"]) -> bool:
            return right(text, truth)

        out["found"].append(rows_of(engine, q["question"], judge, as_of=q["date"]))
        bearing = holders(q, texts)
        if bearing:
            out["left_out"].append(
                rows_of(engine, q["question"], judge, as_of=q["date"], filters=Filters(exclude=bearing))
            )
        if n % 100 == 0:
            print(f"  news: {n}/{len(fit)} questions", flush=True)
    return out


def squad_rows(config: Config, count: int) -> dict[str, list[Row]]:
    examples = [e for e in load_examples(SQUAD_TRAIN) if not e.is_impossible]
    topics = list(dict.fromkeys(e.title for e in examples))[:SQUAD_TOPICS]
    examples = [e for e in examples if e.title in set(topics)]
    paragraphs = list(dict.fromkeys((e.title, e.context) for e in examples))
    ids = {context: f"{title}-{n}" for n, (title, context) in enumerate(paragraphs)}
    folder = RESULTS / "squad-train-index"
    try:
        engine = Engine.open(folder, config)
    except NoIndex:
        engine = Engine.create(folder, config, progress=True)
        engine.add_articles([Article(ids[c], t, c) for t, c in paragraphs])
    by_topic: dict[str, list[str]] = {}
    for title, context in paragraphs:
        by_topic.setdefault(title, []).append(ids[context])
    out: dict[str, list[Row]] = {"found": [], "left_out": []}
    for n, e in enumerate(random.Random(13).sample(examples, count), 1):

        def judge(text: str, answers: list[str] = e.answers) -> bool:
            return score(text, answers)[1] >= 0.5

        out["found"].append(rows_of(engine, e.question, judge))
        out["left_out"].append(rows_of(engine, e.question, judge, filters=Filters(exclude=by_topic[e.title])))
        if n % 100 == 0:
            print(f"  SQuAD: {n}/{count} questions", flush=True)
    return out


def first_place(ranker: AnswerRanker, row: Row) -> tuple[int, float]:
    """The candidate the engine puts first (qa.ranking: by probability, newest plausible first for
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
    weights, bias = fit_ranker(
        np.concatenate([row[0] for row in everything]), np.concatenate([row[1] for row in everything])
    )
    ranker = AnswerRanker(weights, bias, 0.5, {})
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
    parser.add_argument("--reader", default=None, help="the reader folder (default: the shipped one)")
    parser.add_argument("--output", type=Path, default=ROOT / "qa" / "models" / "ranker" / "ranker.json")
    parser.add_argument("--squad-questions", type=int, default=800)
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
    config = Config(answer_ranker=None, **({"reader_model": args.reader} if args.reader else {}))
    weights_file = Path(config.reader_model) / "model.safetensors"
    reader_key = hashlib.sha256(weights_file.read_bytes()).hexdigest()[:12]
    retrieval = f"candidates {config.candidates}, passage ranker " + (
        hashlib.sha256(Path(config.passage_ranker).read_bytes()).hexdigest()[:12]
        if config.passage_ranker
        else "none"
    )
    key = reader_key + "-" + hashlib.sha256(retrieval.encode()).hexdigest()[:8]  # the rows depend on both
    cache = RESULTS / f"ranker-rows-{key}-{args.squad_questions}-{len(FEATURES)}-days.json"
    if cache.exists():
        stored = json.loads(cache.read_text())
        sets = {
            name: {
                part: [
                    (np.array(f).reshape(-1, len(FEATURES)), np.array(r, bool), d, q) for f, r, d, q in rows
                ]
                for part, rows in parts.items()
            }
            for name, parts in stored.items()
        }
    else:
        sets = {"news": news_rows(config), "squad": squad_rows(config, args.squad_questions)}
        cache.write_text(
            json.dumps(
                {
                    name: {
                        part: [(f.tolist(), r.tolist(), d, q) for f, r, d, q in rows]
                        for part, rows in parts.items()
                    }
                    for name, parts in sets.items()
                }
            )
        )
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
        "reader": "the shipped reader" if not args.reader else str(args.reader),
        "reader_weights_sha256_12": reader_key,
        "retrieval": retrieval,
        "fitted_on": {
            "news": f"fit half of bench/realtimeqa.py: {len(sets['news']['found'])} questions as of their day, "
            f"{len(sets['news']['left_out'])} again with the answer's articles left out",
            "squad": f"{args.squad_questions} SQuAD v1.1 train questions of its first {SQUAD_TOPICS} topics, "
            "and the same with their topic left out",
        },
        "candidates": int(len(labels)),
        "right": int(labels.sum()),
        "threshold_rule": f"lowest withholding {args.abstain:.0%} of each set's left-out questions"
        + (
            " (news: dated answers, SQuAD: undated ones)" if args.per_kind_thresholds else "; the larger kept"
        ),
        "thresholds": {k: round(v, 4) for k, v in thresholds.items()},
        "command": "python scripts/fit_ranker.py" + (f" --reader {args.reader}" if args.reader else ""),
        "present_rule_on_news_fit": present_rule_check(ranker, sets["news"]["found"]),
    }
    ranker.save(args.output)
    print(
        json.dumps(
            {"weights": dict(zip(FEATURES, np.round(ranker.weights, 3).tolist())), **ranker.info}, indent=1
        )
    )


if __name__ == "__main__":
    main()
