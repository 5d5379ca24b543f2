"""The dev set on ../shared/devdocs (documents nothing was tuned on): zhice against its
baselines on the same index, the held-out half first, then the tuning half.

The questions were written blind (eval/data/notes/dev_questions.md); the split is by
document and fixed (eval/README.md). Only the tuning half may be looked at while
changing zhice; the held-out half is measured, never read for failures.

    python benchmarks/dev_bench.py > benchmarks/results/dev.txt
"""

import os
import tempfile
import time
from pathlib import Path

from eval_bench import print_table, timed_runs

from zhice.assistant.chain import Assistant
from zhice.eval.baselines import baseline_systems
from zhice.eval.dataset import load_dataset
from zhice.eval.squad import benchmarks_dir
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files

DATA = Path(__file__).resolve().parents[1] / "eval" / "data"
HALVES = (("held-out half", DATA / "dev_heldout.jsonl"), ("tuning half", DATA / "dev_tune.jsonl"),
          ("tuning half, second set", DATA / "dev_tune_more.jsonl"))


def main() -> None:
    devdocs = benchmarks_dir().parent / "devdocs"
    files = sorted(p for p in devdocs.iterdir() if p.name != "README.md")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        with ZhiceIndex.open(Path(tmp), create=True) as index:
            summary = index_files(index, files)
        print(f"ingest of {len(files)} devdocs: {summary.line()}")
        with Assistant.open(Path(tmp)) as assistant:
            systems = {"zhice": assistant, **baseline_systems(assistant)}
            for label, path in HALVES:
                questions = load_dataset(path)
                runs, seconds = timed_runs(systems, questions)
                print(f"\n{label}: {path.name}, {len(questions)} questions "
                      f"({sum(q.type == 'unanswerable' for q in questions)} unanswerable)")
                print_table(questions, runs, seconds)
        print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
