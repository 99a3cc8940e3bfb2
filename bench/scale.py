"""How the index copes with size: synthetic archives of 10,000 to 1,000,000 passages through the real storage code.

    nohup nice .venv/bin/python bench/scale.py --sizes 10000 100000 1000000 --legacy 10000 50000 > scale.log &

No encoder runs: passage text is drawn word by word from SQuAD dev's word
frequencies, and vectors are random unit vectors around 2,000 topic centres
(real embeddings cluster by topic; uniform random ones have no neighbours worth
finding). A question is 6 words of one passage and that passage's vector plus
noise. For each size it prints: adding 1 article (median of 5) and 1,000 articles,
removing 1 article, opening, hybrid retrieval median/p90 over 200 questions (asked once untimed first)
(the shipped depth, fusion and passage ranker; no encoder, no reader), the same with date filters keeping
about 50 %, 5 % and 0.1 % of the archive and with one source (1 in 7), dense recall@10 against exact search, RSS after
opening and after the questions, and bytes on disk per passage. `--legacy` sizes
time the format-1 storage (bench/legacy_index.py: everything rewritten on a change)
in the same run, so the gain is a ratio on one machine in one mood.

Built indexes are kept in --workdir; a killed run resumes building where it stopped.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import re
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import json_of_process  # noqa: E402

from qa.articles import Article  # noqa: E402
from qa.passages import Passage  # noqa: E402

DIM, CENTRES, WORDS, PER_ARTICLE, BATCH = 384, 2000, 90, 10, 1000  # BATCH: articles per add while building
QUESTIONS = 200


class Corpus:
    """Deterministic synthetic articles: article n is the same in every run."""

    def __init__(self, squad: Path, in_date_order: int | None = None) -> None:
        """`in_date_order`: the archive's size in passages when its articles are added in date order (as an
        archive that grows day by day is); otherwise one day follows another article by article, so that
        any date range is spread over the whole archive."""
        from qa.squad import load_paragraphs

        self.articles_in_order = in_date_order // PER_ARTICLE if in_date_order else None
        counts = collections.Counter(
            w for _, c in load_paragraphs(squad) for w in re.findall(r"\w+", c.lower())
        )
        self.vocab = np.array(list(counts))
        self.p = np.array(list(counts.values()), float) / sum(counts.values())
        self.centres = _unit(np.random.default_rng(7).standard_normal((CENTRES, DIM)))

    def batch(
        self, number: int, articles: int = BATCH, tag: str = "a"
    ) -> tuple[list[Article], list[Passage], np.ndarray]:
        rng = np.random.default_rng(number + (10**6 if tag != "a" else 0))
        words = self.vocab[rng.choice(len(self.vocab), size=(articles * PER_ARTICLE, WORDS), p=self.p)]
        texts = [" ".join(w) + "." for w in words]
        vectors = self.vectors(rng, articles * PER_ARTICLE)
        out_articles, out_passages = [], []
        for a in range(articles):
            aid = f"{tag}{number}-{a}"
            chunk = texts[a * PER_ARTICLE : (a + 1) * PER_ARTICLE]
            text = "\n".join(chunk)
            n = number * articles + a
            when = day(n * DAYS // self.articles_in_order) if self.articles_in_order else day(n)
            out_articles.append(Article(aid, f"Story {aid}", text, when, f"S{a % 7}"))
            at = 0
            for n, t in enumerate(chunk):
                out_passages.append(Passage(f"{aid}:{n}", aid, t, at, at + len(t)))
                at += len(t) + 1
        return out_articles, out_passages, vectors

    def vectors(self, rng: np.random.Generator, n: int) -> np.ndarray:
        centre = self.centres[rng.integers(0, CENTRES, n)]
        return _unit(centre + rng.standard_normal((n, DIM)).astype(np.float32) / np.sqrt(DIM)).astype(
            np.float32
        )


DAYS = 1096  # articles are dated over three years, one day after another: a day holds 0.09 % of them


def day(n: int) -> str:
    return (datetime.date(2023, 1, 1) + datetime.timedelta(days=n % DAYS)).isoformat()


def filters_keeping() -> dict[str, Any]:
    """Filters that keep about 50 %, 5 % and 0.1 % of the archive by date, and one source (1 in 7)."""
    from qa.filtering import Filters

    return {
        "50%": Filters(date_from=day(DAYS // 2)),
        "5%": Filters(date_from=day(500), date_to=day(554)),
        "0.1%": Filters(date_from=day(700), date_to=day(700)),
        "source": Filters(sources=["S3"]),
    }


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def questions(corpus: Corpus, size: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """200 questions about random passages of the archive, with the exact top-10 passage numbers."""
    rng = np.random.default_rng(99)
    batches = size // (BATCH * PER_ARTICLE)
    chosen = sorted(rng.choice(size, QUESTIONS, replace=False))
    texts, vecs = [], []
    exact_scores = np.full((QUESTIONS, 10), -2.0, np.float32)
    exact_ids = np.zeros((QUESTIONS, 10), np.int64)
    per_batch = BATCH * PER_ARTICLE
    for b in range(batches):  # first pass: the question vectors
        inside = [c - b * per_batch for c in chosen if b * per_batch <= c < (b + 1) * per_batch]
        if inside:
            _, passages, vectors = corpus.batch(b)
            for i in inside:
                words = passages[i].text.rstrip(".").split()
                texts.append(" ".join(rng.choice(words, 6, replace=False)))
                vecs.append(
                    _unit(
                        (vectors[i] + rng.standard_normal(DIM).astype(np.float32) * 0.5 / np.sqrt(DIM))[None]
                    )[0]
                )
    queries = np.array(vecs, np.float32)
    for b in range(batches):  # second pass: exact search, batch by batch
        vectors = corpus.batch(b)[2]
        scores = queries @ vectors.T
        ids = np.arange(b * per_batch, (b + 1) * per_batch)
        both_s = np.concatenate([exact_scores, scores], axis=1)
        both_i = np.concatenate([exact_ids, np.broadcast_to(ids, scores.shape)], axis=1)
        top = np.argsort(-both_s, axis=1)[:, :10]
        exact_scores, exact_ids = np.take_along_axis(both_s, top, 1), np.take_along_axis(both_i, top, 1)
    return texts, queries, exact_ids


def build(corpus: Corpus, folder: Path, size: int) -> None:
    from qa.store import Store

    batches = size // (BATCH * PER_ARTICLE)
    index = Store(folder, "synthetic", DIM)
    done = index.stats().articles // BATCH if not index.empty else 0
    t0 = time.perf_counter()
    for b in range(done, batches):
        articles, passages, vectors = corpus.batch(b)
        index.add(articles, passages, vectors)
        print(
            f"  built {(b + 1) * BATCH * PER_ARTICLE:,} passages, {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
            flush=True,
        )


def measure(corpus: Corpus, folder: Path, size: int) -> dict:
    """Everything timed on a built index (run in its own process, so RSS is the index's own)."""
    from qa.config import Config
    from qa.passage_ranking import PassageRanker
    from qa.retrieval import Retriever
    from qa.store import Store

    texts, queries, exact = questions(corpus, size)
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    index = Store.open(folder)
    with index.snapshot() as view:
        _ = view.empty  # maps the segments
    open_s = time.perf_counter() - t0
    rss_open = _rss_mb()

    class Given:  # the question vectors stand in for an encoder
        def encode(self, qs):
            return np.stack([lookup[q] for q in qs])

    lookup = dict(zip(texts, queries))
    config = Config()  # what users get: the shipped depth and passage ranker (the articles are dated)
    ranker = PassageRanker.load(Path(config.passage_ranker)) if config.passage_ranker else None
    retriever = Retriever(index, Given(), config.candidates, config.rrf_k, ranker)
    for q in (
        texts
    ):  # once untimed: the first questions page the memory-mapped segments in (a served index is warm)
        retriever.search(q, top_k=5)
    times = []
    for q in texts:
        t = time.perf_counter()
        retriever.search(q, top_k=5)
        times.append((time.perf_counter() - t) * 1000)
    filtered = {}
    for name, filters in filters_keeping().items():
        kept = []
        for q in texts:
            t = time.perf_counter()
            retriever.search(q, top_k=5, filters=filters)
            kept.append((time.perf_counter() - t) * 1000)
        filtered[name] = round(float(np.median(kept)), 1)
    with index.snapshot() as view:
        found = view.dense(queries, 10)
    # passage numbers -> row ids: rows were added in order from 1, passage n has row id n + 1
    recall = np.mean([len({r - 1 for r, _ in f} & set(e)) / 10 for f, e in zip(found, exact)])
    rss_queries = _rss_mb()
    adds = []
    for n in range(5):
        articles, passages, vectors = corpus.batch(n, 1, tag="x")
        t = time.perf_counter()
        index.add(articles, passages, vectors)
        adds.append(time.perf_counter() - t)
    articles, passages, vectors = corpus.batch(9, 1000, tag="y")
    t = time.perf_counter()
    index.add(articles, passages, vectors)
    add_1000 = time.perf_counter() - t
    t = time.perf_counter()
    index.remove(["x0-0"])
    remove_1 = time.perf_counter() - t
    disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    passages_now = index.stats().passages
    index.remove(
        [f"y9-{a}" for a in range(1000)] + [f"x{n}-0" for n in range(1, 5)]
    )  # back to the built archive
    return {
        "passages": size,
        "add_1_article_s": float(np.median(adds)),
        "add_1_article_max_s": max(adds),
        "add_1000_articles_s": add_1000,
        "remove_1_article_s": remove_1,
        "open_s": open_s,
        "hybrid_ms_median": float(np.median(times)),
        "hybrid_ms_p90": float(np.percentile(times, 90)),
        "filtered_hybrid_ms_median": filtered,
        "dense_recall@10": float(recall),
        "rss_before_open_mb": rss0,
        "rss_open_mb": rss_open,
        "rss_after_queries_mb": rss_queries,
        "disk_bytes_per_passage": disk / passages_now,
        "segments": [(s.number, s.kind, s.vectors) for s in index.stats().segments],
    }


def measure_legacy(corpus: Corpus, folder: Path, size: int) -> dict:
    """The same figures for the format-1 storage: every change rebuilds and rewrites everything."""
    sys.path.insert(0, str(ROOT / "bench"))
    import faiss
    from legacy_index import PassageIndex, bm25_tokens

    if not (folder / "CURRENT").exists():
        index = PassageIndex("synthetic", DIM)
        parts = [corpus.batch(b) for b in range(size // (BATCH * PER_ARTICLE))]
        index.replace(
            [a for p in parts for a in p[0]],
            [x for p in parts for x in p[1]],
            np.concatenate([p[2] for p in parts]),
        )
        index.save(folder)
    texts, queries, exact = questions(corpus, size)
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    index = PassageIndex.load(folder)
    open_s = time.perf_counter() - t0
    rss_open = _rss_mb()
    times = []
    for q, v in zip(texts, queries):
        t = time.perf_counter()
        scores, ids = index.dense.search(v[None], 50)
        index.bm25.retrieve([bm25_tokens([q])[0]], k=50, show_progress=False, n_threads=1)
        [index.passages[i] for i in ids[0]]
        times.append((time.perf_counter() - t) * 1000)
    adds = []
    for n in range(2):
        articles, passages, vectors = corpus.batch(n, 1, tag="x")
        t = time.perf_counter()
        index.replace(articles, passages, vectors)
        index.save(folder)
        adds.append(time.perf_counter() - t)
    t = time.perf_counter()
    index.remove(["x0-0"])
    index.save(folder)
    remove_1 = time.perf_counter() - t
    index.remove(["x1-0"])
    index.save(folder)
    del faiss
    return {
        "passages": size,
        "format": 1,
        "add_1_article_s": float(np.median(adds)),
        "remove_1_article_s": remove_1,
        "open_s": open_s,
        "hybrid_ms_median": float(np.median(times)),
        "hybrid_ms_p90": float(np.percentile(times, 90)),
        "rss_before_open_mb": rss0,
        "rss_open_mb": rss_open,
        "rss_after_queries_mb": _rss_mb(),
    }


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--legacy", type=int, nargs="*", default=[10_000, 50_000])
    parser.add_argument("--workdir", type=Path, default=Path("bench-scale"))
    parser.add_argument("--squad", type=Path, default=ROOT.parent / "shared/data/squad/dev-v1.1.json.gz")
    parser.add_argument(
        "--in-date-order",
        action="store_true",
        help="add the articles in date order (an archive growing day by day; build it in its own --workdir)",
    )
    parser.add_argument(
        "--one", nargs=2, metavar=("KIND", "SIZE"), help=argparse.SUPPRESS
    )  # a measuring subprocess
    args = parser.parse_args()
    if any(size < BATCH * PER_ARTICLE for size in args.legacy):
        parser.error(f"--legacy sizes start at {BATCH * PER_ARTICLE:,} passages (one batch of articles)")
    corpus = Corpus(args.squad)
    if args.one:
        kind, size = args.one[0], int(args.one[1])
        corpus = Corpus(args.squad, size if args.in_date_order else None)
        folder = args.workdir / f"{kind}-{size}"
        result = measure(corpus, folder, size) if kind == "segments" else measure_legacy(corpus, folder, size)
        print(json.dumps(result))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for kind, sizes in (("legacy", args.legacy), ("segments", args.sizes)):
        for size in sizes:
            if kind == "segments":
                print(f"building {size:,} passages ...", file=sys.stderr, flush=True)
                build(
                    Corpus(args.squad, size if args.in_date_order else None),
                    args.workdir / f"{kind}-{size}",
                    size,
                )
            result = json_of_process(
                [
                    sys.executable,
                    __file__,
                    "--workdir",
                    str(args.workdir),
                    "--squad",
                    str(args.squad),
                    "--one",
                    kind,
                    str(size),
                    *(["--in-date-order"] if args.in_date_order else []),
                ]
            )
            if result is None:
                continue
            results.append(result)
            print(json.dumps(results[-1]), flush=True)
    (args.workdir / "results.json").write_text(json.dumps(results, indent=2))
    print(
        f"\n{'storage':>10} {'passages':>10} {'add 1':>8} {'add 1000':>9} {'remove 1':>9} {'open':>7} {'hybrid ms':>12} "
        f"{'recall@10':>9} {'RSS MB':>14} {'B/passage':>9}"
    )
    for r in results:
        name = "format 1" if r.get("format") == 1 else "segments"
        print(
            f"{name:>10} {r['passages']:>10,} {r['add_1_article_s']:>7.2f}s {r.get('add_1000_articles_s', float('nan')):>8.2f}s "
            f"{r['remove_1_article_s']:>8.2f}s {r['open_s']:>6.2f}s {r['hybrid_ms_median']:>5.1f}/{r['hybrid_ms_p90']:<6.1f} "
            f"{r.get('dense_recall@10', float('nan')):>9.3f} {r['rss_open_mb']:>6.0f}/{r['rss_after_queries_mb']:<7.0f} "
            f"{r.get('disk_bytes_per_passage', float('nan')):>9.0f}"
        )
    for r in results:
        if "filtered_hybrid_ms_median" in r:
            print(
                f"{r['passages']:>10,} passages, hybrid ms median with a filter keeping: {r['filtered_hybrid_ms_median']}"
            )
    new = {r["passages"]: r for r in results if r.get("format") != 1}
    if 10_000 in new and 1_000_000 in new:
        print(
            f"add 1 article, 1M / 10k: {new[1_000_000]['add_1_article_s'] / new[10_000]['add_1_article_s']:.2f}x"
        )


if __name__ == "__main__":
    main()
