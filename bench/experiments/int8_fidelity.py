"""How close each int8 graph is to the fp32 model it comes from, with 8-bit or 7-bit weights, on this CPU.

    python bench/experiments/int8_fidelity.py [--passages 300] [--questions 1500]

ONNX Runtime multiplies uint8 activations by int8 weights; on CPUs without VNNI instructions (AVX2 only)
pairs of those products are summed in 16 bits and can saturate, which weights quantized to 7 bits
(`reduce_range`) avoid at some cost in precision. `qa.quantized.SEVEN_BIT_WEIGHTS` chooses per kind of graph.
Both recipes are exported into temporary caches and measured side by side, in one run:

- the question and passage encoder, on passages of the 2023 news archive: cosine of each int8 vector to
  sentence-transformers' fp32 vector (mean and least), passages/s as shipped (`Embedder.encode`);
- the reader, on random SQuAD v1.1 train questions (this bench chooses a recipe, so it reads no held-out
  data), each on its own paragraph: how often its best span is the fp32 reader's, EM / F1, questions/s.
Timings are the better of two interleaved rounds. The CPU's VNNI support is printed beside them.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import SQUAD  # first: this checkout's qa, models offline
from speed import news_articles, passages_of

import qa.quantized
from qa.config import Config
from qa.embeddings import Embedder
from qa.evaluation import _best_spans
from qa.reading import Reader
from qa.squad import load_examples, score

RECIPES = {"8-bit weights": False, "7-bit weights": True}


def vnni() -> str:
    """The CPU's VNNI flags as Linux reports them, or 'none'."""
    try:
        flags = next(
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
        )
    except (OSError, StopIteration):
        return "unknown"
    found = [f for f in flags.split() if "vnni" in f]
    return " ".join(found) or "none"


def build(seven_bit: bool, cache: str, config: Config) -> tuple[Embedder, Reader]:
    """An int8 encoder and reader exported with this recipe into their own cache folder."""
    os.environ["QA_CACHE_DIR"] = cache
    qa.quantized.SEVEN_BIT_WEIGHTS = {"reader": seven_bit, "encoder": seven_bit}
    embedder = Embedder.from_config(config, "int8")
    embedder.encode(["warm"])
    reader = Reader(config.reader_model, int8=True)
    reader.warm_up()
    return embedder, reader


def timed(work: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = work(*args)
    return out, time.perf_counter() - start


def agreement(
    vectors: np.ndarray, want: np.ndarray, spans: list[str], fp32_spans: list[str], examples: list[Any]
) -> dict[str, float]:
    """The int8 encoder's vectors and reader's spans against the fp32 models' and the gold answers."""
    cosine = (vectors * want).sum(axis=1)
    scores = [score(s, e.answers) for s, e in zip(spans, examples)]
    return {
        "encoder_cosine_mean": round(float(cosine.mean()), 4),
        "encoder_cosine_least": round(float(cosine.min()), 4),
        "reader_same_span_as_fp32_pct": round(
            100 * float(np.mean([a == b for a, b in zip(spans, fp32_spans)])), 1
        ),
        "reader_em": round(100 * float(np.mean([m for m, _ in scores])), 2),
        "reader_f1": round(100 * float(np.mean([f for _, f in scores])), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--passages", type=int, default=300)
    parser.add_argument("--questions", type=int, default=1500)
    args = parser.parse_args()
    config = Config()
    texts = passages_of(news_articles(2000), args.passages, config)
    examples = load_examples(SQUAD / "train-v1.1.json.gz")
    random.Random(11).shuffle(examples)
    examples = examples[: args.questions]

    from sentence_transformers import SentenceTransformer

    from qa.embeddings import resolve_model

    want = SentenceTransformer(resolve_model(config.embedding_model), device="cpu").encode(
        texts, normalize_embeddings=True
    )
    fp32_spans, _ = _best_spans(Reader(config.reader_model, int8=False), examples, 32, False, "ratio")
    result: dict[str, Any] = {"cpu_vnni": vnni(), "passages": len(texts), "questions": len(examples)}
    with tempfile.TemporaryDirectory() as tmp:
        built = {name: build(bits, f"{tmp}/{n}", config) for n, (name, bits) in enumerate(RECIPES.items())}
        seconds: dict[str, dict[str, list[float]]] = {name: {"encode": [], "read": []} for name in RECIPES}
        for _ in range(2):
            for name, (embedder, reader) in built.items():
                vectors, took = timed(embedder.encode, texts)
                seconds[name]["encode"].append(took)
                (spans, _), took = timed(_best_spans, reader, examples, 32, False, "ratio")
                seconds[name]["read"].append(took)
                result[name] = agreement(vectors, want, spans, fp32_spans, examples)
        for name, s in seconds.items():
            result[name]["encoder_passages_per_s"] = round(len(texts) / min(s["encode"]), 1)
            result[name]["reader_questions_per_s"] = round(len(examples) / min(s["read"]), 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
