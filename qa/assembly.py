"""Readings → a Result: the one answer-assembly stage.

Everything between the reader and what a surface shows happens here, in this order: the spans of every
passage read are merged into answers and cited (`qa.answers.merge`); they are ranked, by the learned
answer ranker where one serves this reader (`qa.answer_ranking`), else by the recency rule with calibrated
confidence shared among them; the no-answer decision is taken; and the other answers from dated articles
become the timeline. Early stopping in the reading asks the same rules (`sure_enough`), so the decision
to stop reading and the decision to answer use the configured no-answer rule alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qa.answer_ranking import AnswerRanker
from qa.answers import Answer, Result, merge, prefer_recent, recency_for, share_confidence, timeline
from qa.articles import Article
from qa.config import SHIPPED_RANKER, SHIPPED_READER, AbstainRule, Config
from qa.errors import InputError
from qa.reading import Reading, answerability

if TYPE_CHECKING:
    from qa.passages import Hit


RULES = "rules"  # Config.answer_ranker: the rules before the learned ranker, chosen explicitly


class RankerOff(UserWarning):
    """A rule set by hand switched the learned answer ranker off (`ranker_note` says which)."""


def uses_ranker(config: Config) -> bool:
    """Whether answers are ranked by the learned ranker: one is named (not "rules"), no rule of its own is set
    by hand (threshold, abstain rule, recency), and the shipped ranker only with the reader it was fitted for
    (another reader brings its own threshold and calibration)."""
    if not config.answer_ranker or config.answer_ranker == RULES:
        return False
    if ranker_switched_off_by(config):
        return False
    shipped = Path(config.answer_ranker).resolve() == SHIPPED_RANKER.resolve()
    return not shipped or Path(config.reader_model).resolve() == SHIPPED_READER.resolve()


def ranker_switched_off_by(config: Config) -> list[str]:
    """The settings of the rules that, set by hand, switch a named learned ranker off."""
    if not config.answer_ranker or config.answer_ranker == RULES:
        return []
    return [
        name
        for name, value in (
            ("no_answer_threshold", config.no_answer_threshold),
            ("recency", config.recency),
            ("abstain_on", config.abstain_on),
        )
        if value not in (None, "")
    ]


def ranker_note(config: Config) -> str | None:
    """One line saying that a rule set by hand switched the learned answer ranker off, or None."""
    settings = ranker_switched_off_by(config)
    if not settings:
        return None
    return (
        f"note: {', '.join(settings)} set by hand: answers are ranked by the rules before the learned answer "
        f'ranker, which is off for this engine (answer_ranker="{RULES}" chooses them without this note).'
    )


def newest_day(hits: list[Hit]) -> str | None:
    """The day time words ("this week") are read against when a question is not asked as of a day: the newest
    article's among those found, the archive's present as far as this question goes (an archive of last
    year's news asked today is asked about its own week, not today's)."""
    days = [str(h.article.date)[:10] for h in hits if h.article.date]
    return max(days) if days else None


@dataclass
class Question:
    """What the stage takes for one question: the passages found, best first, and the readings of the first
    of them (in the same order); the day it was asked as of, and what a filter left out."""

    text: str
    hits: list[Hit]
    readings: list[Reading]
    asked_as_of: str | None = None
    left_out: dict[str, int] | None = None
    stories: dict[str, frozenset[int]] | None = (
        None  # the hits' articles' story band keys (the timeline's test)
    )


@dataclass
class Assembly:
    """The rules that turn readings into a Result, built once from a Config (`from_config`)."""

    rule: AbstainRule  # how a span's answerability is scored against "no answer" (qa.reading.answerability)
    threshold: float  # the no-answer threshold on that answerability (without a ranker)
    calibration: Callable[[float], float] | None  # answerability -> P(right), from the reader's card
    ranker: AnswerRanker | None  # the learned ranker: order, confidence and the decision
    recency: float | None  # the recency rule's setting (without a ranker; qa.answers.recency_for)
    decided_at: float | None  # stop reading a question whose first passage's answer is this sure

    @classmethod
    def from_config(cls, config: Config) -> Assembly:
        rule, threshold = config.no_answer_rule()
        if not math.isfinite(threshold):
            raise InputError(f"The no-answer threshold must be a finite number, not {threshold}.")
        ranker = AnswerRanker.load(Path(config.answer_ranker or "")) if uses_ranker(config) else None
        return cls(rule, threshold, config.calibration(), ranker, config.recency, config.decided_at)

    def reads_first_alone(self, question: str) -> bool:
        """Whether a question's best passage is read before the others, to stop there if it is sure enough.
        A question that asks for the present is always read in full: a newer article further down may hold
        the answer that counts."""
        return self.decided_at is not None and not recency_for(question, self.recency)

    def sure_enough(self, readings: list[Reading]) -> bool:
        """Whether a question's first reading is sure enough to stop at (`decided_at`, on the configured rule)."""
        best = readings[0].best if readings else None
        return (
            best is not None
            and self.decided_at is not None
            and answerability(best.score, readings[0].no_answer, self.rule) >= self.decided_at
        )

    def rank(
        self, question: str, answers: list[Answer], hits: list[Hit], asked_as_of: str | None = None
    ) -> list[Answer]:
        """The candidates best first, with the confidence shown: by the ranker, else by the rules before it."""
        if self.ranker is not None:
            ranks = {h.passage.id: r for r, h in enumerate(hits)}
            return self.ranker.rank(question, answers, ranks, asked_as_of or newest_day(hits))
        answers = prefer_recent(answers, recency_for(question, self.recency), self.threshold)
        return share_confidence(answers) if self.calibration is not None else answers

    def decide(self, answers: list[Answer]) -> bool:
        """Whether the best answer is sure enough to give: by the ranker's P(right), else its answerability."""
        if not answers:
            return False
        if self.ranker is not None:
            return self.ranker.gives(answers[0])
        return answers[0].answerability >= self.threshold

    def likely(self, answers: list[Answer]) -> bool:
        """Whether a best answer that is not given is sure enough to show as likely (the ranker's lower
        bound; the rules before the ranker have no likely tier)."""
        return bool(answers) and self.ranker is not None and self.ranker.likely(answers[0])

    def candidates(self, asked: Question, carried_by: dict[str, int]) -> list[Answer]:
        """The spans of every passage read, merged into answers and cited, in no particular order."""
        articles: dict[str, Article] = {h.article.id: h.article for h in asked.hits}
        answers = merge(
            asked.readings, asked.hits[: len(asked.readings)], articles, self.rule, self.calibration
        )
        for answer in answers:
            article = articles[answer.citation.article_id]
            answer.carried_by = carried_by.get(article.copy_of or article.id, 1)
        return answers

    def assemble(
        self,
        asked: Question,
        carried_by: dict[str, int],
        always_answer: bool = False,
        seconds: dict[str, float] | None = None,
    ) -> Result:
        """One question's Result. `carried_by`: for each story (its first article's id), by how many sources
        it was carried (qa.duplicates)."""
        answers = self.rank(asked.text, self.candidates(asked, carried_by), asked.hits, asked.asked_as_of)
        confident = self.decide(answers)
        likely = not confident and self.likely(answers)
        return Result(
            asked.text,
            confident or (always_answer and bool(answers)),
            answers,
            asked.hits,
            dict(seconds or {}),
            confident=confident,
            sources={
                h.article.id: {
                    "title": h.article.title,
                    "date": h.article.date,
                    "source": h.article.source,
                    "url": h.article.url,
                }
                for h in asked.hits
            },
            timeline=timeline(answers, self.threshold, asked.stories, asked.text),
            asked_as_of=asked.asked_as_of,
            left_out=dict(asked.left_out or {}),
            likely=answers[0] if likely else None,
        )
