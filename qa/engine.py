"""The one Python API: build, update and ask. The CLI and the web page only call this.

engine = Engine.build(["my-articles/"], "index")  # or Engine.open("index")
engine.add(["more-articles/"]); engine.remove(["some-id"])
result = engine.ask("Who leads next week's talks?")
print(result.best.text, result.best.citation.sentence)
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from qa.answers import Result
from qa.articles import (
    Article,
    Collected,
    clean_text,
    collect_articles,
    distinct_id,
    gather,
    iso_day,
    list_files,
    read_date,
)
from qa.assembly import Assembly, Question
from qa.config import SEEDS_DIR, Config, Retrieval, is_seeded_default
from qa.duplicates import Stories, signature, to_bytes
from qa.embeddings import INT8_ENCODER, Embedder, canonical_name
from qa.errors import IndexUnusable, InputError, NoIndex
from qa.format1 import OLD_POINTER, read_format_1, remove_format_1
from qa.layout import Stats
from qa.passages import CHARS_PER_WORD, split_passages
from qa.reading import Reader, Reading
from qa.reranking import PassageRanker
from qa.retrieval import Filters, Hit, Retriever
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
    no_news: list[str] = field(default_factory=list)  # articles whose text is all boilerplate: never searched

    def describe(self) -> str:
        return (
            f"Added {self.added}, updated {self.updated}, unchanged {self.unchanged} article(s) "
            f"({self.passages} new passage(s)).{self.files_note()}"
            + (
                f" {len(self.no_news)} article(s) held nothing but datelines, credits or ads and will not be "
                f"searched: {', '.join(self.no_news[:3])}{' ...' if len(self.no_news) > 3 else ''}."
                if self.no_news
                else ""
            )
        )

    def files_note(self) -> str:
        """ " N file(s) failed, M skipped." when any did, else nothing."""
        return (
            f" {len(self.failed)} file(s) failed, {len(self.skipped)} skipped."
            if self.failed or self.skipped
            else ""
        )


def _checked(index_dir: object, config: object) -> tuple[Path, Config]:
    """The index folder and config of an Engine constructor, or InputError in one line for the wrong types."""
    if not isinstance(index_dir, (str, os.PathLike)) or not str(index_dir).strip():
        raise InputError(f"The index folder must be a path (text or pathlib.Path), not {index_dir!r}.")
    if config is not None and not isinstance(config, Config):
        raise InputError(f"config must be a qa.Config, not {type(config).__name__}.")
    return Path(index_dir), config or Config()


def as_of_filters(filters: Filters | None, as_of: str | datetime.date | None) -> Filters | None:
    """`filters` with the day a question is asked as of (a date, or text such as "2023-01-05"), if any."""
    if as_of is None or as_of == "":
        return filters
    if isinstance(as_of, datetime.date):
        day: str | None = as_of.isoformat()[:10]
    elif isinstance(as_of, str):
        day = read_date(as_of, "as of")
    else:
        raise InputError(f"as_of must be a day (text such as 2025-10-01, or a datetime.date), not {as_of!r}.")
    if day is None or iso_day(day) != day[:10] or len(day) != 10:
        raise InputError(f"as of {as_of!r} is not a day; write it like 2025-10-01.")
    return dataclasses.replace(filters or Filters(), as_of=day)


def _collect(paths: Iterable[str | Path], strict: bool, ray: RayOptions | None = None) -> Collected:
    """The articles to add (read by Ray workers with `ray`); with `strict`, any file that fails stops
    everything before anything is written."""
    if ray is None:
        collected = collect_articles(paths)
    else:
        from qa.distributed import read_files

        collected, files = list_files(paths)
        collected = gather(collected, read_files(files, ray))
    if collected.failed and (strict or not collected.articles):
        if len(collected.failed) == 1:
            raise InputError(collected.failed[0][1])
        raise InputError(
            f"{len(collected.failed)} files could not be read, the first: {collected.failed[0][1]}"
            + ("" if strict else " Nothing else was found to add.")
        )
    return collected


class Engine:
    """An index directory plus the models that search and read it; models load on first use."""

    def __init__(
        self,
        index_dir: Path,
        index: Store,
        config: Config,
        progress: bool = False,
        embedder: Embedder | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.index = index
        self.config = config
        self.progress = progress
        # Passages are embedded as the index's were; questions as the config asks (int8 by default),
        # which costs retrieval little (dense recall@5 within 0.003 on SQuAD dev: bench/encoder_recall.py).
        self.embedder = embedder or Embedder.from_config(
            config, "int8" if index.encoder == INT8_ENCODER else "fp32"
        )
        asked: Literal["int8", "fp32"] = "int8" if config.encoder_int8 else "fp32"
        self.query_encoder = (
            self.embedder if self.embedder.precision == asked else Embedder.from_config(config, asked)
        )
        passage_ranker = PassageRanker.load(Path(config.passage_ranker)) if config.passage_ranker else None
        self.retriever = Retriever(index, self.query_encoder, config.candidates, config.rrf_k, passage_ranker)
        self._reader: Reader | None = None
        self._loading = threading.Lock()  # the page asks from several threads
        self._counting = threading.Lock()
        # passages the reader has read since this engine was made (the benchmarks report it)
        self.passages_read = 0
        self.report: AddReport | None = None  # what the build that made this engine did
        self.assembly = Assembly.from_config(config)  # readings -> Result (qa.assembly)

    # ----- opening ----------------------------------------------------------
    @classmethod
    def create(
        cls, index_dir: str | Path, config: Config | None = None, progress: bool = False, force: bool = False
    ) -> Engine:
        """An empty engine that will save into `index_dir` (nothing is written until articles are added).

        A folder that holds other things than an index is refused unless `force` is set.
        """
        index_dir, config = _checked(index_dir, config)
        Store.check_new_home(index_dir, force)
        embedder = Embedder.from_config(config, "int8" if config.encoder_int8 else "fp32")
        index = Store(
            Path(index_dir),
            embedder.name,
            embedder.dimension,
            config.approximate_threshold(),
            embedder.encoder,
        )
        return cls(Path(index_dir), index, config, progress, embedder)

    @classmethod
    def build(
        cls,
        paths: Iterable[str | Path],
        index_dir: str | Path,
        config: Config | None = None,
        progress: bool = False,
        force: bool = False,
        strict: bool = False,
        ray: RayOptions | None = None,
    ) -> Engine:
        """A new index from files and folders; it replaces any index in `index_dir` only once complete.

        A folder that holds other things than an index is refused unless `force` is set.
        Files that cannot be read are left out and listed in `engine.report` (with
        `strict`, any of them stops the build before anything is written). With `ray`,
        files are read and passages embedded on Ray (see qa.distributed).
        """
        index_dir, config = _checked(index_dir, config)
        Store.check_new_home(index_dir, force)
        engine = cls.create(index_dir, config, progress, force=True)
        engine.report = engine._add_paths(paths, strict, ray, replace_all=True)
        return engine

    @classmethod
    def open(cls, index_dir: str | Path, config: Config | None = None, progress: bool = False) -> Engine:
        """Open a saved index; refuses one built with another embedding model than `config` names."""
        index_dir, config = _checked(index_dir, config)
        index = Store.open(index_dir, config.approximate_threshold())
        wanted = canonical_name(config.embedding_model)
        if index.embedding_model != wanted:
            raise IndexUnusable(
                f"The index in {index_dir} was built with the embedding model "
                f"'{index.embedding_model}', not '{wanted}'; "
                f"pass --embedding-model {index.embedding_model} or rebuild it with `qa index build`."
            )
        return cls(Path(index_dir), index, config, progress)

    @classmethod
    def upgrade(cls, index_dir: str | Path, config: Config | None = None, progress: bool = False) -> Engine:
        """Convert an index written in format 1 to the current format, keeping its vectors.

        The old files are removed only once the new index is committed; an
        interrupted upgrade is simply run again.
        """
        index_dir, config = _checked(index_dir, config)
        if not (index_dir / OLD_POINTER).is_file():
            if not Store.exists(index_dir):
                raise NoIndex(f"There is no index in {index_dir} to upgrade.")
            remove_format_1(index_dir)  # what an interrupted upgrade left, if anything
            return cls.open(index_dir, config, progress)
        articles, passages, vectors, model = read_format_1(index_dir)
        index = Store(index_dir, model, int(vectors.shape[1]), config.approximate_threshold())
        index.add(
            articles,
            passages,
            vectors,
            {a.id: to_bytes(signature(a.text)) for a in articles},
            replace_all=True,
        )
        remove_format_1(index_dir)
        return cls.open(index_dir, config.with_(embedding_model=model), progress)

    @classmethod
    def open_or_seed(
        cls, index_dir: str | Path, config: Config | None = None, progress: bool = False
    ) -> Engine:
        """Open an index; the built-in default one (see `qa.config.is_seeded_default`) is first built from the
        seed article. A folder named by $QA_INDEX_DIR that holds no index is refused, as --index-dir is."""
        index_dir, config = _checked(index_dir, config)
        if is_seeded_default(index_dir) and not Store.exists(index_dir):
            logger.warning("No index in %s: building it from the seed article ...", index_dir)
            return cls.build([SEEDS_DIR], index_dir, config, progress)
        if (
            not Store.exists(index_dir)
            and os.environ.get("QA_INDEX_DIR")
            and index_dir == Path(os.environ["QA_INDEX_DIR"]).expanduser()
        ):
            raise NoIndex(
                f"There is no index in {index_dir}, the folder $QA_INDEX_DIR names; correct the variable, "
                f"or build one there with `qa index build PATH...`."
            )
        return cls.open(index_dir, config, progress)

    @classmethod
    def open_or_create(cls, index_dir: str | Path, config: Config | None = None) -> Engine:
        """The index at `index_dir` (the default one seeded first), or a new empty one when the folder has none."""
        index_dir, config = _checked(index_dir, config)
        if Store.exists(index_dir) or is_seeded_default(index_dir):
            return cls.open_or_seed(index_dir, config)
        return cls.create(index_dir, config)

    # ----- changing ---------------------------------------------------------
    def add(
        self, paths: Iterable[str | Path], strict: bool = False, ray: RayOptions | None = None
    ) -> AddReport:
        """Add articles from files or folders; unchanged ones are skipped, changed ones replaced.

        Files that cannot be read are left out and listed in the report (with
        `strict`, any of them stops the add before anything is written). With `ray`,
        files are read and passages embedded on Ray (see qa.distributed).
        """
        return self._add_paths(paths, strict, ray)

    def _add_paths(
        self, paths: Iterable[str | Path], strict: bool, ray: RayOptions | None, replace_all: bool = False
    ) -> AddReport:
        """Add what the files hold; the report also names each file that failed or was skipped."""
        if ray is None:
            return self._add_collected(_collect(paths, strict), replace_all)
        from qa.distributed import Runtime

        with Runtime(ray):  # one Ray runtime for reading and embedding
            return self._add_collected(_collect(paths, strict, ray), replace_all, ray)

    def _add_collected(
        self, collected: Collected, replace_all: bool = False, ray: RayOptions | None = None
    ) -> AddReport:
        report = self.add_articles(collected.articles, replace_all, ray)
        report.failed, report.skipped = collected.failed, collected.skipped
        return report

    def add_articles(
        self, articles: Sequence[Article], replace_all: bool = False, ray: RayOptions | None = None
    ) -> AddReport:
        """Add (or replace) articles in one commit; with `replace_all` they replace everything (a build).

        The slow part, embedding, runs before the index's writer lock is taken, so
        questions and other writers are not held up by it; with `ray`, it runs on Ray
        workers, which write the segment files the commit then takes in.
        """
        report = AddReport()
        fresh = []
        if not replace_all:
            self._keep_apart(articles)
        known_sums = {} if replace_all else self.index.checksums([a.id for a in articles])
        for a in articles:
            known = known_sums.get(a.id)
            if known and known == a.checksum:
                report.unchanged += 1
                continue
            report.updated += bool(known)
            report.added += not known
            fresh.append(a)
        if not fresh and not replace_all:
            return report
        signatures = self._mark_copies(fresh, replace_all)
        split = {
            a.id: split_passages(a, self.config.passage_words, self.config.overlap_sentences) for a in fresh
        }
        passages = [p for a in fresh for p in split[a.id]]
        report.no_news = [a.id for a in fresh if not split[a.id] and a.text.strip()]
        if ray is None:
            vectors = self.embedder.encode([p.text for p in passages], progress=self.progress)
            self.index.add(
                fresh, passages, vectors, signatures, replace_all=replace_all, encoder=self.embedder.encoder
            )
        else:
            from qa.distributed import embed_and_commit

            embed_and_commit(
                self.index, self.embedder, fresh, passages, signatures, replace_all, ray, self.progress
            )
        report.passages = len(passages)
        return report

    def _keep_apart(self, articles: Sequence[Article]) -> None:
        """An article whose id is its file's name, read from another file than the stored article of that id
        (report.txt of another folder), gets a distinct id (`distinct_id`) instead of replacing it."""
        stored = self.index.origins([a.id for a in articles if a.origin])
        for article in articles:
            if article.origin and stored.get(article.id, article.origin) != article.origin:
                article.id = distinct_id(article)

    def resolve(self, key: str) -> list[str]:
        """The ids of the articles `key` names: an id, else a url, else an exact title."""
        for field_ in ("id", "url", "title"):
            found = self.index.find(field_, key)
            if found:
                return found
        return []

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

    def stories(self) -> dict[str, list[Article]]:
        """Articles by story (the first article's id), for the stories told more than once."""
        return self.index.stories()

    def remove(self, keys: Iterable[str]) -> int:
        """Remove articles named by id, url or exact title; nothing is removed if any name matches none."""
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, Iterable):
            raise InputError(f"remove takes article ids, urls or titles as text, not {keys!r}.")
        keys = list(keys)
        if not all(isinstance(k, str) for k in keys):
            raise InputError(f"remove takes article ids, urls or titles as text, not {keys!r}.")
        found = {k: self.resolve(k) for k in keys}
        unknown = [k for k, ids in found.items() if not ids]
        if unknown:
            raise InputError(
                f"No article with id, url or title {', '.join(unknown)} in the index; "
                "see `qa index info` for them."
            )
        ids = list(dict.fromkeys(i for k in keys for i in found[k]))
        return self.index.remove(ids)

    def optimize(self) -> int:
        """Merge the index's vector segments into one, dropping removed passages' vectors; returns how many."""
        return self.index.optimize()

    def check(self, quick: bool = False) -> list[str]:
        """What is wrong with the index on disk, one line each; empty when it is sound.

        `quick` checks a sample of the articles' texts and BM25 documents instead of all of them.
        """
        return self.index.check(quick)

    def rebuild(self) -> str:
        """Rebuild the BM25 index and the vectors of damaged segments from the database; says what it did."""
        return self.index.rebuild(self.embedder.encode)

    # ----- looking ----------------------------------------------------------
    def articles(self, text: bool = True, filters: Filters | None = None) -> list[Article]:
        """All articles, oldest first, or those `filters` keep (by the searches' rules); `text=False` leaves
        their text out, for listings of a large archive."""
        if not filters:
            return list(self.index.articles(text=text).values())
        with self.index.snapshot() as view:
            kept = view.article_ids(filters)
        return list(self.index.articles(kept, text=text).values()) if kept else []

    def checksums(self, ids: Sequence[str]) -> dict[str, str]:
        """The stored checksum of each of these articles that the index holds (what an add compares)."""
        return self.index.checksums(ids)

    def passage_counts(self) -> dict[str, int]:
        return self.index.passage_counts()

    def stats(self) -> Stats:
        return self.index.stats()

    # ----- asking -----------------------------------------------------------
    @property
    def reader(self) -> Reader:
        with self._loading:
            if self._reader is None:
                self._reader = Reader.from_config(self.config)
        return self._reader

    def check_question(self, question: str) -> str:
        """The question as the models will read it, or InputError in one line saying what is wrong with it.

        Unicode is normalised (NFKC) and lone surrogates, control and format characters
        are dropped; a question longer than the reader's question budget is refused
        rather than cut, so that nobody gets an answer to half a question.
        """
        if not isinstance(question, str):
            raise InputError(f"The question must be text, not {type(question).__name__}.")
        question = " ".join(clean_text(question, "NFKC").split())
        if not question:
            raise InputError('The question is empty; ask something like "Who leads next week\'s talks?".')
        if len(question) > self.config.max_question_chars:
            raise InputError(
                f"The question is {len(question)} characters long; keep it under {self.config.max_question_chars}."
            )
        if not re.search(r"\w\w", question):
            raise InputError("The question has no words in it; ask a question in words.")
        tokens = self.reader.question_tokens(question)
        if tokens > self.reader.max_question_tokens:
            raise InputError(
                f"The question is too long for the reader ({tokens} word pieces, at most "
                f"{self.reader.max_question_tokens}); ask it in fewer words."
            )
        return question

    def _check_sources(self, filters: Filters | None) -> None:
        """Refuse a source filter that matches no article's source (compared without case), naming the known ones."""
        if not filters or not filters.sources:
            return
        known = self.index.sources()
        lowered = {k.lower() for k in known}
        if not any(s.lower() in lowered for s in filters.sources):
            shown = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
            raise InputError(
                f"No article comes from {', '.join(filters.sources)}; "
                + (
                    f"the sources in the index are: {shown}."
                    if known
                    else "no article in the index names its source."
                )
            )

    def check_top_k(self, top_k: int | None) -> int:
        if top_k is None:
            return self.config.top_k
        if isinstance(top_k, bool) or not isinstance(top_k, int):
            raise InputError(f"top-k must be a whole number between 1 and 100, not {top_k!r}.")
        if not 1 <= top_k <= 100:
            raise InputError(f"top-k must be between 1 and 100, not {top_k}.")
        return top_k

    def check_search(self, retrieval: Retrieval | None, filters: Filters | None) -> Retrieval:
        retrieval = retrieval or self.config.retrieval
        if retrieval not in ("hybrid", "dense", "bm25"):
            raise InputError(f"The retrieval mode must be hybrid, dense or bm25, not {retrieval!r}.")
        if filters is not None and not isinstance(filters, Filters):
            raise InputError(f"filters must be a qa.retrieval.Filters, not {type(filters).__name__}.")
        return retrieval

    def search(
        self,
        question: str,
        top_k: int | None = None,
        retrieval: Retrieval | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        return self.retriever.search(
            self.check_question(question),
            self.check_top_k(top_k),
            self.check_search(retrieval, filters),
            filters,
        )

    def search_many(
        self,
        questions: Sequence[str],
        top_k: int | None = None,
        retrieval: Retrieval | None = None,
        filters: Filters | None = None,
    ) -> list[list[Hit]]:
        """The passages for many questions at once (one batched encoding and search), as `search` finds them."""
        checked = [self.check_question(q) for q in questions]
        return self.retriever.batch_search(
            checked, self.check_top_k(top_k), self.check_search(retrieval, filters), filters
        )

    def _read(self, questions: list[str], hits_per_question: list[list[Hit]]) -> list[list[Reading]]:
        """Each question's readings of its first hits, in order: all of them, or only the first (see below).

        With `config.decided_at` set, every question's best passage is read first, all
        questions in one batch; a question whose answer there is already that sure
        (log-odds of the best span against "no answer" in that passage) is not read
        further, and the others have their remaining passages read in a second batch.
        A question that asks for the present (recency) is always read in full: a newer
        article further down may hold the answer that counts.
        """
        readings: list[list[Reading]] = [[] for _ in questions]

        def read(wanted: list[tuple[int, Hit]]) -> None:
            if not wanted:
                return
            with self._counting:
                self.passages_read += len(wanted)
            # Passages of indexes written before passages were capped (qa.passages) may be any length:
            # reading is bounded all the same, so that one article cannot stall everyone's questions.
            limit = 4 * CHARS_PER_WORD * self.config.passage_words
            texts = [h.passage.text[:limit] for _, h in wanted]
            for (i, _), reading in zip(
                wanted, self.reader.read_pairs([questions[i] for i, _ in wanted], texts)
            ):
                readings[i].append(reading)

        read(
            [
                (i, hits[0])
                for i, (q, hits) in enumerate(zip(questions, hits_per_question))
                if hits and self.assembly.reads_first_alone(q)
            ]
        )
        read(
            [
                (i, h)
                for i, hits in enumerate(hits_per_question)
                if not self.assembly.sure_enough(readings[i])
                for h in hits[len(readings[i]) :]
            ]
        )
        return readings

    def warm_up(self) -> None:
        """Load the question encoder and the reader now rather than on the first question (timed as `load`).

        Models otherwise load on first use; a server calls this before its first request."""
        self.query_encoder.warm_up()
        self.reader.warm_up()

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        retrieval: Retrieval | None = None,
        filters: Filters | None = None,
        always_answer: bool = False,
        as_of: str | datetime.date | None = None,
    ) -> Result:
        """Answer from the articles, or say honestly that they don't say.

        With `always_answer`, the best guess is given even below the threshold;
        `Result.confident` still says whether it passed. With `as_of` (a day), the
        question is asked as on that day: nothing published after it is searched.
        """
        return self.ask_many([question], top_k, retrieval, filters, always_answer, as_of)[0]

    def ask_many(
        self,
        questions: Sequence[str],
        top_k: int | None = None,
        retrieval: Retrieval | None = None,
        filters: Filters | None = None,
        always_answer: bool = False,
        as_of: str | datetime.date | None = None,
    ) -> list[Result]:
        """Answer many questions at once: one batched retrieval, then all their passages read in shared batches.

        Every question is checked first; a bad one raises InputError naming it, before any work.
        Each result's `seconds` are its share of the batch's retrieval and reading time. `as_of`: see `ask`.
        """
        if isinstance(questions, str):
            raise InputError("ask_many takes a list of questions; pass [question] for one, or use ask().")
        checked = []
        for n, question in enumerate(questions, 1):
            try:
                checked.append(self.check_question(question))
            except InputError as exc:
                raise InputError(f"Question {n}: {exc}" if len(questions) > 1 else str(exc)) from None
        top_k, retrieval = self.check_top_k(top_k), self.check_search(retrieval, filters)
        filters = as_of_filters(filters, as_of)
        self._check_sources(filters)
        left_out = self.index.left_out_by(filters) if filters else {}
        if not checked:
            return []
        t0 = time.perf_counter()
        hits_per_question = self.retriever.batch_search(checked, top_k, retrieval, filters)
        t1 = time.perf_counter()
        readings_per_question = self._read(checked, hits_per_question)
        t2 = time.perf_counter()
        share = {
            "retrieval": (t1 - t0) / len(checked),
            "reading": (t2 - t1) / len(checked),
            "total": (t2 - t0) / len(checked),
        }
        roots = {h.article.copy_of or h.article.id for hits in hits_per_question for h in hits}
        carried = self.index.carried_by(list(roots))
        asked_as_of = filters.as_of if filters else None
        return [
            self.assembly.assemble(
                Question(question, hits, readings, asked_as_of, left_out), carried, always_answer, share
            )
            for question, hits, readings in zip(checked, hits_per_question, readings_per_question)
        ]
