"""Articles → passages: sentence-aware chunks that remember where they came from."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import nupunkt

from qa.boilerplate import boilerplate_spans

if TYPE_CHECKING:
    from qa.articles import Article


@dataclass
class Passage:
    """A chunk of an article; `text == article.text[start:end]` always holds."""

    id: str
    article_id: str
    text: str
    start: int
    end: int


@dataclass
class Hit:
    """A passage found for a question, with its article."""

    passage: Passage
    article: Article  # the article the passage comes from, without its text (Engine.articles has it)
    score: float  # fused score (hybrid) or the retriever's own
    dense_rank: int | None = None
    bm25_rank: int | None = None


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in `text`, without surrounding whitespace.

    A line break always ends a sentence: news text has headings and
    paragraphs without final punctuation.
    """
    spans = []
    for line in re.finditer(r"[^\n]+", text):
        for start, end in nupunkt.sent_spans(line.group()):
            piece = line.group()[start:end]
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece) - len(piece.rstrip())
            if end - trail > start + lead:
                spans.append((line.start() + start + lead, line.start() + end - trail))
    return spans


def sentence_at(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of the sentence(s) covering text[start:end], for citing an answer."""
    spans = sentence_spans(text)
    covering = [s for s in spans if s[0] < end and s[1] > start]
    if not covering:
        return start, end
    return covering[0][0], covering[-1][1]


CHARS_PER_WORD = (
    12  # a passage holds at most this many characters per word of its target (see split_passages)
)


def bounded(text: str, start: int, end: int, max_words: int, max_chars: int) -> list[tuple[int, int]]:
    """text[start:end] cut at spaces into pieces of at most `max_words` words and `max_chars` characters.

    A "word" longer than `max_chars` (text without spaces) is cut every `max_chars` characters.
    """
    pieces: list[tuple[int, int]] = []
    first, last, count = -1, -1, 0
    for match in re.finditer(r"\S+", text[start:end]):
        word_start, word_end = start + match.start(), start + match.end()
        while word_end - word_start > max_chars:
            if first >= 0:
                pieces.append((first, last))
                first, count = -1, 0
            pieces.append((word_start, word_start + max_chars))
            word_start += max_chars
        if first >= 0 and (count >= max_words or word_end - first > max_chars):
            pieces.append((first, last))
            first, count = -1, 0
        if first < 0:
            first = word_start
        last, count = word_end, count + 1
    if first >= 0:
        pieces.append((first, last))
    return pieces


def split_passages(article: Article, target_words: int = 120, overlap_sentences: int = 1) -> list[Passage]:
    """Greedy sentence packing up to about `target_words`, repeating `overlap_sentences` sentences between neighbours.

    The overlap keeps an answer whose evidence straddles a boundary readable in one piece. Whatever
    the punctuation, no passage is longer than `target_words` words or CHARS_PER_WORD characters per
    target word: a sentence that is longer (text with no sentence ends) is cut at spaces first, so
    one article can never make a question's reading slow. Boilerplate lines (datelines, bylines,
    credits, newsletter and ad apparatus: qa.boilerplate) are left out, and no passage spans one.
    """
    max_chars = CHARS_PER_WORD * target_words
    passages: list[Passage] = []
    for run in news_runs(article.text):
        sentences = [piece for s, e in run for piece in bounded(article.text, s, e, target_words, max_chars)]
        for start, end in pack(article.text, sentences, target_words, overlap_sentences, max_chars):
            passages.append(
                Passage(f"{article.id}:{len(passages)}", article.id, article.text[start:end], start, end)
            )
    return passages


def news_runs(text: str) -> list[list[tuple[int, int]]]:
    """The sentence spans of `text`, in runs of consecutive sentences that are not boilerplate.

    Linear in the text: a sentence lies within one line, so the last boilerplate line starting at or before it
    (found by bisection in the ordered lines) is the only one that can hold it."""
    bad = boilerplate_spans(text)
    starts = [b0 for b0, _ in bad]
    runs: list[list[tuple[int, int]]] = [[]]
    for start, end in sentence_spans(text):
        at = bisect.bisect_right(starts, start) - 1
        if at >= 0 and end <= bad[at][1]:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((start, end))
    return [run for run in runs if run]


def pack(
    text: str, sentences: list[tuple[int, int]], target_words: int, overlap_sentences: int, max_chars: int
) -> list[tuple[int, int]]:
    """(start, end) of each passage packed greedily from consecutive `sentences` (see split_passages)."""
    words = [len(text[s:e].split()) for s, e in sentences]
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(sentences):
        last, count = first, words[first]
        while (
            last + 1 < len(sentences)
            and count + words[last + 1] <= target_words
            and sentences[last + 1][1] - sentences[first][0] <= max_chars
        ):
            last += 1
            count += words[last]
        spans.append((sentences[first][0], sentences[last][1]))
        if last + 1 >= len(sentences):
            break
        # Step back for the overlap, but always move forward.
        first = max(first + 1, last + 1 - overlap_sentences)
    return spans
