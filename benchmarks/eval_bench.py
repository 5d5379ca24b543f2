"""The public eval set on the bundled corpus: zhice against its baselines on the same
index (BM25 only, dense only, a plain LangChain pipeline with Langchain-Chatchat's
defaults) plus the hybrid retriever without re-ranking, each answering with the same
extractive answerer; ingest included. Writes the Markdown report with its plots to
benchmarks/results/eval_report/.

    python benchmarks/eval_bench.py > benchmarks/results/eval.txt
"""

import os
import tempfile
import time
from pathlib import Path

from zhice.assistant.chain import Assistant
from zhice.eval.baselines import baseline_systems, retriever_variant
from zhice.eval.dataset import BUNDLED_DATASET, load_dataset
from zhice.eval.labels import LABELS
from zhice.eval.metrics import METRIC_FORMATS, summarize
from zhice.eval.report import write_report
from zhice.eval.run import run_questions
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files

ROOT = Path(__file__).resolve().parents[1]


REPORT = ROOT / "benchmarks" / "results" / "eval_report"
ABLATION = "hybrid, no rerank"
MARGINS = ("R@1", "MRR@10", "budget_recall")


def timed_runs(systems: dict, questions) -> tuple[dict[str, list[dict]], dict[str, float]]:
    """Each system's results over the questions, and the seconds each took."""
    runs, seconds = {}, {}
    for name, system in systems.items():
        t = time.perf_counter()
        runs[name] = run_questions(system, questions)
        seconds[name] = time.perf_counter() - t
    return runs, seconds


def print_table(questions, runs: dict[str, list[dict]], seconds: dict[str, float]) -> dict:
    """Metrics down, systems across; returns each system's summary."""
    rows = {name: summarize(questions, results) for name, results in runs.items()}
    names = list(rows)
    labels = [LABELS.get(n, n) for n in names]
    width = max(len(label) for label in labels) + 2
    print(f"{'metric':<18}" + "".join(f"{label:>{width}}" for label in labels))
    for metric, fmt in METRIC_FORMATS:
        print(f"{metric:<18}" + "".join(f"{fmt.format(rows[n][metric]):>{width}}"
                                        for n in names))
    print(f"{'run time (s)':<18}" + "".join(f"{seconds[n]:>{width}.1f}" for n in names))
    return rows


def main() -> None:
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start "
          "(times grow with the load)")
    questions = load_dataset(BUNDLED_DATASET)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        with ZhiceIndex.open(Path(tmp), create=True) as index:
            summary = index_files(index, [ROOT / "corpus"])
        print(f"ingest: {summary.line()}")
        with Assistant.open(Path(tmp)) as assistant:
            t = time.perf_counter()
            systems = {"zhice": assistant,
                       ABLATION: retriever_variant(assistant, reranker=None)}
            systems.update(baseline_systems(assistant))
            print(f"LangChain baseline: {len(systems['langchain'])} chunks of at most 750 "
                  f"characters embedded in {time.perf_counter() - t:.1f} s")
            runs, seconds = timed_runs(systems, questions)
        print(f"{BUNDLED_DATASET.name}: {len(questions)} questions, "
              f"total {time.perf_counter() - started:.1f} s\n")
    rows = print_table(questions, runs, seconds)
    names = list(rows)
    baselines = [n for n in names if n not in ("zhice", ABLATION)]
    print("\nzhice against the best baseline:")
    for metric in MARGINS:
        best = max(baselines, key=lambda n: rows[n][metric])
        print(f"  {metric:<14} {rows['zhice'][metric]:.3f} vs {rows[best][metric]:.3f} "
              f"({LABELS[best]}): {rows['zhice'][metric] - rows[best][metric]:+.3f}")
    report_runs = {n: runs[n] for n in ("zhice", *baselines)}
    path = write_report(REPORT, BUNDLED_DATASET.name, questions, report_runs,
                        notes=["recorded by benchmarks/eval_bench.py"], results=False)
    print(f"\nreport: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
