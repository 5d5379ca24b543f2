"""Ingest benchmark on the seed corpus: full ingest, then a second ingest of the
unchanged corpus (must embed nothing), then a BM25 check on the traditional document.

    python benchmarks/ingest_bench.py > benchmarks/results/ingest.txt
"""

import platform
import tempfile
import time
from pathlib import Path

from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files
from zhice.ingest.normalize import search_key

ROOT = Path(__file__).resolve().parents[1]


TRADITIONAL = "004_7e91f5c9a91c3b3b.txt"


def main() -> None:
    corpus = ROOT / "corpus"
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{__import__('os').cpu_count()} cores, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        index = ZhiceIndex.open(Path(tmp), embedder="e5-small", create=True)
        load_s = time.perf_counter() - started
        first = index_files(index, [corpus])
        print(f"embedder: {index.embedder.name} (loaded in {load_s:.2f} s)")
        print(f"first ingest:  {first.line()}")
        print(f"  chunks/second (embedding included): {first.chunks / first.seconds:.1f}")
        index.close()

        started = time.perf_counter()
        index = ZhiceIndex.open(Path(tmp))
        second = index_files(index, [corpus])
        total = time.perf_counter() - started
        print(f"second ingest: {second.line()}")
        print(f"  embedded {second.embedded} chunks; {total:.2f} s including opening the index")
        for term in ("新质生产力", "资源型城市"):
            hits = index.bm25_search(search_key(term), 5)
            sources = [c.chunk.source for c in index.chunks([i for i, _ in hits]).values()]
            print(f"BM25 '{term}': {sum(s == TRADITIONAL for s in sources)} of top "
                  f"{len(sources)} from the traditional document {TRADITIONAL}")
        index.close()


if __name__ == "__main__":
    main()
