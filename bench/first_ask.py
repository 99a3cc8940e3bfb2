"""What the README's first command costs: `qa ask` on a fresh install, then again.

    python bench/first_ask.py [--again 5] [--json]

The first `qa ask` runs with an empty model cache and no index (as after `pip install`): it builds the
default index from the seed article and exports the int8 graphs. Then `--again` more asks, whose
median is what a question costs from the shell afterwards. Each is a whole process, timed from outside.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT  # first: this checkout's qa, models offline

QUESTION = "Who leads next week's talks?"


def ask(env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "qa", "ask", QUESTION], cwd=cwd, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or "Marco Rubio" not in proc.stdout:
        raise SystemExit(f"qa ask failed: {proc.stderr[-500:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--again", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "QA_CACHE_DIR": str(home / "cache"),
            "XDG_DATA_HOME": str(home / "data"),
            "QA_INDEX_DIR": "",
        }
        (home / "work").mkdir()
        first = ask(env, home / "work")
        again = [ask(env, home / "work") for _ in range(args.again)]
    result = {"first_s": first, "again_median_s": float(np.median(again)), "again_runs": len(again)}
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"first qa ask (empty cache, no index): {first:.1f} s; then {result['again_median_s']:.2f} s median"
        )


if __name__ == "__main__":
    main()
