"""How fast passages can be embedded on this CPU, and what batching would buy: the same real news passages, one run.

    python bench/experiments/encoding.py [--passages 600]

Ways, side by side on the same passages of the 2023 news archive (int8 all-MiniLM-L6-v2, the shipped graph):
- one passage a call on one session using every core (how builds ran before the encoder's thread pool);
- as shipped (`Embedder.encode`): one passage a call, on a pool of one-thread sessions, one per core;
- padded batches of 4, 16 and 32 passages of similar length on one session using every core. A batch's int8
  activations are scaled together, so its vectors are not the ones a passage gets alone: the least cosine to
  the shipped vector is printed beside the speed;
- where the time goes: ONNX Runtime's own profile of one thread, share of time per operator type.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import argparse
import collections
import json
import os
import tempfile
import time
from typing import Any

import numpy as np
from common import ROOT  # noqa: F401 - first: this checkout's qa, models offline
from speed import news_articles, passages_of

from qa.config import Config
from qa.embeddings import Embedder
from qa.quantized import Int8Encoder


def _feed(encodings: list[Any]) -> dict[str, np.ndarray]:
    """A padded batch of tokenised passages."""
    width = max(len(e.ids) for e in encodings)

    def padded(rows: list[list[int]]) -> np.ndarray:
        return np.array([r + [0] * (width - len(r)) for r in rows], dtype=np.int64)

    return {
        "input_ids": padded([e.ids for e in encodings]),
        "attention_mask": padded([e.attention_mask for e in encodings]),
        "token_type_ids": padded([e.type_ids for e in encodings]),
    }


def _session(encoder: Int8Encoder, threads: int, profile: str | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    return ort.InferenceSession(str(encoder.graph), options, providers=["CPUExecutionProvider"])


def per_second(count: int, work: Any) -> float:
    start = time.perf_counter()
    work()
    return round(count / (time.perf_counter() - start), 1)


def batched(encoder: Int8Encoder, encodings: list[Any], size: int, shipped: np.ndarray) -> dict[str, float]:
    """Passages/s in padded batches of `size` (sorted by length), and the least cosine to the shipped vectors."""
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    session = _session(encoder, os.cpu_count() or 1)
    batches = [order[at : at + size] for at in range(0, len(order), size)]
    feeds = [_feed([encodings[i] for i in b]) for b in batches]
    session.run(None, feeds[0])  # warm
    vectors = np.zeros_like(shipped)

    def run() -> None:
        for b, feed in zip(batches, feeds):
            vectors[b] = session.run(None, feed)[0]

    speed = per_second(len(encodings), run)
    return {"per_s": speed, "least_cosine_to_shipped": round(float((vectors * shipped).sum(1).min()), 4)}


def operator_shares(encoder: Int8Encoder, encodings: list[Any]) -> dict[str, float]:
    """Share of one thread's time per ONNX operator type, over these passages encoded one a call."""
    with tempfile.TemporaryDirectory() as tmp:
        session = _session(encoder, 1, f"{tmp}/profile")
        for e in encodings:
            encoder._run(session, e)
        with open(session.end_profiling(), encoding="utf-8") as f:
            events = json.load(f)
    time_by_op: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            time_by_op[event["args"]["op_name"]] += event["dur"]
    total = sum(time_by_op.values())
    return {op: round(t / total, 3) for op, t in time_by_op.most_common(6)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--passages", type=int, default=600)
    args = parser.parse_args()
    config = Config()
    texts = passages_of(news_articles(2000), args.passages, config)
    embedder = Embedder.from_config(config, "int8")
    encoder = embedder.model
    encodings = encoder.tokenizer.encode_batch(texts)
    embedder.encode(texts[:40])  # loaded and warm
    shipped = np.zeros((len(texts), embedder.dimension), dtype=np.float32)

    def as_shipped() -> None:
        shipped[:] = embedder.encode(texts)

    result: dict[str, Any] = {
        "passages": len(texts),
        "tokens_per_passage": round(float(np.mean([len(e.ids) for e in encodings])), 1),
        "cores": os.cpu_count(),
    }
    all_cores = _session(encoder, os.cpu_count() or 1)
    result["one_a_call_all_cores_per_s"] = per_second(
        len(texts), lambda: [encoder._run(all_cores, e) for e in encodings]
    )
    result["shipped_per_s"] = per_second(len(texts), as_shipped)
    result["batched"] = {size: batched(encoder, encodings, size, shipped) for size in (4, 16, 32)}
    one = _session(encoder, 1)
    result["one_thread_per_s"] = per_second(len(texts), lambda: [encoder._run(one, e) for e in encodings])
    result["operator_shares_one_thread"] = operator_shares(encoder, encodings[:200])
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
