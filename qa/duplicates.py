"""Syndicated copies: the same story republished with small edits, found with MinHash LSH (datasketch).

A wire story reprinted by five outlets would otherwise fill the top passages five
times. At ingest each article's word shingles are hashed into a MinHash; an
article whose estimated Jaccard similarity with an earlier one reaches
THRESHOLD is marked a copy of it (`Article.copy_of`), and retrieval then shows one
article per story while the answer says how many sources carried it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from qa.articles import Article

THRESHOLD = (
    0.7  # estimated Jaccard of 4-word shingles; see tests/test_engine.py for the real variants it groups
)
SHINGLE = 4
PERMUTATIONS = 128
BANDS, ROWS = 14, 9  # datasketch's optimal split of PERMUTATIONS at THRESHOLD (misses and false alarms alike)
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


def band_keys(minhash) -> list[int]:
    """The MinHash's LSH band keys: BANDS bands of ROWS values each, every band hashed (with its number) into
    one signed 64-bit key. Two articles are candidate copies when they share a key, as in datasketch's
    MinHashLSH with the same split; the index stores the keys, so a new article is checked with a lookup."""
    values = minhash.hashvalues.astype("uint64")
    keys = []
    for band in range(BANDS):
        digest = hashlib.blake2b(
            values[band * ROWS : (band + 1) * ROWS].tobytes(), digest_size=8, salt=band.to_bytes(16, "little")
        ).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


# Stored articles that share a band key with these keys: (article id, first article of its story), oldest first.
StoredLookup = Callable[[list[int]], list[tuple[str, str]]]


def _nothing_stored(keys: list[int]) -> list[tuple[str, str]]:
    return []


class Stories:
    """Which story a new article copies: the stored articles (asked of the index through `stored`, which
    looks up the band keys it keeps), then the articles taken in earlier in this batch.

    Nothing is loaded up front, so an add costs a few indexed lookups per article however large the archive.
    """

    def __init__(self, stored: StoredLookup = _nothing_stored) -> None:
        self.stored = stored
        self.taken: dict[str, int] = {}  # id -> place of the articles this batch took in (their stored
        # versions are being replaced, so the store's answers about them are stale)
        self.by_key: dict[int, list[tuple[str, str]]] = {}  # band key -> (id, story) of this batch

    def original_of(self, article: Article, minhash=None) -> str | None:
        """The first article of the story this one copies, or None if it is a story of its own."""
        keys = band_keys(minhash if minhash is not None else signature(article.text))
        for article_id, story in self.stored(keys):
            if article_id != article.id and article_id not in self.taken:
                return story
        earlier = [found for key in keys for found in self.by_key.get(key, ()) if found[0] != article.id]
        if not earlier:
            return None
        return min(earlier, key=lambda found: self.taken[found[0]])[1]

    def add(self, article: Article, minhash=None) -> bytes:
        """Take in an article (its `copy_of` already decided); returns its signature, to store with it."""
        minhash = minhash if minhash is not None else signature(article.text)
        self.taken.setdefault(article.id, len(self.taken))
        for key in band_keys(minhash):
            self.by_key.setdefault(key, []).append((article.id, article.copy_of or article.id))
        return to_bytes(minhash)
