"""Would a cheap answer check beside the reader abstain better? A probe, run on demand.

    python bench/experiments/abstain_probe.py [--squad-dir ../shared/data/squad] [--reader qa/models/reader]

SQuAD 2.0's unanswerable questions are written to look answerable: an ordinal,
a name, a negation or an antonym away from a sentence of the paragraph. This
probe adds lexical features of the question against the answer's sentence
(question words missing from it, missing names and numbers, "not" without a
negation in the sentence, an antonym of a sentence word, ...) to the reader's
own scores, fits a logistic regression on them, and prints SQuAD 2.0 dev NoAns
accuracy at HasAns F1 70 for:

- the reader's ratio alone (what ships);
- the check fitted on synthetic unanswerables (`qa.training.make_pairs`) from
  the 13 SQuAD v1.1 dev articles that SQuAD 2.0 dev does not use: a fair test;
- the check fitted on one half of SQuAD 2.0 dev's articles and scored on the
  other (2-fold, 3 splits): an upper bound, since it learns from the very kind
  of question it is scored on.

Needs scikit-learn (installed with sentence-transformers). About 12 minutes on 2 cores.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import argparse
import math
import os
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from qa.config import SHIPPED_READER  # noqa: E402
from qa.evaluation import threshold_keeping  # noqa: E402
from qa.passages import sentence_at  # noqa: E402
from qa.reading import Reader, Reading, answerability  # noqa: E402
from qa.squad import load_examples, read_squad_json, score  # noqa: E402
from qa.training import _OPPOSITE, make_pairs  # noqa: E402

WORD = re.compile(r"[A-Za-z0-9]+")
NEGATION = re.compile(r"\b(not|never|no|none|without)\b|n't", re.IGNORECASE)
NAME_OR_NUMBER = re.compile(r"\b([A-Z][\w-]*|\d[\d,.]*)\b")


def features(question: str, context: str, reading: Reading, stem, stopwords: set[str]) -> list[float]:
    """The reader's scores, and how much of the question the answer's sentence (and paragraph) leaves out."""
    best = reading.best
    span = best.score if best else 1e-12
    second = reading.spans[1].score if len(reading.spans) > 1 else 1e-12
    start, end = (best.start, best.end) if best else (0, 0)
    s0, s1 = sentence_at(context, start, end)
    sentence = context[s0:s1]

    def stems(text: str) -> set[str]:
        return {stem(w.lower()) for w in WORD.findall(text) if w.lower() not in stopwords}

    asked, in_sentence, in_paragraph = stems(question), stems(sentence), stems(context)
    n = max(1, len(asked))
    names = [m.group() for m in NAME_OR_NUMBER.finditer(question) if m.start() > 0]
    words = {w.lower() for w in WORD.findall(sentence)}
    antonyms = sum(
        1
        for w in WORD.findall(question)
        if w.lower() in _OPPOSITE and w.lower() not in words and _OPPOSITE[w.lower()] in words
    )
    negated = bool(NEGATION.search(question))
    return [
        answerability(span, reading.no_answer, "ratio"),
        math.log(span),
        math.log(max(reading.no_answer, 1e-12)),
        math.log(second) - math.log(span),
        len(asked - in_paragraph) / n,
        len(asked - in_sentence) / n,
        len(asked - in_sentence),
        sum(1 for m in names if m.lower() not in context.lower()),
        sum(1 for m in names if m.lower() not in sentence.lower()),
        float(negated),
        float(negated and not NEGATION.search(sentence)),
        float(antonyms),
        float(len(asked)),
    ]


def read_all(
    reader: Reader, pairs: list[tuple[str, str]], stem, stopwords: set[str]
) -> tuple[np.ndarray, list[str]]:
    """Features and best answer text of each (question, context) pair."""
    from tqdm.auto import tqdm

    rows, texts = [], []
    for lo in tqdm(range(0, len(pairs), 64), desc="reading", unit="batch"):
        chunk = pairs[lo : lo + 64]
        for (q, c), reading in zip(
            chunk, reader.read_pairs([q for q, _ in chunk], [c for _, c in chunk], top_n=2)
        ):
            rows.append(features(q, c, reading, stem, stopwords))
            texts.append(reading.best.text if reading.best else "")
    return np.array(rows), texts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--squad-dir", type=Path, default=ROOT.parent / "shared" / "data" / "squad")
    parser.add_argument("--reader", default=str(SHIPPED_READER))
    args = parser.parse_args()

    import Stemmer
    from bm25s.stopwords import STOPWORDS_EN
    from sklearn.linear_model import LogisticRegression

    stem = Stemmer.Stemmer("english").stemWord
    stopwords = set(STOPWORDS_EN) | {
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "many",
        "much",
    }
    reader = Reader(args.reader, int8=True)

    dev2 = load_examples(args.squad_dir / "dev-v2.0.json.gz")
    X, texts = read_all(reader, [(e.question, e.context) for e in dev2], stem, stopwords)
    impossible = np.array([e.is_impossible for e in dev2])
    f1 = np.array([score(t, e.answers)[1] if e.answers else 0.0 for t, e in zip(texts, dev2)])
    titles = np.array([e.title for e in dev2])

    def no_ans_at_floor(s: np.ndarray) -> float:
        return 100 * float((s < threshold_keeping(s, f1, impossible, 0.70))[impossible].mean())

    def fitted(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
        return LogisticRegression(C=0.1, max_iter=5000).fit(x, y)

    v2_titles = {a["title"] for a in read_squad_json(args.squad_dir / "dev-v2.0.json.gz")["data"]}
    other = [e for e in load_examples(args.squad_dir / "dev-v1.1.json.gz") if e.title not in v2_titles]
    pairs = make_pairs(other, negatives=2.0, seed=101)
    Xs, _ = read_all(reader, [(q, c) for q, c, _, _ in pairs], stem, stopwords)
    synthetic = fitted(Xs, np.array([start >= 0 for _, _, start, _ in pairs])).decision_function(X)

    upper = []
    for seed in range(3):
        order = np.unique(titles)
        np.random.default_rng(seed).shuffle(order)
        s = np.zeros(len(X))
        for half in (order[0::2], order[1::2]):
            held = np.isin(titles, half)
            s[held] = fitted(X[~held], ~impossible[~held]).decision_function(X[held])
        upper.append(no_ans_at_floor(s))

    print(f"SQuAD 2.0 dev ({len(dev2)} questions), NoAns accuracy at HasAns F1 70:")
    print(f"  reader's ratio alone (shipped)                          {no_ans_at_floor(X[:, 0]):.1f}")
    print(
        f"  + check fitted on synthetic negatives ({len(pairs)} pairs, {len(other)} questions)   {no_ans_at_floor(synthetic):.1f}"
    )
    print(
        f"  + check fitted on the other half of SQuAD 2.0 dev (3 splits)   {np.mean(upper):.1f} ({', '.join(f'{u:.1f}' for u in upper)})"
    )


if __name__ == "__main__":
    main()
