"""The int8 encoder against fp32: dense recall@5 on SQuAD v1.1 dev for each mix, and passages/s.

    python bench/experiments/encoder_recall.py [--squad-file ../shared/data/squad/dev-v1.1.json.gz]

Encodes the dev paragraphs' passages and all 10,570 questions with the int8 ONNX
encoder and with sentence-transformers in fp32, then scores exact dense search
for the four mixes (passages × questions). About ten minutes on 2 cores.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import argparse
import time
from pathlib import Path

import numpy as np
from common import SQUAD  # first: this checkout's qa, models offline

from qa.articles import Article
from qa.embeddings import Embedder
from qa.passages import split_passages
from qa.squad import load_examples, load_paragraphs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--squad-file", type=Path, default=SQUAD / "dev-v1.1.json.gz")
    args = parser.parse_args()
    examples = [e for e in load_examples(args.squad_file) if not e.is_impossible]
    articles = [Article.from_text(c, title=t) for t, c in load_paragraphs(args.squad_file)]
    passages = [p.text for a in articles for p in split_passages(a, 120, 1)]
    questions = [e.question for e in examples]
    print(f"{len(passages)} passages, {len(questions)} questions")
    vectors = {}
    for precision in ("int8", "fp32"):
        embedder = Embedder("all-MiniLM-L6-v2", precision=precision)
        embedder.encode(passages[:16])  # load
        t0 = time.perf_counter()
        vectors[precision, "passages"] = embedder.encode(passages)
        print(f"{precision}: {len(passages) / (time.perf_counter() - t0):.0f} passages/s", flush=True)
        vectors[precision, "questions"] = embedder.encode(questions)
    lowered = [p.lower() for p in passages]
    for p in ("fp32", "int8"):
        for q in ("fp32", "int8"):
            top = np.argsort(-(vectors[q, "questions"] @ vectors[p, "passages"].T), axis=1)[:, :5]
            found = [
                any(a.lower() in lowered[j] for a in e.answers for j in row) for e, row in zip(examples, top)
            ]
            print(f"passages {p}, questions {q}: dense recall@5 {np.mean(found):.4f}")
    cosine = (vectors["fp32", "passages"] * vectors["int8", "passages"]).sum(axis=1)
    print(f"passage cosine int8 vs fp32: min {cosine.min():.4f}, mean {cosine.mean():.4f}")


if __name__ == "__main__":
    main()
