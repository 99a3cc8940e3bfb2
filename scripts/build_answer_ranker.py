"""Rebuild the answer ranker (qa/models/ranker/ranker.json) from the fit data: one command, fixed recipe.

    python scripts/build_answer_ranker.py [--output qa/models/ranker/ranker.json]

Three steps, each a script of its own that can also be run alone:
1. `scripts/answer_data.py`: what the answer stage sees for every fit question (2025, 2023's fit half,
   800 SQuAD v1.1 train questions; with and without the answer's articles), read with the shipped reader
   over the shipped retrieval (its passage ranker included). About 25 minutes here; resumable. The file is
   named by the reader's and the passage ranker's checksums, so data of another model is never mixed in.
2. `scripts/fit_ranker.py`: the logistic regression and its withholding threshold, written to `--output`.
3. `scripts/choose_tiers.py --write`: the answer and likely tiers chosen on the news fit questions.
Then the new ranker is compared with the one `--output` held before (weights and thresholds).
2023's report half is never read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.answer_ranking import AnswerRanker  # noqa: E402
from qa.config import SHIPPED_RANKER, Config  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def step(script: str, *args: str) -> None:
    command = [sys.executable, str(ROOT / "scripts" / script), *args]
    print("$ " + " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)


def compared(before: AnswerRanker | None, after: AnswerRanker) -> dict[str, object]:
    if before is None:
        return {"features": after.features, "threshold": after.threshold}
    weights = dict(zip(before.features, before.weights))
    return {
        "largest_weight_change": max(
            abs(w - weights.get(name, 0.0)) for name, w in zip(after.features, after.weights)
        ),
        "threshold": [before.threshold, after.threshold],
        "likely_threshold": [before.likely_threshold, after.likely_threshold],
        "features_same": before.features == after.features,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, default=SHIPPED_RANKER, help="default: the shipped ranker")
    args = parser.parse_args()
    config = Config()
    key = checksum(Path(config.reader_model) / "model.safetensors")
    if config.passage_ranker:
        key += "-" + checksum(Path(config.passage_ranker))
    data = RESULTS / f"answer-data-{key}.pkl"
    before = AnswerRanker.load(args.output) if args.output.exists() else None
    step("answer_data.py", "--output", str(data))
    with tempfile.TemporaryDirectory() as tmp:
        rows = Path(tmp) / "fit-rows.json"
        step("fit_ranker.py", "--data", str(data), "--output", str(args.output), "--rows", str(rows))
        step("choose_tiers.py", str(rows), "--write", "--ranker", str(args.output))
    print(json.dumps(compared(before, AnswerRanker.load(args.output)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
