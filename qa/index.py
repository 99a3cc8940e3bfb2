"""Passages + vectors + BM25 on disk, saved atomically and checked on load.

Layout of an index directory:

    CURRENT            name of the live version folder (replaced atomically)
    v000003/
        manifest.json  format, embedding model, counts, checksums of the files below
        articles.jsonl one article per line, with its checksum
        passages.jsonl one passage per line, in vector order
        vectors.npy    float32, normalised, one row per passage
        dense.faiss    the FAISS index over vectors.npy
        bm25/          the bm25s index over the same passages, same order

A save writes a new version folder completely, then replaces CURRENT, then
deletes older versions: a crash at any point leaves the previous version live.
The dense and BM25 sides are always rebuilt together from the same passage
list, so they cannot drift apart.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from qa.articles import Article
from qa.errors import IndexUnusable
from qa.passages import Passage

FORMAT_VERSION = 1
POINTER = "CURRENT"


@dataclass
class Stats:
    articles: int
    passages: int
    embedding_model: str
    dimension: int
    index_type: str
    format_version: int = FORMAT_VERSION

    def describe(self) -> str:
        return (f"{self.articles} article(s), {self.passages} passage(s), {self.index_type} vectors "
                f"of {self.embedding_model} ({self.dimension}-d)")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bm25_tokens(texts: list[str]) -> list[list[str]]:
    import bm25s
    import Stemmer

    return bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False)


class PassageIndex:
    """The searchable state: articles, passages, their vectors, a FAISS index and a BM25 index."""

    def __init__(self, embedding_model: str, dimension: int, approximate: bool = False) -> None:
        self.embedding_model = embedding_model
        self.dimension = dimension
        self.approximate = approximate
        self.articles: dict[str, Article] = {}
        self.passages: list[Passage] = []
        self.vectors = np.zeros((0, dimension), dtype=np.float32)
        self.dense: Any = None
        self.bm25: Any = None
        self._rebuild()

    # ----- changing -------------------------------------------------------
    def replace(self, articles: list[Article], passages: list[Passage], vectors: np.ndarray) -> None:
        """Put in (or replace) articles with their passages and vectors."""
        ids = {a.id for a in articles}
        keep = [i for i, p in enumerate(self.passages) if p.article_id not in ids]
        self.passages = [self.passages[i] for i in keep] + list(passages)
        self.vectors = np.concatenate([self.vectors[keep], vectors.astype(np.float32)]) if len(keep) or len(vectors) else self.vectors[:0]
        for a in articles:
            self.articles[a.id] = a
        self._rebuild()

    def remove(self, ids: list[str]) -> int:
        gone = [i for i in ids if i in self.articles]
        if not gone:
            return 0
        keep = [i for i, p in enumerate(self.passages) if p.article_id not in set(gone)]
        self.passages = [self.passages[i] for i in keep]
        self.vectors = self.vectors[keep]
        for i in gone:
            del self.articles[i]
        self._rebuild()
        return len(gone)

    def _rebuild(self) -> None:
        """Dense and BM25 are always rebuilt together from the same passage list."""
        import bm25s
        import faiss

        if self.approximate:
            dense = faiss.IndexHNSWFlat(self.dimension, 32, faiss.METRIC_INNER_PRODUCT)
            dense.hnsw.efSearch = 128
        else:
            dense = faiss.IndexFlatIP(self.dimension)
        if len(self.vectors):
            dense.add(self.vectors)
        self.dense = dense
        self.bm25 = None
        if self.passages:
            bm25 = bm25s.BM25()
            bm25.index(bm25_tokens([p.text for p in self.passages]), show_progress=False)
            self.bm25 = bm25

    # ----- saving and loading ---------------------------------------------
    def stats(self) -> Stats:
        return Stats(len(self.articles), len(self.passages), self.embedding_model, self.dimension,
                     "approximate (HNSW)" if self.approximate else "exact (flat)")

    def save(self, index_dir: Path) -> None:
        """Write a complete new version, then switch CURRENT to it atomically."""
        import faiss

        index_dir.mkdir(parents=True, exist_ok=True)
        with _locked(index_dir):
            # Past every folder, the live one and any a killed save left behind.
            number = max((int(p.name[1:]) for p in index_dir.glob("v[0-9]*") if p.name[1:].isdigit()), default=0) + 1
            version = index_dir / f"v{number:06d}"
            version.mkdir()
            with open(version / "articles.jsonl", "w", encoding="utf-8") as f:
                for article in self.articles.values():
                    f.write(json.dumps(asdict(article), ensure_ascii=False) + "\n")
            with open(version / "passages.jsonl", "w", encoding="utf-8") as f:
                for p in self.passages:
                    f.write(json.dumps(asdict(p), ensure_ascii=False) + "\n")
            np.save(version / "vectors.npy", self.vectors)
            faiss.write_index(self.dense, str(version / "dense.faiss"))
            if self.bm25 is not None:
                self.bm25.save(str(version / "bm25"), show_progress=False)
            files = sorted(p for p in version.rglob("*") if p.is_file())
            manifest = {
                **asdict(self.stats()),
                "approximate": self.approximate,
                "checksums": {str(p.relative_to(version)): _sha256(p) for p in files},
            }
            (version / "manifest.json").write_text(json.dumps(manifest, indent=2))
            for p in [*files, version / "manifest.json"]:
                _fsync(p)
            tmp = index_dir / (POINTER + ".tmp")
            tmp.write_text(version.name)
            _fsync(tmp)
            os.replace(tmp, index_dir / POINTER)
            _fsync(index_dir)
            for old in index_dir.glob("v[0-9]*"):
                if old.name != version.name:
                    shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def exists(cls, index_dir: Path) -> bool:
        return (index_dir / POINTER).is_file()

    @classmethod
    def load(cls, index_dir: Path) -> "PassageIndex":
        import bm25s
        import faiss

        rebuild = f"rebuild it with `qa index build --index-dir {index_dir} PATH...`"
        if not index_dir.is_dir():
            raise IndexUnusable(f"There is no index in {index_dir}; build one with `qa index build --index-dir {index_dir} PATH...`.")
        current = _read_pointer(index_dir)
        if not current:
            raise IndexUnusable(f"{index_dir} is not an index (no {POINTER} file); {rebuild}.")
        version = index_dir / current
        try:
            manifest = json.loads((version / "manifest.json").read_text())
        except (OSError, ValueError):
            raise IndexUnusable(f"The index in {index_dir} has no readable manifest; {rebuild}.") from None
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexUnusable(f"The index in {index_dir} has format version {manifest.get('format_version')}, "
                                f"this program reads version {FORMAT_VERSION}; {rebuild}.")
        for name, digest in manifest.get("checksums", {}).items():
            path = version / name
            if not path.is_file() or _sha256(path) != digest:
                raise IndexUnusable(f"The index in {index_dir} is damaged ({name} is missing or changed); {rebuild}.")
        try:
            index = cls.__new__(cls)
            index.embedding_model = manifest["embedding_model"]
            index.dimension = int(manifest["dimension"])
            index.approximate = bool(manifest.get("approximate"))
            articles = [Article(**json.loads(line)) for line in (version / "articles.jsonl").read_text(encoding="utf-8").splitlines()]
            index.articles = {a.id: a for a in articles}
            index.passages = [Passage(**json.loads(line)) for line in (version / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
            index.vectors = np.load(version / "vectors.npy")
            index.dense = faiss.read_index(str(version / "dense.faiss"))
            index.bm25 = bm25s.BM25.load(str(version / "bm25"), show_progress=False) if (version / "bm25").is_dir() else None
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise IndexUnusable(f"The index in {index_dir} could not be read ({type(exc).__name__}); {rebuild}.") from None
        if not (len(index.passages) == len(index.vectors) == index.dense.ntotal) or (index.bm25 is None) != (not index.passages):
            raise IndexUnusable(f"The index in {index_dir} is inconsistent (passage, vector and BM25 counts differ); {rebuild}.")
        return index


def _read_pointer(index_dir: Path) -> str | None:
    try:
        name = (index_dir / POINTER).read_text().strip()
    except OSError:
        return None
    return name if name.startswith("v") and name[1:].isdigit() else None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked(index_dir: Path) -> Iterator[None]:
    """One writer at a time (the web page and a script may both save)."""
    with open(index_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
