"""Vector segments: one FAISS file per batch of added passages, searched together and merged by size.

A segment's FAISS ids are the passages' row ids in the index database, so a hit
needs no translation. Removing an article does not rewrite any file: its row ids
are masked at search time with a FAISS IDSelector, and its vectors are dropped
when their segment is next merged. Small segments are exact (flat); a segment
above the index's threshold is an IVF index, trained on a sample of its own
vectors, which keeps adding and masking as cheap as for a flat one. Files are
opened memory-mapped, so opening costs nothing and the OS pages in what search touches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.files import fsync, replacing, sha256_file

MERGE_FACTOR = 8  # this many segments of one size tier are merged into one
PROBE_SHARE = 16  # an IVF segment searches one list in this many (at least MIN_PROBES)
MIN_PROBES = 16
FEW_QUERIES = 16  # below this many queries, a flat segment is searched on one thread
TRAINING_PER_LIST = 40  # k-means sample: vectors per inverted list (FAISS warns below 39)


@dataclass
class Segment:
    """A loaded segment: its FAISS index and the selector that hides its removed passages."""

    number: int
    index: Any
    removed: np.ndarray  # row ids removed since the segment was written
    selector: Any = None  # IDSelectorNot over `removed`; its inner selector kept alive beside it
    _inner: Any = None

    def __post_init__(self) -> None:
        import faiss

        if self.removed.size:
            self._inner = faiss.IDSelectorBatch(self.removed.astype(np.int64))
            self.selector = faiss.IDSelectorNot(self._inner)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, depth: int, allowed: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Top `depth` (scores, row ids) of each query; `allowed` is a FAISS selector of row ids, or None."""
        import faiss

        selector = allowed if allowed is not None else self.selector
        depth = min(depth, self.size)
        if is_approximate(self.index):
            params = faiss.SearchParametersIVF(sel=selector, nprobe=probes(self.index.nlist))
            return self.index.search(queries, depth, params=params)
        params = faiss.SearchParameters(sel=selector) if selector is not None else None
        if len(queries) >= FEW_QUERIES:
            return self.index.search(queries, depth, params=params)
        # A flat search splits its work by query, so a few questions gain nothing from OpenMP's team,
        # whose idle threads then spin for a while and take the cores from the reader that runs next.
        # The setting is the calling thread's own (an OpenMP ICV), restored at once.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.index.search(queries, depth, params=params)
        finally:
            faiss.omp_set_num_threads(threads)


def is_approximate(index: Any) -> bool:
    return hasattr(index, "nlist")


def probes(nlist: int) -> int:
    return min(nlist, max(MIN_PROBES, nlist // PROBE_SHARE))


def build(ids: np.ndarray, vectors: np.ndarray, approximate: bool) -> Any:
    """A FAISS index over `vectors` with `ids`: flat, or IVF trained on a sample of them."""
    import faiss

    dimension = vectors.shape[1]
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if not approximate:
        index = faiss.IndexIDMap(faiss.IndexFlatIP(dimension))
    else:
        lists = max(1, min(int(2 * math.sqrt(len(vectors))), len(vectors) // TRAINING_PER_LIST))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(len(vectors), min(len(vectors), lists * 256), replace=False)
        index.train(vectors[np.sort(sample)])
    if len(vectors):
        index.add_with_ids(vectors, ids.astype(np.int64))
    return index


def write(index: Any, path: Path) -> None:
    """Write a segment file atomically and durably (temporary file, fsync, rename)."""
    import faiss

    with replacing(path) as tmp:
        faiss.write_index(index, str(tmp))


def read(path: Path, approximate: bool) -> Any:
    """Open a segment file memory-mapped: IVF lists through FAISS's mmap hook, flat codes through the IFC one."""
    import faiss

    index = faiss.read_index(
        str(path), (faiss.IO_FLAG_MMAP if approximate else faiss.IO_FLAG_MMAP_IFC) | faiss.IO_FLAG_READ_ONLY
    )
    if approximate:
        # Memory-mapped IVF lists are FAISS's OnDiskInvertedLists, which by default start threads to
        # prefetch the probed lists on every search: for one question that costs more than the scan
        # itself (bench/experiments/dense_segments.py). The kernel's page cache does the prefetching instead.
        lists = faiss.downcast_InvertedLists(index.invlists)
        if hasattr(lists, "prefetch_nthread"):
            lists.prefetch_nthread = 0
    return index


def contents(index: Any) -> tuple[np.ndarray, np.ndarray]:
    """All (row ids, vectors) a segment holds, for merging it into another."""
    import faiss

    dimension = index.d
    if not is_approximate(index):
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        flat = faiss.downcast_index(index.index)
        vectors = faiss.rev_swig_ptr(flat.get_xb(), len(ids) * dimension).reshape(len(ids), dimension).copy()
        return ids, vectors
    lists = index.invlists
    all_ids, all_vectors = [], []
    for n in range(index.nlist):
        size = lists.list_size(n)
        if not size:
            continue
        all_ids.append(faiss.rev_swig_ptr(lists.get_ids(n), size).copy())
        codes = faiss.rev_swig_ptr(lists.get_codes(n), size * dimension * 4).copy()
        all_vectors.append(codes.view(np.float32).reshape(size, dimension))
    if not all_ids:
        return np.zeros(0, np.int64), np.zeros((0, dimension), np.float32)
    return np.concatenate(all_ids).astype(np.int64), np.concatenate(all_vectors)


def tier(size: int) -> int:
    """Segments of one tier are within a factor MERGE_FACTOR of each other in size."""
    return int(math.log(max(size, 1), MERGE_FACTOR))


def to_merge(
    sizes: dict[int, int], flat: frozenset[int] = frozenset(), flat_max: int | None = None
) -> list[int]:
    """The segments to merge now: MERGE_FACTOR of the smallest full size tier; else, when the `flat` (exact)
    segments hold more than `flat_max` vectors together, all of them (into one IVF segment); else none.

    Every question scans each flat segment whole, so without the second rule up to seven flat segments of
    the largest flat tier (just under the IVF threshold each) would be scanned (bench/experiments/search_stages.py).
    """
    tiers: dict[int, list[int]] = {}
    for number, size in sorted(sizes.items()):
        tiers.setdefault(tier(size), []).append(number)
    for level in sorted(tiers):
        if len(tiers[level]) >= MERGE_FACTOR:
            return tiers[level][:MERGE_FACTOR]
    flats = sorted(n for n in flat if n in sizes)
    if flat_max is not None and len(flats) > 1 and sum(sizes[n] for n in flats) > flat_max:
        return flats
    return []


def write_segment_file(
    path: Path, rowids: np.ndarray, vectors: np.ndarray, approximate_above: int | None
) -> tuple[str, int, int, str]:
    """Write and fsync one segment file (IVF above `approximate_above` vectors).

    Returns (kind, vectors, bytes, sha256)."""
    approximate = approximate_above is not None and len(rowids) > approximate_above
    write(build(rowids, vectors, approximate), path)
    fsync(path.parent)
    return ("approximate" if approximate else "exact"), len(rowids), path.stat().st_size, sha256_file(path)
