"""What one question costs in each vector segment of a real index, and what FAISS's list prefetching costs.

    python bench/experiments/dense_segments.py [--index bench/results/realtimeqa-index] [--questions 200]

For each segment of the index (the 2023 news archive's by default; any index built by the engine): the median
time of one question's search for the shipped depth, read as the engine reads it. IVF segments are memory-mapped,
which gives FAISS's OnDiskInvertedLists; they are timed three ways in one run: with FAISS's default (threads
start to prefetch the probed lists on every search), with prefetching off (as `qa.segments.read` opens them),
and read wholly into memory. The questions are real (the news quiz's fit half), encoded as the engine does.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT  # first: this checkout's qa, models offline
from realtimeqa import DATA, half, read_jsonl

from qa import segments
from qa.config import Config
from qa.engine import Engine


def median_ms(search: Any, queries: np.ndarray) -> float:
    for q in queries[:20]:  # warm
        search(q[None])
    times = []
    for q in queries:
        start = time.perf_counter()
        search(q[None])
        times.append(1000 * (time.perf_counter() - start))
    return round(float(np.median(times)), 3)


def segment_row(segment: segments.Segment, folder: Path, queries: np.ndarray, depth: int) -> dict[str, Any]:
    """One segment's median search time: flat as it is, IVF the three ways."""
    import faiss

    row: dict[str, Any] = {"vectors": segment.size}
    if not segments.is_approximate(segment.index):
        row["flat_ms"] = median_ms(lambda q: segment.search(q, depth), queries)
        return row
    path = folder / "segments" / f"seg-{segment.number:06d}.faiss"
    params = faiss.SearchParametersIVF(nprobe=segments.probes(segment.index.nlist))
    mapped = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    loaded = faiss.read_index(str(path))
    row["probes"] = f"{params.nprobe} of {segment.index.nlist} lists"
    row["mmap_faiss_default_prefetch_ms"] = median_ms(
        lambda q: mapped.search(q, depth, params=params), queries
    )
    row["mmap_as_shipped_no_prefetch_ms"] = median_ms(lambda q: segment.search(q, depth), queries)
    row["in_memory_ms"] = median_ms(lambda q: loaded.search(q, depth, params=params), queries)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index", type=Path, default=ROOT / "bench" / "results" / "realtimeqa-index")
    parser.add_argument("--questions", type=int, default=200)
    args = parser.parse_args()
    engine = Engine.open(args.index)
    asked = read_jsonl(DATA / "questions.jsonl.gz")
    weeks = sorted({q["week"] for q in asked})
    texts = [q["question"] for q in asked if half(q["week"], weeks) == "fit"][: args.questions]
    queries = np.ascontiguousarray(engine.asker.query_encoder.encode(texts), dtype=np.float32)
    depth = Config().candidates
    with engine.index.snapshot() as view:
        rows = [segment_row(s, args.index, queries, depth) for s in view.segments]
    print(json.dumps({"index": str(args.index), "questions": len(texts), "segments": rows}, indent=1))


if __name__ == "__main__":
    main()
