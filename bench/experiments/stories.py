"""Finding syndicated copies as an archive grows: the stored band keys against the former in-memory LSH.

    python bench/experiments/stories.py [--index bench/results/realtimeqa-index] [--lookups 200]

1. **Same groups.** The 2023 news archive's articles (../shared/data/realtimeqa-2023, in their order) are
   grouped twice: by datasketch's MinHashLSH with the same threshold and permutations (how the engine found
   copies before the band keys were stored) and by `qa.duplicates.Stories`. Prints how many articles get the
   same story, and the groups' sizes.
2. **What an add pays to find copies**, on a copy of a real index built by bench/realtimeqa.py: the former
   way, in every new process, read every stored signature and build the LSH (timed once per repeat), against
   the present way, one indexed lookup of an article's band keys (`Store.story_candidates`, median over
   `--lookups` archive articles); and the one-off filling of an index written before band keys were kept.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import argparse
import json
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from common import ROOT  # first: this checkout's qa, models offline
from realtimeqa import DATA, archive, read_jsonl

from qa.articles import Article
from qa.duplicates import PERMUTATIONS, THRESHOLD, Stories, band_keys, from_bytes, signature
from qa.store import Store


def former_groups(articles: list[Article], hashes: list) -> dict[str, str]:
    """Story of each article as the engine found them before (datasketch's LSH, first match in order)."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=PERMUTATIONS)
    root: dict[str, str] = {}
    order: dict[str, int] = {}
    for article, minhash in zip(articles, hashes):
        found = [k for k in lsh.query(minhash) if k != article.id and k in root]
        root[article.id] = root[min(found, key=order.__getitem__)] if found else article.id
        order.setdefault(article.id, len(order))
        if article.id not in lsh.keys:
            lsh.insert(article.id, minhash)
    return root


def present_groups(articles: list[Article], hashes: list) -> dict[str, str]:
    stories = Stories()
    root = {}
    for article, minhash in zip(articles, hashes):
        article.copy_of = stories.original_of(article, minhash)
        stories.add(article, minhash)
        root[article.id] = article.copy_of or article.id
    return root


def sizes(root: dict[str, str]) -> list[int]:
    count: dict[str, int] = {}
    for story in root.values():
        count[story] = count.get(story, 0) + 1
    return sorted((n for n in count.values() if n > 1), reverse=True)


def lookup_costs(folder: Path, articles: list[Article], hashes: list, lookups: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "index"
        shutil.copytree(folder, copy)
        db = sqlite3.connect(copy / "index.sqlite")
        db.execute("DELETE FROM settings WHERE key='story_bands'")  # as written before band keys were kept
        db.commit()
        db.close()
        index = Store.open(copy)
        start = time.perf_counter()
        index.story_candidates(band_keys(hashes[0]))  # fills the band keys, once
        fill = time.perf_counter() - start
        former = []
        for _ in range(3):
            start = time.perf_counter()
            db = sqlite3.connect(copy / "index.sqlite")
            rows = db.execute("SELECT id, copy_of, signature FROM articles ORDER BY rowid").fetchall()
            db.close()
            from datasketch import MinHashLSH

            lsh = MinHashLSH(threshold=THRESHOLD, num_perm=PERMUTATIONS)
            for article_id, _, stored in rows:
                lsh.insert(article_id, from_bytes(stored))
            former.append(time.perf_counter() - start)
        step = max(1, len(articles) // lookups)
        present = []
        for minhash in hashes[::step][:lookups]:
            start = time.perf_counter()
            index.story_candidates(band_keys(minhash))
            present.append(time.perf_counter() - start)
        return {
            "stored_articles": len(rows),
            "former_load_per_process_ms": 1000 * statistics.median(former),
            "present_lookup_per_article_ms": 1000 * statistics.median(present),
            "one_off_fill_s": fill,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index", type=Path, default=ROOT / "bench" / "results" / "realtimeqa-index")
    parser.add_argument("--lookups", type=int, default=200)
    args = parser.parse_args()
    articles = archive(read_jsonl(DATA / "articles.jsonl.gz"))
    hashes = [signature(a.text) for a in articles]
    former, present = former_groups(articles, hashes), present_groups(articles, hashes)
    result: dict[str, object] = {
        "articles": len(articles),
        "same_story": sum(former[i] == present[i] for i in former),
        "former_group_sizes": sizes(former)[:10],
        "present_group_sizes": sizes(present)[:10],
    }
    if (args.index / "index.sqlite").is_file():
        result.update(lookup_costs(args.index, articles, hashes, args.lookups))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
