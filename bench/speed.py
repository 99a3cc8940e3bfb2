"""What a user waits for, on data nothing shipped was fitted on: SQuAD v1.1 dev and real 2023 news.

    python bench/speed.py [--questions 200] [--encode 300] [--concurrent 20] [--json]

One run, every comparison side by side in it:
- encoding passages, passages/s: the shipped int8 encoder (one passage a call, as an index build
  runs it) and fp32 sentence-transformers in batches of 64, on the same SQuAD dev passages and on
  the same passages of real news articles (RealTimeQA 2023, ../shared/data);
- one question, hybrid retrieval + reading, ms: the shipped settings (reading stops at a sure first
  passage) and reading all top 5 (`decided_at=None`), with the passages actually read a question,
  over random SQuAD v1.1 dev questions from all 48 topics, on an index of all 2,067 dev paragraphs;
- `--concurrent` different dev questions asked at once from as many threads, answered by the same
  engine directly and through the page's micro-batcher (qa.batching), median latency.

Timings on a shared 2-core machine are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, SQUAD  # first: this checkout's qa, models offline

from qa.articles import Article
from qa.config import Config
from qa.embeddings import Embedder
from qa.engine import Engine
from qa.passages import split_passages
from qa.squad import load_examples, load_paragraphs

NEWS = ROOT.parent / "shared" / "data" / "realtimeqa-2023" / "articles.jsonl.gz"


def passages_of(articles: list[Article], count: int, config: Config) -> list[str]:
    """The first `count` passages of `articles` taken in a seeded random order."""
    articles = list(articles)
    random.Random(0).shuffle(articles)
    texts: list[str] = []
    for article in articles:
        texts += [p.text for p in split_passages(article, config.passage_words, config.overlap_sentences)]
        if len(texts) >= count:
            break
    return texts[:count]


def news_articles(limit: int = 2000) -> list[Article]:
    with gzip.open(NEWS, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for _, line in zip(range(limit), f)]
    return [Article.from_text(r["text"], title=r["title"], id=str(n)) for n, r in enumerate(records)]


def encoding(texts: list[str], config: Config) -> dict[str, float]:
    """Passages/s of the shipped int8 encoder (one a call) and of fp32 in batches, on the same texts."""
    out = {}
    for precision in ("int8", "fp32"):
        embedder = Embedder(config.embedding_model, "cpu", 64, precision)
        embedder.encode(texts[:16])  # loaded and warm
        start = time.perf_counter()
        embedder.encode(texts)
        out[f"{precision}_per_s"] = len(texts) / (time.perf_counter() - start)
    out["words_per_passage"] = float(np.mean([len(t.split()) for t in texts]))
    return out


def latency(engine: Engine, questions: list[str]) -> dict[str, float]:
    """Median and p90 of one question's retrieval + reading, and the passages read a question."""
    engine.ask(questions[0])  # warm
    read_before = engine.asker.passages_read
    totals, retrieval, reading = [], [], []
    for question in questions:
        result = engine.ask(question)
        totals.append(1000 * result.seconds["total"])
        retrieval.append(1000 * result.seconds["retrieval"])
        reading.append(1000 * result.seconds["reading"])
    return {
        "questions": len(questions),
        "total_ms_median": float(np.median(totals)),
        "total_ms_p90": float(np.percentile(totals, 90)),
        "retrieval_ms_median": float(np.median(retrieval)),
        "reading_ms_median": float(np.median(reading)),
        "passages_read_per_question": (engine.asker.passages_read - read_before) / len(questions),
    }


def concurrent(engine: Engine, questions: list[str], batched: bool) -> dict[str, float]:
    """Latency of `len(questions)` different questions asked at once, each from its own thread."""
    from qa.batching import MicroBatcher

    ask = MicroBatcher(engine).ask if batched else engine.ask
    ask(questions[0])
    seconds: list[float] = []
    gate = threading.Barrier(len(questions))

    def one(question: str) -> None:
        gate.wait()
        start = time.perf_counter()
        ask(question)
        seconds.append(time.perf_counter() - start)

    threads = [threading.Thread(target=one, args=(q,)) for q in questions]
    wall = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "calls": len(questions),
        "median_s": float(np.median(seconds)),
        "max_s": float(max(seconds)),
        "wall_s": time.perf_counter() - wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=200, help="dev questions timed one at a time")
    parser.add_argument("--encode", type=int, default=300, help="passages encoded per corpus and encoder")
    parser.add_argument("--concurrent", type=int, default=20, help="questions asked at once")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    config = Config()
    dev = SQUAD / "dev-v1.1.json.gz"
    paragraphs = [Article.from_text(c, title=t) for t, c in load_paragraphs(dev)]
    result: dict[str, Any] = {
        "encode_squad_dev": encoding(passages_of(paragraphs, args.encode, config), config),
        "encode_news_2023": encoding(passages_of(news_articles(), args.encode, config), config),
    }
    examples = [e for e in load_examples(dev) if not e.is_impossible]
    random.Random(0).shuffle(examples)
    questions = [e.question for e in examples[: args.questions]]
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.create(Path(tmp) / "index", config)
        engine.add_articles(paragraphs)
        result["index_passages"] = engine.stats().passages
        result["ask_shipped"] = latency(engine, questions)
        read_all = Engine.open(engine.index_dir, Config(decided_at=None))  # the same index
        result["ask_read_all_5"] = latency(read_all, questions)
        crowd = [e.question for e in examples[args.questions : args.questions + args.concurrent]]
        result["concurrent_direct"] = concurrent(engine, crowd, batched=False)
        result["concurrent_batched"] = concurrent(engine, crowd, batched=True)
    print(json.dumps(result, indent=1) if args.json else table(result))


def table(r: dict[str, Any]) -> str:
    lines = []
    for corpus in ("encode_squad_dev", "encode_news_2023"):
        e = r[corpus]
        lines.append(
            f"{corpus}: int8 one a call {e['int8_per_s']:.1f} passages/s, fp32 batched {e['fp32_per_s']:.1f} "
            f"({e['words_per_passage']:.0f} words a passage)"
        )
    for name in ("ask_shipped", "ask_read_all_5"):
        a = r[name]
        lines.append(
            f"{name}: {a['total_ms_median']:.0f} ms median (p90 {a['total_ms_p90']:.0f}; retrieval "
            f"{a['retrieval_ms_median']:.0f}, reading {a['reading_ms_median']:.0f}), "
            f"{a['passages_read_per_question']:.2f} passages read a question, {a['questions']} dev questions"
        )
    for name in ("concurrent_direct", "concurrent_batched"):
        c = r[name]
        lines.append(f"{name}: {c['calls']} at once, median {c['median_s']:.2f} s, max {c['max_s']:.2f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
