"""FAISS: dense vectors under stable ids, exact while small, IVF when large; written atomically.

Up to `flat_limit` vectors the index is exact: IndexFlatIP inside an IndexIDMap2. Past
it the owner rebuilds it (`needs_rebuild`, `build`) from the vectors SQLite stores, as
an IndexIVFScalarQuantizer: 8-bit codes (a quarter of float32's memory: 1M x 384-d is
0.4 GB, not 1.5 GB), ids held in the inverted lists with a hash direct map, so single
ids can still be removed and read back. Its nprobe is tuned at build time so that
recall@10 against exact search reaches RECALL_TARGET, and saved with the index.

Some vectors cannot be narrowed down by lists: when no nprobe below a quarter of the
lists reaches the target (measured on the fake embedder, whose passages sit at noise
level from every question), a scan is unavoidable and the index adds a shortlist: 4-bit
PQ codes scanned with SIMD (PQ fast scan, 1M vectors in a few ms), whose best few
hundred are re-scored with the 8-bit vectors. Its depth is tuned like nprobe. A removed
id leaves a tombstone in the shortlist until a fifth of it is dead, then it is rebuilt.

    dense = FaissIndex(384).create()
    dense.add(ids, vectors); dense.search(query_vector, k=10)
    if dense.needs_rebuild():
        dense = FaissIndex.build(384, store_batches, n)   # flat or IVF, as n calls for
"""

import math
import mmap
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from zhice.index.atomic import atomic_write
from zhice.ingest.errors import ZhiceError

# Exact search costs ~0.25 ms per 1,000 vectors on one core (384-d): past 50,000 an
# IVF index answers in a few ms, with a measured recall.
FLAT_LIMIT = 50_000
FLAT_LIMIT_ENV = "ZHICE_FLAT_LIMIT"
# nprobe (or the shortlist's depth) is the smallest that brings recall@10 against exact
# search, on question-like queries, to this; the margin over the 0.95 the benchmark
# checks on real questions (benchmarks/scale_bench.py) is for their difference.
RECALL_TARGET = 0.97
TUNING_QUERIES = 256
# Retrain when the index has grown or shrunk this many times over since it was trained:
# nlist then fits its size again. Back to exact below half the flat limit.
REBUILD_FACTOR = 4
TRAIN_PER_LIST = 40  # faiss warns below 39 training points per list
# The shortlist: taken when nprobe would have to reach 1/SHORTLIST_FROM of the lists.
SHORTLIST_FROM = 4
SHORTLIST_DEPTHS = (100, 200, 400, 800, 1600, 3200)
SHORTLIST_TRAIN = 10_000
SHORTLIST_MIN = 1_000  # vectors; fewer are scanned in no time anyway
MAX_DEAD_SHARE = 0.2
_TRAILER = struct.Struct("<qq8s")  # shortlist depth, its offset in the file, magic
_MAGIC = b"zhiceSL1"
# The file's last bytes: the length and CRC-32 of all before them. CRC-32 because it is
# the fastest check the standard library has (3.5 GB/s here, outside the GIL; blake2b
# 0.6): a 1.5 GB file is checked in 0.45 s. It catches damage, not tampering.
_CHECKSUM = struct.Struct("<qI4x8s")
_CHECKSUM_MAGIC = b"zhiceCK1"
_BLOCK = 16 * 2**20  # bytes a call of the callback writer

Batches = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]


def _faiss():
    # faiss loads its native library on import: only when an index is opened
    import faiss

    return faiss


def flat_limit_from_env() -> int:
    """$ZHICE_FLAT_LIMIT when set (tests lower it to see the switch), else FLAT_LIMIT."""
    raw = os.environ.get(FLAT_LIMIT_ENV, "").strip()
    if not raw:
        return FLAT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ZhiceError(f"{FLAT_LIMIT_ENV} must be a positive integer; got {raw!r}")
    return value


def nlist_for(n: int) -> int:
    """Inverted lists for n vectors: the power of two nearest sqrt(n)."""
    return 2 ** round(math.log2(max(n, 1)) / 2)


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """OpenMP threads for this thread's faiss calls. One: with two, a busy second core
    (another query, an ingest, another program) makes the spin-waits cost far more than
    the split saves (measured: a query 3x slower, PQ training 10x, on a loaded machine)."""
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class FaissIndex:
    """Inner-product search over L2-normalised vectors, ids mapped to chunk rows so one
    document can be removed or replaced without a rebuild."""

    def __init__(self, dim: int, flat_limit: int = FLAT_LIMIT):
        self.dim = dim
        self.flat_limit = flat_limit
        self._index = None
        self._shortlist = None  # IndexIDMap(IndexPQFastScan), or None
        self._depth = 0
        self._dead: set[int] = set()  # removed ids the shortlist still holds

    def create(self) -> "FaissIndex":
        faiss = _faiss()
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        return self

    @classmethod
    def load(cls, path: Path, flat_limit: int = FLAT_LIMIT,
             checksummed: bool = False) -> "FaissIndex":
        """Read a file written by `save`; RuntimeError when it is not one, or when its
        checksum says it was damaged. A file of an older zhice has no checksum and is
        read as it is, unless `checksummed` says this one was written with it."""
        faiss = _faiss()
        end = _checked_length(path, checksummed)  # before faiss parses a damaged size
        index = faiss.read_index(str(path))
        if not isinstance(index, faiss.IndexIDMap2 | faiss.IndexIVFScalarQuantizer):
            raise RuntimeError(f"{path} holds a {type(index).__name__}, not a zhice index")
        out = cls(index.d, flat_limit)
        out._index = index
        with open(path, "rb") as f:
            if end < _TRAILER.size:
                return out
            f.seek(end - _TRAILER.size)
            depth, offset, magic = _TRAILER.unpack(f.read(_TRAILER.size))
            if magic != _MAGIC:
                return out
            if not 0 < offset < end - _TRAILER.size or depth < 1 or out.kind != "ivf":
                raise RuntimeError(f"{path}: a damaged shortlist")
            f.seek(offset)
            raw = np.fromfile(f, dtype=np.uint8, count=end - _TRAILER.size - offset)
        out._shortlist = faiss.deserialize_index(raw)
        out._depth = int(depth)
        held, live = faiss.vector_to_array(out._shortlist.id_map), out.ids()
        if len(np.setdiff1d(live, held)):  # a live id the shortlist lacks
            raise RuntimeError(f"{path}: the shortlist does not match the index")
        out._dead = set(np.setdiff1d(held, live).tolist())
        return out

    @classmethod
    def build(cls, dim: int, batches: Batches, n: int, flat_limit: int = FLAT_LIMIT,
              queries: np.ndarray | None = None,
              rng: np.random.Generator | None = None) -> "FaissIndex":
        """The index n vectors call for, filled from `batches()`: an iterable of (ids,
        vectors) arrays, read twice for an IVF index (a training sample, then all).

        `queries` tune nprobe: vectors like the questions that will be asked (the owner
        embeds sentences of stored passages). Without them, stored vectors stand in,
        each one's own hit left out: an easier test than real questions.
        """
        out = cls(dim, flat_limit)
        if n <= flat_limit:
            out.create()
            for ids, vectors in batches():
                out.add(ids, vectors)
            return out
        out._build_ivf(batches, n, queries, rng or np.random.default_rng(0))
        return out

    @property
    def index(self):
        if self._index is None:
            raise RuntimeError("FaissIndex.create(), load() or build() was not called")
        return self._index

    @property
    def kind(self) -> str:
        """"flat" (exact) or "ivf" (IVF, 8-bit scalar quantizer)."""
        return "flat" if isinstance(self.index, _faiss().IndexIDMap2) else "ivf"

    @property
    def nprobe(self) -> int | None:
        return None if self.kind == "flat" else int(self.index.nprobe)

    @property
    def nlist(self) -> int | None:
        return None if self.kind == "flat" else int(self.index.nlist)

    @property
    def shortlist_depth(self) -> int | None:
        """Candidates the PQ shortlist passes on to re-scoring; None without one."""
        return self._depth if self._shortlist is not None else None

    def describe(self) -> str:
        """One line for benchmarks and logs: the type and its parameters."""
        if self.kind == "flat":
            return f"flat (exact), {len(self)} vectors"
        if self._shortlist is not None:
            return (f"IVF{self.nlist},SQ8 + PQ{_pq_m(self.dim)}x4fs shortlist of "
                    f"{self._depth}, {len(self)} vectors")
        return f"IVF{self.nlist},SQ8 nprobe={self.nprobe}, {len(self)} vectors"

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        faiss = _faiss()
        if self.kind == "flat":
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        lists = self.index.invlists
        parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                 for i in range(lists.nlist) if lists.list_size(i)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(ids):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        self.index.add_with_ids(vectors, ids)
        if self._shortlist is not None:
            self._shortlist.add_with_ids(vectors, ids)
            self._dead.difference_update(ids.tolist())

    def remove(self, ids) -> None:
        ids = np.asarray(list(ids), dtype=np.int64)
        if not len(ids):
            return
        if self.kind == "flat":
            self.index.remove_ids(ids)
            return
        # an id array goes through the hash direct map, not a scan of every list
        faiss = _faiss()
        self.index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)))
        if self._shortlist is not None:  # PQ fast scan cannot remove: tombstones
            self._dead.update(ids.tolist())
            if len(self._dead) > MAX_DEAD_SHARE * self._shortlist.ntotal:
                self._refill_shortlist()

    def reconstruct(self, id_: int) -> np.ndarray:
        """The stored vector of an id (after 8-bit quantisation for an IVF index)."""
        return self.index.reconstruct(int(id_))

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest ids with their cosine similarity, best first."""
        if len(self) == 0 or k <= 0:
            return []
        query = np.asarray(vector, np.float32).reshape(1, -1)
        with _threads(1):
            if self._shortlist is not None:
                ids, scores = self._search_shortlist(query, k)
            else:
                scores, ids = self.index.search(query, k)
                ids, scores = ids[0], scores[0]
        return [(int(i), float(s)) for i, s in zip(ids, scores) if i != -1]

    def needs_rebuild(self, n: int | None = None) -> bool:
        """True when an index of n vectors (default: its size) should be of another
        kind or another nlist: past the flat limit, or grown or shrunk REBUILD_FACTOR
        times since it was trained."""
        n = len(self) if n is None else n
        if self.kind == "flat":
            return n > self.flat_limit
        if n <= self.flat_limit // 2:
            return True
        trained = self._trained_for()
        return n >= trained * REBUILD_FACTOR or n * REBUILD_FACTOR <= trained

    def save(self, path: Path) -> None:
        """Write to a temporary file beside `path`, then rename over it: a reader sees
        the old index or the new one, never half of one. The shortlist, if any, follows
        the index in the same file (faiss.read_index reads the index alone), and a CRC-32
        of all that closes it, computed from the bytes as they are written.

        Through faiss's callback writer, not write_index(path): faiss's own file writer
        reports a full disk as a RuntimeError, or not at all when its last buffer fails
        at fclose; ours raises the OSError of the write that failed."""
        faiss = _faiss()

        def write(f) -> None:
            sink = _Checksummed(f)
            faiss.write_index(self.index, faiss.PyCallbackIOWriter(sink.write, _BLOCK))
            if self._shortlist is not None:
                offset = sink.size
                faiss.write_index(self._shortlist, faiss.PyCallbackIOWriter(sink.write, _BLOCK))
                sink.write(_TRAILER.pack(self._depth, offset, _MAGIC))
            f.write(_CHECKSUM.pack(sink.size, sink.crc, _CHECKSUM_MAGIC))

        atomic_write(path, write)

    # the shortlist ---------------------------------------------------------------------
    def _search_shortlist(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The PQ shortlist's best `depth` (more while tombstones take places), re-scored
        with the 8-bit vectors of the live ones."""
        extra = len(self._dead) * self._depth // max(1, self._shortlist.ntotal)
        _, found = self._shortlist.search(query, max(k, self._depth + extra))
        found = found[0][found[0] != -1]
        if self._dead:
            found = np.fromiter((i for i in found.tolist() if i not in self._dead), np.int64)
        found = np.unique(found)  # a re-added id can be held twice
        if not len(found):
            return found, np.zeros(0, np.float32)
        scores = self.index.reconstruct_batch(found) @ query[0]
        best = np.argsort(-scores, kind="stable")[:k]
        return found[best], scores[best]

    def _new_shortlist(self, sample: np.ndarray):
        faiss = _faiss()
        pq = faiss.IndexPQFastScan(self.dim, _pq_m(self.dim), 4, faiss.METRIC_INNER_PRODUCT)
        pq.pq.cp.niter = 10
        pq.pq.cp.min_points_per_centroid = 1
        with _threads(1):
            pq.train(np.ascontiguousarray(sample[:SHORTLIST_TRAIN]))
        shortlist = faiss.IndexIDMap(pq)
        pq.this.disown()  # the id map owns and frees it
        shortlist.own_fields = True
        return shortlist

    def _refill_shortlist(self) -> None:
        """Drop the tombstones: the shortlist again from the live vectors (as stored)."""
        live = self.ids()
        self._shortlist.reset()
        for i in range(0, len(live), 50_000):
            part = live[i : i + 50_000]
            self._shortlist.add_with_ids(self.index.reconstruct_batch(part), part)
        self._dead.clear()

    # building the IVF index -----------------------------------------------------------
    def _trained_for(self) -> int:
        # nlist_for gives this nlist to sizes from half to twice its square: the size
        # it stands for, with no record kept beside the index
        return self.nlist**2

    def _build_ivf(self, batches: Batches, n: int, queries: np.ndarray | None,
                   rng: np.random.Generator) -> None:
        faiss = _faiss()
        nlist = nlist_for(n)
        n_train = min(n, max(nlist * TRAIN_PER_LIST, SHORTLIST_TRAIN))
        extra = TUNING_QUERIES if queries is None else 0
        # One pass for a uniform sample: training points (plus stand-in queries).
        picks = np.sort(rng.choice(n, size=min(n, n_train + extra), replace=False))
        sample_ids, sample = _take(batches(), picks)
        query_ids = np.full(0, -1, np.int64)
        if queries is None:
            at = rng.permutation(len(sample))[:TUNING_QUERIES]
            queries, query_ids = sample[at], sample_ids[at]
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        sample = np.ascontiguousarray(rng.permutation(sample))

        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, self.dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.cp.niter = 10  # centroids need not be exact: the lists only narrow the search
        index.cp.min_points_per_centroid = 1  # small indexes (tests) train on what there is
        with _threads(1):
            index.train(sample[: nlist * TRAIN_PER_LIST])
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        quantizer.this.disown()  # the IVF index owns and frees it
        index.own_fields = True
        self._index = index
        # Second pass: add everything (to the shortlist too: whether it is needed shows
        # only once all is in, and a third read of SQLite costs more than PQ codes do),
        # and find the exact neighbours of the queries.
        self._shortlist = self._new_shortlist(sample) if n >= SHORTLIST_MIN else None
        exact = _TopK(len(queries), 11)
        for ids, vectors in batches():
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            ids = np.ascontiguousarray(ids, dtype=np.int64)
            index.add_with_ids(vectors, ids)
            if self._shortlist is not None:
                self._shortlist.add_with_ids(vectors, ids)
            exact.push(queries @ vectors.T, ids)
        want = _without_self(exact.ids(), query_ids)
        self._tune(queries, query_ids, want)

    def _tune(self, queries: np.ndarray, query_ids: np.ndarray, want: list[list[int]]) -> None:
        """Lists while a few narrow the search enough; else the shortlist, if it gets
        there; else as many lists as it takes."""
        index = self.index

        def recall_of(search) -> float:
            found = [search(q) for q in queries]
            return recall_at(_without_self(np.array(found), query_ids), want)

        def ivf_top(q):
            return index.search(q[None], 11)[1][0]

        def shortlist_top(q):
            ids, _ = self._search_shortlist(q[None], 11)
            return np.pad(ids, (0, 11 - len(ids)), constant_values=-1)

        with _threads(1):
            index.nprobe = 1
            while index.nprobe * SHORTLIST_FROM < index.nlist:
                if recall_of(ivf_top) >= RECALL_TARGET:
                    self._shortlist = None
                    return
                index.nprobe *= 2
            for depth in SHORTLIST_DEPTHS if self._shortlist is not None else ():
                self._depth = depth
                if recall_of(shortlist_top) >= RECALL_TARGET:
                    return
            self._shortlist = None
            while index.nprobe < index.nlist and recall_of(ivf_top) < RECALL_TARGET:
                index.nprobe *= 2


class _Checksummed:
    """A file written by faiss's callback writer, keeping the CRC-32 and length of it."""

    def __init__(self, f):
        self.f = f
        self.crc = 0
        self.size = 0

    def write(self, data: bytes) -> int:
        self.f.write(data)
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        return len(data)


def _checked_length(path: Path, required: bool) -> int:
    """How many bytes of the file hold the index (and shortlist): all of them in a file
    without a checksum, else the ones its checksum covers, once it matches them."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        record = b""
        if size >= _CHECKSUM.size:
            f.seek(size - _CHECKSUM.size)
            record = f.read(_CHECKSUM.size)
        if record[-len(_CHECKSUM_MAGIC):] != _CHECKSUM_MAGIC:
            if required:
                raise RuntimeError(f"{path}: damaged (its checksum is gone)")
            return size
        length, crc, _ = _CHECKSUM.unpack(record)
        if length != size - _CHECKSUM.size:
            raise RuntimeError(f"{path}: damaged (not the length its checksum covers)")
        with (mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
              memoryview(mapped) as whole, whole[:length] as covered):
            if zlib.crc32(covered) != crc:
                raise RuntimeError(f"{path}: damaged (its checksum does not match)")
        return length


def _pq_m(dim: int) -> int:
    """Sub-quantizers of the shortlist's PQ: two dimensions to each 4-bit code."""
    return dim // 2 if dim % 2 == 0 else dim


def _take(batches: Iterable[tuple[np.ndarray, np.ndarray]], picks: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """The rows at positions `picks` (sorted) of the concatenated batches."""
    got_ids, got = [], []
    offset = 0
    for ids, vectors in batches:
        lo, hi = np.searchsorted(picks, [offset, offset + len(ids)])
        local = picks[lo:hi] - offset
        got_ids.append(np.asarray(ids, np.int64)[local])
        got.append(np.asarray(vectors, np.float32)[local])
        offset += len(ids)
    return np.concatenate(got_ids), np.ascontiguousarray(np.concatenate(got))


class _TopK:
    """Running exact top-k ids per query over score blocks."""

    def __init__(self, n_queries: int, k: int):
        self.k = k
        self.scores = np.full((n_queries, 0), -np.inf, np.float32)
        self._ids = np.zeros((n_queries, 0), np.int64)

    def push(self, scores: np.ndarray, ids: np.ndarray) -> None:
        scores = np.hstack([self.scores, scores.astype(np.float32)])
        ids = np.hstack([self._ids, np.broadcast_to(ids, (len(scores), len(ids)))])
        if scores.shape[1] > self.k:
            keep = np.argpartition(-scores, self.k - 1, axis=1)[:, : self.k]
            scores = np.take_along_axis(scores, keep, 1)
            ids = np.take_along_axis(ids, keep, 1)
        self.scores, self._ids = scores, ids

    def ids(self) -> np.ndarray:
        order = np.argsort(-self.scores, axis=1, kind="stable")
        return np.take_along_axis(self._ids, order, 1)


def recall_at(approx, exact, k: int = 10) -> float:
    """Mean share of each query's exact top k (rows of ids) found in its approximate top k."""
    hits = [len(set(list(a)[:k]) & set(list(e)[:k])) for a, e in zip(approx, exact)]
    return sum(hits) / (k * len(exact)) if len(exact) else 1.0


def _without_self(ids: np.ndarray, query_ids: np.ndarray) -> list[list[int]]:
    """Each row's ids without the query's own (nor faiss's -1 padding), cut to 10."""
    own = query_ids.tolist() if len(query_ids) else [-1] * len(ids)
    return [[i for i in row if i != q and i != -1][:10] for row, q in zip(ids.tolist(), own)]
