"""Choose the reader's hand-set knobs on SQuAD v1.1 *train*, never on dev (which reports them).

    python bench/experiments/knobs.py [--questions 1000] [--topics 60]

Both are measured on what users get: the whole engine over all paragraphs of the first `--topics` train
topics, `--questions` random questions of those topics, always answering (so an answer's forms also
decide whether evidence from several articles is pooled into one answer).
- `qa.reading.SHORT_FORM` (how likely a shorter form of an answer must be to be shown): EM for each value.
- `Config.decided_at` (how sure the first passage must be to stop reading): EM and passages read a question.

The rule, the same for both: the shipped value stays unless another candidate's EM is higher by more
than two standard errors of the paired, per-question difference (a change needs evidence, not noise).
Prints each candidate's figures, its difference from the shipped value, and the value the rule keeps.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import argparse
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from common import SQUAD  # first: this checkout's qa, models offline

import qa.reading
from qa.articles import Article
from qa.assembly import Assembly
from qa.config import Config
from qa.engine import Engine
from qa.squad import load_examples, read_squad_json, score

SHORT_FORMS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
DECIDED_AT = (None, 1.0, 2.0, 3.0, 4.0, 6.0)
STANDARD_ERRORS = 2.0


def keep_or_change(name: str, shipped: Any, exact: dict[Any, np.ndarray]) -> Any:
    """The value the rule keeps: `shipped`, unless a candidate's EM beats it by more than STANDARD_ERRORS
    standard errors of the paired per-question difference (the best such candidate)."""
    base, best, margin = exact[shipped], shipped, 0.0
    for value, em in exact.items():
        difference = em - base
        spread = float(np.std(difference, ddof=1)) / np.sqrt(len(difference)) if difference.any() else 0.0
        gain = float(difference.mean())
        print(
            f"  {name} {value}: EM {100 * gain:+.2f} against {shipped}, {gain / spread if spread else 0:+.1f} SE"
        )
        if spread and gain > STANDARD_ERRORS * spread and gain > margin:
            best, margin = value, gain
    print(f"kept {name}: {best} (shipped {shipped})", flush=True)
    return best


def train_engine(train: Path, topics: int, questions: int) -> tuple[Engine, list]:
    """An engine over all paragraphs of the first `topics` train topics, and random questions of them."""
    data = read_squad_json(train)["data"][:topics]
    paragraphs = [(t["title"], p["context"]) for t in data for p in t["paragraphs"]]
    titles = {t["title"] for t in data}
    examples = [e for e in load_examples(train) if e.title in titles and not e.is_impossible]
    random.Random(1).shuffle(examples)
    examples = examples[:questions]
    engine = Engine.create(Path(tempfile.mkdtemp()) / "index")
    engine.add_articles([Article.from_text(c, title=t) for t, c in paragraphs])
    print(f"({len(paragraphs)} paragraphs, {len(examples)} questions)", flush=True)
    return engine, examples


def exact_matches(engine: Engine, examples: list) -> np.ndarray:
    """Per question, whether the engine's best answer (always answering) is an exact match."""
    return np.array(
        [
            score(r.best.text if r.best else "", e.answers)[0]
            for e in examples
            for r in engine.ask_many([e.question], always_answer=True)
        ],
        dtype=float,
    )


def short_form(engine: Engine, examples: list) -> float:
    shipped, exact = qa.reading.SHORT_FORM, {}
    engine.asker.assembly = Assembly.from_config(Config())
    for value in SHORT_FORMS:
        qa.reading.SHORT_FORM = value  # read at call time by pool_overlapping
        exact[value] = exact_matches(engine, examples)
        print(f"SHORT_FORM {value}: EM {100 * exact[value].mean():.2f}", flush=True)
    kept = keep_or_change("SHORT_FORM", shipped, exact)
    qa.reading.SHORT_FORM = kept  # what the rest of the run reads with
    return kept


def decided_at(engine: Engine, examples: list) -> float | None:
    shipped, exact = Config().decided_at, {}
    for value in DECIDED_AT:
        engine.asker.assembly = Assembly.from_config(Config(decided_at=value))
        before = engine.asker.passages_read
        exact[value] = exact_matches(engine, examples)
        read = (engine.asker.passages_read - before) / len(examples)
        print(f"decided_at {value}: EM {100 * exact[value].mean():.2f}, {read:.2f} passages read a question")
    return keep_or_change("decided_at", shipped, exact)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=Path, default=SQUAD / "train-v1.1.json.gz")
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--topics", type=int, default=60)
    args = parser.parse_args()
    engine, examples = train_engine(args.train, args.topics, args.questions)
    short_form(engine, examples)
    decided_at(engine, examples)


if __name__ == "__main__":
    main()
