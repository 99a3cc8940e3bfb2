"""Rebuild the passage ranker (qa/models/ranker/passages.json) from the news fit half: one command, fixed recipe.

    python scripts/build_passage_ranker.py [--output qa/models/ranker/passages.json] [--depth 100]

For every question of the news fit half (bench/realtimeqa.py's split), asked as of its day over the 2023
archive (bench/results/realtimeqa-index, built by bench/realtimeqa.py if missing), the hybrid search's best
`--depth` passages, in the search's own order (no passage ranker), are gathered with simple features (their
dense, BM25 and fused ranks; how much of the question the article's title and the passage hold; the
article's age at the question's day; whether the passage leads its article; how many of the passages come
from the same article). A logistic regression predicts whether a passage holds the right answer. Reported,
on the same rows: how often a passage with the answer is among the first 1/5/10/20 in the search's order,
in a learned order by 2-fold cross-validation over the fit half's weeks, and in the order of the ranker
that was in `--output` before (the shipped one), so a rebuild is compared with what it replaces. Then the
model fitted on the whole fit half is written to `--output`. The report half is not read. Rows are cached
in bench/results/passage-rows-<depth>-<encoder>.json (delete it after rebuilding the archive's index).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from realtimeqa import DATA, archive, half, open_index, read_jsonl, right_in  # noqa: E402

from qa.config import Config  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.passage_ranking import PASSAGE_FEATURES, PassageRanker, passage_features  # noqa: E402
from qa.retrieval import Filters  # noqa: E402

SHIPPED = ROOT / "qa" / "models" / "ranker" / "passages.json"


def rows_encoder(depth: int) -> str:
    """The encoder of the archive's index the cached rows were gathered from."""
    return next((ROOT / "bench" / "results").glob(f"passage-rows-{depth}-*.json")).stem.split("-", 3)[3]


def gather(depth: int) -> list[dict[str, Any]]:
    folder = ROOT / "bench" / "results" / "realtimeqa-index"
    open_index(folder, archive(read_jsonl(DATA / "articles.jsonl.gz")), rebuild=False)
    # the search's own order: a passage ranker already in place would be learned from itself
    engine = Engine.open(folder, Config(candidates=depth, passage_ranker=None))
    cache = ROOT / "bench" / "results" / f"passage-rows-{depth}-{engine.stats().encoder}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    questions = read_jsonl(DATA / "questions.jsonl.gz")
    weeks = sorted({q["week"] for q in questions})
    fit = [q for q in questions if half(q["week"], weeks) == "fit"]
    rows = []
    for n, q in enumerate(fit, 1):
        hits = engine.search(q["question"], top_k=depth, filters=Filters(as_of=q["date"]))
        rows.append(
            {
                "week": q["week"],
                "x": passage_features(q["question"], datetime.date.fromisoformat(q["date"]), hits).tolist(),
                "y": [int(right_in(h.passage.text, q["answer_text"])) for h in hits],
            }
        )
        if n % 100 == 0:
            print(f"{n}/{len(fit)} questions searched", file=sys.stderr, flush=True)
    cache.write_text(json.dumps(rows))
    return rows


def found(orders: list[list[int]], labels: list[list[int]], k: int) -> float:
    return 100 * float(np.mean([any(y[i] for i in order[:k]) for order, y in zip(orders, labels)]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--depth", type=int, default=100, help="passages ordered per question (the engine's candidates)"
    )
    parser.add_argument(
        "--output", type=Path, default=SHIPPED, help="where the ranker is written (default: the shipped one)"
    )
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation of the regression")
    parser.add_argument(
        "--boosted", action="store_true", help="cross-validate gradient-boosted trees instead; write nothing"
    )
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rows = gather(args.depth)
    weeks = sorted({r["week"] for r in rows})
    fold = {w: n % 2 for n, w in enumerate(weeks)}
    before = PassageRanker.load(args.output) if args.output.exists() else None
    baseline, learned, previous, labels = [], [], [], []
    for held in (0, 1):
        train = [r for r in rows if fold[r["week"]] != held and r["x"]]
        test = [r for r in rows if fold[r["week"]] == held]
        x = np.array([f for r in train for f in r["x"]])
        y = np.array([v for r in train for v in r["y"]])
        scaler = StandardScaler().fit(x)
        model: Any = LogisticRegression(C=args.C, max_iter=2000)
        if args.boosted:
            from sklearn.ensemble import HistGradientBoostingClassifier

            model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=13)
        model.fit(scaler.transform(x), y)
        for r in test:
            labels.append(r["y"])
            baseline.append(list(range(len(r["y"]))))
            learned.append(order_of(model.predict_proba(scaler.transform(np.array(r["x"])))[:, 1], r))
            if before is not None:
                previous.append(order_of(before.score_rows(np.array(r["x"])), r))
        if hasattr(model, "coef_"):
            weights = ", ".join(f"{n} {w:+.2f}" for n, w in zip(PASSAGE_FEATURES, model.coef_[0]))
            print(f"fold {held}: weights {weights}")
    n = len(labels)
    print(
        f"{n} fit-half questions, depth {args.depth}: "
        f"an answer passage among them {found(baseline, labels, args.depth):.1f} %"
    )
    print(
        f"  found@k   search order   learned (2-fold by week)   {'ranker in --output before' if before else ''}"
    )
    for k in (1, 5, 10, 20, 50):
        shown = f"{found(previous, labels, k):5.1f} %" if before else ""
        print(
            f"  {k:<8} {found(baseline, labels, k):5.1f} %        "
            f"{found(learned, labels, k):5.1f} %                  {shown}"
        )
    if args.boosted:
        return
    x = np.array([f for r in rows for f in r["x"]])
    y = np.array([v for r in rows for v in r["y"]])
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=args.C, max_iter=2000).fit(scaler.transform(x), y)
    info = {
        "fitted_on": f"news fit half (bench/realtimeqa.py's split): {len(rows)} questions as of their day, "
        f"the hybrid search's first {args.depth} passages each, in its own order; label: the passage holds "
        "the right answer",
        "encoder": rows_encoder(args.depth),
        "command": "python scripts/build_passage_ranker.py",
        "found_at_k_percent_search_order_vs_learned_2_fold_by_week": {
            str(k): [round(found(baseline, labels, k), 1), round(found(learned, labels, k), 1)]
            for k in (1, 5, 10, 20)
        },
    }
    PassageRanker(model.coef_[0], float(model.intercept_[0]), scaler.mean_, scaler.scale_, info).save(
        args.output
    )
    print(f"Wrote {args.output}")


def order_of(probabilities: np.ndarray, row: dict[str, Any]) -> list[int]:
    return [int(i) for i in np.argsort(-probabilities, kind="stable")] if row["x"] else []


if __name__ == "__main__":
    main()
