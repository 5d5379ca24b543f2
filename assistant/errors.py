"""Errors of the question-answering stage."""

from zhice.ingest.errors import ZhiceError


class BadQuestionError(ZhiceError):
    """An empty or over-long question."""
