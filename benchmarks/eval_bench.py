"""The public eval set on the bundled corpus: zhice against BM25-only and dense-only
retrieval (each with the same extractive answerer), ingest included.

    python benchmarks/eval_bench.py > benchmarks/results/eval.txt
"""

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.chain import Assistant  # noqa: E402
from eval.cli import SUMMARY  # noqa: E402
from eval.dataset import BUNDLED_DATASET, load_dataset  # noqa: E402
from eval.metrics import summarize  # noqa: E402
from eval.run import run_questions  # noqa: E402
from index.batch import ingest  # noqa: E402
from index.index import ZhiceIndex  # noqa: E402

VARIANTS = {
    "zhice (hybrid + rerank)": {},
    "hybrid, no rerank": {"reranker": None},
    "BM25 only": {"dense_weight": 0.0, "reranker": None},
    "dense only": {"bm25_weight": 0.0, "reranker": None},
}


def main() -> None:
    questions = load_dataset(BUNDLED_DATASET)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        with ZhiceIndex.open(Path(tmp), create=True) as index:
            summary = ingest(index, [ROOT / "corpus"])
        print(f"ingest: {summary.line()}")
        rows = {}
        for name, options in VARIANTS.items():
            with Assistant.open(Path(tmp), **options) as assistant:
                rows[name] = summarize(questions, run_questions(assistant, questions))
        print(f"{BUNDLED_DATASET.name}: {len(questions)} questions, "
              f"total {time.perf_counter() - started:.1f} s\n")
    names = list(rows)
    print(f"{'metric':<18}" + "".join(f"{n:>26}" for n in names))
    for metric, fmt in SUMMARY:
        print(f"{metric:<18}" + "".join(f"{fmt.format(rows[n][metric]):>26}" for n in names))


if __name__ == "__main__":
    main()
