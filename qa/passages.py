"""Articles → passages: sentence-aware chunks that remember where they came from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import nupunkt

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


def split_passages(article: "Article", target_words: int = 120, overlap_sentences: int = 1) -> list[Passage]:
    """Greedy sentence packing up to about `target_words`, repeating `overlap_sentences` sentences between neighbours.

    The overlap keeps an answer whose evidence straddles a boundary readable in one piece.
    """
    sentences = sentence_spans(article.text)
    words = [len(article.text[s:e].split()) for s, e in sentences]
    passages: list[Passage] = []
    first = 0
    while first < len(sentences):
        last, count = first, words[first]
        while last + 1 < len(sentences) and count + words[last + 1] <= target_words:
            last += 1
            count += words[last]
        start, end = sentences[first][0], sentences[last][1]
        passages.append(Passage(f"{article.id}:{len(passages)}", article.id, article.text[start:end], start, end))
        if last + 1 >= len(sentences):
            break
        # Step back for the overlap, but always move forward.
        first = max(first + 1, last + 1 - overlap_sentences)
    return passages
