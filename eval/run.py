"""Run a dataset through an assistant: one result object per question."""

from collections.abc import Sequence

from assistant.chain import Assistant

from .dataset import Question, check_evidence


def check_against_index(assistant: Assistant, questions: Sequence[Question], name: str) -> None:
    """Every evidence source must be indexed and hold its quote (DatasetError if not)."""
    store = assistant.index.store
    check_evidence(questions, {f.source: store.file_text(f.source) or "" for f in store.files()},
                   name)


def run_questions(assistant: Assistant, questions: Sequence[Question], k: int = 5) -> list[dict]:
    """Ask every question through the assistant's chain; results in dataset order."""
    return [assistant.ask(q.question, k=k, id=q.id).to_dict() for q in questions]
