"""Spans → answers: merged across passages, each cited to its article and sentence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from qa.answer_types import candidate_types, content_words
from qa.articles import Article
from qa.boilerplate import boilerplate_spans, never_answers
from qa.config import AbstainRule
from qa.dates import PRESENT, RELATIVE_TIME, day_number
from qa.passages import Passage, sentence_at
from qa.reading import Reading, Span, answerability
from qa.text import normalize_answer

if TYPE_CHECKING:
    from qa.passages import Hit


@dataclass
class Evidence:
    """Where an answer was found; offsets are into the article's text."""

    article_id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    passage_id: str
    passage: str
    passage_start: int
    start: int
    end: int
    sentence: str
    sentence_start: int
    sentence_end: int
    score: float  # P(this answer) in this passage, its overlapping forms pooled
    no_answer: float  # P(this passage holds no answer)
    answerability: float  # the two compared by the no-answer rule (qa.reading.answerability)


@dataclass
class Answer:
    """One answer with its best citation first in `evidence`.

    `answerability` is what the no-answer rule compares with the threshold: the
    best evidence's, i.e. one passage's, exactly as the threshold was tuned.
    `confidence` is the confidence shown, in [0, 1]: the answer ranker's P(right) where one serves the
    reader (qa.answer_ranking), else the reader's calibrated P(right) for that answerability where its card has
    a calibration, else the passages' pooled probability 1 - prod(1 - p), which is no probability of
    being right. `Evidence.score` and `Span.score` are the reader's raw span probabilities. (In JSON it is
    "confidence", as in the HTTP API and MCP; its first name "score" is kept beside it for one release.)
    """

    text: str
    confidence: float
    evidence: list[Evidence]
    answerability: float = 0.0
    carried_by: int = 1  # how many sources carried the story it comes from (syndicated copies, qa.duplicates)

    @property
    def citation(self) -> Evidence:
        return self.evidence[0]

    def to_dict(self) -> dict[str, Any]:
        c = self.citation
        return {
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "score": round(
                self.confidence, 4
            ),  # the confidence's first name: kept one release (docs/guide.md)
            "answerability": round(self.answerability, 4),
            "carried_by": self.carried_by,
            "article_id": c.article_id,
            "title": c.title,
            "date": c.date,
            "source": c.source,
            "url": c.url,
            "passage_id": c.passage_id,
            "passage": c.passage,
            "passage_start": c.passage_start,
            "start": c.start,
            "end": c.end,
            "sentence": c.sentence,
            "sentence_start": c.sentence_start,
            "sentence_end": c.sentence_end,
            "evidence": [asdict(e) for e in self.evidence],
        }


@dataclass
class Result:
    """What `Engine.ask` returns: answers best first, or an honest "the articles don't say"."""

    question: str
    answered: bool
    answers: list[Answer]
    passages: list[Hit] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    confident: bool = True  # False: answered only because the best guess was asked for (always_answer)
    # other answers from dated articles, newest first, when they disagree (`timeline` below)
    timeline: list[Answer] = field(default_factory=list)
    # article id -> title, date, source, url
    sources: dict[str, dict[str, str | None]] = field(default_factory=dict)
    asked_as_of: str | None = None  # the day the question was asked as of (nothing after it searched), if any
    left_out: dict[str, int] = field(
        default_factory=dict
    )  # articles a filter left out: "undated", "no_source"
    # the best answer when it is not sure enough to give but sure enough to show as "probably ..." (None
    # otherwise); `best` stays the given answer only
    likely: Answer | None = None

    @property
    def best(self) -> Answer | None:
        return self.answers[0] if self.answered and self.answers else None

    @property
    def tier(self) -> str:
        """What the result says: "answer" (confident), "likely" (probably, shown as such), "guess" (below the
        likely tier, shown only because the best guess was asked for), or "none" (the articles don't say)."""
        if self.best is not None and self.confident:
            return "answer"
        if self.likely is not None:
            return "likely"
        return "guess" if self.best is not None else "none"

    def to_dict(self) -> dict[str, Any]:
        relative_to = (
            as_of(self.question, self.best.citation.sentence, self.best.citation.date) if self.best else None
        )
        return {
            "question": self.question,
            "tier": self.tier,
            "answered": self.answered,
            "confident": self.confident,
            "answer": self.best.to_dict() if self.best else None,
            "likely": self.likely.to_dict() if self.likely else None,
            "asked_as_of": self.asked_as_of,
            "left_out": self.left_out,
            # the day the answer's relative time words ("next week") speak from: its article's date
            "article_date": relative_to,
            "as_of": relative_to,  # its first name, kept one release (docs/guide.md)
            "timeline": [
                {
                    "text": a.text,
                    "date": a.citation.date,
                    "article_id": a.citation.article_id,
                    "title": a.citation.title,
                }
                for a in self.timeline
            ]
            if self.best
            else [],
            "candidates": [a.to_dict() for a in self.answers],
            "passages": [
                {
                    "passage_id": h.passage.id,
                    "article_id": h.passage.article_id,
                    "text": h.passage.text,
                    "start": h.passage.start,
                    "end": h.passage.end,
                    "score": h.score,
                    **self.sources.get(h.passage.article_id, {}),
                }
                for h in self.passages
            ],
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
        }

    def describe(self) -> str:
        lines = self._describe()
        if self.asked_as_of:
            lines.append(f"(Asked as of {self.asked_as_of}: articles published after it were not searched.)")
        if self.left_out.get("undated"):
            lines.append(
                f"(The date filter left out {self.left_out['undated']} article(s) without a readable date.)"
            )
        if self.left_out.get("no_source"):
            lines.append(
                f"(The source filter left out {self.left_out['no_source']} article(s) that name no source.)"
            )
        return "\n".join(lines)

    def _describe(self) -> list[str]:
        if not self.best and self.likely:
            c = self.likely.citation
            where = ", ".join(x for x in (c.title, c.date, c.source) if x)
            return [
                f"Probably {self.likely.text} ({self.likely.confidence:.0%}) — the articles don't say it "
                "for sure.",
                f"  “{c.sentence}”",
                f"  — {where} [{c.article_id}, chars {c.start}-{c.end}]",
            ]
        if not self.best:
            lines = ["The articles don't say."]
            if self.answers:
                lines.append(
                    f"(Best guess, below the confidence threshold: {self.answers[0].text!r}, "
                    f"{self.answers[0].confidence:.0%};"
                    " --always-answer shows it)"
                )
            if self.passages:
                lines.append("Closest passages:")
                lines += [
                    f"  {n}. {_clip(h.passage.text)} [{h.passage.article_id}]"
                    for n, h in enumerate(self.passages[:3], 1)
                ]
            return lines
        c = self.best.citation
        where = ", ".join(x for x in (c.title, c.date, c.source) if x)
        sure = "confident" if self.confident else "confident: a best guess below the threshold"
        when = as_of(self.question, c.sentence, c.date)
        lines = [
            f"{self.best.text}  ({self.best.confidence:.0%} {sure})",
            f"  \u201c{c.sentence}\u201d" + (f" (article of {when})" if when else ""),
            f"  \u2014 {where} [{c.article_id}, chars {c.start}-{c.end}]"
            + (
                f" (the story was carried by {self.best.carried_by} sources)"
                if self.best.carried_by > 1
                else ""
            ),
        ]
        if self.timeline:
            lines.append(
                "Other answers, newest first: "
                + "; ".join(f"{a.text} \u2014 {(a.citation.date or '')[:10]}" for a in self.timeline[:4])
            )
        others = self.answers[1:4]
        if others:
            lines.append(
                "Other candidates: "
                + "; ".join(f"{a.text} ({a.confidence:.0%}, {a.citation.title})" for a in others)
            )
        return lines


def as_of(question: str, sentence: str, date: str | None) -> str | None:
    """The article's date, when the question or the cited sentence speaks relative to it ("next week")."""
    if date and (RELATIVE_TIME.search(sentence) or RELATIVE_TIME.search(question)):
        return date[:10]
    return None


RECENCY_FOR_THE_PRESENT = 2.0  # log-odds points per 30 days, for questions that ask for the present


def recency_for(question: str, setting: float | None) -> float:
    """The recency weight for a question: the setting, or by default 2.0 when it asks for the present, else 0."""
    if setting is not None:
        return setting
    return RECENCY_FOR_THE_PRESENT if PRESENT.search(question) else 0.0


def prefer_recent(answers: list[Answer], strength: float, threshold: float) -> list[Answer]:
    """Among the answers the engine would give (answerability at or above `threshold`), put the newest first.

    Each such answer loses `strength` log-odds points per 30 days that its newest
    supporting article is older than the newest of them (undated ones count as the
    oldest); the others keep their places after them. With strength 0, nothing moves.
    """
    plausible = [a for a in answers if a.answerability >= threshold]
    if strength <= 0 or len(plausible) < 2:
        return answers
    newest = {
        id(a): max((d for d in (day_number(e.date) for e in a.evidence) if d is not None), default=None)
        for a in plausible
    }
    known = [d for d in newest.values() if d is not None]
    if not known:
        return answers
    top, bottom = max(known), min(known)

    def adjusted(a: Answer) -> float:
        day = newest[id(a)]
        return a.answerability - strength * (top - (day if day is not None else bottom)) / 30

    return sorted(plausible, key=adjusted, reverse=True) + [a for a in answers if a.answerability < threshold]


def timeline(
    answers: list[Answer],
    threshold: float,
    stories: dict[str, frozenset[int]] | None = None,
    question: str = "",
) -> list[Answer]:
    """How a story changed: the other answers the engine would give, of the best answer's type, from articles
    of the same story on other days, newest first. Of the same story: the articles share a story band key
    (`stories`: article id -> keys, qa.duplicates: a republished copy), or, since a story that moved on is
    told in new words, the answer's cited sentence has at least two of the question's words and most of
    those the best answer's sentence has. Competing spans of the same day are not a change of story, nor are
    answers from other stories (they stay candidates); an undated best answer has no day to compare with."""
    if not answers or day_number(answers[0].citation.date) is None:
        return []
    best, stories = answers[0], stories or {}
    story = stories.get(best.citation.article_id, frozenset())
    kinds = candidate_types(best.text)
    asked = content_words(question)
    told = asked & content_words(best.citation.sentence)

    def same_story(a: Answer) -> bool:
        if any(story & stories.get(e.article_id, frozenset()) for e in a.evidence):
            return True
        shared = told & content_words(a.citation.sentence)
        return len(shared) >= 2 and 3 * len(shared) >= 2 * len(told)

    others = [
        a
        for a in answers[1:]
        if a.answerability >= threshold
        and day_number(a.citation.date) not in (None, day_number(best.citation.date))
        and normalize_answer(a.text) != normalize_answer(best.text)
        and (candidate_types(a.text) & kinds or not (candidate_types(a.text) or kinds))
        and same_story(a)
    ]
    return sorted(others, key=lambda a: a.citation.date or "", reverse=True)


def _clip(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rsplit(" ", 1)[0] + " \u2026"


def _evidence(article: Article, p: Passage, span: Span, no_answer: float, rule: AbstainRule) -> Evidence:
    """One span read in passage `p` of `article`, with the sentence that holds it."""
    s0, s1 = sentence_at(p.text, span.start, span.end)
    return Evidence(
        article.id,
        article.title,
        article.date,
        article.source,
        article.url,
        p.id,
        p.text,
        p.start,
        p.start + span.start,
        p.start + span.end,
        p.text[s0:s1],
        p.start + s0,
        p.start + s1,
        span.score,
        no_answer,
        answerability(span.score, no_answer, rule),
    )


def merge(
    readings: list[Reading],
    hits: list[Hit],
    articles: dict[str, Article],
    rule: AbstainRule = "ratio",
    confidence: Callable[[float], float] | None = None,
) -> list[Answer]:
    """Pool every passage's answers; answers with the same normalised text are one answer.

    An answer's answerability is its best evidence's (see `Answer`), and answers
    are ranked by it, so the first is the one the no-answer rule judges.
    `confidence` maps answerability to the score shown (calibrated; see also
    `share_confidence`); without it the score is 1 - prod(1 - p) over the evidence
    (independent passages agreeing). A span inside a dateline ("NEW YORK (AP) —"), a photo credit ("Jens
    Meyer/AP") or a boilerplate line (qa.boilerplate: one an index built before its rule kept) is no answer.
    """
    grouped: dict[str, list[Evidence]] = {}
    for reading, hit in zip(readings, hits):
        p = hit.passage
        article = articles[p.article_id]
        barred = never_answers(p.text) + boilerplate_spans(
            p.text
        )  # lines an older index kept as passage text
        for span in reading.spans:
            if any(s < span.end and span.start < e for s, e in barred):
                continue
            key = normalize_answer(span.text) or span.text.strip().lower()
            evidence = _evidence(article, p, span, reading.no_answer, rule)
            group = grouped.setdefault(key, [])
            if all(e.start != evidence.start or e.article_id != evidence.article_id for e in group):
                group.append(evidence)
    answers = []
    for group in grouped.values():
        group.sort(key=lambda e: e.answerability, reverse=True)
        best = group[0]
        if confidence is not None:
            score = confidence(best.answerability)
        else:
            miss = 1.0
            for e in group:
                miss *= 1.0 - e.score
            score = 1.0 - miss
        text = best.passage[best.start - best.passage_start : best.end - best.passage_start]
        answers.append(Answer(text, score, group, best.answerability))
    return sorted(answers, key=lambda a: (a.answerability, a.confidence), reverse=True)


def share_confidence(answers: list[Answer]) -> list[Answer]:
    """Calibrated confidences for a ranked list: the first keeps its own; the others share what it leaves.

    The calibration speaks for the answer given. The others share the chance that it
    is wrong, in proportion to their probability, so that the confidences shown never
    add up past 1; they are then listed by it.
    """
    if len(answers) < 2:
        return answers
    rest = answers[1:]
    mass = sum(a.citation.score for a in rest) or 1.0
    for a in rest:
        a.confidence = min(a.confidence, (1.0 - answers[0].confidence) * a.citation.score / mass)
    return answers[:1] + sorted(rest, key=lambda a: a.confidence, reverse=True)
