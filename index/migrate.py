"""`zhice migrate --to milvus:...`: an embedded index copied into Milvus, not re-embedded.

SQLite holds every chunk's vector and BM25 tokens, every file's text and facts: all of
it goes into the Milvus collections as they are (milvus_store.py), with the recorded
embedder, so the copy answers as the original does. A chunk the embedded store folded
into an identical chunk of another file becomes a chunk of its own file again (with
the vector of the one it repeated): Milvus folds nothing across files (milvus.py). The
images of the pages OCR read go into the Milvus index's folder (milvus_spec.pages_folder).

The files go in through the Milvus writer (milvus.py: versions, batches, df rows) with
the vectors SQLite holds. The info row, which makes the collections an index, is written
last: a migrate killed half way leaves no index, and the next one starts over.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zhice.ingest.facts import DocumentFacts
from zhice.ingest.types import Chunk

from .catalog import open_store
from .errors import IndexMismatchError
from .milvus import MilvusIndex, initial_state, new_info
from .milvus_spec import MilvusSpec
from .milvus_store import MilvusStore
from .pages import PageImages
from .paths import PAGES_DIR
from .segment import ChineseSegmenter
from .store import split_lines


@dataclass(frozen=True)
class MigrateSummary:
    files: int
    chunks: int
    seconds: float = 0.0

    def line(self) -> str:
        return f"{self.files} files, {self.chunks} chunks copied in {self.seconds:.1f} s"


def migrate(directory: Path, target: MilvusSpec,
            progress: Callable[[str], None] | None = None) -> MigrateSummary:
    """Copy the embedded index at `directory` into the empty Milvus index `target`."""
    started = time.perf_counter()
    store = open_store(directory, read_only=True)
    milvus = MilvusStore(target).connect()
    try:
        if milvus.exists() and milvus.get_meta("info") is not None:
            raise IndexMismatchError(
                f"{target} already holds an index; migrate into a new one (another "
                "file, or milvus://HOST:PORT/NAME with another NAME)")
        milvus.drop()  # what a migrate killed before its info row made: start over
        meta = store.meta()
        dim = int(meta["dim"])
        milvus.create(dim)
        milvus.put_meta("state", initial_state())
        segmenter = ChineseSegmenter().load()
        index = MilvusIndex(milvus, None, segmenter)  # writes the vectors it is given
        db = store.db
        order = [s for s, in db.execute(
            "SELECT f.source FROM files f LEFT JOIN chunks c ON c.source = f.source "
            "GROUP BY f.source ORDER BY MIN(c.id) IS NULL, MIN(c.id), f.source")]
        facts = store.facts()
        images = PageImages(Path(directory) / PAGES_DIR)
        copied = 0
        with index.writing():
            for source in order:
                chunks, lines, vectors, duplicates, file = _file(db, source, segmenter)
                index.pages.put(file[1], images.all(file[1]))
                index.put_file(source, *file, facts.get(source, DocumentFacts()), chunks,
                               lines, vectors, duplicates)
                copied += len(chunks)
                if progress:
                    progress(source)
        chunking = {key: int(meta[key]) for key in ("chunk_size", "overlap") if key in meta}
        milvus.put_meta("info", new_info(
            meta["embedder"], meta.get("embedder_spec", meta["embedder"]), dim,
            migrated_from=str(Path(directory).resolve()), **chunking))
        milvus.flush()
        return MigrateSummary(len(order), copied, time.perf_counter() - started)
    finally:
        milvus.close()
        store.close()


def _file(db, source: str, segmenter: ChineseSegmenter):
    """One file's chunks, their tokens by line and vectors, its duplicate count and
    (path, sha256, title, text), as SQLite holds them; a chunk the embedded store folded
    into another file's identical chunk is a chunk of this file again."""
    path, sha, title, text = db.execute(
        "SELECT path, sha256, title, text FROM files WHERE source = ?", (source,)).fetchone()
    rows = db.execute(
        'SELECT hash, ordinal, heading, text, key, start, "end", page, tokens, vector '
        "FROM chunks WHERE source = ? ORDER BY ordinal", (source,)).fetchall()
    chunks = [Chunk(source, o, t, k, h, s, e, p, title, hs)
              for hs, o, h, t, k, s, e, p, _, _ in rows]
    lines = [_lines(r[8], segmenter, c) for r, c in zip(rows, chunks)]
    vectors = [np.frombuffer(r[9], np.float32) for r in rows]
    folded = db.execute(
        'SELECT d.ordinal, d.heading, d.text, d.key, d.start, d."end", d.page, '
        "c.vector FROM duplicates d JOIN chunks c ON c.id = d.canonical "
        "WHERE d.source = ? AND d.kind = 'chunk' AND c.source != d.source",
        (source,)).fetchall()
    for o, h, t, k, s, e, p, blob in folded:
        chunks.append(Chunk(source, o, t, k, h, s, e, p, title))
        lines.append(segmenter.passage(h, t))
        vectors.append(np.frombuffer(blob, np.float32))
    duplicates = db.execute("SELECT COUNT(*) FROM duplicates WHERE source = ?",
                            (source,)).fetchone()[0] - len(folded)
    return chunks, lines, vectors, duplicates, (path, sha, title, text)


def _lines(column: str, segmenter: ChineseSegmenter, chunk: Chunk) -> list[list[str]]:
    """A chunk's BM25 tokens by line as stored; segmented again for a row written
    before lines were kept (its one line of tokens cannot be split by sentence)."""
    lines = split_lines(column)
    if lines is None:
        return segmenter.passage(chunk.heading, chunk.text)
    return [list(line) for line in lines]
