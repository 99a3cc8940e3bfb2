"""Median time of one question asked as of its day over a year of real news (RealTimeQA 2023's archive).

    python bench/news_speed.py [--index bench/results/realtimeqa-index] [--questions 200] [--json]

Asks the first N questions of 2023's fit half, one at a time (after one warm-up question), over the index
bench/realtimeqa.py builds, and prints the median and 90th percentile in ms. Run it from two checkouts in
turn, against the same index, to compare their speed in one session.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from common import ROOT  # first: this checkout's qa, models offline
from realtimeqa import DATA, half, read_jsonl

from qa.engine import Engine
from qa.errors import InputError


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index", type=Path, default=ROOT / "bench" / "results" / "realtimeqa-index")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    questions = read_jsonl(DATA / "questions.jsonl.gz")
    weeks = sorted({q["week"] for q in questions})
    chosen = [q for q in questions if half(q["week"], weeks) == "fit"][: args.questions]
    engine = Engine.open(args.index)
    engine.ask(chosen[0]["question"], as_of=chosen[0]["date"])
    times = []
    for q in chosen:
        start = time.perf_counter()
        try:
            engine.ask(q["question"], as_of=q["date"])
        except InputError:
            continue
        times.append(1000 * (time.perf_counter() - start))
    result = {
        "questions": len(times),
        "median_ms": round(statistics.median(times), 1),
        "p90_ms": round(statistics.quantiles(times, n=10)[-1], 1),
    }
    print(
        json.dumps(result)
        if args.json
        else f"{result['questions']} questions: median {result['median_ms']} ms, p90 {result['p90_ms']} ms"
    )


if __name__ == "__main__":
    main()
