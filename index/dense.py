"""FAISS: dense vectors under stable ids, written atomically."""

import os
import tempfile
from pathlib import Path

import numpy as np


def _faiss():
    # faiss loads its native library on import: only when an index is opened
    import faiss

    return faiss


class FaissIndex:
    """Inner-product search over L2-normalised vectors, ids mapped to chunk rows so one
    document can be removed or replaced without a rebuild."""

    def __init__(self, dim: int):
        self.dim = dim
        self._index = None

    def create(self) -> "FaissIndex":
        faiss = _faiss()
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        return self

    @classmethod
    def load(cls, path: Path) -> "FaissIndex":
        faiss = _faiss()
        index = faiss.read_index(str(path))
        out = cls(index.d)
        out._index = index
        return out

    @property
    def index(self):
        if self._index is None:
            raise RuntimeError("FaissIndex.create() or load() was not called")
        return self._index

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        return _faiss().vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            self.index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids) -> None:
        ids = np.asarray(list(ids), dtype=np.int64)
        if len(ids):
            self.index.remove_ids(ids)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest ids with their cosine similarity, best first."""
        if len(self) == 0 or k <= 0:
            return []
        scores, ids = self.index.search(np.asarray(vector, np.float32).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

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
