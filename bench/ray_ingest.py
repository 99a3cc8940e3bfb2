"""Indexing through Ray against a local build, in one run: passages/s and Ray's overhead per batch.

    python bench/ray_ingest.py [--paragraphs 2000] [--batch-size 200]

The same SQuAD v1.1 dev paragraphs (as .txt files) are indexed locally, then on a
local Ray runtime with 1 and with 2 encoder workers. The runtime is started once,
outside the timings (its start is printed on its own). Each actor encodes on one
thread (it was given one CPU), so Ray's overhead per batch is (Ray with 1 worker -
a local build encoding on one thread) / batches: the same work on one core.
On a 2-core machine expect about parity; the point is that the same command runs
unchanged on a cluster.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import SQUAD  # first: this checkout's qa, models offline

from qa.distributed import RayOptions
from qa.engine import Engine
from qa.squad import load_paragraphs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--squad-file", type=Path, default=SQUAD / "dev-v1.1.json.gz")
    parser.add_argument("--paragraphs", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=200, help="passages per Ray batch (and segment)")
    args = parser.parse_args()
    import ray

    work = Path(tempfile.mkdtemp(prefix="qa-ray-bench-"))
    folder = work / "articles"
    folder.mkdir()
    for n, (title, context) in enumerate(load_paragraphs(args.squad_file)[: args.paragraphs]):
        (folder / f"p{n:05d}.txt").write_text(f"{title} {n}\n\n{context}\n", encoding="utf-8")
    Engine.build([folder], work / "warm")  # the int8 graph exported and the files read once, untimed

    t0 = time.perf_counter()
    local = Engine.build([folder], work / "local")
    seconds = {"local": time.perf_counter() - t0}
    passages = local.stats().passages
    one_thread = Engine.create(work / "local-1-thread")
    one_thread.embedder.threads = 1  # before its first use, which loads the encoder
    t0 = time.perf_counter()
    one_thread.add([folder])
    seconds["local, 1 thread"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False)
    started = time.perf_counter() - t0
    for workers in (1, 2):
        t0 = time.perf_counter()
        Engine.build(
            [folder], work / f"ray-{workers}", ray=RayOptions(workers=workers, batch_size=args.batch_size)
        )
        seconds[f"ray, {workers} worker(s)"] = time.perf_counter() - t0
    ray.shutdown()
    batches = -(-passages // args.batch_size)
    print(
        f"{args.paragraphs} paragraphs, {passages} passages, batches of {args.batch_size} ({batches} batches); "
        f"Ray runtime start {started:.1f} s (not in the timings)"
    )
    for name, s in seconds.items():
        print(f"  {name:<18} {s:6.1f} s  {passages / s:6.1f} passages/s  ({seconds['local'] / s:.2f}x local)")
    overhead = (seconds["ray, 1 worker(s)"] - seconds["local, 1 thread"]) / batches
    print(
        f"  Ray's overhead per batch (1 worker against a local build on 1 thread): {overhead * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
