"""How sure must the first passage be to stop reading there? EM and passages read by `decided_at`.

    python bench/experiments/decided_at.py [--questions 1500]

Indexes all SQuAD v1.1 dev paragraphs, then answers the same random dev questions
(always answering) with `Config.decided_at` None (all top-5 passages read) and
1, 2, 3, 4 and 6; prints EM/F1 (official normalisation) and the passages read
a question. About ten minutes on 2 cores for 1,500 questions.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import argparse
import random
import tempfile
from pathlib import Path

import numpy as np
from common import SQUAD  # first: this checkout's qa, models offline

from qa.articles import Article
from qa.assembly import Assembly
from qa.config import Config
from qa.engine import Engine
from qa.squad import load_examples, load_paragraphs, score


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--squad-file", type=Path, default=SQUAD / "dev-v1.1.json.gz")
    parser.add_argument("--questions", type=int, default=1500)
    args = parser.parse_args()
    examples = [e for e in load_examples(args.squad_file) if not e.is_impossible]
    random.Random(0).shuffle(examples)
    examples = examples[: args.questions]
    engine = Engine.create(Path(tempfile.mkdtemp()) / "index")
    engine.add_articles([Article.from_text(c, title=t) for t, c in load_paragraphs(args.squad_file)])
    reader = engine.reader
    read_pairs, counted = reader.read_pairs, []

    def counting(questions, texts, top_n=3):  # type: ignore[no-untyped-def]
        counted.append(len(texts))
        return read_pairs(questions, texts, top_n)

    reader.read_pairs = counting  # the passages each setting reads
    for decided_at in (None, 1.0, 2.0, 3.0, 4.0, 6.0):
        engine.asker.assembly = Assembly.from_config(Config(decided_at=decided_at))
        counted.clear()
        scores = [
            score(r.best.text if r.best else "", e.answers)
            for e in examples
            for r in engine.ask_many([e.question], always_answer=True)
        ]
        em, f1 = (100 * np.mean([s[i] for s in scores]) for i in (0, 1))
        print(
            f"decided_at {decided_at}: EM {em:.2f} F1 {f1:.2f}, {sum(counted) / len(examples):.2f} passages read a question",
            flush=True,
        )


if __name__ == "__main__":
    main()
