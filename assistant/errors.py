"""Errors of the question-answering stage."""

from zhice.ingest.errors import ZhiceError


class BadQuestionError(ZhiceError):
    """An empty or over-long question."""


class LlmError(ZhiceError):
    """The chat model is not configured, or could not be reached or loaded."""


class BadParamsError(ZhiceError):
    """A fitted-parameter file is missing or malformed."""
