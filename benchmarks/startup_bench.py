"""CPU time of `zhice --help` and `zhice list` (issue: under 0.3 s and 0.5 s), measured
with /usr/bin/time over fresh processes, best and median of N runs.

    python benchmarks/startup_bench.py > benchmarks/results/startup.txt
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7
ZHICE = Path(sys.executable).with_name("zhice")


def cpu_seconds(args: list[str]) -> float:
    done = subprocess.run(["/usr/bin/time", "-f", "cpu %U %S", str(ZHICE), *args],
                          capture_output=True, text=True, check=True)
    user, system = re.search(r"cpu ([\d.]+) ([\d.]+)", done.stderr).groups()
    return float(user) + float(system)


def main() -> None:
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        index = str(Path(tmp) / "index")
        subprocess.run([str(ZHICE), "ingest", str(ROOT / "corpus"), "--index", index,
                        "--embedder", "fake"], check=True, capture_output=True)
        for label, args, limit in (("zhice --help", ["--help"], 0.3),
                                   ("zhice list (5 documents)", ["list", "--index", index], 0.5)):
            times = [cpu_seconds(args) for _ in range(RUNS)]
            print(f"{label:<26} CPU s: best {min(times):.2f}, median "
                  f"{statistics.median(times):.2f} over {RUNS} runs (target < {limit})")
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
