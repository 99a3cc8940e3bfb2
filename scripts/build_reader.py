"""Rebuild the reader (qa/models/reader) from all-MiniLM-L6-v2 and SQuAD v1.1 train: one command, fixed schedule.

    python scripts/build_reader.py --output runs/reader [--device cuda] [--squad ../shared/data/squad]

Two training stages and a calibration, each a `qa` command printed before it runs, with a fixed number of
steps (never a wall-clock budget, so every machine trains the same schedule):
1. from the packaged all-MiniLM-L6-v2: SQuAD v1.1 train with unanswerable twins (`--negatives 1.0`), batch
   32, lr 1e-4, warm-up 30 %, 5,440 steps (about one epoch; the shipped chain's first run, `c`, took 5,443);
2. from stage 1: the same questions with more and harder unanswerable twins (`--negatives 2.0`: swapped
   names and numbers, negations, antonyms), lr 3e-5, warm-up 10 %, 1,110 steps (the windows the shipped
   chain's last two runs, `i` and `j`, saw together);
3. `qa eval reader` on 12,000 SQuAD v1.1 train questions in the realistic mix chooses the threshold and the
   calibration and stores them in the reader's training.json.
Then SQuAD v1.1 dev is scored for the new reader and the shipped one, one after the other, int8 as the
engine reads.

Matrix products run in bfloat16 (autocast) on a GPU, as the shipped chain's first run did, and on a CPU
that multiplies bfloat16 in hardware (AVX512-BF16 or AMX); `--no-bf16` keeps fp32 throughout.
On one H100 stage 1 takes about 3 minutes; on the 2-core development CPU about 5 s a step in bfloat16
(about 7 s in fp32): stage 1 took 8.4 hours there, stage 2 1.5, the calibration 7 minutes (2026-12-07). Checkpoints
every 100 steps, so an interrupted stage resumes from its last checkpoint when the same command is run again.
`--dry-run` trains 2 steps a stage on 64 questions and calibrates on 64: to check the command, not a reader.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.reading import pick_device  # noqa: E402
from qa.training import cpu_has_native_bf16  # noqa: E402

SHIPPED = ROOT / "qa" / "models" / "reader"

STAGES = [  # (name, arguments): the fixed schedule
    ("stage1", ["--negatives", "1.0", "--learning-rate", "1e-4", "--warmup", "0.3", "--max-steps", "5440"]),
    ("stage2", ["--negatives", "2.0", "--learning-rate", "3e-5", "--warmup", "0.1", "--max-steps", "1110"]),
]
SEED = 13


def run(*args: str) -> str:
    command = [sys.executable, "-m", "qa", *args]
    print("$ qa " + " ".join(args), flush=True)
    return subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.PIPE, text=True).stdout


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--output", type=Path, required=True, help="folder of the new reader (and its stages)"
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default %(default)s)")
    parser.add_argument("--squad", type=Path, default=ROOT.parent / "shared" / "data" / "squad")
    parser.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bfloat16 autocast (default: on a GPU, and on a CPU with AVX512-BF16 or AMX)",
    )
    parser.add_argument("--dry-run", action="store_true", help="2 steps a stage on 64 questions")
    args = parser.parse_args()
    train, dev = args.squad / "train-v1.1.json.gz", args.squad / "dev-v1.1.json.gz"
    for needed in (train, dev):
        if not needed.is_file():
            parser.error(f"{needed} is missing; pass --squad FOLDER with SQuAD v1.1's train and dev files")
    if args.output.exists():
        parser.error(f"{args.output} exists; name a new folder with --output")
    work = args.output.parent / f".{args.output.name}-stages"
    on_gpu = pick_device(args.device).startswith("cuda")
    bf16 = args.bf16 if args.bf16 is not None else (on_gpu or cpu_has_native_bf16())
    arithmetic = ["--bf16" if bf16 else "--no-bf16"]
    base: list[str] = []
    for name, schedule in STAGES:
        folder = work / name
        if args.dry_run:
            schedule = [*schedule[:-1], "2", "--limit", "64"]
        if not (folder / "training.json").is_file():  # a finished stage is not trained again
            run(
                "train-reader", "--data", str(train), "--output", str(folder), "--checkpoint-dir",
                str(work / f"{name}-checkpoints"), "--save-every", "100", "--batch-size", "32",
                "--seed", str(SEED), "--device", args.device, *arithmetic, *base, *schedule,
            )  # fmt: skip
        base = ["--base-model", str(folder)]
    sample = "64" if args.dry_run else "12000"
    run("eval", "reader", str(train), "--mix", "realistic", "--sample", sample, "--save-calibration",
        "--reader-model", str(work / STAGES[-1][0]), "--json", "--quiet")  # fmt: skip
    (work / STAGES[-1][0]).rename(args.output)
    limit = ["--limit", "64"] if args.dry_run else []
    scores = {
        label: json.loads(
            run("eval", "reader", str(dev), "--reader-model", str(model), *limit, "--json", "--quiet")
        )
        for label, model in (("rebuilt", args.output), ("shipped", SHIPPED))
    }
    print(json.dumps({label: {k: s.get(k) for k in ("exact_match", "f1")} for label, s in scores.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
