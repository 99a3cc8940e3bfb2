"""Extractive reading: find the answer span in each passage, or decide there is none.

transformers 5 has no question-answering pipeline, so windowing and span
decoding live here. Every window is scored with a softmax over its context
tokens *and* the [CLS] "no answer" slot, so a span's score is a probability in
[0, 1] that can be compared across passages, and a passage that does not hold
the answer puts its mass on [CLS] instead of on a lucky span.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.config import AbstainRule
from qa.errors import QAError

if TYPE_CHECKING:
    from qa.config import Config

logger = logging.getLogger(__name__)


@dataclass
class Span:
    """A candidate answer inside one of the texts that were read."""

    text: str
    start: int  # character offsets into that text
    end: int
    score: float  # P(this answer, in any of its overlapping forms), in [0, 1]
    text_index: int
    peak: float = 0.0  # P of its likeliest single span: what answers are ranked by (see pool_overlapping)


@dataclass
class Reading:
    """What the reader concluded about one text."""

    spans: list[Span]  # best first
    no_answer: float  # P(the text holds no answer), in [0, 1]

    @property
    def best(self) -> Span | None:
        return self.spans[0] if self.spans else None


def answerability(span_score: float, no_answer: float, rule: AbstainRule) -> float:
    """How strongly a passage's reading supports answering; below the threshold the engine abstains.

    "span": the answer's own probability; "null": 1 - P(no answer); "ratio": the
    log-odds of the answer against "no answer" in its passage, the usual SQuAD 2.0
    rule, which separates answerable from unanswerable best here (see the model card).
    """
    if rule == "span":
        return span_score
    if rule == "null":
        return 1.0 - no_answer
    return math.log(max(span_score, 1e-12)) - math.log(max(no_answer, 1e-12))


def pick_device(device: str | None) -> str:
    """'auto' or None means cuda when available, else cpu (torch is imported only to ask)."""
    if device not in (None, "auto"):
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Windows:
    """Cuts (question, text) pairs into the overlapping windows of word pieces the reader reads.

    Training and reading both use this, so the reader is trained on exactly the
    windows it will later see. It runs on the `tokenizers` library alone (what
    transformers' fast tokenizers wrap), so reading needs no transformers.
    """

    def __init__(self, tokenizer: Any, max_length: int, stride: int) -> None:
        from tokenizers import Tokenizer

        backend = getattr(
            tokenizer, "backend_tokenizer", tokenizer
        )  # a transformers tokenizer, or the plain one
        self.pairs = Tokenizer.from_str(backend.to_str())
        self.pairs.enable_truncation(max_length, stride=stride, strategy="only_second")
        self.pairs.no_padding()
        self.plain = Tokenizer.from_str(backend.to_str())
        self.plain.no_truncation()
        self.plain.no_padding()
        self.pad_id = (backend.padding or {}).get("pad_id") or self.plain.token_to_id("[PAD]") or 0

    def __call__(self, questions: Sequence[str], texts: Sequence[str]) -> list[tuple[int, Any]]:
        """(pair index, tokenizers.Encoding) for every window, pairs in order, windows in text order."""
        windows: list[tuple[int, Any]] = []
        for i, first in enumerate(self.pairs.encode_batch(list(zip(questions, texts)))):
            windows.extend((i, w) for w in [first, *first.overflowing])
        return windows

    def count(self, question: str) -> int:
        """How many word pieces `question` takes."""
        return len(self.plain.encode(question, add_special_tokens=False).ids)

    def fit(self, question: str, tokens: int) -> str:
        """`question` cut to its first `tokens` word pieces."""
        enc = self.plain.encode(question, add_special_tokens=False)
        return question if len(enc.ids) <= tokens else question[: enc.offsets[tokens - 1][1]]


def context_mask(window: Any) -> np.ndarray:
    """True for the tokens of a window that belong to the text (not question, not special)."""
    return np.array([sid == 1 for sid in window.sequence_ids], dtype=bool)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def decode_window(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    in_context: np.ndarray,
    max_answer_tokens: int,
    top_n: int,
) -> tuple[list[tuple[int, int, float]], float]:
    """Best (start_token, end_token, probability) spans of one window, and its no-answer probability."""
    allowed = in_context.copy()
    allowed[0] = True  # [CLS] is the no-answer slot
    start_lp = _log_softmax(np.where(allowed, start_logits, -np.inf))
    end_lp = _log_softmax(np.where(allowed, end_logits, -np.inf))
    null = float(np.exp(start_lp[0] + end_lp[0]))

    positions = np.flatnonzero(in_context)
    if positions.size == 0:
        return [], null
    # Only the best starts and ends can form the best spans: a small grid suffices.
    width = min(20, positions.size)
    starts = positions[np.argsort(start_lp[positions])[::-1][:width]]
    ends = positions[np.argsort(end_lp[positions])[::-1][:width]]
    scores = start_lp[starts][:, None] + end_lp[ends][None, :]
    gap = ends[None, :] - starts[:, None]
    scores[(gap < 0) | (gap >= max_answer_tokens)] = -np.inf
    spans = []
    for k in np.argsort(scores, axis=None)[::-1][:top_n]:
        i, j = divmod(int(k), width)
        if not np.isfinite(scores[i, j]):
            break
        spans.append((int(starts[i]), int(ends[j]), float(np.exp(scores[i, j]))))
    return spans, null


def within_lines(text: str, spans: Sequence[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """The (start, end, p) character spans that stay on one line of `text`.

    An answer never runs across a line break: news text puts headings and
    paragraphs on lines of their own, and a span from one into the next is not an answer.
    """
    return [(s, e, p) for s, e, p in spans if "\n" not in text[s:e]]


POOL_FROM = 20  # spans decoded per window before overlapping ones are pooled into answers
# How likely, against the likeliest, a shorter form must be to be shown (see pool_overlapping); checked on
# SQuAD v1.1 train by bench/experiments/knobs.py, never on dev.
SHORT_FORM = 0.8


def pool_overlapping(spans: Sequence[tuple[int, int, float]]) -> list[tuple[int, int, float, float]]:
    """One (start, end, probability, peak) per answer from a window's (start, end, probability) spans.

    Offsets are characters, ends exclusive; peak is the probability of the answer's
    likeliest span.

    Overlapping spans ("US Secretary of State Marco Rubio", "Marco Rubio") are one
    answer told more or less fully. They are exclusive outcomes of one softmax, so the
    answer's probability is their sum. It is shown as the shortest span inside its
    likeliest one that is at least SHORT_FORM times as likely (the short form the
    longer one wraps); answers are ordered by their likeliest span.
    """
    groups: list[list[tuple[int, int, float]]] = []
    for span in sorted(spans, key=lambda x: x[2], reverse=True):
        for group in groups:
            s0, e0, _ = group[0]  # an answer is anchored on its likeliest span
            if span[0] < e0 and s0 < span[1]:
                group.append(span)
                break
        else:
            groups.append([span])
    pooled: list[tuple[int, int, float, float]] = []
    for group in groups:  # already in order of their likeliest spans
        s0, e0, p0 = group[0]
        inside = [m for m in group if m[2] >= SHORT_FORM * p0 and s0 <= m[0] and m[1] <= e0]
        s, e, _ = min(inside, key=lambda m: (m[1] - m[0], -m[2]))
        pooled.append((s, e, sum(p for _, _, p in group), p0))
    return pooled


class Reader:
    """An extractive QA model: any Hub question-answering model name or local path.

    The model loads on first use; `read` cuts every text into windows (`Windows`)
    and reads them `batch_size` at a time. With `int8` on a CPU the model runs
    quantized on ONNX Runtime (see `qa.quantized`), one window at a time, and
    neither torch nor transformers is imported; otherwise it runs in torch.
    """

    def __init__(
        self,
        model: str | Path,
        device: str | None = "cpu",
        max_length: int = 256,
        stride: int = 96,
        max_answer_tokens: int = 30,
        batch_size: int = 32,
        int8: bool = False,
    ) -> None:
        self.model_name = str(model)
        self.int8 = int8
        self.device = device
        self.max_length = max_length
        self.stride = stride
        self.max_answer_tokens = max_answer_tokens
        self.batch_size = batch_size
        self._model: Any = None  # a torch model, or qa.quantized.Int8Reader
        self._windows: Windows | None = None

    @classmethod
    def from_config(cls, config: Config, batch_size: int = 32) -> Reader:
        """The reader a Config describes (model, device, windows, answer length, int8)."""
        return cls(
            config.reader_model,
            config.device,
            config.reader_max_length,
            config.reader_stride,
            config.max_answer_tokens,
            batch_size,
            int8=config.reader_int8,
        )

    @classmethod
    def from_loaded(cls, model: Any, tokenizer: Any, **kwargs: Any) -> Reader:
        """Wrap a torch model and its tokenizer already in memory (used to evaluate during training)."""
        reader = cls(getattr(model, "name_or_path", "in-memory"), **kwargs)
        reader._model, reader._windows = model, Windows(tokenizer, reader.max_length, reader.stride)
        reader.device = str(next(model.parameters()).device)
        return reader

    @property
    def max_question_tokens(self) -> int:
        """The most word pieces a question may take, so that every window keeps room for its text.

        The tokenizer needs the text's share of a window to exceed the stride
        (it panics otherwise), and a reader shown a sliver of text per window reads badly.
        """
        return max(8, min(96, self.max_length - self.stride - 32))

    def question_tokens(self, question: str) -> int:
        """How many word pieces the reader's tokenizer makes of `question` (loads only the tokenizer)."""
        return self._load_tokenizer().count(question)

    def _unloadable(self) -> QAError:
        return QAError(
            f"Could not load the reader model '{self.model_name}': it is neither a local "
            "folder with a question-answering model nor a model reachable on the Hub."
        )

    def _load_tokenizer(self) -> Windows:
        if self._windows is None:
            from qa.quantized import load_tokenizer

            try:
                self._windows = Windows(load_tokenizer(self.model_name), self.max_length, self.stride)
            except (OSError, ValueError) as exc:
                raise self._unloadable() from exc
        return self._windows

    def warm_up(self) -> None:
        """Load the model now rather than on the first question."""
        self._load()

    def _load(self) -> None:
        if self._model is not None:
            return
        device = pick_device(self.device)
        self._load_tokenizer()
        if self.int8 and device == "cpu":
            from qa.quantized import Int8Reader

            try:
                self._model, self.device = Int8Reader(self.model_name), device
                return
            except QAError:
                raise
            except OSError as exc:
                raise self._unloadable() from exc
            except Exception as exc:  # an architecture the exporter cannot handle: read in fp32 instead
                logger.warning(
                    "No int8 reader for '%s' (%s: %s); reading in fp32.",
                    self.model_name,
                    type(exc).__name__,
                    exc,
                )
        from transformers import AutoModelForQuestionAnswering

        try:
            model = AutoModelForQuestionAnswering.from_pretrained(self.model_name)
        except OSError as exc:
            raise self._unloadable() from exc
        self._model, self.device = model.float().to(device).eval(), device

    def _logits(self, windows: Sequence[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(start, end) logits of each window (a tokenizers.Encoding), over its own tokens."""
        from qa.quantized import Int8Reader

        if isinstance(self._model, Int8Reader):
            return [self._model.logits(w) for w in windows]
        import torch

        assert self._windows is not None  # loaded with the model
        width = max(len(w.ids) for w in windows)
        ids = np.full((len(windows), width), self._windows.pad_id, dtype=np.int64)
        mask, types = np.zeros_like(ids), np.zeros_like(ids)
        for n, w in enumerate(windows):
            ids[n, : len(w.ids)], mask[n, : len(w.ids)], types[n, : len(w.ids)] = w.ids, 1, w.type_ids
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        names = inspect.signature(
            self._model.forward
        ).parameters  # DistilBERT-like models take no token types
        with torch.inference_mode():
            out = self._model(
                **{k: torch.from_numpy(v).to(self.device) for k, v in inputs.items() if k in names}
            )
        starts, ends = out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()
        return [(starts[n, : len(w.ids)], ends[n, : len(w.ids)]) for n, w in enumerate(windows)]

    def read(self, question: str, texts: Sequence[str], top_n: int = 3) -> list[Reading]:
        """Read every text for one question."""
        return self.read_pairs([question] * len(texts), texts, top_n=top_n)

    def read_pairs(self, questions: Sequence[str], texts: Sequence[str], top_n: int = 3) -> list[Reading]:
        """Read (question, text) pairs; one Reading per pair, in order."""
        self._load()
        windowing = self._load_tokenizer()
        fitted = {q: windowing.fit(q, self.max_question_tokens) for q in set(questions)}
        windows = windowing([fitted[q] for q in questions], texts)
        spans: list[list[Span]] = [[] for _ in texts]
        nulls = [1.0 for _ in texts]
        for lo in range(0, len(windows), self.batch_size):
            batch = windows[lo : lo + self.batch_size]
            for (t, window), (start, end) in zip(batch, self._logits([w for _, w in batch])):
                window_spans, null = decode_window(
                    start, end, context_mask(window), self.max_answer_tokens, POOL_FROM
                )
                # A text has no answer only if none of its windows has one.
                nulls[t] = min(nulls[t], null)
                offsets = window.offsets
                in_chars = within_lines(
                    texts[t], [(offsets[s][0], offsets[e][1], p) for s, e, p in window_spans]
                )
                for c0, c1, p, peak in pool_overlapping(in_chars)[:top_n]:
                    spans[t].append(Span(texts[t][c0:c1], c0, c1, p, t, peak))
        readings = []
        for t, cands in enumerate(spans):
            kept: list[Span] = []
            for s in sorted(cands, key=lambda s: s.peak, reverse=True):
                # Windows overlap: an answer found in two of them is kept once, at its better score.
                if s.text.strip() and not any(s.start < k.end and k.start < s.end for k in kept):
                    kept.append(s)
            readings.append(Reading(kept[:top_n], nulls[t]))
        return readings
