"""Continue training a reader on news of the fit half mixed with SQuAD v1.1 train, then score it on SQuAD dev.

    python scripts/train_news_reader.py --news NEWS.json.gz --squad TRAIN.json.gz --dev DEV.json.gz \
        --base qa/models/reader --output OUT [--repeat 10] [--steps 2000] [--lr 3e-5]

NEWS is what scripts/news_reader_data.py writes (without --squad). Each news question appears `--repeat`
times beside all of SQuAD train (whose unanswerable twins are made as for the shipped reader, `--negatives
2.0`), and training continues from `--base` for `--steps` steps with linear warm-up and decay. Afterwards
the new reader and the base are both scored, fp32, on SQuAD v1.1 dev (each question on its own paragraph),
in the same run, and the scores are added to the new reader's training.json. Made for a lent GPU (one
H200 runs it in minutes) but runs anywhere.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.evaluation import evaluate_reader  # noqa: E402
from qa.reading import Reader, pick_device  # noqa: E402
from qa.squad import load_examples  # noqa: E402
from qa.training import TrainConfig, train_reader  # noqa: E402


def mixed_file(news: Path, squad: Path, repeat: int, folder: Path) -> Path:
    with gzip.open(news, "rt", encoding="utf-8") as f:
        news_data = json.load(f)["data"]
    with gzip.open(squad, "rt", encoding="utf-8") as f:
        squad_data = json.load(f)["data"]
    path = folder / "mixed.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump({"version": "news+squad", "data": news_data * repeat + squad_data}, f)
    return path


def dev_scores(folder: str, dev: Path, limit: int | None) -> dict[str, float]:
    reader = Reader(folder, batch_size=128, device=pick_device("auto"))
    scores = evaluate_reader(reader, load_examples(dev, limit=limit), progress=False)
    return {"exact_match": round(scores["exact_match"], 2), "f1": round(scores["f1"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--news", type=Path, required=True)
    parser.add_argument("--squad", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--base", default="qa/models/reader")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--seed", type=int, default=53)
    parser.add_argument("--limit", type=int, help="only this many questions of each set (a smoke test)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = mixed_file(args.news, args.squad, args.repeat, Path(tmp))
        config = TrainConfig(
            data=str(data),
            output=str(args.output),
            checkpoint_dir=str(Path(tmp) / "checkpoints"),
            base_model=args.base,
            max_steps=args.steps,
            learning_rate=args.lr,
            negatives=2.0,
            seed=args.seed,
            save_every=10**9,
            limit=args.limit,
        )
        started = time.monotonic()
        result = train_reader(config, progress=False)
        print(f"trained {result.steps} steps in {time.monotonic() - started:.0f} s", flush=True)
    info_path = args.output / "training.json"
    info = json.loads(info_path.read_text())
    info["config"]["data"] = f"news fit half ({args.news.name}) x{args.repeat} + SQuAD v1.1 train"
    info["squad_dev_fp32"] = {
        "new": dev_scores(str(args.output), args.dev, args.limit),
        "base": dev_scores(args.base, args.dev, args.limit),
    }
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info["squad_dev_fp32"]), flush=True)


if __name__ == "__main__":
    main()
