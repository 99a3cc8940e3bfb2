"""Peak memory of `qa index build` on a .jsonl file of tiny records, by the file's size (issue 38, item 7).

A build reads, embeds and commits in bounded batches (qa.articles.batched_articles), so its memory should not
grow with the file. Embedding a million records takes hours on a laptop CPU, so each build runs for
`--seconds` and is then stopped; the figure is the process's peak resident memory (VmHWM) up to then, with
how many articles it had committed. Files of different sizes stopped at the same time are compared.

    python bench/experiments/jsonl_memory.py --records 100000 1000000 --seconds 240
    python bench/experiments/jsonl_memory.py --records 100000 1000000 --seconds 240 --checkout /tmp/old  # another tree
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tiny_records(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            record = {
                "id": f"r{n}",
                "title": f"Brief {n}",
                "text": f"Council item {n} was approved on Tuesday.",
            }
            out.write(json.dumps(record) + "\n")


def peak_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def committed(index_dir: Path) -> int:
    try:
        with sqlite3.connect(f"file:{index_dir / 'index.sqlite'}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM articles").fetchone()[0]
    except sqlite3.Error:
        return 0


def measure(checkout: Path, records: int, seconds: float, work: Path) -> dict[str, float]:
    data = work / f"tiny-{records}.jsonl"
    if not data.exists():
        tiny_records(data, records)
    index_dir = work / f"index-{records}-{checkout.name}"
    env = {**os.environ, "PYTHONPATH": str(checkout), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa", "index", "build", str(data), "--index-dir", str(index_dir), "--quiet"],
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started, peak = time.monotonic(), 0
    while proc.poll() is None and time.monotonic() - started < seconds:
        peak = max(peak, peak_kib(proc.pid))
        time.sleep(0.5)
    peak = max(peak, peak_kib(proc.pid))
    finished = proc.poll() is not None
    proc.kill()
    proc.wait()
    return {
        "records": records,
        "seconds": round(time.monotonic() - started, 1),
        "finished": finished,
        "peak_mib": round(peak / 1024),
        "committed": committed(index_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument(
        "--checkout", type=Path, default=ROOT, help="the source tree to run (default: this one)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qa-jsonl-memory-") as tmp:
        for records in args.records:
            print(json.dumps(measure(args.checkout.resolve(), records, args.seconds, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
