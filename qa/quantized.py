"""The models in int8 on ONNX Runtime: the fast way to read and to encode questions on a laptop CPU.

The shipped weights stay the one copy; each int8 graph is derived from them on
first use (export, fuse attention and layer norms, quantize the weights per
channel) and cached on disk under a key made of the weights' checksum, so it is
rebuilt only when the model changes. A few seconds, once, and the only step that
needs torch: running a cached graph needs only onnxruntime and `tokenizers`, so a
question is answered without importing torch or transformers at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import QAError
from qa.files import sha256_file, write_atomic

logger = logging.getLogger(__name__)
CACHE_VERSION = "3"  # bump when an export recipe changes, so old graphs are not reused
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Weights in 7 bits (`reduce_range`) per kind of graph. ONNX Runtime multiplies uint8 activations by int8
# weights; on CPUs without VNNI instructions (AVX2 only) pairs of those products are summed in 16 bits and can
# saturate, which 7-bit weights avoid. Chosen per kind by `python bench/experiments/int8_fidelity.py` (agreement with
# the fp32 model, and speed).
SEVEN_BIT_WEIGHTS = {"reader": False, "encoder": True}


def cache_dir() -> Path:
    """$QA_CACHE_DIR, else the user's cache folder (XDG)."""
    if os.environ.get("QA_CACHE_DIR"):
        return Path(os.environ["QA_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa-news"


def _version(package: str) -> str:
    """An installed package's version, read from its metadata (importing torch to ask would cost seconds)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def model_key(model_name: str, kind: str = "reader") -> str:
    """Checksum of a local model's weights and config, and of the tools that export it; a Hub name stands for itself."""
    tools = " ".join(_version(p) for p in ("onnxruntime", "torch", "transformers"))
    folder = Path(model_name)
    files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")) + [folder / "config.json"]
    weights = _checksum([f for f in files if f.exists()]) if folder.is_dir() else model_name
    return hashlib.sha256(f"{CACHE_VERSION} {kind} {tools} {weights}".encode()).hexdigest()[:20]


def _checksum(files: list[Path]) -> str:
    """sha256 over the files, remembered in the cache by their sizes and modification times.

    Hashing the two shipped models' 135 MB took 0.13 s of every `qa ask`; a file
    changed in any way gets a new size or modification time, and is hashed again.
    """
    stamps = json.dumps([(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files])
    key = hashlib.sha256(stamps.encode()).hexdigest()
    memo = cache_dir() / "checksums.json"
    try:
        known = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if isinstance(known, dict) and isinstance(known.get(key), str):
        return known[key]
    digest = hashlib.sha256()
    for path in files:
        digest.update(bytes.fromhex(sha256_file(path)))
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(
            memo, json.dumps({**(known if isinstance(known, dict) else {}), key: digest.hexdigest()})
        )
    except OSError:
        pass  # an unwritable cache: hash again next time
    return digest.hexdigest()


class _QuietRoot(logging.Filter):
    """Drops the quantizer's advice, which it logs to the root logger, without touching anyone else's logging."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.WARNING


@contextlib.contextmanager
def _exporting(target: Path) -> Iterator[Path]:
    """A temporary folder beside `target` for the export's steps; the exporters' notes are kept quiet meanwhile."""
    target.parent.mkdir(parents=True, exist_ok=True)
    quiet = _QuietRoot()
    root = logging.getLogger()
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracing notes
        root.addFilter(quiet)
        try:
            yield Path(tmp)
        finally:
            root.removeFilter(quiet)


def _fuse_and_quantize(plain: Path, target: Path, config: Any, seven_bit: bool) -> None:
    """Fuse a BERT-like ONNX graph for CPU and quantize its weights to int8 (or 7 bits), atomically into
    `target`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    fused, quantized = plain.with_name("fused.onnx"), plain.with_name("int8.onnx")
    optimizer.optimize_model(
        str(plain), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
    ).save_model_to_file(str(fused))
    quantize_dynamic(
        str(fused),
        str(quantized),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=seven_bit,
        extra_options={"DefaultTensorType": 1},
    )  # 1 = float, for the fused ops' outputs
    os.replace(quantized, target)


def _export(
    model: Any, outputs: Callable[..., Any], output_names: list[str], tokenizer: Any, target: Path, kind: str
) -> None:
    """Trace `outputs(model, **inputs)` to ONNX with dynamic batch and length, then fuse and quantize it."""
    import torch

    sample = tokenizer(
        ["Who?", "Who leads?"],
        ["A short text.", "A somewhat longer text."],
        padding=True,
        return_tensors="pt",
    )
    names = [k for k in INPUTS if k in sample]

    class Traced(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: Any) -> Any:
            return outputs(self.model, **dict(zip(names, args)))

    axes = {k: {0: "batch", 1: "tokens"} for k in [*names, *output_names]}
    if output_names == ["vector"]:
        axes["vector"] = {0: "batch"}
    with _exporting(target) as tmp:
        plain = tmp / "plain.onnx"
        torch.onnx.export(
            Traced(),
            tuple(sample[k] for k in names),
            str(plain),
            input_names=names,
            output_names=output_names,
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
        _fuse_and_quantize(plain, target, model.config, SEVEN_BIT_WEIGHTS[kind])


def export_reader_int8(model_name: str, target: Path) -> None:
    """The QA model's start and end logits as an int8 graph in `target`."""
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    # Eager attention exports as plain matmuls that ONNX Runtime can fuse into its Attention kernel.
    model = (
        AutoModelForQuestionAnswering.from_pretrained(model_name, attn_implementation="eager").float().eval()
    )

    def logits(m: Any, **inputs: Any) -> Any:
        out = m(**inputs)
        return out.start_logits, out.end_logits

    _export(model, logits, ["start", "end"], AutoTokenizer.from_pretrained(model_name), target, "reader")


def export_encoder_int8(model_name: str, target: Path) -> None:
    """A mean-pooled, normalised sentence encoder (all-MiniLM-L6-v2's recipe) as an int8 graph in `target`."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(model_name, attn_implementation="eager").float().eval()

    def pooled(m: Any, **inputs: Any) -> Any:
        tokens = m(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(mean, p=2, dim=1)

    _export(model, pooled, ["vector"], AutoTokenizer.from_pretrained(model_name), target, "encoder")


def cached_graph(model_name: str, kind: str, export: Callable[[str, Path], None]) -> Path:
    """The int8 graph of `model_name`, exported on first use into the cache (or a temporary folder if unwritable)."""
    path = cache_dir() / f"{kind}-{model_key(model_name, kind)}-int8.onnx"
    if not path.exists():
        logger.warning("Preparing the int8 %s for this machine (once; a few seconds)...", kind)
        try:
            export(model_name, path)
        except OSError:  # an unwritable cache: build it in a temporary folder for this process only
            path = Path(tempfile.mkdtemp(prefix="qa-int8-")) / f"{kind}-int8.onnx"
            export(model_name, path)
    return path


def session(path: Path, threads: int | None = None, spin: bool = True) -> Any:
    """An ONNX Runtime session for a cached graph, using the machine's cores.

    `spin`: worker threads spin briefly between operators instead of sleeping, which
    made reading faster on 2 cores (the model card); the spin is bounded, so an idle
    server sleeps. Only one session may spin, though: the question encoder's spinning
    threads would take the cores from the reader that runs next.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise QAError("The int8 models need onnxruntime: pip install onnxruntime.") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load_tokenizer(model_name: str) -> Any:
    """The model's fast tokenizer as a plain `tokenizers.Tokenizer`, without transformers for a local model."""
    from tokenizers import Tokenizer

    file = Path(model_name) / "tokenizer.json"
    if file.is_file():
        return Tokenizer.from_file(str(file))
    from transformers import AutoTokenizer  # a Hub name: transformers knows where to find it

    backend = AutoTokenizer.from_pretrained(model_name).backend_tokenizer
    return Tokenizer.from_str(backend.to_str())


class Int8Reader:
    """Start and end logits of single windows from the int8 graph."""

    def __init__(self, model_name: str, threads: int | None = None) -> None:
        self.session = session(cached_graph(model_name, "reader", export_reader_int8), threads)
        self.inputs = [i.name for i in self.session.get_inputs()]

    def logits(self, window: Any) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) logits of one `tokenizers.Encoding`, run without padding.

        One window at a time was faster on a CPU than a padded batch, and since int8
        activations are scaled per call, a
        window's scores never depend on what it was read with.
        """
        feed = {
            "input_ids": window.ids,
            "attention_mask": window.attention_mask,
            "token_type_ids": window.type_ids,
        }
        start, end = self.session.run(None, {k: np.asarray([feed[k]], dtype=np.int64) for k in self.inputs})
        return start[0], end[0]


def sentence_max_length(model_name: str, default: int = 256) -> int:
    """The sentence-transformers model's `max_seq_length` (what its encoder truncates to)."""
    try:
        config = json.loads((Path(model_name) / "sentence_bert_config.json").read_text(encoding="utf-8"))
        return int(config.get("max_seq_length") or default)
    except (OSError, ValueError, TypeError):
        return default


def is_mean_pooled(model_name: str) -> bool:
    """Whether a local sentence-transformers model is Transformer → mean pooling → Normalize, which we can export."""
    folder = Path(model_name)
    try:
        modules = [
            m["type"].rsplit(".", 1)[-1]
            for m in json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        ]
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return False
    others = [
        k
        for k, v in pooling.items()
        if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens" and v
    ]
    return (
        modules == ["Transformer", "Pooling", "Normalize"]
        and pooling.get("pooling_mode_mean_tokens")
        and not others
    )


BULK = 32  # texts: from this many, Int8Encoder.encode spreads them over a thread pool


class Int8Encoder:
    """Normalised sentence embeddings from the int8 graph of a mean-pooled sentence-transformers model."""

    def __init__(self, model_name: str, threads: int | None = None) -> None:
        self.graph = cached_graph(model_name, "encoder", export_encoder_int8)
        self.session = session(self.graph, threads, spin=False)
        self._bulk: Any = None  # a one-thread session that several threads share, for many texts (see encode)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = load_tokenizer(model_name)
        self.tokenizer.enable_truncation(sentence_max_length(model_name))
        self.tokenizer.no_padding()
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """One unit vector per text, each computed on its own.

        Int8 activations are scaled per call, so a text encoded in a batch would get a
        vector that depends on its neighbours; alone, it always gets the same one (and on
        a CPU, with no padding, it was also faster than batches).
        """
        from concurrent.futures import ThreadPoolExecutor

        from tqdm import tqdm

        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        workers = os.cpu_count() or 1
        if len(texts) < BULK or workers < 2:
            for n, e in enumerate(tqdm(encodings, unit="passage", disable=not progress)):
                vectors[n] = self._run(self.session, e)
            return vectors
        # Many texts: each still encoded alone (so its vector is the same), on one thread each of a pool,
        # which keeps the cores busier than one text at a time on all of them (bench/speed.py).
        if self._bulk is None:
            self._bulk = session(self.graph, 1, spin=False)
        with (
            ThreadPoolExecutor(workers) as pool,
            tqdm(total=len(texts), unit="passage", disable=not progress) as bar,
        ):
            for n, vector in enumerate(pool.map(lambda e: self._run(self._bulk, e), encodings)):
                vectors[n] = vector
                bar.update(1)
        return vectors

    def _run(self, graph: Any, e: Any) -> np.ndarray:
        feed = {"input_ids": e.ids, "attention_mask": e.attention_mask, "token_type_ids": e.type_ids}
        return graph.run(None, {k: np.asarray([feed[k]], dtype=np.int64) for k in self.inputs})[0][0]
