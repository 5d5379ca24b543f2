"""Retrieval candidates for new documents, each measured where nothing was fitted: the
held-out half of the dev set, CMRC 2018 dev and DRCD dev (with the tuning half beside).
A candidate is kept only if it helps on all three held-out sets at once.

Candidates are further ranked lists fused beside dense and BM25 (same RRF, same
re-ranker), built in memory from the stored search keys:
- bigram: BM25 over character bigrams of each chunk (no dictionary, so a name or term
  jieba cuts wrongly still matches);
- fields: BM25 over each chunk's document title and heading path only;
and, for the record, the re-ranker as it was before the title credit was fitted
(assistant/retrieval.json): no title credit, the weights then in use.

    python benchmarks/retrieval_ablation.py --index-root /tmp/abl > benchmarks/results/ablation.txt

Indexes are built (or reused) under --index-root: the dev index from ../shared/devdocs,
the benchmarks' as benchmarks/squad_bench.py builds them.
"""

import argparse
import os
import time
from pathlib import Path

from zhice.assistant.chain import Assistant
from zhice.assistant.rerank import CoverageReranker
from zhice.eval.baselines import retriever_variant
from zhice.eval.dataset import load_dataset
from zhice.eval.metrics import summarize
from zhice.eval.run import run_questions
from zhice.eval.squad import benchmarks_dir, ingest_paragraphs, load_benchmark, with_folded_gold
from zhice.index.bm25 import Bm25Index
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files
from zhice.index.segment import char_bigrams

DATA = Path(__file__).resolve().parents[1] / "eval" / "data"
METRICS = ("R@1", "R@5", "MRR@10", "budget_recall")
# the re-ranker's weights before the title credit was fitted (fused, bm25, list bonus)
BEFORE_FIT = (0.7, 0.3, 0.1)


def memory_bm25(index: ZhiceIndex, tokens_of) -> Bm25Index:
    """A BM25 over every stored chunk, its tokens `tokens_of(chunk)`."""
    ids = index.store.chunk_ids().tolist()
    chunks = index.chunks(ids)
    bm = Bm25Index(char_bigrams)
    bm.add_tokens(ids, [tokens_of(chunks[i].chunk) for i in ids])
    return bm


def variants(assistant: Assistant) -> dict[str, Assistant]:
    index = assistant.index
    bigram = memory_bm25(index, lambda c: char_bigrams(c.key))
    fields = memory_bm25(index, lambda c: char_bigrams(f"{c.title} {c.heading}".lower()))
    rerank = assistant.retriever.reranker

    def with_lists(**lists) -> Assistant:
        return retriever_variant(assistant, reranker=rerank, extra={
            name: (lambda key, n, bm=bm: bm.search_tokens(char_bigrams(key), n), 1.0)
            for name, bm in lists.items()})

    before = CoverageReranker(assistant.answerer.passage_scores, *BEFORE_FIT)
    return {"zhice today": assistant, "+ bigram": with_lists(bigram=bigram),
            "+ fields": with_lists(fields=fields),
            "+ bigram + fields": with_lists(bigram=bigram, fields=fields),
            "no title credit": retriever_variant(assistant, reranker=before)}


def dev_sets(root: Path) -> tuple[Path, list]:
    directory = root / "devdocs"
    files = sorted(p for p in (benchmarks_dir().parent / "devdocs").iterdir()
                   if p.name != "README.md")
    with ZhiceIndex.open(directory, create=True) as index:
        index_files(index, files)
    return directory, [("dev held-out", load_dataset(DATA / "dev_heldout.jsonl")),
                       ("dev tuning", load_dataset(DATA / "dev_tune.jsonl"))]


def squad_sets(root: Path, name: str) -> tuple[Path, list]:
    bench = load_benchmark(name)
    directory = root / name
    with ZhiceIndex.open(directory, create=True) as index:
        ingest_paragraphs(index, bench.paragraphs)
        return directory, [(f"{name} {r.name}", with_folded_gold(index, r.questions))
                           for r in bench.runs]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index-root", type=Path, required=True)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    header = None
    for build in (dev_sets, lambda root: squad_sets(root, "cmrc"),
                  lambda root: squad_sets(root, "drcd")):
        directory, sets = build(args.index_root)
        with Assistant.open(directory) as assistant:
            systems = variants(assistant)
            for label, questions in sets:
                if header is None:
                    header = f"{'set':<28}{'variant':<20}" + "".join(f"{m:>15}" for m in METRICS)
                    print(header)
                for name, system in systems.items():
                    t = time.perf_counter()
                    row = summarize(questions, run_questions(system, questions))
                    print(f"{label:<28}{name:<20}" + "".join(f"{row[m]:>15.3f}" for m in METRICS)
                          + f"   ({time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
