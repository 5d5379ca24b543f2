"""A deterministic FAKE embedder for tests: hashed character bigrams, no model."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from zhice.index.embedders.base import Embedder
from zhice.index.errors import EmbedderError


class FakeEmbedder(Embedder):
    """A deterministic FAKE embedder for tests: hashed character bigrams, no model.

    Each bigram gets a fixed random vector seeded by its SHA-256 (never Python's
    salted hash()), a text is the normalised sum of its bigrams, so texts sharing
    bigrams come out similar.
    """

    def __init__(self, dim: int = 64) -> None:
        if dim < 1:
            raise EmbedderError(f"the fake embedder's dim must be at least 1, not {dim}")
        self.dim = dim
        self.name = f"fake-{dim}"

    @property
    def spec(self) -> str:
        return f"fake:{self.dim}"

    def _vector(self, text: str) -> np.ndarray:
        grams = [text[i : i + 2] for i in range(len(text) - 1)] or [text]
        total = np.zeros(self.dim, dtype=np.float64)
        for gram in grams:
            total += _gram_vector(gram, self.dim)
        norm = np.linalg.norm(total)
        if norm == 0:  # repeated bigrams cannot cancel, but a float sum can in theory
            total = _gram_vector(text, self.dim)
            norm = np.linalg.norm(total)
        return (total / norm).astype(np.float32)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages (same function as queries)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._vector(text)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Embed a question (same function as passages)."""
        return self._vector(text)


@lru_cache(maxsize=65536)
def _gram_vector(gram: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(gram.encode("utf-8")).digest()[:8], "big")
    vector = np.random.default_rng(seed).standard_normal(dim)
    vector.flags.writeable = False  # shared through the cache
    return vector
