"""Passages + vectors + BM25 on disk, saved atomically and checked on load.

Layout of an index directory:

    CURRENT            name of the live version folder (replaced atomically)
    versions.json      the version folders this index wrote, each live, retired or being written
    v000003/
        manifest.json  format, embedding model, counts, checksums of the files below
        articles.jsonl one article per line, with its checksum
        passages.jsonl one passage per line, in vector order
        vectors.npy    float32, normalised, one row per passage
        dense.faiss    the FAISS index over vectors.npy
        bm25/          the bm25s index over the same passages, same order

A save names its new version folder in versions.json, writes it completely,
then replaces CURRENT: a crash or a failed write at any point leaves the previous
version live. The version that was live is kept until the next save (a reader may
be opening it); older ones, and folders a killed save left half-written, are then
deleted. Only folders that versions.json names are ever deleted: anything else a
user keeps in the folder is never touched.
The dense and BM25 sides are always rebuilt together from the same passage
list, so they cannot drift apart.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from qa.articles import Article
from qa.errors import IndexUnusable, NoIndex, SaveFailed
from qa.files import fsync, sha256_file, write_atomic
from qa.passages import Passage

FORMAT_VERSION = 1
POINTER = "CURRENT"
CATALOG = "versions.json"  # the version folders this index wrote: the only folders it ever deletes
logger = logging.getLogger(__name__)


@dataclass
class Stats:
    articles: int
    passages: int
    embedding_model: str
    dimension: int
    index_type: str
    format_version: int = FORMAT_VERSION

    def describe(self) -> str:
        return (
            f"{self.articles} article(s), {self.passages} passage(s), {self.index_type} vectors "
            f"of {self.embedding_model} ({self.dimension}-d)"
        )


def bm25_tokens(texts: list[str]) -> list[list[str]]:
    import bm25s
    import Stemmer

    return bm25s.tokenize(
        texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False
    )


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
        self.vectors = (
            np.concatenate([self.vectors[keep], vectors.astype(np.float32)])
            if len(keep) or len(vectors)
            else self.vectors[:0]
        )
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
        return Stats(
            len(self.articles),
            len(self.passages),
            self.embedding_model,
            self.dimension,
            "approximate (HNSW)" if self.approximate else "exact (flat)",
        )

    def save(self, index_dir: Path) -> None:
        """Write a complete new version, switch CURRENT to it atomically, then tidy up.

        Only folders named in the index's own catalog are ever deleted. The version
        that was live until now is kept until the next save, so that a reader who has
        just read CURRENT can still open it. A failed save removes what it wrote and
        raises SaveFailed; the previous version stays live.
        """
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
            with FileLock(index_dir / ".lock"):
                self._save_locked(index_dir)
        except SaveFailed:
            raise
        except (OSError, RuntimeError) as exc:  # the lock or the folder itself could not be made
            raise SaveFailed(_save_failure(index_dir, exc)) from None

    def _save_locked(self, index_dir: Path) -> None:
        import faiss

        catalog = _read_catalog(index_dir)
        previous = _read_pointer(index_dir)
        number = max((int(name[1:]) for name in catalog), default=0) + 1
        while (index_dir / f"v{number:06d}").exists():  # never write into a folder we did not make
            number += 1
        name = f"v{number:06d}"
        version = index_dir / name
        catalog[name] = "writing"  # named before it exists, so a killed save's debris is known to be ours
        _write_catalog(index_dir, catalog)
        try:
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
                "checksums": {str(p.relative_to(version)): sha256_file(p) for p in files},
            }
            (version / "manifest.json").write_text(json.dumps(manifest, indent=2))
            for p in [*files, version / "manifest.json", version]:
                fsync(p)
            write_atomic(index_dir / POINTER, name)
        except (OSError, RuntimeError) as exc:  # RuntimeError: FAISS's own write errors
            reason = _save_failure(index_dir, exc)
            shutil.rmtree(version, ignore_errors=True)
            del catalog[name]
            try:
                _write_catalog(index_dir, catalog)
            except OSError:
                pass  # still listed as "writing": the next save removes it
            raise SaveFailed(reason) from None
        # Committed. Retire the old live version (kept for readers until the next save) and
        # remove what earlier saves retired or left half-written.
        catalog[name] = "live"
        for old, _state in list(catalog.items()):
            if old == name:
                continue
            if old == previous:
                catalog[old] = "retired"
            else:
                shutil.rmtree(index_dir / old, ignore_errors=True)
                del catalog[old]
        try:
            _write_catalog(index_dir, catalog)
        except OSError as exc:  # the new version is live; only the tidying will wait for the next save
            logger.warning("Could not update %s after saving (%s); the next save will tidy up.", CATALOG, exc)

    @classmethod
    def exists(cls, index_dir: Path) -> bool:
        return (index_dir / POINTER).is_file()

    @classmethod
    def load(cls, index_dir: Path) -> PassageIndex:
        """Open the live version; a load that races a save (CURRENT moved on) tries again."""
        if not index_dir.is_dir():
            raise NoIndex(
                f"There is no index in {index_dir}; build one with `qa index build --index-dir {index_dir} PATH...`."
            )
        for attempt in range(3):
            current = _read_pointer(index_dir)
            try:
                return cls._load_version(index_dir, current)
            except IndexUnusable:
                if attempt == 2 or _read_pointer(index_dir) == current:
                    raise
                logger.info("The index in %s changed while it was being opened; opening it again.", index_dir)
        raise AssertionError("unreachable")

    @classmethod
    def _load_version(cls, index_dir: Path, current: str | None) -> PassageIndex:
        import bm25s
        import faiss

        rebuild = f"rebuild it with `qa index build --index-dir {index_dir} PATH...`"
        if not current and not (index_dir / CATALOG).exists():  # a wrong --index-dir, not a damaged index
            raise NoIndex(
                f"{index_dir} is not an index (no {POINTER} file); build one with "
                f"`qa index build --index-dir {index_dir} PATH...`."
            )
        if not current:
            raise IndexUnusable(f"The index in {index_dir} has lost its {POINTER} file; {rebuild}.")
        version = index_dir / current
        try:
            manifest = json.loads((version / "manifest.json").read_text())
        except (OSError, ValueError):
            raise IndexUnusable(f"The index in {index_dir} has no readable manifest; {rebuild}.") from None
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexUnusable(
                f"The index in {index_dir} has format version {manifest.get('format_version')}, "
                f"this program reads version {FORMAT_VERSION}; {rebuild}."
            )
        for name, digest in manifest.get("checksums", {}).items():
            path = version / name
            if not path.is_file() or sha256_file(path) != digest:
                raise IndexUnusable(
                    f"The index in {index_dir} is damaged ({name} is missing or changed); {rebuild}."
                )
        try:
            index = cls.__new__(cls)
            index.embedding_model = manifest["embedding_model"]
            index.dimension = int(manifest["dimension"])
            index.approximate = bool(manifest.get("approximate"))
            articles = [
                Article(**json.loads(line))
                for line in (version / "articles.jsonl").read_text(encoding="utf-8").splitlines()
            ]
            index.articles = {a.id: a for a in articles}
            index.passages = [
                Passage(**json.loads(line))
                for line in (version / "passages.jsonl").read_text(encoding="utf-8").splitlines()
            ]
            index.vectors = np.load(version / "vectors.npy")
            index.dense = faiss.read_index(str(version / "dense.faiss"))
            index.bm25 = (
                bm25s.BM25.load(str(version / "bm25"), show_progress=False)
                if (version / "bm25").is_dir()
                else None
            )
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise IndexUnusable(
                f"The index in {index_dir} could not be read ({type(exc).__name__}); {rebuild}."
            ) from None
        if not (len(index.passages) == len(index.vectors) == index.dense.ntotal) or (index.bm25 is None) != (
            not index.passages
        ):
            raise IndexUnusable(
                f"The index in {index_dir} is inconsistent (passage, vector and BM25 counts differ); {rebuild}."
            )
        return index


def _read_catalog(index_dir: Path) -> dict[str, str]:
    """The version folders this index wrote, by name: "live", "retired" or "writing".

    An index written before catalogs existed has none; its live version is then
    the one folder known to be ours (other folders are left alone).
    """
    try:
        versions = json.loads((index_dir / CATALOG).read_text(encoding="utf-8"))["versions"]
        if isinstance(versions, dict) and all(_is_version_name(k) for k in versions):
            return {str(k): str(v) for k, v in versions.items()}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    live = _read_pointer(index_dir)
    return {live: "live"} if live else {}


def _write_catalog(index_dir: Path, catalog: dict[str, str]) -> None:
    write_atomic(index_dir / CATALOG, json.dumps({"versions": catalog}, indent=2) + "\n")


def _save_failure(index_dir: Path, exc: BaseException) -> str:
    """One line for a failed save: what went wrong in words, and what to do."""
    errno_ = getattr(exc, "errno", None)
    try:
        full = shutil.disk_usage(index_dir if index_dir.exists() else index_dir.parent).free < (1 << 20)
    except OSError:
        full = False
    if errno_ in (errno.ENOSPC, errno.EDQUOT) or full:
        what, fix = "the disk is full", "free some space"
    elif errno_ == errno.EROFS:
        what, fix = "the file system is read-only", "save to a writable folder"
    elif errno_ in (errno.EACCES, errno.EPERM):
        what, fix = "permission denied", "make the folder writable for you"
    else:
        what, fix = (
            f"a file could not be written ({getattr(exc, 'strerror', None) or type(exc).__name__})",
            "check the disk",
        )
    return f"Could not save the index in {index_dir}: {what}. The previous index is unchanged; {fix} and try again."


def _is_version_name(name: str) -> bool:
    return name.startswith("v") and name[1:].isdigit()


def _read_pointer(index_dir: Path) -> str | None:
    try:
        name = (index_dir / POINTER).read_text().strip()
    except OSError:
        return None
    return name if _is_version_name(name) else None
