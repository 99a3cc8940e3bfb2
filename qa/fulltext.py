"""BM25 over passage text with tantivy: an incremental full-text index that lives beside the database.

tantivy was chosen over SQLite FTS5 by measurement (README, "Storage"): both find
the answer passage in the top 5 as often as the bm25s index they replace, but at a
million passages tantivy answers a question in about 1.5 ms and FTS5 in about
145 ms, because tantivy skips documents that cannot reach the top k.

The database is the truth; this index follows it. Each document is a passage's
row id and text. A write adds the new passages here *before* the database commits
them and deletes the old ones *after*, and a reader keeps only the row ids live in
its own database snapshot, so a search never shows half a commit. Row ids a dead
writer left unsettled are listed in the database and settled by the next write.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from qa.errors import IndexUnusable

ANALYZER = "news"  # words, lower-cased, English stop words dropped, stemmed
HEAP_BYTES = 64_000_000
STRAYS_REMOVED_AT_MOST = 16  # a killed commit leaves at most one deletes file per segment it touched

logger = logging.getLogger(__name__)


def _analyzer() -> Any:
    import tantivy

    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(40)).filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.stopword("english")).filter(tantivy.Filter.stemmer("english")).build())


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

            self.folder.mkdir(parents=True, exist_ok=True)
            try:
                self._index = tantivy.Index(_schema(), path=str(self.folder), reuse=True)
            except ValueError as exc:
                raise IndexUnusable(f"The BM25 index in {self.folder} cannot be opened ({exc}); rebuild it with "
                                    f"`qa index rebuild --index-dir {self.folder.parent}`.") from None
            self._index.register_tokenizer(ANALYZER, _analyzer())
        return self._index

    def reload(self) -> None:
        """See what writers (in this process or another) have committed since."""
        try:
            self.index.reload()
        except ValueError as exc:
            raise IndexUnusable(f"The BM25 index in {self.folder} cannot be read ({exc}); rebuild it with "
                                f"`qa index rebuild --index-dir {self.folder.parent}`.") from None

    def search(self, questions: Sequence[str], depth: int, allowed: Sequence[int] | None = None
               ) -> list[list[tuple[int, float]]]:
        """Top `depth` (row id, BM25 score) per question; `allowed` limits the row ids searched."""
        import tantivy

        index = self.index
        searcher = index.searcher()
        only = None
        if allowed is not None:
            only = tantivy.Query.term_set_query(index.schema, "rowid", list(map(int, allowed)))
        try:
            return self._search(searcher, questions, depth, only)
        except ValueError as exc:
            raise IndexUnusable(f"The BM25 index in {self.folder} cannot be read ({exc}); rebuild it with "
                                f"`qa index rebuild --index-dir {self.folder.parent}`.") from None

    def _search(self, searcher: Any, questions: Sequence[str], depth: int, only: Any) -> list[list[tuple[int, float]]]:
        import tantivy

        index = self.index
        results = []
        for question in questions:
            words = re.findall(r"\w+", question.lower())
            query = index.parse_query_lenient(" ".join(words), ["text"])[0] if words else None
            if query is None:
                results.append([])
                continue
            if only is not None:
                query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, only)])
            hits = searcher.search(query, depth, count=False).hits
            results.append([(searcher.doc(address)["rowid"][0], float(score)) for score, address in hits if score > 0])
        return results

    def count(self) -> int:
        return int(self.index.searcher().num_docs)

    def change(self, add: Iterable[tuple[int, str]] = (), delete: Iterable[int] = ()) -> None:
        """Add (row id, text) documents and delete documents by row id, in one tantivy commit."""
        add, delete = list(add), list(delete)
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
        return {f"{s['segment_id'].replace('-', '')}.{s['deletes']['opstamp']}.del"
                for s in meta.get("segments", []) if s.get("deletes")}

    def _change(self, add: list[tuple[int, str]], delete: list[int]) -> None:
        import tantivy

        writer = self.index.writer(heap_size=HEAP_BYTES, num_threads=1)
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

    def clear(self) -> None:
        writer = self.index.writer(heap_size=HEAP_BYTES, num_threads=1)
        try:
            writer.delete_all_documents()
            writer.commit()
        finally:
            writer.wait_merging_threads()
        self.reload()
