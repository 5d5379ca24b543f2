"""Eval datasets: one question per JSON line, loaded and checked (INTERFACES.md, dataset file).

Usage:
    questions = load_dataset(BUNDLED_DATASET)  # structure; DatasetError names FILE:LINE
    check_evidence(questions, texts, BUNDLED_DATASET.name)  # texts: source name -> full text
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zhice.ingest.errors import ZhiceError
from zhice.ingest.normalize import match_key

BUNDLED_DATASET = Path(__file__).parent / "data" / "questions.jsonl"

# The labels of the bundled set and of `zhice eval --draft`. `type` is a free label
# (INTERFACES.md): any other is accepted and reported as a group of its own; only
# UNANSWERABLE has a meaning.
QUESTION_TYPES = (
    "number",
    "name",
    "list",
    "definition",
    "paraphrase",
    "colloquial",
    "traditional",
    "multi_doc",
    "unanswerable",
)
UNANSWERABLE = "unanswerable"
REQUIRED_FIELDS = ("id", "type", "question", "keywords", "evidence")


class DatasetError(ZhiceError):
    """A dataset file is missing or malformed; the message starts with "FILE:LINE: "."""


@dataclass(frozen=True)
class Evidence:
    """A passage that supports the answer: a source file, optionally an exact quote of it."""

    source: str
    quote: str | None = None


@dataclass(frozen=True)
class Question:
    """One dataset line; `min_match` of the `keywords` make a correct answer (None: all)."""

    id: str
    type: str
    question: str
    keywords: tuple[str, ...] = ()
    min_match: int | None = None
    evidence: tuple[Evidence, ...] = ()
    line: int = 0

    def __post_init__(self):
        if self.min_match is None:
            object.__setattr__(self, "min_match", len(self.keywords))


def load_dataset(path: str | Path) -> list[Question]:
    """Read and structurally check a JSON Lines dataset; evidence is checked by check_evidence."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: does not exist; pass the path of a JSON Lines dataset file")
    if not path.is_file():
        raise DatasetError(f"{path}: is not a file; pass the path of a JSON Lines dataset file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DatasetError(f"{path.name}:{line}: not UTF-8 text; save the file as UTF-8") from e
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    # split on "\n" only: str.splitlines() would also cut at U+2028 inside a JSON string
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        question = _parse_line(line, f"{path.name}:{number}: ", number)
        if question.id in first_line:
            raise DatasetError(
                f"{path.name}:{number}: duplicate id {question.id!r} "
                f"(first on line {first_line[question.id]}); ids must be unique"
            )
        first_line[question.id] = number
        questions.append(question)
    if not questions:
        raise DatasetError(f"{path.name}: no questions; each line must be one JSON object")
    return questions


def check_evidence(questions: Sequence[Question], texts: Mapping[str, str], path_name: str) -> None:
    """Check every evidence source is in `texts` (name -> full text) and holds its quote."""
    keys: dict[str, str] = {}
    for q in questions:
        for ev in q.evidence:
            if ev.source not in texts:
                shown = ", ".join(sorted(texts)[:10]) + (", ..." if len(texts) > 10 else "")
                raise DatasetError(
                    f"{path_name}:{q.line}: source {ev.source!r} is not in the index; "
                    f"expected one of: {shown or '(none, the index is empty)'}"
                )
            if ev.quote is None:
                continue
            if ev.source not in keys:
                keys[ev.source] = match_key(texts[ev.source])
            if match_key(ev.quote) not in keys[ev.source]:
                raise DatasetError(
                    f"{path_name}:{q.line}: quote {ev.quote!r} not found in source {ev.source}; "
                    "a quote must be an exact phrase of the source "
                    "(compared without whitespace, in simplified script)"
                )


def _parse_line(line: str, where: str, number: int) -> Question:
    """One line to a Question; `where` ("FILE:LINE: ") prefixes every error."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise DatasetError(
            f"{where}not valid JSON ({e.msg}); each line must be one JSON object"
        ) from None
    if not isinstance(obj, dict):
        raise DatasetError(
            f"{where}expected a JSON object, got {type(obj).__name__}; "
            "each line must be one JSON object"
        )
    return parse_question(obj, where, number)


def parse_question(obj: dict, where: str, number: int = 0) -> Question:
    """A question object (a dataset line, a conversation's turn) to a Question; `where`
    prefixes every error."""
    for name in REQUIRED_FIELDS:
        if name not in obj:
            raise DatasetError(
                f"{where}missing field {name!r}; every line needs {', '.join(REQUIRED_FIELDS)}"
            )
    qid = _text(obj["id"], "id", where)
    qtype = _text(obj["type"], "type", where)
    question = _text(obj["question"], "question", where)
    keywords = tuple(
        _text(k, "keywords item", where) for k in _list(obj["keywords"], "keywords", where)
    )
    evidence = tuple(_evidence(e, where) for e in _list(obj["evidence"], "evidence", where))
    # min_match on a question without keywords (an unanswerable one) means nothing: ignored
    min_match = obj.get("min_match") if keywords else None
    if min_match is not None:
        if type(min_match) is not int or not 1 <= min_match <= len(keywords):
            raise DatasetError(
                f"{where}min_match must be an integer from 1 to {len(keywords)} "
                f"(the number of keywords), got {min_match!r}"
            )
    if qtype == UNANSWERABLE and (keywords or evidence):
        raise DatasetError(
            f"{where}an {UNANSWERABLE!r} question must have empty keywords and evidence"
        )
    if qtype != UNANSWERABLE and not (keywords or evidence):
        raise DatasetError(
            f"{where}keywords and evidence are both empty; give at least one, "
            f"or use type {UNANSWERABLE!r}"
        )
    return Question(qid, qtype, question, keywords, min_match, evidence, number)


def _evidence(value: Any, where: str) -> Evidence:
    """One evidence entry: {"source": ..., "quote": ... (optional)}."""
    if not isinstance(value, dict) or "source" not in value:
        raise DatasetError(
            f'{where}each evidence entry must be an object like {{"source": "file.txt", '
            f'"quote": "..."}}, got {json.dumps(value, ensure_ascii=False)}'
        )
    quote = value.get("quote")
    return Evidence(
        _text(value["source"], "evidence source", where),
        None if quote is None else _text(quote, "evidence quote", where),
    )


def _text(value: Any, name: str, where: str) -> str:
    """A non-empty string field."""
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}{name} must be a non-empty string, got {value!r}")
    return value


def _list(value: Any, name: str, where: str) -> list:
    """A JSON array field."""
    if not isinstance(value, list):
        raise DatasetError(f"{where}{name} must be a JSON array, got {value!r}")
    return value
