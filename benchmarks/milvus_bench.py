"""Milvus Lite beside the embedded store: retrieval parity.

The public eval set (corpus/ + eval/data) and CMRC 2018 dev, each ingested with the same
embedder into the embedded store and into Milvus Lite, every retrieval metric side by
side (`zhice eval`'s own runner and metrics). Scale (ingest speed, latency, memory, disk
by corpus size) is `zhice bench`'s, with both stores in one run:

    python benchmarks/milvus_bench.py --embedder fake:384
    zhice bench --stores embedded,milvus-lite --sizes 10k,100k --work /tmp/zm
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RETRIEVAL = ("R@1", "R@5", "R@10", "MRR@10", "nDCG@10", "budget_recall")


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# parity -------------------------------------------------------------------------------
def parity(args: argparse.Namespace) -> None:
    from zhice.assistant.chain import Assistant
    from zhice.eval.dataset import load_dataset
    from zhice.eval.metrics import summarize
    from zhice.eval.run import run_questions
    from zhice.eval.squad import ingest_paragraphs, load_benchmark, with_folded_gold
    from zhice.index.pipeline import index_files
    from zhice.index.stores import open_index

    work = Path(tempfile.mkdtemp(prefix="zhice-parity-"))
    print(f"# embedder {args.embedder}; load {_load()} at start")
    try:
        dataset = ROOT / "eval" / "data" / "questions.jsonl"
        questions = load_dataset(dataset)
        rows = {}
        for name, where in (("embedded", work / "emb"), ("milvus-lite", f"milvus:{work}/e.db")):
            with open_index(where, embedder=args.embedder, create=True) as index:
                index_files(index, [ROOT / "corpus"])
            with Assistant.open(where) as assistant:
                t = time.perf_counter()
                results = run_questions(assistant, questions, 5)
                rows[name] = (summarize(questions, results), time.perf_counter() - t)
        _table(f"public eval set ({len(questions)} questions, {dataset.name})", rows)

        bench = (load_benchmark("cmrc") if args.questions is None
                 else load_benchmark("cmrc", None, args.questions))
        rows = {}
        for name, where in (("embedded", work / "cmrc"), ("milvus-lite", f"milvus:{work}/c.db")):
            with open_index(where, embedder=args.embedder, create=True) as index:
                t = time.perf_counter()
                ingest_paragraphs(index, bench.paragraphs)
                ingest_s = time.perf_counter() - t
                if name == "embedded":
                    runs = [(r.name, with_folded_gold(index, r.questions)) for r in bench.runs]
            with Assistant.open(where) as assistant:
                for run_name, qs in runs:
                    t = time.perf_counter()
                    results = run_questions(assistant, qs, 5)
                    rows[f"{name} · {run_name}"] = (summarize(qs, results),
                                                   time.perf_counter() - t)
            print(f"  {name}: {len(bench.paragraphs)} paragraphs ingested in {ingest_s:.1f} s")
        _table(f"{bench.about}", rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"# load {_load()} at end")


def _table(title: str, rows: dict) -> None:
    print(title)
    names = list(rows)
    print(" " * 14 + "".join(f"{n:>30}" for n in names))
    for metric in RETRIEVAL:
        print(f"  {metric:<12}" + "".join(f"{rows[n][0][metric]:>30.4f}" for n in names))
    print(f"  {'run s':<12}" + "".join(f"{rows[n][1]:>30.1f}" for n in names))
    base = [n for n in names if n.startswith("embedded")]
    for b in base:
        other = b.replace("embedded", "milvus-lite")
        if other in rows:
            worst = max(abs(rows[b][0][m] - rows[other][0][m]) for m in RETRIEVAL)
            print(f"  largest difference, {b} vs {other}: {worst:.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="fake:384")
    parser.add_argument("--questions", type=int, default=None,
                        help="CMRC questions (0: all; default: zhice eval --benchmark's)")
    parity(parser.parse_args())
