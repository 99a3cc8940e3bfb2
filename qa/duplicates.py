"""Syndicated copies: the same story republished with small edits, found with MinHash LSH (datasketch).

A wire story reprinted by five outlets would otherwise fill the top passages five
times. At ingest each article's word shingles are hashed into a MinHash; an
article whose estimated Jaccard similarity with an earlier one reaches
THRESHOLD is marked a copy of it (`Article.copy_of`), and retrieval then shows one
article per story while the answer says how many sources carried it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from qa.articles import Article

THRESHOLD = (
    0.7  # estimated Jaccard of 4-word shingles; see tests/test_engine.py for the real variants it groups
)
SHINGLE = 4
PERMUTATIONS = 128
SCHEME = (
    "affine64"  # named, so that signatures stored in an index are read back with the scheme that made them
)


def signature(text: str):  # -> datasketch.MinHash
    """The MinHash of a text's word shingles (lower-cased words, punctuation ignored)."""
    from datasketch import MinHash

    words = re.findall(r"\w+", text.lower())
    shingles = {" ".join(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}
    minhash = MinHash(num_perm=PERMUTATIONS, scheme=SCHEME)
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return minhash


def from_bytes(data: bytes):  # -> datasketch.MinHash
    """A MinHash back from the bytes `to_bytes` stored with its article."""
    import numpy as np
    from datasketch import MinHash

    return MinHash(num_perm=PERMUTATIONS, hashvalues=np.frombuffer(data, dtype=np.uint64), scheme=SCHEME)


def to_bytes(minhash) -> bytes:
    return minhash.hashvalues.astype("uint64").tobytes()


class Stories:
    """The stories already known, for finding which one a new article copies.

    Built from the signatures the index stores with each article, so that opening
    a large archive does not hash every article's text again.
    """

    def __init__(self, known: Iterable[tuple[str, str | None, bytes | None, str | None]] = ()) -> None:
        """`known`: (id, copy_of, stored signature, text) of each article in the order they came; the text
        is only needed where no signature was stored (an index converted from format 1)."""
        from datasketch import MinHashLSH

        self.lsh = MinHashLSH(threshold=THRESHOLD, num_perm=PERMUTATIONS)
        self.root: dict[str, str] = {}  # article id -> the first article of its story, in the order they came
        for article_id, copy_of, stored, text in known:
            self._insert(article_id, copy_of, from_bytes(stored) if stored else signature(text or ""))

    def _insert(self, article_id: str, copy_of: str | None, minhash) -> None:
        self.root[article_id] = self.root.get(copy_of, copy_of) if copy_of else article_id
        if article_id not in self.lsh.keys:
            self.lsh.insert(article_id, minhash)

    def add(self, article: Article) -> bytes:
        """Take in an article (its `copy_of` already decided); returns its signature, to store with it."""
        minhash = signature(article.text)
        self._insert(article.id, article.copy_of, minhash)
        return to_bytes(minhash)

    def remove(self, article_id: str) -> None:
        if article_id in self.lsh.keys:
            self.lsh.remove(article_id)

    def original_of(self, article: Article) -> str | None:
        """The first article of the story this one copies, or None if it is a story of its own."""
        found = [
            key for key in self.lsh.query(signature(article.text)) if key != article.id and key in self.root
        ]
        if not found:
            return None
        order = {key: n for n, key in enumerate(self.root)}
        return self.root[min(found, key=order.__getitem__)]
