"""Passage retrieval on CMRC 2018 and DRCD (eval/squad.py): zhice against BM25-only
retrieval on the same index, ingest and questions timed.

    python benchmarks/squad_bench.py > benchmarks/results/squad.txt
    python benchmarks/squad_bench.py cmrc --index-root /tmp/bench   # keep (and reuse) indexes

The default embedder embeds a few passages a second on 2 cores: each benchmark's
ingest takes minutes to tens of minutes. With --index-root an index already built
there is reused (its paragraphs are unchanged, so the ingest skips them) and the
ingest time printed is that of the reuse, not of the first build.

Dense-only and the LangChain pipeline are left out here: one would embed every question
a second time, the other the whole corpus a second time, which on 2 cores costs more
than the benchmark itself (`zhice eval --benchmark NAME --baselines` runs them all).
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from zhice.assistant.chain import Assistant
from zhice.eval.labels import LABELS
from zhice.eval.metrics import summarize
from zhice.eval.run import run_systems
from zhice.eval.squad import (
    BENCHMARKS,
    DEFAULT_QUESTIONS,
    check_benchmark_index,
    ingest_paragraphs,
    load_benchmark,
    with_folded_gold,
)
from zhice.index.index import ZhiceIndex

ROOT = Path(__file__).resolve().parents[1]


METRICS = (("R@1", "{:.3f}"), ("R@5", "{:.3f}"), ("MRR@10", "{:.3f}"), ("nDCG@10", "{:.3f}"),
           ("budget_recall", "{:.3f}"), ("keyword_accuracy", "{:.3f}"),
           ("false_abstention", "{:.3f}"), ("latency_p50_ms", "{:.1f}"),
           ("latency_p95_ms", "{:.1f}"))
BASELINES = ("bm25",)


def bench(name: str, directory: Path, questions: int) -> None:
    b = load_benchmark(name, questions=questions)
    print(f"== {b.about}")
    for note in b.notes:
        print(f"   {note}")
    started = time.perf_counter()
    with ZhiceIndex.open(directory, create=True) as index:
        check_benchmark_index(index, b.paragraphs)
        added = ingest_paragraphs(index, b.paragraphs)
        chunks = len(index)
        runs = [(r.name, with_folded_gold(index, r.questions)) for r in b.runs]
    ingest_s = time.perf_counter() - started
    print(f"   ingest: {len(b.paragraphs)} paragraphs ({added} embedded now, "
          f"{len(b.paragraphs) - added} reused), {chunks} chunks, {ingest_s:.1f} s")
    rows: dict[str, dict] = {}
    with Assistant.open(directory) as assistant:
        for run_name, qs in runs:
            t = time.perf_counter()
            results = run_systems(assistant, qs, baselines=BASELINES)
            seconds = time.perf_counter() - t
            print(f"   {run_name}: {len(qs)} questions x {len(results)} systems in "
                  f"{seconds:.1f} s")
            for system, rs in results.items():
                rows[f"{run_name} · {LABELS[system]}"] = summarize(qs, rs)
    names = list(rows)
    width = max(len(n) for n in names) + 2
    print(f"   {'':<18}" + "".join(f"{n:>{width}}" for n in names))
    for metric, fmt in METRICS:
        print(f"   {metric:<18}" + "".join(f"{fmt.format(rows[n][metric]):>{width}}"
                                          for n in names))
    print(f"   total {time.perf_counter() - started:.1f} s\n", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # checked below, not with `choices`: argparse checks a nargs="*" default against
    # choices as one value, so the documented bare command failed
    p.add_argument("names", nargs="*",
                   help=f"which benchmarks (default: all of {', '.join(BENCHMARKS)})")
    p.add_argument("--questions", type=int, default=DEFAULT_QUESTIONS)
    p.add_argument("--index-root", type=Path,
                   help="build (or reuse) each benchmark's index in DIR/NAME")
    args = p.parse_args()
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start "
          "(times grow with the load)")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.index_root or Path(tmp)
        for name in args.names or list(BENCHMARKS):
            bench(name, root / name, args.questions)


if __name__ == "__main__":
    main()
