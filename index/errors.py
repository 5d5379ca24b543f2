"""Errors of the index stage."""

from zhice.ingest.errors import ZhiceError


class IndexNotFoundError(ZhiceError):
    """No index at the given directory."""


class IndexMismatchError(ZhiceError):
    """The index was built with another embedder (or another schema) than this run uses."""


class IndexBusyError(ZhiceError):
    """Another process is writing to the index."""


class EmbedderError(ZhiceError):
    """An embedder could not be made, loaded or used."""
