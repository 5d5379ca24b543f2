"""Scale benchmark: `zhice bench` at about 1k, 10k, 100k and 1M chunks.

Ingest throughput through the real pipeline, query latency p50/p95 (the whole chain,
model load excluded), peak memory of each phase, index size on disk, reopen time and
the dense index's recall@10 against exact search; see assistant/cli/bench.py.

    python benchmarks/scale_bench.py --work /tmp/zhice-scale > benchmarks/results/scale.txt
    python benchmarks/scale_bench.py --sizes 1k --queries 20     # the CI smoke run
"""

import sys
from pathlib import Path

from zhice.assistant.cli import main

ROOT = Path(__file__).resolve().parents[1]


if __name__ == "__main__":
    # later arguments win: --sizes on the command line replaces the recorded set
    sys.exit(main(["bench", "--sizes", "1k,10k,100k,1m", *sys.argv[1:]]))
