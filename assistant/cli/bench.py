"""`zhice bench`: ingest throughput, query latency, memory, disk and reopen time by corpus size.

For each size a corpus of Markdown files is written: the real paragraphs of the CMRC 2018
and DRCD sets (one file per article), then generated files up to the chunk target. The
generated text walks the character bigrams of one article, stepping through those of all
articles a quarter of the time: topical like a real collection, no two chunks alike.
Each size is then measured in two fresh processes, so peak memory is per phase:

- ingest: `index.pipeline.index_files` over the folder, the real pipeline (load, clean, chunk,
  segment, embed, SQLite, FAISS, BM25, save);
- query: `Assistant.open` (the reopen time), then real questions of those sets through
  `Assistant.ask` (embedding, dense, BM25, fusion, rerank, extractive answer, check);
  then the dense index's recall@10 against exact search over the stored vectors.

    zhice bench --sizes 1k,10k --work /tmp/zhice-bench --keep
"""

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from zhice.assistant.cli.common import UsageError
from zhice.eval.squad import BENCHMARKS_ENV, benchmarks_dir

SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}
SETS = ("cmrc2018/cmrc2018_dev.json", "cmrc2018/cmrc2018_trial.json",
        "drcd/DRCD_dev.json", "drcd/DRCD_test.json")
GENERATOR = "markov-2"  # written beside a corpus: a changed generator makes a new one
PARAGRAPHS_PER_FILE = 10  # of 280-380 characters each
CHUNKS_PER_FILE = 12  # what such a file gives at the default chunk size (measured)
OWN_TOPIC = 0.75  # share of generated steps that follow the article's own bigrams
REAL_SHARE = 4  # real articles fill up to a quarter of a size's chunks
STORES = ("embedded", "milvus-lite")  # milvus-lite: an index in a Milvus Lite file


def add_arguments(command: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", default="1k,10k", metavar="LIST",
                   help=f"comma-separated chunk targets, of {', '.join(SIZES)} (default 1k,10k)")
    p.add_argument("--embedder", default="fake:384", metavar="SPEC",
                   help="the embedder to ingest with (default fake:384: the index, not the model)")
    p.add_argument("--queries", type=int, default=200, metavar="N",
                   help="real questions timed per size (default 200)")
    p.add_argument("--work", type=Path, default=None, metavar="DIR",
                   help="where corpora and indexes go (default: a temporary folder)")
    p.add_argument("--keep", action="store_true",
                   help="keep the indexes (corpora in --work are always kept for the next run)")
    p.add_argument("--reuse", action="store_true",
                   help="query an index kept in --work by an earlier run instead of ingesting")
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help=f"where cmrc2018/ and drcd/ are (default: ${BENCHMARKS_ENV}, else "
                        "../shared/benchmarks beside the project)")
    p.add_argument("--stores", default="embedded", metavar="LIST",
                   help=f"comma-separated stores to measure, a row each per size, side by "
                        f"side in one run: {', '.join(STORES)} (default embedded)")
    p.add_argument("--json", action="store_true", help="one JSON object per size")


def run(args: argparse.Namespace) -> int:
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown or not sizes:
        raise UsageError(f"unknown size {', '.join(unknown) or '(none)'}; "
                         f"choose from {', '.join(SIZES)}")
    if not 1 <= args.queries <= 5000:
        raise UsageError(f"--queries must be between 1 and 5000; got {args.queries}")
    stores = [s.strip().lower() for s in args.stores.split(",") if s.strip()]
    if not stores or any(s not in STORES for s in stores):
        raise UsageError(f"unknown store in --stores {args.stores!r}; choose from "
                         f"{', '.join(STORES)}")
    data = args.data or benchmarks_dir()
    missing = [name for name in SETS if not (data / name).is_file()]
    if missing:
        raise UsageError(f"benchmark sets not found in {data}: {', '.join(missing)}; "
                         f"pass --data DIR or set ${BENCHMARKS_ENV}")
    with tempfile.TemporaryDirectory(prefix="zhice-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        articles = _articles(data)
        if not args.json:
            import platform

            import faiss

            print(f"zhice bench: embedder {args.embedder}, {os.cpu_count()} cores, load "
                  f"{os.getloadavg()[0]:.1f} at start, {args.queries} real questions per size; "
                  f"python {platform.python_version()}, faiss {faiss.__version__}", flush=True)
            print(HEADER, flush=True)
        rows = []
        for size in sizes:
            for store in stores:
                rows.append(_bench_size(size, store, articles, work, args))
                print(json.dumps(rows[-1], ensure_ascii=False) if args.json
                      else _format(rows[-1]), flush=True)
        if not args.json:
            print(LEGEND.format(table=max(r["embedder_table_mb"] for r in rows)))
    return 0


HEADER = (f"{'size':>5} {'files':>7} {'chunks':>8} {'ingest/s':>9} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'dense ms':>8} {'bm25 ms':>7} {'ingest MB':>9} {'query MB':>8} {'disk MB':>8} "
          f"{'open s':>6} {'recall@10':>9} {'load':>9}  dense index")


LEGEND = """\
ingest/s: chunks a second through index.pipeline.index_files (load, clean, chunk, segment, embed,
  SQLite, FAISS, BM25, final save). p50/p95: Assistant.ask per question (embedding, dense,
  BM25, fusion, coverage rerank, extractive answer, citation check), model load excluded;
  dense/bm25 ms: the medians of those two searches alone (k=50). ingest MB / query MB: peak
  RSS of the ingest process / of the process that opens the index and asks (with a fake
  embedder, ingest MB holds the bench's bigram table, {table:.0f} MB at most, and query MB the
  fake's own cache of bigram vectors, up to 200 MB). disk MB: the index
  folder. open s: Assistant.open (SQLite, embedder, jieba, FAISS, BM25, consistency check),
  imports excluded. recall@10: the dense index's top 10 against exact search over the stored
  vectors, on the same real questions. load: 5-min load average after the ingest / 1-min
  after the queries (2 cores: above 2, other jobs shared the machine)."""


def _format(r: dict) -> str:
    recall = "exact" if r["recall10"] is None else f"{r['recall10']:.3f}"
    load = f"{r['ingest_load']:.1f}/{r['query_load']:.1f}"
    return (f"{r['size']:>5} {r['files']:>7} {r['chunks']:>8} {r['chunks_per_s']:>9.1f} "
            f"{r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['dense_ms']:>8.1f} {r['bm25_ms']:>7.1f} "
            f"{r['ingest_peak_mb']:>9.0f} {r['query_peak_mb']:>8.0f} {r['disk_mb']:>8.0f} "
            f"{r['open_s']:>6.2f} {recall:>9} {load:>9}  {r['dense']}")


def _bench_size(size: str, store: str, articles: list, work: Path,
                args: argparse.Namespace) -> dict:
    corpus = work / f"corpus-{size}"
    questions = _corpus(corpus, articles, SIZES[size])
    index = work / (f"index-{size}" if store == "embedded" else f"{store}-{size}.db")
    location = str(index) if store == "embedded" else f"milvus:{index}"
    done = work / f"ingest-{index.name}.json"  # what the ingest of a kept index measured
    try:
        if args.reuse and done.exists() and index.exists():
            ingest = json.loads(done.read_text())
        else:
            done.unlink(missing_ok=True)
            shutil.rmtree(index, ignore_errors=True)
            ingest = _child("ingest", {"index": location, "corpus": str(corpus),
                                       "embedder": args.embedder})
            ingest["disk_mb"] = sum(f.stat().st_size for f in index.rglob("*")
                                    if f.is_file()) / 2**20
            done.write_text(json.dumps(ingest))
        picked = random.Random(0).sample(questions, min(args.queries, len(questions)))
        query = _child("query", {"index": location, "questions": picked})
    finally:
        if not args.keep:
            shutil.rmtree(index, ignore_errors=True)
            done.unlink(missing_ok=True)
    return {"size": size, "store": store, **ingest, **query}


def _child(phase: str, params: dict) -> dict:
    """Run one phase in a fresh interpreter; its last stdout line is the JSON result."""
    done = subprocess.run([sys.executable, "-m", "zhice.assistant.cli.bench", phase],
                          input=json.dumps(params), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench {phase} phase failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# the corpus ---------------------------------------------------------------------------
def _articles(data: Path) -> list[tuple[str, list[str], list[str]]]:
    """(title, paragraphs, questions) per article title, in file order."""
    by_title: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for name in SETS:
        for article in json.loads((data / name).read_text(encoding="utf-8"))["data"]:
            paragraphs, questions = by_title[article.get("title") or f"{name}-{len(by_title)}"]
            for p in article["paragraphs"]:
                paragraphs.append(" ".join(p["context"].split()))
                # a few are empty or whitespace: not questions anyone asks
                questions.extend(q["question"].strip() for q in p["qas"] if q["question"].strip())
    return [(title, ps, qs) for title, (ps, qs) in by_title.items()]


def _corpus(folder: Path, articles: list, target: int) -> list[str]:
    """Write (once) the corpus of about `target` chunks; its real questions."""
    from zhice.ingest.chunker import chunk_document
    from zhice.ingest.types import LoadedDocument

    stamp = folder / "corpus.json"
    if stamp.exists():
        meta = json.loads(stamp.read_text())
        if meta.get("generator") == GENERATOR and meta.get("target") == target:
            return meta["questions"]
        _remove_corpus(folder)
    (folder / "real").mkdir(parents=True)
    chunks, questions = 0, []
    for i, (title, paragraphs, qs) in enumerate(articles):
        if chunks >= target // REAL_SHARE:
            break
        text = f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n"
        (folder / "real" / f"{i:05d}.md").write_text(text, encoding="utf-8")
        chunks += len(chunk_document(LoadedDocument("x.md", text)).chunks)
        questions += qs
    rng = random.Random(target)
    walker = _BigramWalker([p for _, ps, _ in articles for p in ps], rng)
    topics = [(t, _BigramWalker(ps, rng)) for t, ps, _ in articles]
    for j in range(max(0, target - chunks + CHUNKS_PER_FILE - 1) // CHUNKS_PER_FILE):
        title, own = topics[j % len(topics)]
        paragraphs = [walker.walk(own, rng.randint(280, 380)) for _ in range(PARAGRAPHS_PER_FILE)]
        path = folder / "gen" / f"{j // 1000:04d}" / f"{j:07d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {title}（{j}）\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
    stamp.write_text(json.dumps({"generator": GENERATOR, "target": target,
                                 "questions": questions}, ensure_ascii=False))
    return questions


def _remove_corpus(folder: Path) -> None:
    for f in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        f.rmdir() if f.is_dir() else f.unlink()


class _BigramWalker:
    """Text that follows the character bigrams of some paragraphs: every bigram it
    writes occurs in them, so the text has their words and figures in new orders."""

    def __init__(self, paragraphs: list[str], rng: random.Random):
        following: dict[str, list[str]] = defaultdict(list)
        for p in paragraphs:
            for a, b in zip(p, p[1:]):
                following[a].append(b)
        self.next = {a: "".join(bs) for a, bs in following.items()}
        self.starts = "".join(p[0] for p in paragraphs if p)
        self.rng = rng

    def walk(self, own: "_BigramWalker", length: int) -> str:
        """About `length` characters mostly along `own`'s bigrams, ending a sentence."""
        rng = self.rng
        c = rng.choice(own.starts)
        out = [c]
        while len(out) < length or c not in "。！？":
            following = own.next.get(c) if rng.random() < OWN_TOPIC else None
            following = following or self.next.get(c)
            if not following or len(out) > length + 200:
                out.append("。")
                break
            c = rng.choice(following)
            out.append(c)
        return "".join(out)


# the phases, each in its own process ----------------------------------------------------
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ingest_phase(p: dict) -> dict:
    from zhice.index.pipeline import index_files
    from zhice.index.stores import open_index

    embedder = _bench_embedder(p["embedder"])
    with open_index(p["index"], embedder=embedder, create=True) as index:
        summary = index_files(index, [Path(p["corpus"])])
        files = summary.added + summary.updated + summary.unchanged
        return {"files": files, "chunks": len(index), "failed": len(summary.failures),
                "ingest_s": summary.seconds, "chunks_per_s": summary.chunks / summary.seconds,
                "ingest_peak_mb": _peak_mb(), "ingest_load": os.getloadavg()[1],
                "embedder_table_mb": getattr(embedder, "table_mb", 0.0)}


def _query_phase(p: dict) -> dict:
    from zhice.assistant.chain import Assistant
    from zhice.ingest.normalize import search_key

    started = time.perf_counter()
    assistant = Assistant.open(p["index"])
    open_s = time.perf_counter() - started
    questions = p["questions"]
    for q in questions[:3]:  # first-use costs (caches, lazy views) are not a query's
        assistant.ask(q)
    latencies = [assistant.ask(q).latency_ms for q in questions]
    peak = _peak_mb()
    index = assistant.index
    parts = {"dense_ms": [], "bm25_ms": []}
    for q in questions:
        key = search_key(q)
        for name, search in (("dense_ms", index.dense_search), ("bm25_ms", index.bm25_search)):
            t = time.perf_counter()
            search(key, 50)
            parts[name].append((time.perf_counter() - t) * 1000)
    dense = getattr(index, "dense", None)  # FAISS, in the embedded store
    out = {"open_s": open_s, "p50_ms": float(np.percentile(latencies, 50)),
           "p95_ms": float(np.percentile(latencies, 95)), "query_peak_mb": peak,
           "dense": dense.describe() if dense else f"Milvus Lite FLAT (exact), {len(index)} "
                                                   "vectors",
           "recall10": None, "query_load": os.getloadavg()[0],
           **{name: float(np.median(v)) for name, v in parts.items()}}
    if dense and dense.kind != "flat":
        out["recall10"] = _dense_recall(index, [search_key(q) for q in questions])
    assistant.close()
    return out


def _dense_recall(index, keys: list[str], k: int = 10) -> float:
    """Recall@k of the dense index against exact inner-product search over every
    vector SQLite stores, for these queries."""
    from zhice.index.dense import recall_at

    queries = np.vstack([index.embedder.embed_query(key) for key in keys])
    best = np.full((len(keys), 0), -np.inf, np.float32)
    best_ids = np.zeros((len(keys), 0), np.int64)
    for ids, vectors in index.store.iter_vectors():
        scores = np.hstack([best, queries @ vectors.T])
        all_ids = np.hstack([best_ids, np.broadcast_to(ids, (len(keys), len(ids)))])
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        best, best_ids = np.take_along_axis(scores, top, 1), np.take_along_axis(all_ids, top, 1)
    approx = [[i for i, _ in index.dense.search(q, k)] for q in queries]
    return recall_at(approx, best_ids.tolist(), k)


def _bench_embedder(spec: str):
    """The embedder a spec names; fake specs get the same vectors, computed in bulk."""
    from zhice.index.embedders import make_embedder

    kind, _, dim = spec.partition(":")
    return _bulk_fake(int(dim or 64)) if kind == "fake" else make_embedder(spec).load()


def _bulk_fake(dim: int):
    from zhice.index.embedders import fake

    class BulkFakeEmbedder(fake.FakeEmbedder):
        """fake:DIM's vectors (to float32 rounding) as one sparse product per batch:
        the fake's per-bigram loop and its bounded cache cost ~8 ms a chunk on a
        corpus of 300,000 distinct bigrams, more than the rest of the pipeline."""

        BLOCK = 16_384  # bigram vectors per block of the table: it grows without copies

        def __init__(self, dim: int) -> None:
            super().__init__(dim)
            self._row: dict[str, int] = {}
            self._blocks: list[np.ndarray] = []

        @property
        def table_mb(self) -> float:
            return sum(b.nbytes for b in self._blocks) / 2**20

        def embed_documents(self, texts):
            import scipy.sparse as sp

            rows, cols = [], []
            for r, text in enumerate(texts):
                grams = [text[i : i + 2] for i in range(len(text) - 1)] or [text]
                cols += map(self._index_of, grams)
                rows += [r] * len(grams)
            used, local = np.unique(np.asarray(cols, np.int64), return_inverse=True)
            table = np.vstack([self._blocks[u // self.BLOCK][u % self.BLOCK] for u in used])
            counts = sp.csr_array((np.ones(len(cols), np.float32), (rows, local)),
                                  shape=(len(texts), len(used)))
            out = counts @ table
            norms = np.linalg.norm(out, axis=1)
            for r in np.flatnonzero(norms == 0):  # as the fake does, in theory only
                out[r] = self._vector(texts[r])
                norms[r] = 1.0
            return (out / norms[:, None]).astype(np.float32)

        def _index_of(self, gram: str) -> int:
            row = self._row.get(gram)
            if row is None:
                row = self._row[gram] = len(self._row)
                if row % self.BLOCK == 0:
                    self._blocks.append(np.empty((self.BLOCK, self.dim), np.float32))
                vector = fake._gram_vector.__wrapped__(gram, self.dim)
                self._blocks[-1][row % self.BLOCK] = vector
            return row

    return BulkFakeEmbedder(dim)


if __name__ == "__main__":
    phase = {"ingest": _ingest_phase, "query": _query_phase}[sys.argv[1]]
    print(json.dumps(phase(json.loads(sys.stdin.read()))))
