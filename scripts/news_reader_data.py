"""Make reader training data from the fit half of the news benchmark (distant supervision), in SQuAD's format.

    python scripts/news_reader_data.py OUT.json.gz [--squad ../shared/data/squad/train-v1.1.json.gz]

For each question of the fit half (bench/realtimeqa.py's `half`; the report half is never read), the
engine searches the 2023 archive as of the question's day, as a user's question would. Passages among
the top 20 that contain the right answer become answerable examples (at most two, those sharing the
most words with the quiz's own evidence sentence first; when none was found, the best such passage of
any article published by that day); the two best-ranked passages without it become unanswerable ones
(hard negatives: same topic, no answer). The answer's span is its first occurrence in the passage.
With `--squad`, the file also holds SQuAD v1.1 train, so that a reader trained on it forgets nothing.
The output is written outside the repository (the news data must never be copied into it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from common import ROOT  # noqa: E402 - first: this checkout's qa, models offline
from realtimeqa import DATA, archive, half, open_index, read_jsonl  # noqa: E402

from qa.engine import Engine  # noqa: E402
from qa.passages import split_passages  # noqa: E402
from qa.retrieval import Filters  # noqa: E402
from qa.text import normalize_answer  # noqa: E402

POSITIVES = 2
NEGATIVES = 2
DEPTH = 20


def answer_at(passage: str, answer: str) -> int:
    """Where the answer first occurs in the passage as whole words, ignoring case (-1: nowhere)."""
    found = re.search(r"(?<!\w)" + re.escape(answer) + r"(?!\w)", passage, re.IGNORECASE)
    return found.start() if found else -1


def overlap(text: str, evidence: str) -> int:
    return len(set(normalize_answer(text).split()) & set(normalize_answer(evidence).split()))


def examples_for(
    engine: Engine, question: dict[str, Any], fallback: Callable[[], list[str]]
) -> list[dict[str, Any]]:
    answer = question["answer_text"]
    hits = engine.search(question["question"], top_k=DEPTH, filters=Filters(as_of=question["date"]))
    holding = [h.passage.text for h in hits if answer_at(h.passage.text, answer) >= 0]
    lacking = [
        h.passage.text for h in hits if normalize_answer(answer) not in normalize_answer(h.passage.text)
    ]
    if not holding:
        holding = [p for p in fallback() if answer_at(p, answer) >= 0]
    holding.sort(key=lambda p: -overlap(p, question.get("evidence") or ""))
    out = []
    for n, text in enumerate(holding[:POSITIVES]):
        start = answer_at(text, answer)
        found = text[start : start + len(answer)]
        out.append({"id": f"{question['id']}-p{n}", "context": text, "answers": [(found, start)]})
    for n, text in enumerate(lacking[:NEGATIVES]):
        out.append({"id": f"{question['id']}-n{n}", "context": text, "answers": []})
    return out


def as_squad(question: dict[str, Any], examples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "title": f"news-{question['id']}",
        "paragraphs": [
            {
                "context": e["context"],
                "qas": [
                    {
                        "id": e["id"],
                        "question": question["question"],
                        "answers": [{"text": t, "answer_start": s} for t, s in e["answers"]],
                        "is_impossible": not e["answers"],
                    }
                ],
            }
            for e in examples
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("output", type=Path)
    parser.add_argument("--squad", type=Path, help="a SQuAD v1.1 training file to include")
    parser.add_argument("--repeat", type=int, default=1, help="each news question this many times")
    args = parser.parse_args()
    if args.output.resolve().is_relative_to(ROOT) and not args.output.resolve().is_relative_to(
        ROOT / ".devdata"
    ):
        sys.exit(
            "error: write the news training data outside the repository (or into its ignored .devdata/)."
        )
    questions = read_jsonl(DATA / "questions.jsonl.gz")
    weeks = sorted({q["week"] for q in questions})
    fit = [q for q in questions if half(q["week"], weeks) == "fit"]
    articles = archive(read_jsonl(DATA / "articles.jsonl.gz"))
    engine, _ = open_index(ROOT / "bench" / "results" / "realtimeqa-index", articles, rebuild=False)
    data, counts = [], {"questions": len(fit), "answerable": 0, "unanswerable": 0}
    lowered = [a.text.lower() for a in articles]
    for n, question in enumerate(fit, 1):
        answer = question["answer_text"].lower()

        def fallback(answer: str = answer, day: str = question["date"]) -> list[str]:
            holders = [
                a for a, text in zip(articles, lowered) if answer in text and (a.date or "")[:10] <= day
            ]
            return [p.text for a in holders[:50] for p in split_passages(a, engine.config.passage_words)]

        examples = examples_for(engine, question, fallback)
        counts["answerable"] += sum(bool(e["answers"]) for e in examples)
        counts["unanswerable"] += sum(not e["answers"] for e in examples)
        data += [as_squad(question, examples)] * args.repeat
        if n % 100 == 0:
            print(f"  {n}/{len(fit)} questions", flush=True)
    if args.squad:
        with gzip.open(args.squad, "rt", encoding="utf-8") as f:
            data += json.load(f)["data"]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.output, "wt", encoding="utf-8") as f:
        json.dump({"version": "news-fit+squad" if args.squad else "news-fit", "data": data}, f)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
