"""`zhice eval`: every question of a dataset through the same chain as `zhice ask`."""

import argparse
import json
import os
import tempfile
from pathlib import Path

from assistant.chain import Assistant
from assistant.cli_index import add_embedder_argument, add_index_argument, index_dir

from .dataset import BUNDLED_DATASET, load_dataset
from .metrics import summarize
from .run import check_against_index, run_questions

# The summary lines, in order, with how each is shown.
SUMMARY = (
    ("R@1", "{:.3f}"), ("R@5", "{:.3f}"), ("R@10", "{:.3f}"), ("MRR@10", "{:.3f}"),
    ("nDCG@10", "{:.3f}"), ("keyword_accuracy", "{:.3f}"), ("citation_support", "{:.3f}"),
    ("abstention", "{:.3f}"), ("false_abstention", "{:.3f}"),
    ("latency_p50_ms", "{:.1f}"), ("latency_p95_ms", "{:.1f}"),
)


def add_arguments(command: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", type=Path, default=BUNDLED_DATASET, metavar="FILE",
                   help="JSON Lines questions (default: the bundled public set)")
    add_index_argument(p)
    add_embedder_argument(p)
    p.add_argument("--results", type=Path, metavar="OUT.jsonl",
                   help="write one result object per line")
    p.add_argument("-k", type=int, default=5, metavar="N", help="passages to answer from")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")


def run(args: argparse.Namespace) -> int:
    questions = load_dataset(args.dataset)
    with Assistant.open(index_dir(args), embedder=args.embedder) as assistant:
        check_against_index(assistant, questions, args.dataset.name)
        results = run_questions(assistant, questions, args.k)
    if args.results:
        write_jsonl(args.results, results)
    metrics = summarize(questions, results)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"{args.dataset.name}: {len(questions)} questions")
        for name, fmt in SUMMARY:
            print(f"  {name:<18} {fmt.format(metrics[name])}")
    return 0


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Write rows as JSON Lines atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
