"""Where one question's hybrid retrieval spends its time, stage by stage, on any index the engine built.

    python bench/experiments/search_stages.py INDEX_DIR [--questions 200]

Asks `Engine.search` (the shipped depth and passage ranker) real questions (bench/scale_real.py's: the news
quiz's and SQuAD v1.1 dev's), once untimed and once timed, unfiltered and with bench/scale_real.py's filters,
and prints each stage's median in ms: the filter's kept rows, question encoding, dense and BM25 search,
reading the hits' passages and articles, the passage ranker, and the whole search.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import argparse
import collections
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT  # noqa: F401 - first: this checkout's qa, models offline
from scale_real import askable_questions, filters_keeping

from qa import passage_ranking, snapshots
from qa.engine import Engine


def timing(times: dict[str, list[float]], owner: Any, name: str, stage: str) -> None:
    """Wrap `owner.name` so that each call's time is added to `times[stage]`."""
    inner = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            times[stage].append(1000 * (time.perf_counter() - start))

    setattr(owner, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("index", type=Path)
    parser.add_argument("--questions", type=int, default=200)
    args = parser.parse_args()
    engine = Engine.open(args.index)
    engine.warm_up()
    asked = askable_questions(engine)[: args.questions]
    times: dict[str, list[float]] = collections.defaultdict(list)
    timing(times, snapshots.Snapshot, "allowed", "filter")
    timing(times, engine.asker.query_encoder, "encode", "encode")
    timing(times, snapshots.Snapshot, "dense", "dense")
    timing(times, snapshots.Snapshot, "bm25", "bm25")
    timing(times, snapshots.Snapshot, "passages", "passages")
    timing(times, snapshots.Snapshot, "articles", "articles")
    timing(times, passage_ranking.PassageRanker, "order", "passage ranker")
    timing(times, engine, "search", "whole search")
    out: dict[str, Any] = {"passages": engine.stats().passages, "questions": len(asked), "median_ms": {}}
    for name, filters in [("unfiltered", None), *filters_keeping().items()]:
        for question in asked:  # untimed: pages the memory-mapped files in, as on a served index
            engine.search(question, filters=filters)
        times.clear()
        for question in asked:
            engine.search(question, filters=filters)
        out["median_ms"][name] = {k: round(float(np.median(v)), 2) for k, v in times.items()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
