"""Text normalisation shared by the stages: answers compared and words looked up as SQuAD's scorer does.

The normalisation follows the official SQuAD v1.1/v2.0 evaluation script (lower case, ASCII punctuation and
English articles removed, whitespace collapsed), so the engine's merging of answers, its ranker's features and
the benchmarks' scores agree on when two spans are the same answer.
"""

from __future__ import annotations

import re
import string

# A regex deletes ASCII punctuation as str.translate would, several times faster on text that is not all
# ASCII (curly quotes: news), where translate loses its fast path.
PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")
ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Official SQuAD normalisation (lower case; ASCII punctuation, articles and extra spaces removed)."""
    return " ".join(ARTICLES.sub(" ", PUNCTUATION.sub("", text.lower())).split())


def normalized_words(text: str) -> set[str]:
    """The words of `text` as `normalize_answer` splits them, articles included (for looking words up)."""
    return set(PUNCTUATION.sub("", text.lower()).split())
