"""The multi-turn sets: follow-up questions asked in their conversations, on the bundled
corpus and the devdocs tuning half (tuning: may be looked at) and on all of
../shared/devdocs (held out: measured only).

Both sets were written blind (eval/data/notes/conversations.md). For the follow-ups the
table gives the metrics as asked (through the rewriting of follow-ups) and as asked
standalone (the writer's own complete question): the gap is what rewriting loses.

    python benchmarks/conversation_bench.py > benchmarks/results/conversations.txt
"""

import os
import tempfile
import time
from pathlib import Path

from zhice.assistant.chain import Assistant
from zhice.eval.conversations import evaluate, load_conversations, print_summaries
from zhice.eval.squad import benchmarks_dir
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files

DATA = Path(__file__).resolve().parents[1] / "eval" / "data"
# each folder's index once, its sets asked against it
SETS = (("devdocs", (("conversations_devdocs.jsonl", "held out"),
                     ("conversations_devtune.jsonl", "tuning"))),
        ("corpus", (("conversations_corpus.jsonl", "tuning"),)))


def main() -> None:
    shared = benchmarks_dir().parent
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    started = time.perf_counter()
    for folder, sets in SETS:
        files = sorted(p for p in (shared / folder).iterdir()
                       if p.is_file() and p.name != "README.md")
        with tempfile.TemporaryDirectory() as tmp:
            with ZhiceIndex.open(Path(tmp), create=True) as index:
                summary = index_files(index, files)
            print(f"\n{folder}: {summary.line()}")
            with Assistant.open(Path(tmp)) as assistant:
                for name, role in sets:
                    print(f"\n{name} ({role})")
                    print_summaries(name, evaluate(assistant, load_conversations(DATA / name)))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
