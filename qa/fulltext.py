"""BM25 over passage text with tantivy: an incremental full-text index that lives beside the database.

tantivy was chosen over SQLite FTS5 (docs/design.md, "Storage"): both find the
answer passage in the top 5 about as often, and tantivy skips documents that cannot
reach the top k, which keeps a large archive's searches fast.

The database is the truth; this index follows it. Each document is a passage's
row id and text. A write adds the new passages here *before* the database commits
them and deletes the old ones *after*, and a reader keeps only the row ids live in
its own database snapshot, so a search never shows half a commit. Row ids a dead
writer left unsettled are listed in the database and settled by the next write.

What tantivy reads from the folder is not trusted: a folder or file that links
elsewhere is refused, and its list of managed files (which tantivy's garbage
collection deletes from) is cut to plain names inside the folder before any writer
opens. A panic inside tantivy (pyo3's PanicException, a BaseException) becomes
the same one-line IndexUnusable as any other unreadable BM25 file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import struct
import tempfile
import weakref
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qa.errors import IndexUnusable
from qa.files import not_plain, write_atomic
from qa.filtering import Kept

ANALYZER = "news"  # words, lower-cased, English stop words dropped, stemmed
HEAP_BYTES = 64_000_000
STRAYS_REMOVED_AT_MOST = 16  # a killed commit leaves at most one deletes file per segment it touched
FOOTER_MAGIC = 1337  # the last four bytes of every tantivy file with a footer
MANAGED = ".managed.json"  # tantivy's list of the files it owns (and may delete)
LOCK_FILES = (".tantivy-meta.lock", ".tantivy-writer.lock")
TERM_SET_MAX = 4096  # a filter keeping at most this many passages puts their row ids in the query
FAST_RANGES_MAX = 4  # up to this many row id ranges are tested on the fast field, more on the inverted index
POST_FILTER_MAX = (
    8000  # a wider filter checks the hits of a search at most this deep (bench/experiments/bm25_filters.py)
)
PLAIN_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")  # a file name in this folder, no path

logger = logging.getLogger(__name__)


def _footer_sound(path: Path) -> bool:
    """Whether a tantivy file ends in a footer (JSON with the CRC-32 of the bytes before it, its length,
    the magic number) that matches the file."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(max(0, size - 8))
            tail = f.read(8)
            if len(tail) < 8:
                return False
            length, magic = struct.unpack("<II", tail)
            if magic != FOOTER_MAGIC or length + 8 > size:
                return False
            f.seek(size - 8 - length)
            footer = json.loads(f.read(length))
            f.seek(0)
            crc, left = 0, size - 8 - length
            while left:
                block = f.read(min(left, 1 << 20))
                if not block:
                    return False
                crc, left = zlib.crc32(block, crc), left - len(block)
        return isinstance(footer, dict) and footer.get("crc") == crc
    except (OSError, ValueError, struct.error):
        return False


def _analyzer() -> Any:
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _schema() -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("rowid", stored=True, indexed=True, fast=True)
    builder.add_text_field("text", stored=False, tokenizer_name=ANALYZER)
    return builder.build()


class FullText:
    """The BM25 side of an index folder (`folder` is created on first use)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._index: Any = None

    @property
    def index(self) -> Any:
        if self._index is None:
            import tantivy

            with self._native("opened"):
                self._refuse_links()
                path = self.folder
                if self.folder.is_dir() and not os.access(self.folder, os.W_OK):
                    path = self._read_only_view()  # tantivy wants to create its lock file even to read
                else:
                    self.folder.mkdir(parents=True, exist_ok=True)
                self._index = tantivy.Index(_schema(), path=str(path), reuse=True)
                self._index.register_tokenizer(ANALYZER, _analyzer())
        return self._index

    def _refuse_links(self) -> None:
        """An index's BM25 files are its own: a link to elsewhere, a FIFO or a device here is refused."""
        if self.folder.is_symlink() or (
            self.folder.is_dir() and any(not_plain(p) for p in self.folder.iterdir())
        ):
            raise IndexUnusable(
                f"The BM25 index in {self.folder} holds a link to files outside the index folder, or a FIFO or "
                "device, which is never opened; remove it and rebuild the BM25 index with "
                f"`qa index rebuild --index-dir {self.folder.parent}`."
            )

    def _read_only_view(self) -> Path:
        """A temporary folder of links to this read-only folder's files, where tantivy can keep its lock files.

        Removed when this object is (or at exit). Only files directly in the folder are linked.
        """
        view = Path(tempfile.mkdtemp(prefix="qa-bm25-view-"))
        weakref.finalize(self, shutil.rmtree, view, True)
        for path in self.folder.iterdir():
            if path.is_file() and (path.name == MANAGED or PLAIN_NAME.fullmatch(path.name)):
                (view / path.name).symlink_to(path.absolute())
        return view

    @contextmanager
    def _native(self, doing: str) -> Iterator[None]:
        """tantivy's failures (ValueError, or a Rust panic, which is a BaseException) as one line."""
        try:
            yield
        except IndexUnusable:
            raise
        except (ValueError, OSError) as exc:
            raise self._unreadable(doing, exc) from None
        except BaseException as exc:
            if type(exc).__name__ != "PanicException":
                raise
            raise self._unreadable(doing, exc) from None

    def _unreadable(self, doing: str, exc: BaseException) -> IndexUnusable:
        detail = " ".join(str(exc).split())[:200]
        return IndexUnusable(
            f"The BM25 index in {self.folder} cannot be {doing} ({detail}); rebuild it with "
            f"`qa index rebuild --index-dir {self.folder.parent}`."
        )

    def reload(self) -> None:
        """See what writers (in this process or another) have committed since."""
        with self._native("read"):
            self.index.reload()

    def search(self, questions: Sequence[str], depth: int) -> list[list[tuple[int, float]]]:
        """Top `depth` (row id, BM25 score) per question."""
        with self._native("read"):
            return self._search(self.index.searcher(), questions, depth, None)

    def search_kept(self, questions: Sequence[str], depth: int, kept: Kept) -> list[list[tuple[int, float]]]:
        """Top `depth` (row id, BM25 score) per question among the passages a filter keeps.

        A narrow filter's row ids become part of the query; a wide one is applied to the hits of a search
        deep enough that `depth` of them should pass, and a question for which too few do is searched again
        with the kept rows in the query: as a few row id ranges where they make a few runs (a date range of
        an archive added in date order), else as the set of their row ids (bench/experiments/bm25_filters.py).
        """

        wanted = math.ceil((depth + 10) / max(kept.share, 1e-9) * 1.5)
        with self._native("read"):
            searcher = self.index.searcher()
            if kept.rowids.size > TERM_SET_MAX and wanted <= POST_FILTER_MAX:
                results = self._search(searcher, questions, wanted, None)
                passed = [[(r, s) for r, s in found if kept.keeps(r)][:depth] for found in results]
                short = [
                    q for q, found in enumerate(results) if len(passed[q]) < depth and len(found) >= wanted
                ]
            else:
                passed, short = [[] for _ in questions], list(range(len(questions)))
            if short:
                only = self._only(kept)
                again = self._search(searcher, [questions[q] for q in short], depth, only)
                for q, found in zip(short, again):
                    passed[q] = found
            return passed

    def _only(self, kept: Kept) -> Any:
        """A query matching the kept passages: a few row id ranges where the filter keeps runs of rows (a
        date range over an archive added in date order), else the set of their row ids."""
        import tantivy

        schema = self.index.schema
        spans = kept.spans() if kept.rowids.size > TERM_SET_MAX else None
        if spans is None:
            return tantivy.Query.term_set_query(schema, "rowid", kept.rowids.tolist())
        inverted = len(spans) > FAST_RANGES_MAX  # a fast-field range scans the column: good for a few
        ranges = [
            tantivy.Query.range_query(
                schema, "rowid", tantivy.FieldType.Integer, first, last, use_inverted_index=inverted
            )
            for first, last in spans
        ]
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, r) for r in ranges])

    def _search(
        self, searcher: Any, questions: Sequence[str], depth: int, only: Any
    ) -> list[list[tuple[int, float]]]:
        import tantivy

        index = self.index
        results: list[list[tuple[int, float]]] = []
        for question in questions:
            words = re.findall(r"\w+", question.lower())
            query = index.parse_query_lenient(" ".join(words), ["text"])[0] if words else None
            if query is None:
                results.append([])
                continue
            if only is not None:
                query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, only)])
            hits = searcher.search(query, depth, count=False).hits
            # the row ids from their column (a fast field), not from each hit's stored document
            rowids = searcher.fast_field_values("rowid", [address for _, address in hits])
            results.append(
                [(r, float(score)) for r, (score, _) in zip(rowids, hits) if score > 0 and r is not None]
            )
        return results

    def count(self) -> int:
        with self._native("read"):
            return int(self.index.searcher().num_docs)

    def damaged_files(self) -> list[str]:
        """The files of the committed segments whose footer checksum (tantivy's CRC-32 of the file's bytes,
        stored in the file's footer) does not match, or that have no sound footer."""
        try:
            meta = json.loads((self.folder / "meta.json").read_text(encoding="utf-8"))
            segments = {str(s["segment_id"]).replace("-", "") for s in meta.get("segments", [])}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return ["meta.json"]
        return [
            path.name
            for path in sorted(self.folder.iterdir())
            if path.name.split(".")[0] in segments and not _footer_sound(path)
        ]

    def finds(self, rowid: int, text: str) -> bool:
        """Whether the document `rowid` is found by its own words (a real query: terms, postings, stored id)."""
        import tantivy

        words = re.findall(r"\w+", text.lower())[:12]
        with self._native("read"):
            index = self.index
            query = index.parse_query_lenient(" ".join(words), ["text"])[0] if words else None
            if query is None:
                return True  # nothing to search for: not a fault of the index
            only = tantivy.Query.term_query(index.schema, "rowid", int(rowid))
            searcher = index.searcher()
            hits = searcher.search(
                tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, only)]), 1
            ).hits
            return any(searcher.doc(address)["rowid"][0] == rowid for _, address in hits)

    def change(self, add: Iterable[tuple[int, str]] = (), delete: Iterable[int] = ()) -> None:
        """Add (row id, text) documents and delete documents by row id, in one tantivy commit."""
        add, delete = list(add), list(delete)
        with self._native("written"):
            self._change_retrying(add, delete)

    def _change_retrying(self, add: list[tuple[int, str]], delete: list[int]) -> None:
        for _ in range(STRAYS_REMOVED_AT_MOST):
            try:
                return self._change(add, delete)
            except ValueError as exc:
                # A writer killed inside its commit can leave the deletes file of a segment at the opstamp
                # this commit reuses, and tantivy refuses to write it again; meta.json never named it.
                stray = re.search(r'FileAlreadyExists\("([0-9a-f]+\.\d+\.del)"\)', str(exc))
                if not stray or stray.group(1) in self._committed_deletes():
                    raise
                logger.info("Removing %s, left by a writer that did not finish its commit.", stray.group(1))
                (self.folder / stray.group(1)).unlink(missing_ok=True)
        self._change(add, delete)

    def _committed_deletes(self) -> set[str]:
        """The deletes files meta.json names (one per segment with deleted documents)."""
        meta = json.loads((self.folder / "meta.json").read_text(encoding="utf-8"))
        return {
            f"{s['segment_id'].replace('-', '')}.{s['deletes']['opstamp']}.del"
            for s in meta.get("segments", [])
            if s.get("deletes")
        }

    def _writer(self) -> Any:
        """tantivy's writer, once its list of managed files holds only plain names in this folder."""
        self._refuse_links()
        self._clean_managed()
        return self.index.writer(heap_size=HEAP_BYTES, num_threads=1)

    def _clean_managed(self) -> None:
        """Cut tantivy's list of managed files to plain names: its garbage collection deletes from that list."""
        path = self.folder / MANAGED
        if not path.is_file():
            return
        try:
            names = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            names = None
        if isinstance(names, list) and all(isinstance(n, str) and PLAIN_NAME.fullmatch(n) for n in names):
            return
        kept = [n for n in names or [] if isinstance(n, str) and PLAIN_NAME.fullmatch(n)]
        logger.warning(
            "The BM25 index's list of files in %s named files outside it; only its own are kept.", self.folder
        )
        write_atomic(path, json.dumps(kept))

    def _change(self, add: list[tuple[int, str]], delete: list[int]) -> None:
        import tantivy

        writer = self._writer()
        try:
            for rowid in delete:
                writer.delete_documents_by_term("rowid", int(rowid))
            for rowid, text in add:
                writer.add_document(tantivy.Document(rowid=int(rowid), text=text))
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        finally:
            writer.wait_merging_threads()  # also gives up tantivy's own writer lock
        self.reload()
