"""Collect what the answer stage sees, once, so that answer ranking can be fitted and compared offline.

    python scripts/answer_data.py [--depth 10] [--output bench/results/answer-data.pkl]

For every fit question (all of 2025's, and the fit half of 2023's by bench/realtimeqa.py's split; 2023's
report half is never read), asked as of its day over its year's archive index (bench/results/, built by
bench/realtimeqa.py), and again with every article that contains the answer left out: the passages the
engine finds (the first `--depth`, deeper than the engine reads by default) and the reader's readings of all
of them, with the stories' carried-by counts. `qa.assembly.Assembly` turns any prefix of these into a
Result exactly as `Engine.ask` does, so `scripts/fit_ranker.py` and experiments can try rankers, features
and reading depths without running the reader again. Resumable: questions already in the file are kept.
The file is a pickle of this checkout's own dataclasses: read it only with the same checkout.
"""

from __future__ import annotations

import argparse
import pickle
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from common import ROOT  # noqa: E402 - first: this checkout's qa, models offline
from realtimeqa import SHARED, archive, half, holders, read_jsonl  # noqa: E402

from qa.engine import Engine, as_of_filters  # noqa: E402
from qa.errors import InputError  # noqa: E402
from qa.passages import CHARS_PER_WORD  # noqa: E402
from qa.retrieval import Filters  # noqa: E402
from qa.text import normalize_answer  # noqa: E402

RESULTS = ROOT / "bench" / "results"
INDEXES = {2023: RESULTS / "realtimeqa-index", 2025: RESULTS / "realtimeqa-2025-index"}


def fit_questions(year: int) -> list[dict[str, Any]]:
    questions = read_jsonl(SHARED / f"realtimeqa-{year}" / "questions.jsonl.gz")
    if year == 2025:
        return questions
    weeks = sorted({q["week"] for q in questions})
    return [q for q in questions if half(q["week"], weeks) == "fit"]


def collect(
    engine: Engine, question: str, as_of: str | None, depth: int, exclude: list[str] | None
) -> dict[str, Any]:
    """The hits and readings of one question, as `Engine.ask_many` would get them with top_k = depth and
    every passage read."""
    filters = as_of_filters(Filters(exclude=exclude) if exclude else None, as_of)
    hits = engine.asker.retriever.batch_search(
        [question], depth, engine.check_search(None, filters), filters
    )[0]
    limit = 4 * CHARS_PER_WORD * engine.config.passage_words
    readings = engine.reader.read_pairs([question] * len(hits), [h.passage.text[:limit] for h in hits])
    roots = {h.article.copy_of or h.article.id for h in hits}
    return {
        "hits": hits,
        "readings": readings,
        "carried": engine.index.carried_by(list(roots)),
        "asked_as_of": filters.as_of if filters else None,
        "left_out": engine.index.left_out_by(filters) if filters else {},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--depth", type=int, default=10, help="passages found and read per question (default 10)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "answer-data.pkl")
    parser.add_argument(
        "--squad", type=int, default=800, help="SQuAD v1.1 train questions to add (default 800; 0: none)"
    )
    args = parser.parse_args()
    done: dict[str, Any] = {}
    if args.output.exists():
        done = pickle.loads(args.output.read_bytes())
    start, count = time.perf_counter(), 0
    for year in (2025, 2023):
        records = read_jsonl(SHARED / f"realtimeqa-{year}" / "articles.jsonl.gz")
        texts = {a.id: normalize_answer(a.text) for a in archive(records)}
        engine = Engine.open(INDEXES[year])
        questions = fit_questions(year)
        for n, q in enumerate(questions, 1):
            key = f"{year}:{q['id']}"
            if key in done:
                continue
            bearing = holders(q, texts)
            try:
                engine.check_question(q["question"])
            except InputError:  # too long for the reader: the benchmark counts it unanswered
                done[key] = {"year": year, "week": q["week"], "refused": True}
                continue
            entry = {
                "year": year,
                "week": q["week"],
                "question": engine.check_question(q["question"]),
                "date": q["date"],
                "truth": q["answer_text"],
                "found": collect(engine, q["question"], q["date"], args.depth, None),
                "without": collect(engine, q["question"], q["date"], args.depth, bearing)
                if bearing
                else None,
            }
            done[key] = entry
            count += 1
            if count % 50 == 0 or n == len(questions):
                tmp = args.output.with_suffix(".tmp")
                tmp.write_bytes(pickle.dumps(done))
                tmp.replace(args.output)
                rate = count / (time.perf_counter() - start)
                print(f"{year}: {n}/{len(questions)} questions ({rate:.1f}/s)", flush=True)
    if args.squad:
        squad_entries(done, args.squad, args.depth)
        args.output.write_bytes(pickle.dumps(done))
    print(f"{len(done)} questions in {args.output}")


def squad_entries(done: dict[str, Any], count: int, depth: int) -> None:
    """`count` SQuAD v1.1 train questions of its first 60 topics over an index of those topics' paragraphs
    (bench/results/squad-train-index, built here once), and again with the question's topic left out."""
    from fit_ranker import SQUAD_TOPICS, SQUAD_TRAIN

    from qa.articles import Article
    from qa.errors import NoIndex
    from qa.squad import load_examples

    examples = [e for e in load_examples(SQUAD_TRAIN) if not e.is_impossible]
    topics = list(dict.fromkeys(e.title for e in examples))[:SQUAD_TOPICS]
    examples = [e for e in examples if e.title in set(topics)]
    paragraphs = list(dict.fromkeys((e.title, e.context) for e in examples))
    ids = {context: f"{title}-{n}" for n, (title, context) in enumerate(paragraphs)}
    folder = RESULTS / "squad-train-index"
    try:
        engine = Engine.open(folder)
    except NoIndex:
        engine = Engine.create(folder, progress=True)
        engine.add_articles([Article(ids[c], t, c) for t, c in paragraphs])
    by_topic: dict[str, list[str]] = {}
    for title, context in paragraphs:
        by_topic.setdefault(title, []).append(ids[context])
    for n, e in enumerate(random.Random(13).sample(examples, count), 1):
        if f"squad:{n}" in done:
            continue
        done[f"squad:{n}"] = {
            "year": 0,
            "week": e.title,  # folds by topic
            "question": e.question,
            "date": None,
            "truth": e.answers,
            "found": collect(engine, e.question, None, depth, None),
            "without": collect(engine, e.question, None, depth, by_topic[e.title]),
        }
        if n % 100 == 0:
            print(f"SQuAD: {n}/{count} questions", flush=True)


if __name__ == "__main__":
    main()
