"""`zhice ingest --workers N`: files loaded, cleaned, chunked, segmented and embedded by
N worker processes side by side; the ingesting process writes them into the index in
order (pipeline.index_files).

Embedding is the cost of an ingest (the e5 model, CPU-bound); writing a file's rows is
a fraction of it. One writer keeps the index's consistency rules (one transaction per
file in SQLite, the version switch in Milvus: milvus.py) where they are, and the files
are written in the order they were named, so chunk ids, the summary and the progress
bar are those of a one-process ingest.
"""

import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np

from zhice.ingest.budget import LoadBudget
from zhice.ingest.chunker import ChunkedDocument

from .prepare import Prepared, prepare_file


def prepared_in_workers(files: list[tuple[Path, str]], known: dict[str, str], size: int,
                        overlap: int, budget: LoadBudget, workers: int,
                        embedder_spec: str) -> Iterator[Prepared]:
    """Each file prepared and embedded by a pool of `workers` processes, in order."""
    # spawn, not fork: this process holds threads (the Milvus client's gRPC, FAISS's)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(embedder_spec,)) as pool:
        queue: deque[Future] = deque()
        todo = iter(files)
        window = workers * 2  # enough to keep every worker busy, little memory

        def submit() -> None:
            for path, source in todo:
                queue.append(pool.submit(_prepare, path, source, known.get(source), size,
                                         overlap, budget))
                if len(queue) >= window:
                    return

        submit()
        while queue:
            ready: Prepared = queue.popleft().result()
            submit()
            yield ready


# A worker's embedder and segmenter, loaded once by its initializer: a worker process
# exists for this and nothing else.
_worker: dict = {}


def _start_worker(embedder_spec: str) -> None:
    from .embedders import make_embedder
    from .segment import ChineseSegmenter

    embedder = make_embedder(embedder_spec)
    embedder.load()
    _worker.update(embedder=embedder, segmenter=ChineseSegmenter().load())


def _prepare(path: Path, source: str, known_sha: str | None, size: int, overlap: int,
             budget: LoadBudget) -> Prepared:
    segmenter = _worker["segmenter"]
    return prepare_file(path, source, known_sha, size, overlap, budget,
                        lambda chunks: [segmenter.passage(c.heading, c.text) for c in chunks],
                        _embed)


def _embed(doc: ChunkedDocument) -> np.ndarray:
    """Every chunk's vector; a chunk repeated in the document is embedded once."""
    embedder = _worker["embedder"]
    first: dict[str, int] = {}
    for i, c in enumerate(doc.chunks):
        first.setdefault(c.id, i)
    unique = list(first.values())
    embedded = embedder.embed_documents([doc.chunks[i].embedding_text() for i in unique])
    row = {doc.chunks[i].id: n for n, i in enumerate(unique)}
    return (np.asarray(embedded, np.float32)[[row[c.id] for c in doc.chunks]]
            if doc.chunks else np.zeros((0, embedder.dim), np.float32))
