"""Asking one store: questions checked, passages found and read, readings assembled into Results.

`Asker` is the asking half of `qa.engine.Engine` (the other half is its `Archive`): it has the question
encoder and the retriever (with the passage ranker when fitted), the reader, and the assembly stage.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from qa.answers import Result
from qa.articles import clean_text, iso_day, read_date
from qa.assembly import Assembly, Question, RankerOff, ranker_note
from qa.config import Config, Retrieval
from qa.embeddings import Embedder
from qa.errors import InputError
from qa.passage_ranking import PassageRanker
from qa.passages import CHARS_PER_WORD
from qa.reading import Reader, Reading
from qa.retrieval import Filters, Hit, Retriever
from qa.store import Store

MOST_QUESTIONS = 1000  # one ask_many call (its retrieval and readings are held in memory together)


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


class Asker:
    """The models that search and read one store, and the stage that turns their readings into Results.

    The engine has one (`Engine.asker`); the reader loads on first use (or `warm_up`)."""

    def __init__(self, index: Store, embedder: Embedder, config: Config) -> None:
        self.index = index
        self.config = config
        # Questions are encoded as the config asks (int8 by default), which costs retrieval little
        # (dense recall@5 within 0.003 on SQuAD dev: bench/experiments/encoder_recall.py).
        asked: Literal["int8", "fp32"] = "int8" if config.encoder_int8 else "fp32"
        self.query_encoder = embedder if embedder.precision == asked else Embedder.from_config(config, asked)
        passage_ranker = PassageRanker.load(Path(config.passage_ranker)) if config.passage_ranker else None
        self.retriever = Retriever(index, self.query_encoder, config.candidates, config.rrf_k, passage_ranker)
        self._reader: Reader | None = None
        self._loading = threading.Lock()  # the page asks from several threads
        self._counting = threading.Lock()
        # passages the reader has read since this asker was made (the benchmarks report it)
        self.passages_read = 0
        self.assembly = Assembly.from_config(config)  # readings -> Result (qa.assembly)
        note = ranker_note(config)
        if note:  # a rule set by hand switched the learned ranker off: never silently
            warnings.warn(note.removeprefix("note: "), RankerOff, stacklevel=3)

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
        if len(questions) > MOST_QUESTIONS:
            raise InputError(
                f"{len(questions):,} questions at once; ask_many takes at most {MOST_QUESTIONS:,}: ask them in parts."
            )
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
        stories = self.index.story_keys(list({h.article.id for hits in hits_per_question for h in hits}))
        asked_as_of = filters.as_of if filters else None
        return [
            self.assembly.assemble(
                Question(question, hits, readings, asked_as_of, left_out, stories),
                carried,
                always_answer,
                share,
            )
            for question, hits, readings in zip(checked, hits_per_question, readings_per_question)
        ]
