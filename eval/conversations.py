"""Multi-turn evaluation: follow-up questions asked in their conversation.

    python -m zhice.eval.conversations --index DIR FILE.jsonl [FILE.jsonl ...]

A file holds one conversation per line: {"id": ..., "turns": [turn, ...]}, each turn a
dataset question (INTERFACES.md: question, type, keywords, evidence, optional min_match)
and, for a follow-up, "standalone": the question its writer meant, complete in itself.
Each conversation is asked in order, every turn with the earlier ones as its history,
as the web page and the API ask them. Reported for the follow-ups (every turn after the
first): the usual metrics as asked, and as asked standalone: what a rewriter that always
got the meaning right would reach. The first turns are reported beside them.
"""

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from zhice.assistant.chain import Assistant
from zhice.ingest.errors import ZhiceError

from .dataset import DatasetError, Question, check_evidence, parse_question
from .metrics import summarize

SHOWN = ("R@1", "R@5", "keyword_accuracy", "citation_support", "abstention",
         "false_abstention")


@dataclass(frozen=True)
class Turn:
    question: Question  # its id is "<conversation id>/<turn number>"
    standalone: str | None = None  # a follow-up's meaning, complete in itself


@dataclass(frozen=True)
class Conversation:
    id: str
    turns: tuple[Turn, ...]


def load_conversations(path: str | Path) -> list[Conversation]:
    """Read and check a conversations file; DatasetError names FILE:LINE."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file; pass the path of a conversations file "
                           "(JSON Lines, one conversation a line)")
    out, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").split("\n"), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}: "
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{where}not valid JSON ({e.msg}); each line must be one "
                               "conversation object") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not obj["id"]:
            raise DatasetError(f'{where}a conversation needs an "id" (text) and "turns"')
        turns = obj.get("turns")
        if not isinstance(turns, list) or not turns:
            raise DatasetError(f'{where}"turns" must be a non-empty list of questions')
        if obj["id"] in seen:
            raise DatasetError(f"{where}duplicate conversation id {obj['id']!r}")
        seen.add(obj["id"])
        parsed = []
        for i, turn in enumerate(turns, 1):
            if not isinstance(turn, dict):
                raise DatasetError(f"{where}turn {i} must be a question object")
            tw = f"{where}turn {i}: "
            q = parse_question({**turn, "id": f"{obj['id']}/{i}"}, tw, number)
            standalone = turn.get("standalone")
            if standalone is not None and (not isinstance(standalone, str)
                                           or not standalone.strip()):
                raise DatasetError(f'{tw}"standalone" must be a non-empty string')
            parsed.append(Turn(q, standalone))
        out.append(Conversation(obj["id"], tuple(parsed)))
    if not out:
        raise DatasetError(f"{path.name}: no conversations; each line must be one JSON object")
    return out


def run_conversations(assistant: Assistant, conversations: Sequence[Conversation],
                      k: int = 5) -> list[dict]:
    """Every turn asked with the conversation so far; result objects in turn order."""
    results = []
    for conv in conversations:
        history: list[str] = []
        for turn in conv.turns:
            answer = assistant.ask(turn.question.question, k=k, id=turn.question.id,
                                   history=history)
            results.append(answer.to_dict())
            history.append(answer.searched or answer.question)
    return results


def evaluate(assistant: Assistant, conversations: Sequence[Conversation],
             k: int = 5) -> dict[str, dict[str, float]]:
    """Summaries of the first turns, the follow-ups as asked, and the follow-ups asked
    standalone (those whose writer gave one)."""
    results = {r["id"]: r for r in run_conversations(assistant, conversations, k)}
    first = [c.turns[0].question for c in conversations]
    follow = [t for c in conversations for t in c.turns[1:]]
    meant = [t for t in follow if t.standalone]
    alone = [assistant.ask(t.standalone, k=k, id=t.question.id).to_dict() for t in meant]
    return {
        "first turns": summarize(first, [results[q.id] for q in first]),
        "follow-ups": summarize([t.question for t in follow],
                                [results[t.question.id] for t in follow]),
        "follow-ups asked standalone": summarize([t.question for t in meant], alone),
    }


def print_summaries(name: str, summaries: dict[str, dict[str, float]]) -> None:
    columns = list(summaries)
    counts = ", ".join(f"{c}: {int(s['questions'])} ({int(s['questions'] - s['answerable'])}"
                       " unanswerable)" for c, s in summaries.items())
    print(f"{name}: {counts}")
    print(f"{'metric':<20}" + "".join(f"{c:>30}" for c in columns))
    for metric in SHOWN:
        print(f"{metric:<20}" + "".join(f"{summaries[c][metric]:>30.3f}" for c in columns))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zhice.eval.conversations",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--index", required=True, help="a folder or a milvus: index")
    parser.add_argument("files", type=Path, nargs="+", metavar="FILE")
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        sets = [(f, load_conversations(f)) for f in args.files]
        with Assistant.open(args.index) as assistant:
            texts = {r.source: assistant.index.file_text(r.source) or ""
                     for r in assistant.index.files()}
            for f, convs in sets:
                check_evidence([t.question for c in convs for t in c.turns], texts, f.name)
                print_summaries(f.name, evaluate(assistant, convs, args.k))
    except ZhiceError as e:
        print(f"conversations: {e}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
