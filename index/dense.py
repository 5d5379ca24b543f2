"""FAISS: dense vectors under stable ids, exact while small, IVF when large; written atomically.

Up to `flat_limit` vectors the index is exact: IndexFlatIP inside an IndexIDMap2. Past
it the owner rebuilds it (`needs_rebuild`, `build`) from the vectors SQLite stores, as
an IndexIVFScalarQuantizer: 8-bit codes (a quarter of float32's memory: 1M x 384-d is
0.4 GB, not 1.5 GB), ids held in the inverted lists with a hash direct map, so single
ids can still be removed and read back. Its nprobe is tuned at build time so that
recall@10 against exact search reaches RECALL_TARGET, and saved with the index.

    dense = FaissIndex(384).create()
    dense.add(ids, vectors); dense.search(query_vector, k=10)
    if dense.needs_rebuild():
        dense = FaissIndex.build(384, store_batches, n)   # flat or IVF, as n calls for
"""

import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ingest.errors import ZhiceError

# Exact search costs ~0.25 ms per 1,000 vectors on one core (384-d): past 50,000 an
# IVF index answers in a few ms at any size, with a measured recall.
FLAT_LIMIT = 50_000
FLAT_LIMIT_ENV = "ZHICE_FLAT_LIMIT"
# nprobe is the smallest power of two whose recall@10 against exact search, with stored
# vectors as queries (each one's own hit left out), reaches this. Real questions sit
# farther from every passage than passages from each other; the margin above the 0.95
# the benchmark checks on real questions (benchmarks/scale_bench.py) is for them.
RECALL_TARGET = 0.97
TUNING_QUERIES = 256
# Retrain when the index has grown or shrunk this many times over since it was trained:
# nlist then fits its size again. Back to exact below half the flat limit.
REBUILD_FACTOR = 4
TRAIN_PER_LIST = 40  # faiss warns below 39 training points per list
BUILD_BATCH = 20_000

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
    """OpenMP threads for this thread's faiss calls. One query on one thread: with
    two, a busy second core (another query, an ingest) makes the spin-wait cost more
    than the split saves (measured 5x slower under load)."""
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

    def create(self) -> "FaissIndex":
        faiss = _faiss()
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        return self

    @classmethod
    def load(cls, path: Path, flat_limit: int = FLAT_LIMIT) -> "FaissIndex":
        faiss = _faiss()
        index = faiss.read_index(str(path))
        if not isinstance(index, faiss.IndexIDMap2 | faiss.IndexIVFScalarQuantizer):
            raise RuntimeError(f"{path} holds a {type(index).__name__}, not a zhice index")
        out = cls(index.d, flat_limit)
        out._index = index
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

    def describe(self) -> str:
        """One line for benchmarks and logs: the type and its parameters."""
        if self.kind == "flat":
            return f"flat (exact), {len(self)} vectors"
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
        if len(ids):
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            self.index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids) -> None:
        ids = np.asarray(list(ids), dtype=np.int64)
        if not len(ids):
            return
        if self.kind == "flat":
            self.index.remove_ids(ids)
        else:  # an id array goes through the hash direct map, not a scan of every list
            faiss = _faiss()
            self.index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)))

    def reconstruct(self, id_: int) -> np.ndarray:
        """The stored vector of an id (after 8-bit quantisation for an IVF index)."""
        return self.index.reconstruct(int(id_))

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest ids with their cosine similarity, best first."""
        if len(self) == 0 or k <= 0:
            return []
        with _threads(1):
            scores, ids = self.index.search(np.asarray(vector, np.float32).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

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
        the old index or the new one, never half of one."""
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        os.close(fd)
        try:
            _faiss().write_index(self.index, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # building the IVF index -----------------------------------------------------------
    def _trained_for(self) -> int:
        # nlist_for gives this nlist to sizes from half to twice its square: the size
        # it stands for, with no record kept beside the index
        return self.nlist**2

    def _build_ivf(self, batches: Batches, n: int, queries: np.ndarray | None,
                   rng: np.random.Generator) -> None:
        faiss = _faiss()
        nlist = nlist_for(n)
        n_train = min(n, nlist * TRAIN_PER_LIST)
        extra = TUNING_QUERIES if queries is None else 0
        # One pass for a uniform sample: training points (plus stand-in queries).
        picks = np.sort(rng.choice(n, size=min(n, n_train + extra), replace=False))
        sample_ids, sample = _take(batches(), picks)
        query_ids = np.full(0, -1, np.int64)
        if queries is None:
            at = rng.permutation(len(sample))[:TUNING_QUERIES]
            queries, query_ids = sample[at], sample_ids[at]
        queries = np.ascontiguousarray(queries, dtype=np.float32)

        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, self.dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.cp.niter = 10  # centroids need not be exact: the lists only narrow the search
        index.cp.min_points_per_centroid = 1  # small indexes (tests) train on what there is
        index.train(np.ascontiguousarray(rng.permutation(sample)[:n_train]))
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        quantizer.this.disown()  # the IVF index owns and frees it
        index.own_fields = True
        # Second pass: add everything, and find the exact neighbours of the queries.
        exact = _TopK(len(queries), 11)
        for ids, vectors in batches():
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
            exact.push(queries @ vectors.T, ids)
        self._index = index
        index.nprobe = _tune_nprobe(index, queries, query_ids, exact.ids())


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


def _tune_nprobe(index, queries: np.ndarray, query_ids: np.ndarray, exact: np.ndarray) -> int:
    """The smallest power-of-two nprobe reaching RECALL_TARGET at k=10; a query that is
    a stored vector (`query_ids`, else -1) is left out of its own lists."""
    want = _without_self(exact, query_ids)
    nprobe = 1
    while True:
        index.nprobe = nprobe
        _, found = index.search(queries, 11)
        recall = recall_at(_without_self(found, query_ids), want)
        if recall >= RECALL_TARGET or nprobe >= index.nlist:
            return nprobe
        nprobe *= 2


def _without_self(ids: np.ndarray, query_ids: np.ndarray) -> list[list[int]]:
    """Each row's ids without the query's own (nor faiss's -1 padding), cut to 10."""
    own = query_ids.tolist() if len(query_ids) else [-1] * len(ids)
    return [[i for i in row if i != q and i != -1][:10] for row, q in zip(ids.tolist(), own)]
