"""Errors of the question-answering stage."""

from ingest.errors import ZhiceError


class BadQuestionError(ZhiceError):
    """An empty or over-long question."""
