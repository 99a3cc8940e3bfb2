"""Throughput of many questions: one at a time (`Engine.ask`) against batched (`Engine.ask_many`), same run.

    .venv/bin/python bench/batch_ask.py [--questions 200] [--paragraphs 600]

The corpus is the first SQuAD v1.1 dev paragraphs (built in a temporary folder),
the questions theirs. Prints questions/s both ways, their ratio, and whether
both ways gave the same answers. Timings on a shared 2-core machine are noisy:
compare the ratio, measured in one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from qa.articles import Article  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.squad import load_examples, load_paragraphs  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--squad-file", type=Path, default=ROOT.parent / "shared" / "data" / "squad" / "dev-v1.1.json.gz"
    )
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--paragraphs", type=int, default=600)
    args = parser.parse_args()
    paragraphs = load_paragraphs(args.squad_file)[: args.paragraphs]
    kept = {context for _, context in paragraphs}
    questions = [e.question for e in load_examples(args.squad_file) if e.context in kept][: args.questions]
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.create(Path(tmp) / "index")
        engine.add_articles([Article.from_text(context, title=title) for title, context in paragraphs])
        engine.warm_up()
        engine.ask(questions[0])  # warm up
        started = time.perf_counter()
        alone = [engine.ask(q) for q in questions]
        one_by_one = time.perf_counter() - started
        started = time.perf_counter()
        together = engine.ask_many(questions)
        batched = time.perf_counter() - started
    same = sum(
        a.best is None and b.best is None or (a.best and b.best and a.best.text == b.best.text)
        for a, b in zip(alone, together)
    )
    print(
        f"{len(questions)} questions over {len(paragraphs)} paragraphs ({engine.stats().passages} passages)"
    )
    print(f"one at a time: {len(questions) / one_by_one:.1f} questions/s")
    print(f"ask_many:      {len(questions) / batched:.1f} questions/s  ({one_by_one / batched:.2f}x)")
    print(f"same best answer both ways: {same}/{len(questions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
