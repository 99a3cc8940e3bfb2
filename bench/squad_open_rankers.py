"""SQuAD v1.1 dev, open setting, always answering: EM / F1 with each answer ranker, side by side in one run.

    python bench/squad_open_rankers.py [--limit 3000] RANKER.json [RANKER.json ...]

Each ranker file is used by an engine otherwise as shipped, over all of dev's paragraphs (qa.evaluation's
open setting); "shipped" names the shipped one. The floor an answer ranker keeps (issue 39): open EM not lower
than the ranker it replaces, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import SQUAD  # first: this checkout's qa, models offline

from qa.config import SHIPPED_RANKER, Config
from qa.evaluation import evaluate_open


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rankers", nargs="+", help="answer ranker files, or 'shipped'")
    parser.add_argument("--limit", type=int, default=3000, help="the first N questions of dev (default 3000)")
    args = parser.parse_args()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n, name in enumerate(args.rankers):
            path = SHIPPED_RANKER if name == "shipped" else Path(name)
            config = Config(answer_ranker=str(path))
            result = evaluate_open(
                SQUAD / "dev-v1.1.json.gz",
                config,
                limit=args.limit,
                index_dir=Path(tmp) / str(n),
                progress=False,
            )
            out[name] = {
                k: result[k] for k in ("exact_match", "f1", "exact_match_abstaining", "answered_rate")
            }
            print(name, json.dumps(out[name]), flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
