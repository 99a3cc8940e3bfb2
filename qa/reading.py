"""Extractive reading: find the answer span in each passage, or decide there is none.

transformers 5 has no question-answering pipeline, so windowing and span
decoding live here. Every window is scored with a softmax over its context
tokens *and* the [CLS] "no answer" slot, so a span's score is a probability in
[0, 1] that can be compared across passages, and a passage that does not hold
the answer puts its mass on [CLS] instead of on a lucky span.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

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
    """'auto' or None means cuda when available, else cpu."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def encode_windows(tokenizer: Any, questions: Sequence[str], texts: Sequence[str], max_length: int, stride: int) -> Any:
    """Tokenize (question, text) pairs into overlapping windows over the text.

    Training and reading both use this, so the reader is trained on exactly the
    windows it will later see.
    """
    return tokenizer(
        list(questions),
        list(texts),
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="longest",
    )


def context_mask(encoding: Any, index: int) -> np.ndarray:
    """True for the tokens of window `index` that belong to the text (not question, not special)."""
    return np.array([sid == 1 for sid in encoding.sequence_ids(index)], dtype=bool)


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
SHORT_FORM = 0.8  # how likely, against the likeliest, a shorter form must be to be shown (see pool_overlapping)


def pool_overlapping(spans: Sequence[tuple[int, int, float]]) -> list[tuple[int, int, float, float]]:
    """One (start, end, probability, peak) per answer from a window's (start, end, probability) spans.

    Offsets are characters, ends exclusive; peak is the probability of the answer's
    likeliest span.

    Overlapping spans ("US Secretary of State Marco Rubio", "Marco Rubio") are one
    answer told more or less fully. They are exclusive outcomes of one softmax, so the
    answer's probability is their sum. It is shown as the shortest span inside its
    likeliest one that is at least SHORT_FORM times as likely (the short form the
    longer one wraps); answers are ordered by their likeliest span. Measured on the
    10,570 SQuAD v1.1 dev questions (int8, always answering), EM / F1 by SHORT_FORM:
    1.0 (the likeliest span, as before pooling) 71.1 / 80.6; 0.8 71.4 / 80.6;
    0.7 71.5 / 80.5; 0.5 71.0 / 80.0.
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


def _numpy(logits: Any) -> np.ndarray:
    """Logits from torch (any device or dtype) or from ONNX Runtime, as float32 numpy."""
    return logits.float().cpu().numpy() if hasattr(logits, "cpu") else np.asarray(logits, dtype=np.float32)


class Reader:
    """An extractive QA model: any Hub question-answering model name or local path.

    The model loads on first use; `read` batches all texts of a question into one
    forward pass (per `batch_size` windows). With `int8` on a CPU the model runs
    quantized on ONNX Runtime (see `qa.quantized`) instead of in torch.
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
        self._model: Any = None
        self._tokenizer: Any = None

    @classmethod
    def from_config(cls, config: "Config", batch_size: int = 32) -> "Reader":
        """The reader a Config describes (model, device, windows, answer length, int8)."""
        return cls(config.reader_model, config.device, config.reader_max_length, config.reader_stride,
                   config.max_answer_tokens, batch_size, int8=config.reader_int8)

    @classmethod
    def from_loaded(cls, model: Any, tokenizer: Any, **kwargs: Any) -> "Reader":
        """Wrap a model already in memory (used to evaluate during training)."""
        reader = cls(getattr(model, "name_or_path", "in-memory"), **kwargs)
        reader._model, reader._tokenizer = model, tokenizer
        reader.device = str(next(model.parameters()).device)
        return reader

    @property
    def max_question_tokens(self) -> int:
        """The most word pieces a question may take, so that every window keeps room for its text.

        The tokenizer needs the text's share of a window to exceed the stride
        (it panics otherwise), and a reader shown a sliver of text per window reads badly.
        """
        return max(8, min(64, self.max_length - self.stride - 32))

    def question_tokens(self, question: str) -> int:
        """How many word pieces the reader's tokenizer makes of `question` (loads only the tokenizer)."""
        self._load_tokenizer()
        return len(self._tokenizer(question, add_special_tokens=False)["input_ids"])

    def _fit_question(self, question: str) -> str:
        """The question cut to `max_question_tokens` word pieces (callers that skip Engine.check_question)."""
        enc = self._tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
        if len(enc["input_ids"]) <= self.max_question_tokens:
            return question
        return question[: enc["offset_mapping"][self.max_question_tokens - 1][1]]

    def _load_tokenizer(self) -> None:
        if self._tokenizer is not None:
            return
        from transformers import AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_name)
        except OSError as exc:
            raise QAError(
                f"Could not load the reader model '{self.model_name}': it is neither a local "
                "folder with a question-answering model nor a model reachable on the Hub."
            ) from exc

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModelForQuestionAnswering

        device = pick_device(self.device)
        self._load_tokenizer()
        try:
            if self.int8 and device == "cpu":
                from qa.quantized import Int8Reader

                try:
                    self._model, self.device = Int8Reader(self.model_name), device
                    return
                except (QAError, OSError):
                    raise
                except Exception as exc:  # an architecture the exporter cannot handle: read in fp32 instead
                    logger.warning("No int8 reader for '%s' (%s: %s); reading in fp32.", self.model_name, type(exc).__name__, exc)
            model = AutoModelForQuestionAnswering.from_pretrained(self.model_name)
        except OSError as exc:
            raise QAError(
                f"Could not load the reader model '{self.model_name}': it is neither a local "
                "folder with a question-answering model nor a model reachable on the Hub."
            ) from exc
        self._model, self.device = model.float().to(device).eval(), device

    def read(self, question: str, texts: Sequence[str], top_n: int = 3) -> list[Reading]:
        """Read every text for one question."""
        return self.read_pairs([question] * len(texts), texts, top_n=top_n)

    def read_pairs(self, questions: Sequence[str], texts: Sequence[str], top_n: int = 3) -> list[Reading]:
        """Read (question, text) pairs; one Reading per pair, in order."""
        import torch

        self._load()
        fitted = {q: self._fit_question(q) for q in set(questions)}
        questions = [fitted[q] for q in questions]
        spans: list[list[Span]] = [[] for _ in texts]
        nulls = [1.0 for _ in texts]
        for lo in range(0, len(texts), self.batch_size):
            enc = encode_windows(self._tokenizer, questions[lo : lo + self.batch_size], texts[lo : lo + self.batch_size], self.max_length, self.stride)
            inputs = {k: torch.tensor(enc[k], device=self.device) for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
            with torch.inference_mode():
                out = self._model(**inputs)
            starts, ends = _numpy(out.start_logits), _numpy(out.end_logits)
            for w, pair in enumerate(enc["overflow_to_sample_mapping"]):
                t = lo + pair
                window_spans, null = decode_window(starts[w], ends[w], context_mask(enc, w), self.max_answer_tokens, POOL_FROM)
                # A text has no answer only if none of its windows has one.
                nulls[t] = min(nulls[t], null)
                offsets = enc["offset_mapping"][w]
                in_chars = within_lines(texts[t], [(offsets[s][0], offsets[e][1], p) for s, e, p in window_spans])
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


