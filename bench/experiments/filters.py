"""What a filter costs: the searches of one question with a date or source filter, now and as before, same run.

    python bench/experiments/filters.py [--index DIR ...] [--questions 40] [--json]

Over each index (default: the news benchmark's, bench/realtimeqa.py builds them: the whole 2023 archive and,
if there, its 4-week one), each question is searched (dense top 50 + BM25 top 50, the hybrid retriever's
depth) with no filter and with filters that keep about 50 %, 5 % and 0.1 % of the passages, in two ways:
- now: what the engine does (`qa.filtering`: facts read once per index generation, a FAISS bitmap, BM25 hits
  checked against the kept rows or, for a narrow filter, the kept row ids in the query);
- before: what it did until this change, rebuilt here: the kept row ids read by SQL per question, a FAISS
  `IDSelectorBatch` of them and a tantivy term set of all of them.
Reported: the median milliseconds of each (the filter, dense and BM25 searches together) and their ratio.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT  # first: this checkout's qa, models offline

from qa.engine import Engine
from qa.retrieval import Filters

DEPTH = 50


def filters_keeping(engine: Engine) -> dict[str, Filters]:
    """Date filters that keep about 50 %, 5 % and 0.1 % of the passages (from the passages' own dates)."""
    with engine.index.snapshot() as view:
        rows = view.db.execute(  # type: ignore[union-attr]
            "SELECT substr(a.iso_date, 1, 10) FROM passages p JOIN articles a ON a.id = p.article_id "
            "WHERE a.iso_date IS NOT NULL ORDER BY 1"
        ).fetchall()
    days = [r[0] for r in rows]
    out = {"none": Filters()}
    for share, name in ((0.5, "50 %"), (0.05, "5 %"), (0.001, "0.1 %")):
        start = days[int(len(days) * 0.3)]
        end = days[min(len(days) - 1, int(len(days) * (0.3 + share)))]
        out[f"dates keeping {name}"] = Filters(date_from=start, date_to=end)
    return out


def before(view: Any, text: Any, queries: np.ndarray, question: str, filters: Filters) -> None:
    """The filtered searches as the engine did them before `qa.filtering` (rebuilt for the comparison)."""
    import faiss
    import tantivy

    allowed = np.array(
        [
            r[0]
            for r in view.db.execute(
                "SELECT p.rowid FROM passages p JOIN articles a ON a.id = p.article_id "
                "WHERE a.iso_date >= ? AND substr(a.iso_date, 1, ?) <= ?",
                [filters.date_from, len(filters.date_to or ""), filters.date_to],
            )
        ],
        dtype=np.int64,
    )
    selector = faiss.IDSelectorBatch(allowed)
    for segment in view.segments:
        segment.search(queries, DEPTH, selector)
    only = tantivy.Query.term_set_query(text.index.schema, "rowid", allowed.tolist())
    text._search(text.index.searcher(), [question], DEPTH + 10, only)


def now(view: Any, queries: np.ndarray, question: str, filters: Filters) -> None:
    kept = view.allowed(filters) if filters else None
    view.dense(queries, DEPTH, kept)
    view.bm25([question], DEPTH, kept)


def timed(run: Any, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(folder: Path, questions: list[str]) -> dict[str, Any]:
    engine = Engine.open(folder)
    engine.search(questions[0], filters=Filters(as_of="2023-06-01"))  # models loaded, facts read once
    vectors = engine.asker.query_encoder.encode(questions)
    out: dict[str, Any] = {"passages": engine.stats().passages, "filters": {}}
    for name, filters in filters_keeping(engine).items():
        with engine.index.snapshot() as view:
            kept = view.allowed(filters).share if filters else 1.0
            new = [
                timed(lambda q=q, v=v, f=filters: now(view, v[None, :], q, f))
                for q, v in zip(questions, vectors)
            ]
            old = (
                [
                    timed(lambda q=q, v=v, f=filters: before(view, engine.index.text, v[None, :], q, f))
                    for q, v in zip(questions, vectors)
                ]
                if filters
                else new
            )
        out["filters"][name] = {
            "kept_share": round(kept, 4),
            "now_ms_median": round(1000 * statistics.median(new), 2),
            "before_ms_median": round(1000 * statistics.median(old), 2),
            "speedup": round(statistics.median(old) / statistics.median(new), 1),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index", type=Path, action="append", help="an index folder (repeatable)")
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = ROOT / "bench" / "results"
    folders = args.index or [
        p for p in (results / "realtimeqa-index-4w", results / "realtimeqa-index") if p.is_dir()
    ]
    import gzip

    with gzip.open(ROOT.parent / "shared" / "data" / "realtimeqa-2023" / "questions.jsonl.gz", "rt") as f:
        questions = [json.loads(line)["question"] for line in f][: args.questions]
    report = {str(folder.name): measure(folder, questions) for folder in folders}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    for name, r in report.items():
        print(
            f"{name} ({r['passages']} passages): median ms of the filter + dense + BM25 searches, now vs before"
        )
        for filt, m in r["filters"].items():
            print(
                f"  {filt:22s} keeps {m['kept_share']:7.2%}: {m['now_ms_median']:7.2f} vs {m['before_ms_median']:7.2f}"
                f"  ({m['speedup']}x)"
            )


if __name__ == "__main__":
    main()
