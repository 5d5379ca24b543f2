"""Keeping FAISS and BM25 in step with SQLite: what an index does on open, after another
process wrote, and when its size calls for another kind of dense index.

SQLite holds every chunk, vector and token list and a generation number bumped by each
change; FAISS and BM25 are derived from it and record the generation they show. A store
that shows another generation, or another number of rows, is brought to SQLite's state by
id (`_catch_up`) or rebuilt: an ingest killed at any point leaves an index that opens
consistent. `ZhiceIndex` inherits these; they use its stores, lock and generation.
"""

import json
import re
from pathlib import Path

import numpy as np

from .bm25 import Bm25FormatError, Bm25Index
from .dense import FaissIndex
from .errors import IndexReadOnlyError, IndexStorageError
from .paths import BM25_FILE, DENSE_FILE, DENSE_META, LOCK_FILE
from .rwlock import file_locked
from .segment import ChineseSegmenter

_SENTENCE = re.compile(r"[^。！？!?；;\n]+")
DENSE_CHECKSUM = "crc32"  # dense.json's word for a dense.faiss that ends in its CRC-32


class DerivedStores:
    """The recovery half of ZhiceIndex (see the module's docstring)."""

    def _reconcile(self) -> None:
        """Bring FAISS and BM25 to SQLite's state when a crash left them behind."""
        gen = self.store.generation()
        dense_meta = read_json(self.directory / DENSE_META)
        bm25_gen = self.bm25.meta.get("generation") if self.bm25.meta else None
        # The sizes too: a lost or unreadable dense.faiss loads as an empty index while
        # dense.json still names the current generation. dense.json records how many
        # vectors were saved: counting SQLite's rows instead reads the whole table's
        # index on every open (seconds at a million chunks, from a cold disk).
        saved = dense_meta.get("chunks")
        if saved is None:  # written by an older zhice
            saved = self.store.chunk_count()
        if (dense_meta.get("generation") == gen and bm25_gen == gen
                and len(self.dense) == len(self.bm25) == saved):
            self._generation = gen
            if not self.dense.needs_rebuild():
                return
            self._resize_dense()  # saved by a writer that never added again after a catch-up
        else:
            self._catch_up(gen)
        self._save_repair()

    def _save_repair(self) -> None:
        """Write what _reconcile repaired, when that can be done without harm: under the
        lock (a reader, zhice ask or the web UI, must not race a writer's save), in a
        folder this process may write. A write that fails (a full disk) is no error for
        a reader: the repaired stores stay in memory, the next writer saves them."""
        if self.read_only:
            return
        try:
            with self._lock(wait=False) as locked:
                if locked:
                    self.save()
        except (OSError, IndexStorageError, IndexReadOnlyError):
            pass

    def _catch_up(self, gen: int) -> None:
        """Make FAISS and BM25 in memory hold exactly SQLite's chunks, by id.

        `gen` is read before the chunks: if a writer commits in between, the stores are
        stamped older than what they show and the next open checks them again.
        """
        truth = set(self.store.chunk_ids().tolist())
        # a lost dense file loads as an empty flat index: a large index is rebuilt in
        # its own kind from SQLite rather than refilled as a flat one first. Not while
        # another process writes (a server catching up with a `zhice ingest`): that one
        # rebuilds and saves, and _resize_dense takes its file in once it is done.
        rebuild = self.dense.needs_rebuild(len(truth)) and not self._writer_busy()
        with self._rw.write():
            # a change applied meanwhile (this process's own ingest) is as new or newer
            # than what was read: applying the older truth would undo it
            if 0 <= gen <= self._generation:
                return
            if not rebuild:
                in_dense = set(self.dense.ids().tolist())
                self.dense.remove(in_dense - truth)
                ids, vecs = self.store.vectors(sorted(truth - in_dense))
                self.dense.add(ids, vecs)
            in_bm25 = set(self.bm25.ids().tolist())
            self.bm25.remove(in_bm25 - truth)
            missing = self.store.tokens(sorted(truth - in_bm25))
            self.bm25.add_tokens(list(missing), list(missing.values()))
            self._generation = gen
            self._dirty = True
        if rebuild:
            self._rebuild_dense()

    def _writer_busy(self) -> bool:
        """Whether a `writing()` holds the directory's lock (this process's own too)."""
        return file_locked(self.directory / LOCK_FILE)

    def _resize_dense(self) -> None:
        """The dense index this size calls for, once no other process writes: the saved
        file when it shows this generation (the writer built it), else built here."""
        if self._writer_busy():
            return
        saved = load_dense(self.directory, self.embedder.dim, self.dense.flat_limit)
        stamp = read_json(self.directory / DENSE_META)
        if (stamp.get("generation") == self._generation and stamp.get("chunks") == len(saved)
                == len(self.dense) and not saved.needs_rebuild()):
            with self._rw.write():
                self.dense = saved
            return
        self._rebuild_dense()

    def _rebuild_dense(self) -> None:
        """Build the dense index the corpus size calls for (flat or IVF, see dense.py)
        from the vectors in SQLite, then swap it in: searches go on meanwhile."""
        n = self.store.chunk_count()
        queries = self._tuning_queries() if n > self.dense.flat_limit else None
        dense = FaissIndex.build(self.embedder.dim, self.store.iter_vectors, n,
                                 self.dense.flat_limit, queries)
        with self._rw.write():
            self.dense = dense
            self._dirty = True

    def _tuning_queries(self, n: int = 256) -> np.ndarray:
        """Question-like vectors for tuning an IVF index: one sentence of each of n
        random stored chunks, embedded as a query."""
        rng = np.random.default_rng(0)
        ids = self.dense.ids()
        if not len(ids):
            ids = self.store.chunk_ids()
        picked = rng.choice(ids, size=min(n, len(ids)), replace=False).tolist()
        sentences = []
        for stored in self.store.chunks(picked).values():
            parts = [p for p in _SENTENCE.findall(stored.chunk.key) if len(p) >= 8]
            sentences.append(parts[rng.integers(len(parts))] if parts else stored.chunk.key[:40])
        return np.vstack([self.embedder.embed_query(s) for s in sentences])


def load_dense(directory: Path, dim: int, flat_limit: int) -> FaissIndex:
    path = directory / DENSE_FILE
    if path.exists():
        # dense.json says whether the file was written with a checksum: a damaged one
        # whose checksum record is hit is then not taken for an older zhice's file
        checksummed = read_json(directory / DENSE_META).get("checksum") == DENSE_CHECKSUM
        try:
            dense = FaissIndex.load(path, flat_limit, checksummed)
            if dense.dim == dim:
                return dense
        except (RuntimeError, OSError):
            pass  # damaged or unreadable: rebuilt from SQLite by _reconcile
    return FaissIndex(dim, flat_limit).create()


def load_bm25(directory: Path, segmenter: ChineseSegmenter) -> Bm25Index:
    path = directory / BM25_FILE
    if path.exists():
        try:
            return Bm25Index.load(path, segmenter)  # each member's CRC-32 is checked
        except (Bm25FormatError, OSError):
            pass  # rebuilt from SQLite by _reconcile
    return Bm25Index(segmenter)


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
