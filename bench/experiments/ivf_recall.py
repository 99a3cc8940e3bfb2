"""How many IVF lists a search must probe on real sentence embeddings: recall@10 against exact search, and time.

    python bench/experiments/ivf_recall.py [--index bench/results/realtimeqa-index] [--questions 400]

The passages' vectors are those of a real index (by default the 2023 news archive bench/realtimeqa.py builds:
all-MiniLM-L6-v2 embeddings of 130,000 real passages); the queries are real questions (the news quiz's fit
half), encoded as the engine encodes them. One IVF index is trained over all the vectors with the lists
qa.segments gives a segment of that size; each probe share is then searched with the same queries, one at a
time, as questions come. Synthetic vectors around a few thousand centres (bench/scale.py) flatter IVF; these
do not. The share shipped is qa.segments.PROBE_SHARE.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import ROOT  # first: this checkout's qa, models offline
from realtimeqa import DATA, half, read_jsonl

from qa import segments
from qa.engine import Engine


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index", type=Path, default=ROOT / "bench" / "results" / "realtimeqa-index")
    parser.add_argument("--questions", type=int, default=400)
    parser.add_argument("--shares", type=int, nargs="*", default=[64, 32, 16, 8], help="probe 1 list in N")
    args = parser.parse_args()
    engine = Engine.open(args.index)
    with engine.index.snapshot() as view:  # the store's own vectors: this measures the store's search
        parts = [segments.contents(s.index) for s in view.segments]
    ids = np.concatenate([p[0] for p in parts])
    vectors = np.ascontiguousarray(np.concatenate([p[1] for p in parts]), dtype=np.float32)
    asked = read_jsonl(DATA / "questions.jsonl.gz")
    weeks = sorted({q["week"] for q in asked})
    texts = [q["question"] for q in asked if half(q["week"], weeks) == "fit"][: args.questions]
    queries = np.ascontiguousarray(engine.asker.query_encoder.encode(texts), dtype=np.float32)
    exact = segments.build(ids, vectors, approximate=False)
    _, truth = exact.search(queries, 10)
    approximate = segments.build(ids, vectors, approximate=True)
    result: dict[str, object] = {"vectors": len(ids), "queries": len(texts), "lists": approximate.nlist}
    curve = []
    for share in args.shares:
        probes = min(approximate.nlist, max(segments.MIN_PROBES, approximate.nlist // share))
        approximate.nprobe = probes
        times, found = [], []
        for q in range(len(queries)):
            start = time.perf_counter()
            _, got = approximate.search(queries[q : q + 1], 10)
            times.append(1000 * (time.perf_counter() - start))
            found.append(len(set(got[0]) & set(truth[q])) / 10)
        curve.append(
            {
                "probe_one_list_in": share,
                "probes": probes,
                "recall@10": round(float(np.mean(found)), 4),
                "ms_median": round(float(np.median(times)), 3),
            }
        )
    exact_times = []
    for q in range(len(queries)):
        start = time.perf_counter()
        exact.search(queries[q : q + 1], 10)
        exact_times.append(1000 * (time.perf_counter() - start))
    result["exact_ms_median"] = round(float(np.median(exact_times)), 3)
    result["curve"] = curve
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
