"""Choose the reader's hand-set knobs on SQuAD v1.1 *train*, never on dev (which reports them).

    python bench/knobs.py [--questions 1000] [--topics 60]

- `qa.reading.SHORT_FORM` (how likely a shorter form of an answer must be to be shown): the reader on
  the gold paragraphs of `--questions` random train questions, EM/F1 for each candidate value; the
  rule: the highest EM (ties: the larger value, closer to showing the likeliest span).
- `Config.decided_at` (how sure the first passage must be to stop reading): the whole engine over all
  paragraphs of the first `--topics` train topics, the same number of random questions of those topics,
  always answering; the rule: the fewest passages read whose EM is within 0.25 of reading all five.

Prints each candidate's figures and the values the rules choose.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import numpy as np
from common import SQUAD  # first: this checkout's qa, models offline

import qa.reading
from qa.articles import Article
from qa.config import Config
from qa.engine import Engine
from qa.reading import Reader
from qa.squad import load_examples, read_squad_json, score

SHORT_FORMS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
DECIDED_AT = (None, 1.0, 2.0, 3.0, 4.0, 6.0)
EM_WITHIN = 0.25


def short_form(examples: list, config: Config) -> float:
    reader = Reader.from_config(config)
    results = {}
    for value in SHORT_FORMS:
        qa.reading.SHORT_FORM = value  # read at call time by pool_overlapping
        readings = reader.read_pairs([e.question for e in examples], [e.context for e in examples], top_n=1)
        scores = [score(r.best.text if r.best else "", e.answers) for r, e in zip(readings, examples)]
        results[value] = tuple(100 * float(np.mean([s[i] for s in scores])) for i in (0, 1))
        print(f"SHORT_FORM {value}: EM {results[value][0]:.2f} F1 {results[value][1]:.2f}", flush=True)
    best = max(SHORT_FORMS, key=lambda v: (round(results[v][0], 2), v))
    print(f"chosen SHORT_FORM: {best}", flush=True)
    return best


def decided_at(train: Path, topics: int, questions: int) -> float | None:
    data = read_squad_json(train)["data"][:topics]
    paragraphs = [(t["title"], p["context"]) for t in data for p in t["paragraphs"]]
    titles = {t["title"] for t in data}
    examples = [e for e in load_examples(train) if e.title in titles and not e.is_impossible]
    random.Random(1).shuffle(examples)
    examples = examples[:questions]
    engine = Engine.create(Path(tempfile.mkdtemp()) / "index")
    engine.add_articles([Article.from_text(c, title=t) for t, c in paragraphs])
    results = {}
    for value in DECIDED_AT:
        engine.config = Config(decided_at=value)
        before = engine.passages_read
        scores = [
            score(r.best.text if r.best else "", e.answers)
            for e in examples
            for r in engine.ask_many([e.question], always_answer=True)
        ]
        read = (engine.passages_read - before) / len(examples)
        results[value] = (100 * float(np.mean([s[0] for s in scores])), read)
        print(
            f"decided_at {value}: EM {results[value][0]:.2f}, {read:.2f} passages read a question", flush=True
        )
    floor = results[None][0] - EM_WITHIN
    best = min((v for v in DECIDED_AT if results[v][0] >= floor), key=lambda v: results[v][1])
    print(f"chosen decided_at: {best} ({len(paragraphs)} paragraphs, {len(examples)} questions)", flush=True)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=Path, default=SQUAD / "train-v1.1.json.gz")
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--topics", type=int, default=60)
    args = parser.parse_args()
    examples = [e for e in load_examples(args.train) if not e.is_impossible]
    random.Random(0).shuffle(examples)
    short_form(examples[: args.questions], Config())
    decided_at(args.train, args.topics, args.questions)


if __name__ == "__main__":
    main()
