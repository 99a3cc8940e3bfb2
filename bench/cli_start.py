"""How long `qa ask` takes from the shell: today's working tree against an earlier commit, in one run.

    python bench/cli_start.py [--baseline afe47a3] [--runs 10]

Each version builds its own seed index, answers once to warm its caches (the int8
graphs), then the two are run in turn, `--runs` times each; prints the wall-time
median and p90 of each and the ratio. Timings on a shared machine are noisy:
compare the two within one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from versions import ROOT, build_seed_index, checkout, environment, qa_command

QUESTION = "Who leads next week's talks?"


def ask(code: Path, index_dir: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        qa_command("ask", "--index-dir", str(index_dir), QUESTION),
        cwd=code,
        env=environment(code),
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0 or "Marco Rubio" not in proc.stdout:
        raise RuntimeError(f"qa ask from {code} failed: {proc.stderr.strip()[-300:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", default="afe47a3", help="the earlier commit to compare with")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qa-cli-start-"))
    os.environ["QA_CACHE_DIR"] = str(work / "cache")  # both versions export their int8 graphs here, untimed
    versions = {}
    for n, (name, code) in enumerate(
        {"baseline " + args.baseline: checkout(args.baseline), "working tree": ROOT}.items()
    ):
        build_seed_index(code, work / f"index-{n}")
        versions[name] = (code, work / f"index-{n}")
    times: dict[str, list[float]] = {name: [] for name in versions}
    for _name, (code, index_dir) in versions.items():
        ask(code, index_dir)  # warm: caches and the page cache
    for _ in range(args.runs):
        for name, (code, index_dir) in versions.items():
            times[name].append(ask(code, index_dir))
    print(f"`qa ask` on the seed index, {args.runs} runs each, interleaved (wall seconds):")
    for name, seconds in times.items():
        print(f"  {name:<22} median {np.median(seconds):.2f}  p90 {np.percentile(seconds, 90):.2f}")
    old, new = (np.median(s) for s in times.values())
    print(f"  ratio baseline / working tree: {old / new:.1f}x")


if __name__ == "__main__":
    main()
