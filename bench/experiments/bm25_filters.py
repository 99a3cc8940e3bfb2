"""How BM25 should test a wide filter: its row ids as a term set, or row id ranges (fast field or inverted).

    python bench/experiments/bm25_filters.py INDEX_DIR [--share 0.05] [--runs 1 91]

On an index's own BM25 folder (e.g. bench/scale.py's 1M archive), a filter keeping `--share` of the row ids
as N runs of consecutive rows (1: a date range of an archive added in date order; many: the same share
spread over the archive) is applied four ways, each over the same questions in the same run: the set of
its row ids in the query (`term_set_query`), one range query per run on the row id's fast field, and the
same on its inverted index, and a search deep enough that 100 hits should pass the filter, filtered
afterwards. Prints the median milliseconds of each. qa.fulltext filters a deeper search's hits up to
qa.fulltext.POST_FILTER_MAX deep, else uses fast-field ranges up to qa.filtering.SPANS_MAX runs, the term
set beyond.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import argparse
import json
import math
import statistics
import time
from pathlib import Path

from common import ROOT  # noqa: F401 - first: this checkout's qa, models offline

from qa.fulltext import FullText

QUESTIONS = [
    "harbour council voted the city",
    "president said on tuesday game",
    "first time the team won",
    "report found water river north",
    "the government of the state army",
    "music film album song band",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("index", type=Path)
    parser.add_argument("--share", type=float, default=0.05)
    parser.add_argument("--runs", type=int, nargs="*", default=[1, 8, 91])
    args = parser.parse_args()
    import tantivy

    text = FullText(args.index / "text")
    schema, total = text.index.schema, text.count()
    searcher = text.index.searcher()
    result = {}
    for runs in args.runs:
        length = int(total * args.share / runs)
        starts = [1 + k * (total // runs) for k in range(runs)]
        spans = [(s, s + length - 1) for s in starts]
        rowids = [r for s, e in spans for r in range(s, e + 1)]
        kept = set(rowids)
        deeper = math.ceil((100 + 10) / args.share * 1.5)  # as qa.fulltext.FullText.search_kept goes
        for way in ("term set", "fast-field ranges", "inverted ranges", f"{deeper} deep, filtered after"):
            times = []
            for question in QUESTIONS * 3:
                start = time.perf_counter()  # the query is built per question, as a search does
                if way.endswith("filtered after"):
                    found = text._search(searcher, [question], deeper, None)[0]
                    passed = [hit for hit in found if hit[0] in kept][:100]  # noqa: F841 - timed
                    times.append(1000 * (time.perf_counter() - start))
                    continue
                if way == "term set":
                    only = tantivy.Query.term_set_query(schema, "rowid", rowids)
                else:
                    only = ranges(tantivy, schema, spans, way == "inverted ranges")
                text._search(searcher, [question], 100, only)
                times.append(1000 * (time.perf_counter() - start))
            result[f"{runs} run(s), {way}"] = round(statistics.median(times), 1)
    print(json.dumps({"passages": total, "share": args.share, "median_ms": result}, indent=1))


def ranges(tantivy, schema, spans, inverted: bool):  # type: ignore[no-untyped-def]
    return tantivy.Query.boolean_query(
        [
            (
                tantivy.Occur.Should,
                tantivy.Query.range_query(
                    schema, "rowid", tantivy.FieldType.Integer, a, b, use_inverted_index=inverted
                ),
            )
            for a, b in spans
        ]
    )


if __name__ == "__main__":
    main()
