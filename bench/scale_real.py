"""A million real passages through `Engine`: real text, real embeddings, the user's own commands timed.

    nohup nice .venv/bin/python bench/scale_real.py build --passages 1000000 > scale-real.log 2>&1 &
    .venv/bin/python bench/scale_real.py build --passages 10000
    .venv/bin/python bench/scale_real.py measure --passages 10000 1000000

The archive, in a fixed order: the 7,587 real articles of the 2023 news archive (their dates and sources),
every SQuAD v1.1 train and dev paragraph as an undated article, then "digests": new articles whose sentences
are real sentences of three news articles taken in turn (article n is the same in every run), dated one day
after another over 2020-2022 and spread over seven sources. Everything is added through
`Engine.add_articles`, a few hundred articles a commit, so the passages are split, deduplicated, embedded by
the shipped int8 encoder and committed as a user's adds are. Embedding a million passages takes hours on two
cores: `build` resumes where a killed run stopped (an article already stored is skipped unembedded).

`measure` opens each built index in a fresh process and reports: opening it; hybrid retrieval through
`Engine.search` (question encoding included, the shipped depth and passage ranker) median/p90 over 200 real
questions asked once untimed first, unfiltered and with date filters keeping about 50 %, 5 % and 0.1 % of the
digests and with one source of seven (the share of passages each keeps is measured, not assumed); dense
recall@10 of the store's search against exact search over all its vectors, on 400 real question embeddings;
RSS after 1,000 questions asked through `Engine.ask`; `qa index add ONE-ARTICLE.txt` as a whole process
(median of 3, each a new article, removed afterwards); bytes on disk per passage.
The questions: the 2023 news quiz's and SQuAD v1.1 dev's, alternately.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, SQUAD, json_of_process  # first: this checkout's qa, models offline
from realtimeqa import DATA, archive, read_jsonl

from qa.articles import Article
from qa.passages import sentence_spans
from qa.squad import load_examples, load_paragraphs

WORKDIR = ROOT / "bench" / "results" / "scale-real"
NEWS_CHUNK, SQUAD_CHUNK, DIGEST_CHUNK = 500, 2000, 400  # articles a commit
DAYS, START, SOURCES = 1096, datetime.date(2020, 1, 1), [f"Digest Wire {n}" for n in range(7)]


class Corpus:
    """The archive's articles in their fixed order, chunk by chunk (chunk n is the same in every run)."""

    def __init__(self) -> None:
        self.news = archive(read_jsonl(DATA / "articles.jsonl.gz"))
        self.squad = [
            Article(f"squad-{split}-{n}", title, text)
            for split in ("train", "dev")
            for n, (title, text) in enumerate(load_paragraphs(SQUAD / f"{split}-v1.1.json.gz"))
        ]
        self.sentences = [[a.text[s:e] for s, e in sentence_spans(a.text)] for a in self.news]
        self.sentences = [s for s in self.sentences if len(s) >= 3]

    def articles(self) -> Iterator[tuple[Article, int]]:
        """Every article in the fixed order, with how many of its kind go into one commit."""
        for part, size in ((self.news, NEWS_CHUNK), (self.squad, SQUAD_CHUNK)):
            for article in part:
                yield article, size
        number = 0
        while True:
            yield self.digest(number), DIGEST_CHUNK
            number += 1

    def digest(self, n: int) -> Article:
        """Article n of the digests: the sentences of three real articles in turn, as long as the first."""
        rng = random.Random(n)
        picked = [self.sentences[i] for i in rng.sample(range(len(self.sentences)), 3)]
        lines = [p[i] for i in range(min(len(picked[0]), 60)) for p in picked if i < len(p)][: len(picked[0])]
        paragraphs = ["  ".join(lines[i : i + 3]) for i in range(0, len(lines), 3)]
        when = (START + datetime.timedelta(days=n % DAYS)).isoformat()
        return Article(
            f"digest-{n}", f"Digest {n}: {lines[0][:60]}", "\n\n".join(paragraphs), when, SOURCES[n % 7]
        )


def folder_for(passages: int, workdir: Path) -> Path:
    return workdir / f"engine-{passages}"


def build(passages: int, workdir: Path) -> None:
    """Add chunk after chunk through Engine until the index holds `passages`; a rerun resumes."""
    from qa.engine import Engine

    folder = folder_for(passages, workdir)
    engine = Engine.open(folder) if folder.is_dir() else Engine.create(folder)
    stream = Corpus().articles()
    start, added = time.perf_counter(), 0
    while (stored := engine.stats().passages) < passages:
        first, size = next(stream)
        # near the end, commits small enough not to overshoot much (news makes about 17 passages an article)
        size = max(1, min(size, (passages - stored) // 17))
        chunk = [first, *(next(stream)[0] for _ in range(size - 1))]
        t = time.perf_counter()
        report = engine.add_articles(chunk)
        added += report.passages
        print(
            f"{report.added} added, {report.unchanged} already there, {report.passages:,} passages in "
            f"{time.perf_counter() - t:.0f} s; {stored + report.passages:,} stored; "
            f"{added / max(time.perf_counter() - start, 1e-9):.0f} new passages/s this run",
            flush=True,
        )


def questions() -> list[str]:
    """1,100 real questions, the news quiz's and SQuAD v1.1 dev's alternately in a seeded order (1,000 once
    the few too long for the reader are left out)."""
    news = [q["question"] for q in read_jsonl(DATA / "questions.jsonl.gz")]
    squad = [e.question for e in load_examples(SQUAD / "dev-v1.1.json.gz")]
    random.Random(0).shuffle(news)
    random.Random(1).shuffle(squad)
    return [q for pair in zip(news, squad) for q in pair][:1100]


def filters_keeping() -> dict[str, Any]:
    """Date filters over the digests' days (about 50 %, 5 % and 0.1 % of them) and one source of seven."""
    from qa.filtering import Filters

    def day(n: int) -> str:
        return (START + datetime.timedelta(days=n)).isoformat()

    return {
        "50%": Filters(date_from=day(DAYS // 2), date_to=day(DAYS - 1)),
        "5%": Filters(date_from=day(500), date_to=day(554)),
        "0.1%": Filters(date_from=day(700), date_to=day(700)),
        "source": Filters(sources=[SOURCES[3]]),
    }


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def askable_questions(engine: Any) -> list[str]:
    """`questions()` without the few the engine refuses (longer than the reader's question budget)."""
    from qa.errors import InputError

    kept = []
    for question in questions():
        try:
            kept.append(engine.check_question(question))
        except InputError:
            continue
    return kept


def timed_searches(engine: Any, asked: list[str], filters: Any = None) -> list[float]:
    out = []
    for q in asked:
        t = time.perf_counter()
        engine.search(q, filters=filters)
        out.append(1000 * (time.perf_counter() - t))
    return out


def dense_recall(engine: Any, asked: list[str]) -> float:
    """Recall@10 of the store's dense search against exact inner-product search over all its vectors."""
    import faiss

    from qa import segments

    queries = np.ascontiguousarray(engine.asker.query_encoder.encode(asked), dtype=np.float32)
    with engine.index.snapshot() as view:
        found = view.dense(queries, 10)
        parts = [segments.contents(s.index) for s in view.segments]
        ids = np.concatenate([p[0] for p in parts])
        exact = faiss.IndexFlatIP(queries.shape[1])
        exact.add(np.ascontiguousarray(np.concatenate([p[1] for p in parts]), dtype=np.float32))
        _, top = exact.search(queries, 30)
        candidates = [int(r) for r in ids[top.ravel()]]
        live = view.passages(candidates)  # a segment keeps a removed passage's vector until it is merged
    truth = [[int(r) for r in ids[t] if int(r) in live][:10] for t in top]
    return float(np.mean([len({r for r, _ in f} & set(t)) / len(t) for f, t in zip(found, truth)]))


def add_one_by_cli(folder: Path, corpus_digest: Any) -> list[float]:
    """`qa index add FILE` as a whole process, three times with a new article each; removed afterwards."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(3):
            article = corpus_digest(10_000_000 + n)
            file = Path(tmp) / f"one-article-{n}.txt"
            file.write_text(f"{article.title}\n\n{article.text}\n", encoding="utf-8")
            t = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "qa",
                    "index",
                    "add",
                    str(file),
                    "--index-dir",
                    str(folder),
                    "--quiet",
                ],
                check=True,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )
            times.append(time.perf_counter() - t)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "qa",
            "index",
            "remove",
            *[f"one-article-{n}" for n in range(3)],
            "--index-dir",
            str(folder),
            "--quiet",
        ],
        check=True,
    )
    return times


def measure(folder: Path) -> dict[str, Any]:
    """Every figure of one built index, in this (fresh) process."""
    from qa.engine import Engine

    t = time.perf_counter()
    engine = Engine.open(folder)
    with engine.index.snapshot() as view:
        _ = view.empty  # maps the segments
    open_s = time.perf_counter() - t
    stats = engine.stats()
    engine.warm_up()
    asked = askable_questions(engine)
    timed = asked[:200]
    timed_searches(engine, timed)  # untimed: pages the memory-mapped segments in, as on a served index
    unfiltered = timed_searches(engine, timed)
    filtered = {}
    with engine.index.snapshot() as view:
        shares = {name: view.allowed(f).share for name, f in filters_keeping().items()}
    for name, f in filters_keeping().items():
        filtered[name] = round(float(np.median(timed_searches(engine, timed, f))), 1)
    for q in asked[:1000]:
        engine.ask(q)
    rss = _rss_mb()
    recall = dense_recall(engine, asked[:400])
    adds = add_one_by_cli(folder, Corpus().digest)
    disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {
        "passages": stats.passages,
        "articles": stats.articles,
        "open_s": round(open_s, 3),
        "hybrid_ms_median": round(float(np.median(unfiltered)), 1),
        "hybrid_ms_p90": round(float(np.percentile(unfiltered, 90)), 1),
        "filtered_hybrid_ms_median": filtered,
        "filter_kept_share": {k: round(v, 4) for k, v in shares.items()},
        "dense_recall@10": round(recall, 4),
        "rss_after_1000_questions_mb": round(rss),
        "cli_add_one_s": [round(x, 2) for x in adds],
        "cli_add_one_median_s": round(float(np.median(adds)), 2),
        "disk_bytes_per_passage": round(disk / stats.passages),
        "segments": len(stats.segments),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["build", "measure"])
    parser.add_argument("--passages", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a measuring subprocess
    args = parser.parse_args()
    if args.what == "build":
        for size in args.passages:
            build(size, args.workdir)
        return
    if args.one:
        print(json.dumps(measure(folder_for(args.passages[0], args.workdir))))
        return
    results = []
    for size in args.passages:
        result = json_of_process(
            [
                sys.executable,
                __file__,
                "measure",
                "--one",
                "--passages",
                str(size),
                "--workdir",
                str(args.workdir),
            ]
        )
        if result is None:
            continue
        results.append(result)
        print(json.dumps(results[-1]), flush=True)
    (args.workdir / "results.json").write_text(json.dumps(results, indent=2))
    if len(results) == 2:
        small, large = results
        print(
            f"add one article by the CLI, large / small: {large['cli_add_one_median_s'] / small['cli_add_one_median_s']:.2f}x"
        )


if __name__ == "__main__":
    main()
