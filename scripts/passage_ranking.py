"""Could a small learned model over the retrieved passages raise recall on real news? Fit half only.

    .venv/bin/python scripts/passage_ranking.py [--depth 100]

For every question of the news fit half (bench/realtimeqa.py's split), asked as of its day over the 2023
archive, the hybrid search's best `--depth` passages are gathered with simple features (their dense, BM25
and fused ranks; how much of the question the article's title and the passage hold; the article's age at
the question's day; whether the passage leads its article; how many of the passages come from the same
article). A logistic regression predicts whether a passage holds the right answer. Measured by 2-fold
cross-validation over the fit half's weeks (each fold's model ranks the other fold's questions): how often a
passage with the answer is among the first 5/20/50, against the search's own order. The report half is not
read. Rows are cached in bench/results/passage-rows-<depth>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from realtimeqa import DATA, archive, half, open_index, read_jsonl, right_in  # noqa: E402

from qa.answers import PRESENT, RELATIVE_TIME  # noqa: E402
from qa.config import Config  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.retrieval import Filters, Hit  # noqa: E402
from qa.squad import normalize_answer  # noqa: E402

FEATURES = (
    "fused",  # the fused rank, as 1 / (1 + rank)
    "dense",  # 1 / (1 + dense rank), 0 when dense search did not find it
    "bm25",  # 1 / (1 + BM25 rank), 0 when BM25 did not find it
    "title_share",  # the share of the question's content words in the article's title
    "passage_share",  # the share of the question's content words in the passage
    "age",  # log(1 + days from the article's date to the day asked)
    "age_present",  # age, when the question asks for the present or speaks relative to its day
    "week",  # the article is at most 7 days older than the day asked
    "undated",
    "lead",  # the passage is its article's first
    "article_hits",  # log(1 + passages of the same article among the depth)
    "article_best",  # 1 / (1 + the best fused rank of a passage of the same article)
)
STOP = set(
    "a an the of in on at to for by with from and or but is are was were be been being this that these those "
    "what which who whom whose when where why how did does do has have had will would can could its it as "
    "his her their they he she we you i not no than then so such into over after before about week year "
    "month new".split()
)


def content_words(text: str) -> set[str]:
    return {w for w in normalize_answer(text).split() if w not in STOP and len(w) > 1}


def day(text: str | None) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat((text or "")[:10])
    except ValueError:
        return None


def features(question: str, asked_on: str, hits: list[Hit]) -> list[list[float]]:
    words = content_words(question)
    timely = bool(PRESENT.search(question) or RELATIVE_TIME.search(question))
    on = datetime.date.fromisoformat(asked_on)
    per_article: dict[str, list[int]] = {}
    for rank, hit in enumerate(hits):
        per_article.setdefault(hit.article.id, []).append(rank)
    rows = []
    for rank, hit in enumerate(hits):
        published = day(hit.article.date)
        age = math.log1p(max(0, (on - published).days)) if published else 0.0
        rows.append(
            [
                1.0 / (1 + rank),
                1.0 / (1 + hit.dense_rank) if hit.dense_rank is not None else 0.0,
                1.0 / (1 + hit.bm25_rank) if hit.bm25_rank is not None else 0.0,
                len(words & content_words(hit.article.title)) / max(1, len(words)),
                len(words & content_words(hit.passage.text)) / max(1, len(words)),
                age,
                age if timely else 0.0,
                float(published is not None and (on - published).days <= 7),
                float(published is None),
                float(hit.passage.start == 0),
                math.log1p(len(per_article[hit.article.id])),
                1.0 / (1 + min(per_article[hit.article.id])),
            ]
        )
    return rows


def gather(depth: int) -> list[dict[str, Any]]:
    cache = ROOT / "bench" / "results" / f"passage-rows-{depth}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    questions = read_jsonl(DATA / "questions.jsonl.gz")
    weeks = sorted({q["week"] for q in questions})
    fit = [q for q in questions if half(q["week"], weeks) == "fit"]
    folder = ROOT / "bench" / "results" / "realtimeqa-index"
    open_index(folder, archive(read_jsonl(DATA / "articles.jsonl.gz")), rebuild=False)
    engine = Engine.open(folder, Config(candidates=depth))
    rows = []
    for n, q in enumerate(fit, 1):
        hits = engine.search(q["question"], top_k=depth, filters=Filters(as_of=q["date"]))
        rows.append(
            {
                "week": q["week"],
                "x": features(q["question"], q["date"], hits),
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation of the regression")
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rows = gather(args.depth)
    weeks = sorted({r["week"] for r in rows})
    fold = {w: n % 2 for n, w in enumerate(weeks)}
    baseline, learned, labels = [], [], []
    for held in (0, 1):
        train = [r for r in rows if fold[r["week"]] != held and r["x"]]
        test = [r for r in rows if fold[r["week"]] == held]
        x = np.array([f for r in train for f in r["x"]])
        y = np.array([v for r in train for v in r["y"]])
        scaler = StandardScaler().fit(x)
        model = LogisticRegression(C=args.C, max_iter=2000).fit(scaler.transform(x), y)
        for r in test:
            labels.append(r["y"])
            baseline.append(list(range(len(r["y"]))))
            if not r["x"]:
                learned.append([])
                continue
            p = model.predict_proba(scaler.transform(np.array(r["x"])))[:, 1]
            learned.append([int(i) for i in np.argsort(-p, kind="stable")])
        print(f"fold {held}: weights " + ", ".join(f"{n} {w:+.2f}" for n, w in zip(FEATURES, model.coef_[0])))
    n = len(labels)
    anywhere = found(baseline, labels, args.depth)
    print(
        f"{n} fit-half questions, depth {args.depth}: an answer passage anywhere among them {anywhere:.1f} %"
    )
    for k in (1, 5, 10, 20, 50):
        base, new = found(baseline, labels, k), found(learned, labels, k)
        print(f"  found@{k:<3} search order {base:5.1f} %   learned {new:5.1f} %")


if __name__ == "__main__":
    main()
