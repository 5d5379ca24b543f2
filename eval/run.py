"""Run a dataset through an assistant, and through the baselines beside it."""

from collections.abc import Callable, Sequence

from zhice.assistant.chain import Assistant

from .baselines import baseline_systems
from .dataset import Question, check_evidence

Progress = Callable[[str, int, int], None]  # (system, questions done, total)


def check_against_index(assistant: Assistant, questions: Sequence[Question], name: str) -> None:
    """Every evidence source must be indexed and hold its quote (DatasetError if not)."""
    index = assistant.index
    check_evidence(questions, {f.source: index.file_text(f.source) or "" for f in index.files()},
                   name)


def run_questions(assistant, questions: Sequence[Question], k: int = 5,
                  progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Ask every question through `assistant.ask` (an Assistant or a baseline);
    result objects in dataset order."""
    results = []
    for i, q in enumerate(questions, 1):
        results.append(assistant.ask(q.question, k=k, id=q.id).to_dict())
        if progress:
            progress(i, len(questions))
    return results


def run_systems(assistant: Assistant, questions: Sequence[Question], k: int = 5,
                baselines: Sequence[str] = (), progress: Progress | None = None
                ) -> dict[str, list[dict]]:
    """zhice's results, then each named baseline's on the same index: name -> results."""
    runs = {"zhice": run_questions(assistant, questions, k, _for("zhice", progress))}
    for name, system in baseline_systems(assistant, tuple(baselines)).items():
        runs[name] = run_questions(system, questions, k, _for(name, progress))
    return runs


def _for(name: str, progress: Progress | None):
    return (lambda done, total: progress(name, done, total)) if progress else None
