"""The one Python API: build, update and ask. The CLI and the web page only call this.

    engine = Engine.build(["seeds/"], "index")      # or Engine.open("index")
    engine.add(["more-articles/"]); engine.remove(["some-id"])
    result = engine.ask("Who leads next week's talks?")
    print(result.best.text, result.best.citation.sentence)
"""

from __future__ import annotations

import math
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from qa.answers import Answer, Result, merge
from qa.articles import Article, load_articles
from qa.config import DEFAULT_INDEX_DIR, DEFAULT_SEEDS_DIR, Config, Retrieval
from qa.embeddings import Embedder, canonical_name
from qa.errors import IndexUnusable, InputError, SaveFailed
from qa.index import PassageIndex, Stats
from qa.passages import split_passages
from qa.reading import Reader
from qa.retrieval import Filters, Hit, Retriever


@dataclass
class AddReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    passages: int = 0

    def describe(self) -> str:
        return f"Added {self.added}, updated {self.updated}, unchanged {self.unchanged} article(s) ({self.passages} new passage(s))."


class Engine:
    """An index directory plus the models that search and read it; models load on first use."""

    def __init__(self, index_dir: Path, index: PassageIndex, config: Config, progress: bool = False,
                 embedder: Embedder | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.index = index
        self.config = config
        self.progress = progress
        self.embedder = embedder or Embedder(config.embedding_model, config.device, config.batch_size)
        self.retriever = Retriever(index, self.embedder, config.candidates, config.rrf_k)
        self._reader: Reader | None = None
        self.abstain_on, self.no_answer_threshold = config.no_answer_rule()
        self.calibration = config.calibration()
        if not math.isfinite(self.no_answer_threshold):
            raise InputError(f"The no-answer threshold must be a finite number, not {self.no_answer_threshold}.")

    # ----- opening ----------------------------------------------------------
    @classmethod
    def create(cls, index_dir: str | Path, config: Config | None = None, progress: bool = False, approximate: bool = False,
               force: bool = False) -> "Engine":
        """An empty engine that will save into `index_dir` (nothing is written until articles are added).

        A folder that holds other things than an index is refused unless `force` is set.
        """
        config = config or Config()
        PassageIndex.check_new_home(Path(index_dir), force)
        embedder = Embedder(config.embedding_model, config.device, config.batch_size)
        index = PassageIndex(embedder.name, embedder.dimension, approximate)
        return cls(Path(index_dir), index, config, progress, embedder)

    @classmethod
    def build(cls, paths: Iterable[str | Path], index_dir: str | Path, config: Config | None = None, progress: bool = False,
              force: bool = False) -> "Engine":
        """A new index from files and folders; it replaces any index in `index_dir` only once complete.

        A folder that holds other things than an index is refused unless `force` is set.
        """
        config = config or Config()
        PassageIndex.check_new_home(Path(index_dir), force)
        articles = load_articles(paths)
        approximate = config.approximate
        if approximate is None:
            approximate = sum(max(1, len(a.text.split()) // config.passage_words) for a in articles) > config.approximate_above
        engine = cls.create(index_dir, config, progress, approximate, force=True)
        engine.add_articles(articles)
        return engine

    @classmethod
    def open(cls, index_dir: str | Path, config: Config | None = None, progress: bool = False) -> "Engine":
        """Open a saved index; refuses one built with another embedding model than `config` names."""
        config = config or Config()
        index = PassageIndex.load(Path(index_dir))
        wanted = canonical_name(config.embedding_model)
        if index.embedding_model != wanted:
            raise IndexUnusable(
                f"The index in {index_dir} was built with the embedding model '{index.embedding_model}', not '{wanted}'; "
                f"pass --embedding-model {index.embedding_model} or rebuild it with `qa index build`.")
        return cls(Path(index_dir), index, config, progress)

    @classmethod
    def open_or_seed(cls, index_dir: str | Path, config: Config | None = None, progress: bool = False) -> "Engine":
        """Open an index; on a fresh checkout the default `index/` is first built from `seeds/`."""
        index_dir = Path(index_dir)
        if index_dir == DEFAULT_INDEX_DIR and not PassageIndex.exists(index_dir) and DEFAULT_SEEDS_DIR.is_dir():
            print(f"No index in {index_dir}: building it from {DEFAULT_SEEDS_DIR}/ ...", file=sys.stderr)
            return cls.build([DEFAULT_SEEDS_DIR], index_dir, config, progress)
        return cls.open(index_dir, config, progress)

    # ----- changing ---------------------------------------------------------
    def add(self, paths: Iterable[str | Path]) -> AddReport:
        """Add articles from files or folders; unchanged ones are skipped, changed ones replaced."""
        return self.add_articles(load_articles(paths))

    def add_articles(self, articles: Sequence[Article]) -> AddReport:
        report = AddReport()
        fresh = []
        for a in articles:
            known = self.index.articles.get(a.id)
            if known and known.checksum == a.checksum:
                report.unchanged += 1
                continue
            report.updated += bool(known)
            report.added += not known
            fresh.append(a)
        if not fresh:
            return report
        passages = [p for a in fresh for p in split_passages(a, self.config.passage_words, self.config.overlap_sentences)]
        vectors = self.embedder.encode([p.text for p in passages], progress=self.progress)
        self.index.replace(fresh, passages, vectors)
        self._save()
        report.passages = len(passages)
        return report

    def remove(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        unknown = [i for i in ids if i not in self.index.articles]
        if unknown:
            raise InputError(f"No article with id {', '.join(unknown)} in the index; see `qa index info` for the ids.")
        removed = self.index.remove(ids)
        self._save()
        return removed

    def _save(self) -> None:
        """Save the changed index; if that fails, go back to what is on disk, so memory and disk agree."""
        try:
            self.index.save(self.index_dir)
        except SaveFailed:
            if PassageIndex.exists(self.index_dir):
                self.index = PassageIndex.load(self.index_dir)
            else:
                self.index = PassageIndex(self.index.embedding_model, self.index.dimension, self.index.approximate)
            self.retriever.index = self.index
            raise

    # ----- looking ----------------------------------------------------------
    def articles(self) -> list[Article]:
        return list(self.index.articles.values())

    def passage_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.index.passages:
            counts[p.article_id] = counts.get(p.article_id, 0) + 1
        return counts

    def stats(self) -> Stats:
        return self.index.stats()

    # ----- asking -----------------------------------------------------------
    @property
    def reader(self) -> Reader:
        if self._reader is None:
            self._reader = Reader.from_config(self.config)
        return self._reader

    def check_question(self, question: str) -> str:
        question = " ".join(str(question).split())
        if not question:
            raise InputError("The question is empty; ask something like \"Who leads next week's talks?\".")
        if len(question) > self.config.max_question_chars:
            raise InputError(f"The question is {len(question)} characters long; keep it under {self.config.max_question_chars}.")
        if not re.search(r"\w\w", question):
            raise InputError("The question has no words in it; ask a question in words.")
        return question

    def check_top_k(self, top_k: int | None) -> int:
        if top_k is None:
            return self.config.top_k
        if not 1 <= top_k <= 100:
            raise InputError(f"top-k must be between 1 and 100, not {top_k}.")
        return top_k

    def search(self, question: str, top_k: int | None = None, retrieval: Retrieval | None = None,
               filters: Filters | None = None) -> list[Hit]:
        return self.retriever.search(self.check_question(question), self.check_top_k(top_k),
                                     retrieval or self.config.retrieval, filters)

    def read(self, question: str, hits: list[Hit]) -> list[Answer]:
        """Candidate answers from these passages, best first, with no no-answer decision."""
        if not hits:
            return []
        readings = self.reader.read(question, [h.passage.text for h in hits])
        return merge(readings, hits, self.index.articles, self.abstain_on, self.calibration)

    def decide(self, answers: list[Answer]) -> bool:
        """Whether the best answer is answerable enough to give (the one no-answer rule)."""
        return bool(answers) and answers[0].answerability >= self.no_answer_threshold

    def ask(self, question: str, top_k: int | None = None, retrieval: Retrieval | None = None,
            filters: Filters | None = None, always_answer: bool = False) -> Result:
        """Answer from the articles, or say honestly that they don't say.

        With `always_answer`, the best guess is given even below the threshold;
        `Result.confident` still says whether it passed.
        """
        question = self.check_question(question)
        t0 = time.perf_counter()
        hits = self.retriever.search(question, self.check_top_k(top_k), retrieval or self.config.retrieval, filters)
        t1 = time.perf_counter()
        answers = self.read(question, hits)
        t2 = time.perf_counter()
        confident = self.decide(answers)
        return Result(question, confident or (always_answer and bool(answers)), answers, hits,
                      {"retrieval": t1 - t0, "reading": t2 - t1, "total": t2 - t0}, confident)
