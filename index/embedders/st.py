"""Any sentence-transformers model on disk: BGE, bge-m3, e5, …"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from zhice.index.embedders import ST_INSTALL_HINT
from zhice.index.embedders.base import Embedder, not_loaded
from zhice.index.errors import EmbedderError

# The instruction BGE's Chinese models expect in front of a query (not of a passage).
BGE_ZH_QUERY_INSTRUCTION = "为这个句子生成表示以用于检索相关文章："


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
    def spec(self) -> str:
        return f"st:{self.model}"

    @property
    def dim(self) -> int:  # type: ignore[override]
        """The model's output size, known once loaded."""
        if self._dim is None:
            raise not_loaded(self)
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
            raise not_loaded(self)
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
            raise not_loaded(self)
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
