"""The `Embedder` contract: embed_documents and embed_query, `name` and `dim`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from zhice.index.errors import EmbedderError


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors; `name` identifies the model."""

    name: str
    dim: int

    def load(self) -> Embedder:
        """Load the model (heavy work lives here, never in __init__); idempotent."""
        return self

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages: an (n, dim) float32 array, rows L2-normalised."""

    @abstractmethod
    def embed_query(self, text: str) -> np.ndarray:
        """Embed a question: a (dim,) float32 array, L2-normalised."""

    @property
    def spec(self) -> str:
        """What make_embedder takes back to build this embedder again (recorded in the
        index for a later open without --embedder); the model's name unless overridden."""
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def not_loaded(embedder: Embedder) -> EmbedderError:
    return EmbedderError(f"{embedder.name} is not loaded: call .load() before embedding")
