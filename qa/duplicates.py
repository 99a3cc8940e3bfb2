"""Syndicated copies: the same story republished with small edits, found with MinHash LSH (datasketch).

A wire story reprinted by five outlets would otherwise fill the top passages five
times. At ingest each article's word shingles are hashed into a MinHash; an
article whose estimated Jaccard similarity with an earlier one reaches
THRESHOLD is marked a copy of it (`Article.copy_of`), and retrieval then shows one
article per story while the answer says how many sources carried it.
"""

from __future__ import annotations

import re
from typing import Iterable

from qa.articles import Article

THRESHOLD = 0.7  # estimated Jaccard of 4-word shingles; see tests/test_engine.py for the real variants it groups
SHINGLE = 4
PERMUTATIONS = 128


def signature(text: str):  # -> datasketch.MinHash
    """The MinHash of a text's word shingles (lower-cased words, punctuation ignored)."""
    from datasketch import MinHash

    words = re.findall(r"\w+", text.lower())
    shingles = {" ".join(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}
    minhash = MinHash(num_perm=PERMUTATIONS)
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return minhash


class Stories:
    """The stories already known, for finding which one a new article copies."""

    def __init__(self, articles: Iterable[Article]) -> None:
        from datasketch import MinHashLSH

        self.lsh = MinHashLSH(threshold=THRESHOLD, num_perm=PERMUTATIONS)
        self.root: dict[str, str] = {}  # article id -> the first article of its story, in the order they came
        for article in articles:
            self.add(article)

    def add(self, article: Article) -> None:
        self.root[article.id] = self.root.get(article.copy_of, article.copy_of) if article.copy_of else article.id
        if article.id not in self.lsh.keys:
            self.lsh.insert(article.id, signature(article.text))

    def remove(self, article_id: str) -> None:
        if article_id in self.lsh.keys:
            self.lsh.remove(article_id)

    def original_of(self, article: Article) -> str | None:
        """The first article of the story this one copies, or None if it is a story of its own."""
        found = [key for key in self.lsh.query(signature(article.text)) if key != article.id and key in self.root]
        if not found:
            return None
        order = {key: n for n, key in enumerate(self.root)}
        return self.root[min(found, key=order.__getitem__)]
