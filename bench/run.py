"""Benchmarks, run on demand: indexing throughput, query latency, retrieval recall.

    python bench/run.py [--squad-dir ../shared/data/squad] [--passages 10000] [--queries 50]

Prints one table (and writes bench/results/latest.json). Reading is timed with
the default int8 reader and again in fp32 (`reader_int8=False`). Timings on a
shared 2-core machine are noisy: compare the ratios measured within one run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from qa.articles import Article, load_articles  # noqa: E402
from qa.config import Config  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.evaluation import answer_hits  # noqa: E402
from qa.passages import split_passages  # noqa: E402
from qa.squad import load_examples, load_paragraphs, read_squad_json  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def squad_corpus(squad_file: Path, passages: int, config: Config) -> tuple[list[Article], list[str]]:
    """SQuAD paragraphs as articles until about `passages` passages, and one question of each."""
    articles, questions, count = [], [], 0
    for topic in read_squad_json(squad_file)["data"]:
        for paragraph in topic["paragraphs"]:
            # Dates spread over six years, so that a date filter has something to do (see filtered_retrieval).
            date = (datetime.date(2020, 1, 1) + datetime.timedelta(days=len(articles) % 2190)).isoformat()
            article = Article.from_text(paragraph["context"], title=topic["title"], date=date)
            articles.append(article)
            questions.extend(q["question"] for q in paragraph["qas"][:1])
            count += len(split_passages(article, config.passage_words, config.overlap_sentences))
            if count >= passages:
                return articles, questions
    return articles, questions


def indexing(articles: list[Article], config: Config, workdir: Path, name: str) -> dict[str, float]:
    """Build time of the whole index next to the bare encoder (int8 or fp32, as `config` says) on the same passages."""
    engine = Engine.create(workdir / name, config)
    texts = [
        p.text for a in articles for p in split_passages(a, config.passage_words, config.overlap_sentences)
    ]
    engine.embedder.encode(texts[:64])  # warm-up
    t0 = time.perf_counter()
    engine.embedder.encode(texts)
    raw = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine.add_articles(articles)
    built = time.perf_counter() - t0
    return {
        "passages": len(texts),
        "raw_encode_per_s": len(texts) / raw,
        "index_per_s": len(texts) / built,
        "overhead_pct": 100 * (built / raw - 1),
        "encoder": engine.embedder.encoder,
    }


def query_encoding(int8: Engine, fp32: Engine, questions: list[str]) -> dict[str, float]:
    """Milliseconds to encode one question, int8 (ONNX) against fp32 (sentence-transformers), interleaved."""
    times: dict[str, list[float]] = {"int8": [], "fp32": []}
    for engine in (int8, fp32):
        engine.asker.query_encoder.encode(questions[:1])  # load
    for q in questions:
        for name, engine in (("int8", int8), ("fp32", fp32)):
            t0 = time.perf_counter()
            engine.asker.query_encoder.encode([q])
            times[name].append((time.perf_counter() - t0) * 1000)
    return {f"{k}_ms_median": percentile(v, 50) for k, v in times.items()}


def batched(engine: Engine, questions: list[str]) -> dict[str, float]:
    """Questions per second one at a time (Engine.ask) and all at once (Engine.ask_many)."""
    engine.ask(questions[0])
    t0 = time.perf_counter()
    for q in questions:
        engine.ask(q)
    alone = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine.ask_many(questions)
    together = time.perf_counter() - t0
    return {
        "questions": len(questions),
        "one_at_a_time_per_s": len(questions) / alone,
        "ask_many_per_s": len(questions) / together,
    }


def latency(engine: Engine, questions: list[str]) -> dict[str, float]:
    engine.ask(questions[0])  # load the reader
    retrieval, reading, total = [], [], []
    for q in questions:
        r = engine.ask(q)
        retrieval.append(r.seconds["retrieval"] * 1000)
        reading.append(r.seconds["reading"] * 1000)
        total.append(r.seconds["total"] * 1000)
    return {
        "queries": len(questions),
        "retrieval_ms_median": percentile(retrieval, 50),
        "retrieval_ms_p90": percentile(retrieval, 90),
        "reading_ms_median": percentile(reading, 50),
        "reading_ms_p90": percentile(reading, 90),
        "total_ms_median": percentile(total, 50),
        "total_ms_p90": percentile(total, 90),
    }


def filtered_retrieval(engine: Engine, questions: list[str]) -> dict[str, float]:
    """Hybrid retrieval with a date filter (keeping about half the articles) against none, interleaved."""
    from qa.retrieval import Filters

    since = Filters(date_from="2023-01-01")
    engine.search(questions[0])
    plain, filtered = [], []
    for q in questions:
        t0 = time.perf_counter()
        engine.search(q)
        t1 = time.perf_counter()
        engine.search(q, filters=since)
        t2 = time.perf_counter()
        plain.append((t1 - t0) * 1000)
        filtered.append((t2 - t1) * 1000)
    return {
        "queries": len(questions),
        "unfiltered_ms_median": percentile(plain, 50),
        "filtered_ms_median": percentile(filtered, 50),
        "ratio": percentile(filtered, 50) / percentile(plain, 50),
    }


def recall(
    dev_file: Path, config: Config, workdir: Path, ks: tuple[int, ...] = (1, 5, 20)
) -> dict[str, dict[str, float]]:
    """Recall@k of each retrieval mode on SQuAD dev, its paragraphs as the corpus."""
    examples = [e for e in load_examples(dev_file) if not e.is_impossible]
    articles = [Article.from_text(c, title=t) for t, c in load_paragraphs(dev_file)]
    engine = Engine.create(workdir / "dev", config)
    engine.add_articles(articles)
    questions = [e.question for e in examples]
    out = {}
    for mode in ("dense", "bm25", "hybrid"):
        t0 = time.perf_counter()
        hits = engine.search_many(questions, top_k=max(ks), retrieval=mode)
        seconds = time.perf_counter() - t0
        found = np.array(
            [answer_hits(hs, e.answers) + [False] * (max(ks) - len(hs)) for e, hs in zip(examples, hits)]
        )
        out[mode] = {f"recall@{k}": float(found[:, :k].any(axis=1).mean()) for k in ks}
        out[mode]["queries_per_s"] = len(questions) / seconds
    out["_corpus"] = {
        "questions": len(questions),
        "paragraphs": len(articles),
        "passages": engine.stats().passages,
    }
    return out


def approximate_recall(engine: Engine, questions: list[str], k: int = 20) -> float:
    """How much of exact search's top-k an IVF segment over the same vectors finds (as segments above 50,000 are)."""
    from qa import segments

    with engine.index.snapshot() as view:
        parts = [segments.contents(s.index) for s in view.segments]
    ids, vectors = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    queries = engine.embedder.encode(questions)
    exact = segments.Segment(0, segments.build(ids, vectors, approximate=False), np.zeros(0, np.int64))
    approx = segments.Segment(0, segments.build(ids, vectors, approximate=True), np.zeros(0, np.int64))
    _, want = exact.search(queries, k)
    _, got = approx.search(queries, k)
    return float(np.mean([len(set(a) & set(e)) / k for a, e in zip(got, want)]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--squad-dir", type=Path, default=ROOT.parent / "shared" / "data" / "squad")
    parser.add_argument("--passages", type=int, default=10_000, help="size of the SQuAD latency corpus")
    parser.add_argument("--queries", type=int, default=50, help="questions timed per corpus")
    parser.add_argument("--skip-recall", action="store_true")
    args = parser.parse_args()

    config = Config()
    results: dict[str, object] = {"cpu_count": os.cpu_count(), "date": datetime.date.today().isoformat()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seed_articles = load_articles([ROOT / "seeds"])
        results["seed_indexing"] = indexing(seed_articles, config, work, "seed")
        seed = Engine.open(work / "seed", config)
        from ui.app import SEED_EXAMPLES

        results["seed_latency"] = latency(seed, (SEED_EXAMPLES * 20)[: args.queries])
        results["seed_latency_fp32"] = latency(
            Engine.open(work / "seed", config.with_(reader_int8=False)), (SEED_EXAMPLES * 20)[: args.queries]
        )

        # held out: the reader was trained on train, and stops reading early where it is sure
        articles, questions = squad_corpus(args.squad_dir / "dev-v1.1.json.gz", args.passages, config)
        results["squad_indexing"] = indexing(articles, config, work, "squad")
        results["squad_indexing_fp32"] = indexing(
            articles, config.with_(encoder_int8=False), work, "squad-fp32"
        )
        squad = Engine.open(work / "squad", config)
        results["squad_latency"] = latency(squad, questions[: args.queries])
        results["query_encoding"] = query_encoding(
            squad, Engine.open(work / "squad", config.with_(encoder_int8=False)), questions[: args.queries]
        )
        results["squad_batched"] = batched(squad, questions[: max(args.queries, 200)])
        results["squad_date_filter"] = filtered_retrieval(squad, questions[: max(args.queries, 100)])
        results["squad_latency_fp32"] = latency(
            Engine.open(work / "squad", config.with_(reader_int8=False)), questions[: args.queries]
        )
        results["ivf_recall@20_vs_exact"] = approximate_recall(squad, questions[:1000])
        if not args.skip_recall:
            results["recall"] = recall(args.squad_dir / "dev-v1.1.json.gz", config, work)

    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    print_table(results)


def print_table(r: dict) -> None:
    rows = []
    for corpus in ("seed", "squad"):
        ix, lat = r[f"{corpus}_indexing"], r[f"{corpus}_latency"]
        rows.append(
            (
                f"{corpus}: indexing",
                f"{ix['passages']} passages: {ix['index_per_s']:.1f}/s indexed vs {ix['raw_encode_per_s']:.1f}/s raw encode "
                f"(overhead {ix['overhead_pct']:+.1f}%)",
            )
        )
        rows.append(
            (
                f"{corpus}: query latency",
                f"{lat['queries']} queries, ms median/p90: retrieval {lat['retrieval_ms_median']:.0f}/{lat['retrieval_ms_p90']:.0f}, "
                f"reading {lat['reading_ms_median']:.0f}/{lat['reading_ms_p90']:.0f}, total {lat['total_ms_median']:.0f}/{lat['total_ms_p90']:.0f}",
            )
        )
        fp32 = r[f"{corpus}_latency_fp32"]
        rows.append(
            (
                f"{corpus}: reading, int8 vs fp32",
                f"ms median {lat['reading_ms_median']:.0f} vs {fp32['reading_ms_median']:.0f} "
                f"(int8 {fp32['reading_ms_median'] / lat['reading_ms_median']:.1f}x faster)",
            )
        )
    ix8, ix32 = r["squad_indexing"], r["squad_indexing_fp32"]
    rows.append(
        (
            "squad: passage encoder, int8 vs fp32",
            f"{ix8['raw_encode_per_s']:.0f} vs {ix32['raw_encode_per_s']:.0f} passages/s "
            f"({ix8['raw_encode_per_s'] / ix32['raw_encode_per_s']:.1f}x)",
        )
    )
    qe = r["query_encoding"]
    rows.append(
        (
            "squad: one question's encoding, int8 vs fp32",
            f"ms median {qe['int8_ms_median']:.1f} vs {qe['fp32_ms_median']:.1f}",
        )
    )
    lat = r["squad_latency"]
    rows.append(
        (
            "squad: 50 ms target (retrieval + reading top 5)",
            f"total median {lat['total_ms_median']:.0f} ms: "
            f"{'met' if lat['total_ms_median'] <= 50 else 'not met'}",
        )
    )
    b = r["squad_batched"]
    rows.append(
        (
            "squad: many questions at once",
            f"{b['questions']} questions: ask_many {b['ask_many_per_s']:.1f}/s vs "
            f"{b['one_at_a_time_per_s']:.1f}/s one at a time "
            f"({b['ask_many_per_s'] / b['one_at_a_time_per_s']:.2f}x)",
        )
    )
    f = r["squad_date_filter"]
    rows.append(
        (
            "squad: retrieval with a date filter",
            f"ms median {f['filtered_ms_median']:.1f} vs {f['unfiltered_ms_median']:.1f} "
            f"unfiltered ({f['ratio']:.2f}x; {f['queries']} queries, half the articles kept)",
        )
    )
    rows.append(("squad: IVF recall@20 vs exact", f"{r['ivf_recall@20_vs_exact']:.3f}"))
    if "recall" in r:
        c = r["recall"]["_corpus"]
        rows.append(
            (
                "SQuAD v1.1 dev retrieval",
                f"{c['questions']} questions over {c['paragraphs']} paragraphs ({c['passages']} passages)",
            )
        )
        for mode in ("dense", "bm25", "hybrid"):
            m = r["recall"][mode]
            rows.append(
                (
                    f"  {mode}",
                    f"recall@1 {m['recall@1']:.3f}  @5 {m['recall@5']:.3f}  @20 {m['recall@20']:.3f}  ({m['queries_per_s']:.0f} q/s)",
                )
            )
    width = max(len(a) for a, _ in rows)
    print(f"| {'measure'.ljust(width)} | result |\n|{'-' * (width + 2)}|--------|")
    for a, b in rows:
        print(f"| {a.ljust(width)} | {b} |")


if __name__ == "__main__":
    main()
