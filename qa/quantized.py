"""The reader in int8 on ONNX Runtime: the fast way to read on a laptop CPU.

The fp16 weights stay the one shipped copy; the int8 graph is derived from them
on first use (export, fuse attention and layer norms, quantize the weights per
channel) and cached on disk under a key made of the weights' checksum, so it is
rebuilt only when the model changes. A few seconds, once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import QAError

logger = logging.getLogger(__name__)
CACHE_VERSION = "1"  # bump when the export recipe changes, so old graphs are not reused
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_dir() -> Path:
    """$QA_CACHE_DIR, else the user's cache folder (XDG)."""
    if os.environ.get("QA_CACHE_DIR"):
        return Path(os.environ["QA_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa-news"


def model_key(model_name: str) -> str:
    """Checksum of a local model's weights and config; a Hub name stands for itself."""
    import onnxruntime
    import torch

    digest = hashlib.sha256(f"{CACHE_VERSION} {onnxruntime.__version__} {torch.__version__}".encode())
    folder = Path(model_name)
    if folder.is_dir():
        for path in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")) + [folder / "config.json"]:
            if path.exists():
                with path.open("rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
    else:
        digest.update(model_name.encode())
    return digest.hexdigest()[:20]


class _QAOutputs:
    """Wraps the two logits of one forward pass like the transformers model output."""

    def __init__(self, start: np.ndarray, end: np.ndarray) -> None:
        self.start_logits, self.end_logits = start, end


def export_int8(model_name: str, target: Path) -> None:
    """Export the QA model to ONNX, fuse it for CPU and quantize its weights to int8, atomically into `target`."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    # Eager attention exports as plain matmuls that ONNX Runtime can fuse into its Attention kernel.
    model = AutoModelForQuestionAnswering.from_pretrained(model_name, attn_implementation="eager").float().eval()
    tokenizer = AutoTokenizer.from_pretrained(model_name)
    sample = tokenizer(["Who?", "Who leads?"], ["A short text.", "A somewhat longer text."], padding=True, return_tensors="pt")
    names = [k for k in INPUTS if k in sample]

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: Any) -> tuple[Any, Any]:
            out = self.model(**dict(zip(names, args)))
            return out.start_logits, out.end_logits

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracing notes
        logging.disable(logging.WARNING)  # the quantizer's advice, logged to the root logger
        try:
            plain, fused, quantized = Path(tmp) / "plain.onnx", Path(tmp) / "fused.onnx", Path(tmp) / "int8.onnx"
            axes = {k: {0: "batch", 1: "tokens"} for k in [*names, "start", "end"]}
            torch.onnx.export(Logits(), tuple(sample[k] for k in names), str(plain), input_names=names,
                              output_names=["start", "end"], dynamic_axes=axes, opset_version=17, dynamo=False)
            config = model.config
            optimizer.optimize_model(str(plain), model_type="bert", num_heads=config.num_attention_heads,
                                     hidden_size=config.hidden_size).save_model_to_file(str(fused))
            quantize_dynamic(str(fused), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
                             extra_options={"DefaultTensorType": 1})  # 1 = float, for the fused ops' outputs
        finally:
            logging.disable(logging.NOTSET)
        os.replace(quantized, target)


class Int8Reader:
    """A callable with the model's interface (`model(**inputs).start_logits`) that runs the int8 graph."""

    def __init__(self, model_name: str, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise QAError("The int8 reader needs onnxruntime: pip install onnxruntime.") from exc
        path = cache_dir() / f"reader-{model_key(model_name)}-int8.onnx"
        if not path.exists():
            logger.warning("Preparing the int8 reader for this machine (once; a few seconds)...")
            try:
                export_int8(model_name, path)
            except OSError:  # an unwritable cache: build it in a temporary folder for this process only
                path = Path(tempfile.mkdtemp(prefix="qa-int8-")) / "reader-int8.onnx"
                export_int8(model_name, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        # Worker threads spin briefly between operators instead of sleeping: about 10% faster
        # reading on 2 cores (see the model card); the spin is bounded, so an idle server sleeps.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, **inputs: Any) -> _QAOutputs:
        """Logits for a padded batch, computed one window at a time without its padding.

        On a CPU that is faster than one padded batch (about 12% on news-length
        passages), and since int8 activations are scaled per call, a window's
        scores never depend on what it was batched with.
        """
        feed = {k: np.asarray(inputs[k], dtype=np.int64) for k in self.inputs}
        start = np.full(feed["input_ids"].shape, -1e4, dtype=np.float32)
        end = start.copy()
        for row, mask in enumerate(feed["attention_mask"]):
            kept = np.flatnonzero(mask)  # the window's own tokens, wherever the padding is
            s, e = self.session.run(None, {k: v[row : row + 1, kept] for k, v in feed.items()})
            start[row, kept], end[row, kept] = s[0], e[0]
        return _QAOutputs(start, end)
