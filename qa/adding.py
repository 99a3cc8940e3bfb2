"""Articles into an index: new or changed ones found by checksum, copies of a story marked, passages split,
embedded (here or on Ray) and committed in one change; what each article was to the index, as the commit
found it, is reported (`AddReport`). A part of `qa.archive.Archive`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from qa.articles import (
    Article,
    Collected,
    batched_articles,
    collect_articles,
    distinct_id,
    gather,
    list_files,
    slug,
)
from qa.config import Config
from qa.duplicates import Stories, signature
from qa.embeddings import Embedder
from qa.errors import InputError
from qa.passages import split_passages
from qa.store import Store

if TYPE_CHECKING:
    from qa.distributed import RayOptions

logger = logging.getLogger(__name__)


@dataclass
class AddReport:
    """What an add did, and each file it could not read (failed) or passed over (skipped: not an article type)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    passages: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    links: list[Path] = field(default_factory=list)  # links in folders leading out of them: not followed
    no_news: list[str] = field(default_factory=list)  # articles whose text is all boilerplate: never searched
    states: dict[str, str] = field(default_factory=dict)  # article id -> added, updated or unchanged
    old_ids: list[str] = field(default_factory=list)  # the same articles stored under their ids' older form

    def counted(self, states: dict[str, str]) -> AddReport:
        """This report with each article's state, as the commit found it, and the counts of each."""
        self.states = states
        values = list(states.values())
        self.added, self.updated, self.unchanged = (
            values.count(x) for x in ("added", "updated", "unchanged")
        )
        return self

    def describe(self) -> str:
        return (
            f"Added {self.added}, updated {self.updated}, unchanged {self.unchanged} article(s) "
            f"({self.passages} new passage(s)).{self.files_note()}"
            + (
                f" {len(self.old_ids)} of them had been stored under an older form of their id (a JSONL id "
                "made a slug before 2026-12-07), which was removed."
                if self.old_ids
                else ""
            )
            + (
                f" {len(self.no_news)} article(s) held nothing but datelines, credits or ads and will not be "
                f"searched: {', '.join(self.no_news[:3])}{' ...' if len(self.no_news) > 3 else ''}."
                if self.no_news
                else ""
            )
        )

    def merge(self, other: AddReport) -> None:
        """Take in the report of the next batch of the same add."""
        self.states.update(other.states)
        self.counted(self.states)
        self.passages += other.passages
        self.no_news += other.no_news
        self.old_ids += other.old_ids

    def files_note(self) -> str:
        """ " N file(s) failed, M skipped." when any did, else nothing."""
        skipped = len(self.skipped) + len(self.links)
        return f" {len(self.failed)} file(s) failed, {skipped} skipped." if self.failed or skipped else ""


class NeedsFreshFolder(Exception):
    """A build of more than one batch over an index that holds articles: nothing was written; the caller
    builds in a folder of its own and puts it in place once complete (Archive.build)."""


def _collect(
    paths: Iterable[str | Path], strict: bool, ray: RayOptions | None = None, fetch_pages: bool = False
) -> Collected:
    """The articles to add (read by Ray workers with `ray`); with `strict`, any file that fails stops
    everything before anything is written; `fetch_pages`: feeds' entries read from their web pages."""
    if ray is None:
        collected = collect_articles(paths, fetch_pages=fetch_pages)
    else:
        from qa.distributed import read_files

        collected, files = list_files(paths)
        collected = gather(collected, read_files(files, ray))
    if collected.failed and (strict or not collected.articles):
        raise unreadable(collected.failed, strict)
    return collected


def unreadable(failed: list[tuple[Path, str]], strict: bool = False) -> InputError:
    """The one line for files that could not be read when nothing is added (or, `strict`, when any fails)."""
    if len(failed) == 1:
        return InputError(failed[0][1])
    return InputError(
        f"{len(failed)} files could not be read, the first: {failed[0][1]}"
        + ("" if strict else " Nothing else was found to add.")
    )


class Adder:
    """Adding articles to an index: read in batches, passages split and embedded, copies marked, committed.
    The archive has one (`Archive.adder`), made with what it needs: the store, the embedder, the config."""

    def __init__(self, index: Store, embedder: Embedder, config: Config, progress: bool = False) -> None:
        self.index = index
        self.embedder = embedder
        self.config = config
        self.progress = progress

    def add(
        self,
        paths: Iterable[str | Path],
        strict: bool = False,
        ray: RayOptions | None = None,
        fetch_pages: bool = False,
    ) -> AddReport:
        """Add articles from files or folders; unchanged ones are skipped, changed ones replaced.

        Files that cannot be read are left out and listed in the report (with
        `strict`, any of them stops the add before anything is written). With `ray`,
        files are read and passages embedded on Ray (see qa.distributed). With `fetch_pages`, a feed's entries
        are read from the web pages they link to (qa.fetching), not with `ray`.
        """
        return self.add_paths(paths, strict, ray, fetch_pages=fetch_pages)

    def add_paths(
        self,
        paths: Iterable[str | Path],
        strict: bool,
        ray: RayOptions | None,
        replace_all: bool = False,
        fetch_pages: bool = False,
    ) -> AddReport:
        """Add what the files hold; the report also names each file that failed or was skipped.

        Read, embedded and committed in bounded batches (qa.articles.batched_articles), so memory stays flat
        whatever the input's size, except with `strict` (everything is read first, so that a failure stops
        the add before anything is written) and on Ray. A build (`replace_all`) of more than one batch over an
        index that holds articles raises NeedsFreshFolder before writing anything (Archive.build then builds
        beside it and swaps)."""
        if ray is not None and fetch_pages:
            raise InputError("--fetch-pages works without --ray: fetch the pages on one machine.")
        if ray is None and not strict:
            return self._add_batches(batched_articles(paths, fetch_pages), replace_all)
        if ray is None:
            return self._add_collected(_collect(paths, strict, fetch_pages=fetch_pages), replace_all)
        from qa.distributed import Runtime

        with Runtime(ray):  # one Ray runtime for reading and embedding
            return self._add_collected(_collect(paths, strict, ray), replace_all, ray)

    def _add_batches(self, batches: Iterator[Collected], replace_all: bool) -> AddReport:
        """Commit each batch in turn (the first replaces everything for a build); one report for them all."""
        report = AddReport()
        first, second = next(batches), next(batches, None)
        if second is not None and replace_all and not self.index.empty:
            raise NeedsFreshFolder()
        for batch in itertools.chain([first], [second] if second is not None else [], batches):
            if batch.articles:
                report.merge(self.add_articles(batch.articles, replace_all))
                replace_all = False
            report.failed += batch.failed
            report.skipped += batch.skipped
            report.links += batch.links
        if report.failed and not report.states:
            raise unreadable(report.failed)
        return report

    def _add_collected(
        self, collected: Collected, replace_all: bool = False, ray: RayOptions | None = None
    ) -> AddReport:
        report = self.add_articles(collected.articles, replace_all, ray)
        report.failed, report.skipped, report.links = collected.failed, collected.skipped, collected.links
        return report

    def add_articles(
        self,
        articles: Sequence[Article],
        replace_all: bool = False,
        ray: RayOptions | None = None,
        keep_apart: bool = True,
    ) -> AddReport:
        """Add (or replace) articles in one commit; with `replace_all` they replace everything (a build).

        The slow part, embedding, runs before the index's writer lock is taken, so
        questions and other writers are not held up by it; with `ray`, it runs on Ray
        workers, which write the segment files the commit then takes in.
        """
        report = AddReport()
        if not replace_all and keep_apart:  # off: the caller decided which ids replace (the page's uploads)
            self._keep_apart(articles)
        known_sums = {} if replace_all else self.index.checksums([a.id for a in articles])
        fresh = [a for a in articles if known_sums.get(a.id) != a.checksum]
        if not fresh and not replace_all:
            return report.counted({a.id: "unchanged" for a in articles})
        signatures = self._mark_copies(fresh, replace_all)
        split = {
            a.id: split_passages(a, self.config.passage_words, self.config.overlap_sentences) for a in fresh
        }
        passages = [p for a in fresh for p in split[a.id]]
        report.no_news = [a.id for a in fresh if not split[a.id] and a.text.strip()]
        if ray is None:
            vectors = self.embedder.encode([p.text for p in passages], progress=self.progress)
            held = self.index.add(
                fresh, passages, vectors, signatures, replace_all=replace_all, encoder=self.embedder.encoder
            )
        else:
            from qa.distributed import embed_and_commit

            held = embed_and_commit(
                self.index, self.embedder, fresh, passages, signatures, replace_all, ray, self.progress
            )
        report.passages = len(passages)
        # What each article was to the index when the change committed (another writer may have been first).
        states = {a.id: "unchanged" for a in articles if known_sums.get(a.id) == a.checksum}
        for a in fresh:
            states[a.id] = (
                "added" if a.id not in held else "unchanged" if held[a.id] == a.checksum else "updated"
            )
        if not replace_all:
            report.old_ids = self._drop_older_ids(fresh)
        return report.counted(states)

    def _drop_older_ids(self, added: Sequence[Article]) -> list[str]:
        """Until 2026-12-07 a JSONL record's id was stored as a slug ("https://x.com/a b" as "https-x-com-a-b");
        now it is kept as given. Once an article is committed under the id as given, the very same record
        stored under the slug (equal in all but the id) is removed: re-adding a file moves its articles to their
        given ids instead of doubling them. Nothing is removed before its successor is committed."""
        older = {slug(a.id): a for a in added if slug(a.id) != a.id}
        if not older:
            return []
        stored = self.index.checksums(list(older))
        same = [old for old, a in older.items() if stored.get(old) == replace(a, id=old).checksum]
        if same:
            self.index.remove(same)
        return same

    def _keep_apart(self, articles: Sequence[Article]) -> None:
        """An article whose id is its file's name, read from another file than the stored article of that id
        (report.txt of another folder), gets a distinct id (`distinct_id`) instead of replacing it."""
        stored = self.index.origins([a.id for a in articles if a.origin])
        for article in articles:
            if article.origin and stored.get(article.id, article.origin) != article.origin:
                article.id = distinct_id(article)

    def _mark_copies(self, fresh: Sequence[Article], replace_all: bool) -> dict[str, bytes]:
        """Mark each new or changed article that republishes a story already stored (unless everything is
        being replaced) or earlier in `fresh`. Returns each article's MinHash signature, stored with it."""
        stories = Stories() if replace_all else Stories(self.index.story_candidates)
        signatures = {}
        for article in fresh:
            minhash = signature(article.text)
            article.copy_of = stories.original_of(article, minhash)
            signatures[article.id] = stories.add(article, minhash)
        return signatures
