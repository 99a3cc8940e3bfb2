"""SQuAD-format data and the official EM/F1 scoring.

The normalisation (qa/text.py) follows the official SQuAD v1.1/v2.0 evaluation
script (lower-case, strip punctuation and English articles, collapse
whitespace), so our numbers are comparable with published ones.
"""

from __future__ import annotations

import collections
import gzip
import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

from qa.errors import InputError
from qa.text import normalize_answer


@dataclass
class SquadExample:
    """One question over one paragraph; `answers` is empty when unanswerable."""

    id: str
    title: str
    question: str
    context: str
    answers: list[str] = field(default_factory=list)
    answer_starts: list[int] = field(default_factory=list)

    @property
    def is_impossible(self) -> bool:
        return not self.answers


def read_squad_json(path: str | Path) -> dict:
    """Load a plain or gzipped SQuAD JSON file."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:  # also gzip's BadGzipFile
        raise InputError(
            f"{path} could not be read ({getattr(exc, 'strerror', None) or exc}); pass a SQuAD-format "
            ".json or .json.gz file."
        ) from None
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError
        raise InputError(
            f"{path} is not a SQuAD-format file (not JSON); pass a SQuAD-format .json or .json.gz "
            "file such as SQuAD v1.1's train-v1.1.json."
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise InputError(f"{path} is not a SQuAD-format file (no top-level 'data' list).")
    return data


def load_examples(path: str | Path, limit: int | None = None) -> list[SquadExample]:
    """Flatten a SQuAD file into examples, in file order; InputError in one line for a file of another shape."""
    data = read_squad_json(path)["data"]
    try:
        return _examples(data, limit)
    except (KeyError, TypeError, AttributeError):
        raise InputError(
            f"{path} is not a SQuAD-format file (its articles lack paragraphs, questions or "
            "answers in SQuAD's fields)."
        ) from None


def _examples(data: list, limit: int | None) -> list[SquadExample]:
    examples: list[SquadExample] = []
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                examples.append(
                    SquadExample(
                        id=qa["id"],
                        title=article.get("title", ""),
                        question=qa["question"],
                        context=paragraph["context"],
                        answers=[a["text"] for a in answers],
                        answer_starts=[a["answer_start"] for a in answers],
                    )
                )
                if limit is not None and len(examples) >= limit:
                    return examples
    return examples


def load_paragraphs(path: str | Path) -> list[tuple[str, str]]:
    """All (title, context) paragraphs of a SQuAD file, in file order."""
    return [
        (article.get("title", ""), paragraph["context"])
        for article in read_squad_json(path)["data"]
        for paragraph in article["paragraphs"]
    ]


def paragraphs_by_title(examples: list[SquadExample]) -> dict[str, list[str]]:
    """Each article's paragraphs, in file order (examples of one paragraph follow each other)."""
    by_title: dict[str, list[str]] = {}
    for e in examples:
        paragraphs = by_title.setdefault(e.title, [])
        if not paragraphs or paragraphs[-1] != e.context:
            paragraphs.append(e.context)
    return by_title


def realistic_mix(examples: list[SquadExample], seed: int = 13) -> tuple[list[SquadExample], list[str]]:
    """Answerable questions, each paired with one truly unanswerable twin, and every pair's kind.

    SQuAD 2.0's unanswerables were written to look answerable from their very
    paragraph; a news reader mostly meets the plain case instead: a question beside
    a passage that simply does not hold the answer. So each answerable question
    ("answerable", its own paragraph) gets a twin: the same question beside a
    paragraph of another article ("other-article") or, for every second question,
    beside another paragraph of its own article that contains none of its answers
    ("same-article": the harder case, common in news, where many articles tell one
    story; another article's paragraph when there is none). Half the pairs are
    answerable, as the threshold is fitted on. Unanswerable questions in the input are dropped.
    """
    rng = random.Random(seed)
    by_title = paragraphs_by_title(examples)
    titles = list(by_title)
    mixed: list[SquadExample] = []
    kinds: list[str] = []
    for n, e in enumerate(e for e in examples if not e.is_impossible):
        mixed.append(e)
        kinds.append("answerable")
        lacking = [
            c
            for c in by_title[e.title]
            if c != e.context and not any(a.lower() in c.lower() for a in e.answers)
        ]
        others = [t for t in titles if t != e.title]
        if n % 2 and lacking:
            context, kind = rng.choice(lacking), "same-article"
        elif others:
            context, kind = rng.choice(by_title[rng.choice(others)]), "other-article"
        else:
            continue
        mixed.append(replace(e, id=f"{e.id}/{kind}", context=context, answers=[], answer_starts=[]))
        kinds.append(kind)
    return mixed, kinds


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1(prediction: str, truth: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    truth_tokens = normalize_answer(truth).split()
    if not pred_tokens or not truth_tokens:
        # SQuAD 2.0 rule: both empty is a match, one empty is not.
        return float(pred_tokens == truth_tokens)
    common = collections.Counter(pred_tokens) & collections.Counter(truth_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def score(prediction: str, truths: list[str]) -> tuple[float, float]:
    """(EM, F1) of one prediction against its gold answers; '' means no answer."""
    if not truths:
        truths = [""]
    return (
        max(exact_match(prediction, t) for t in truths),
        max(f1(prediction, t) for t in truths),
    )
