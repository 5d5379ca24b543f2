"""FaissIndex: exact while small, IVF past the flat limit, with recall, stable ids,
removal and persistence; and ZhiceIndex switching and persisting the kind."""

from pathlib import Path

import numpy as np
import pytest

from tests.index.test_index import add_text, policy_text, share_segmenter
from zhice.index import dense as dense_module
from zhice.index.dense import FaissIndex, flat_limit_from_env, nlist_for, recall_at
from zhice.index.index import ZhiceIndex
from zhice.ingest.errors import ZhiceError

DIM = 32


@pytest.fixture(autouse=True)
def _fast_segmenter(monkeypatch: pytest.MonkeyPatch) -> None:
    share_segmenter(monkeypatch)


def clustered(n: int, seed: int, centers: int = 40) -> np.ndarray:
    """Unit vectors around random centres: the shape real embeddings have."""
    rng = np.random.default_rng(seed)
    middle = np.random.default_rng(99).standard_normal((centers, DIM))
    x = middle[rng.integers(0, centers, n)] + 0.6 * rng.standard_normal((n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def batches_of(ids: np.ndarray, vectors: np.ndarray, size: int = 700):
    return lambda: ((ids[i : i + size], vectors[i : i + size]) for i in range(0, len(ids), size))


def top_ids(index: FaissIndex, queries: np.ndarray, k: int = 10) -> list[list[int]]:
    return [[i for i, _ in index.search(q, k)] for q in queries]


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, np.ndarray]:
    vectors = clustered(3000, seed=1)
    ids = np.arange(3000, dtype=np.int64) * 7 + 5  # sparse, like chunk ids after removals
    return ids, vectors


@pytest.fixture(scope="module")
def ivf(corpus) -> FaissIndex:
    ids, vectors = corpus
    tuning = clustered(256, seed=2)  # question-like: near the data, not in it
    return FaissIndex.build(DIM, batches_of(ids, vectors), len(ids), flat_limit=1000,
                            queries=tuning)


def exact_index(ids: np.ndarray, vectors: np.ndarray) -> FaissIndex:
    exact = FaissIndex(DIM).create()
    exact.add(ids, vectors)
    return exact


def test_small_index_is_exact_and_keeps_its_ids():
    vectors = clustered(50, seed=3)
    ids = np.arange(100, 150, dtype=np.int64)
    index = FaissIndex(DIM, flat_limit=1000).create()
    index.add(ids, vectors)
    assert index.kind == "flat" and not index.needs_rebuild()
    assert index.search(vectors[7], 1) == [(107, pytest.approx(1.0))]
    index.remove([107, 999])  # an unknown id is ignored
    assert len(index) == 49 and 107 not in [i for i, _ in index.search(vectors[7], 49)]
    assert sorted(index.ids().tolist()) == [i for i in range(100, 150) if i != 107]


def test_past_the_flat_limit_the_index_is_ivf_with_recall_at_10_of_095(corpus, ivf):
    ids, vectors = corpus
    assert ivf.kind == "ivf" and ivf.nlist == nlist_for(len(ids))
    assert 1 <= ivf.nprobe <= ivf.nlist
    assert f"IVF{ivf.nlist},SQ8 nprobe={ivf.nprobe}" in ivf.describe()
    queries = clustered(200, seed=4)  # not the tuning queries
    recall = recall_at(top_ids(ivf, queries), top_ids(exact_index(ids, vectors), queries))
    assert recall >= 0.95
    assert not ivf.needs_rebuild()


def test_the_switch_keeps_every_id(corpus, ivf):
    ids, vectors = corpus
    assert sorted(ivf.ids().tolist()) == ids.tolist()
    for row in (0, 1234, 2999):  # a stored vector finds itself under its own id
        assert ivf.search(vectors[row], 1)[0][0] == ids[row]
        np.testing.assert_allclose(ivf.reconstruct(ids[row]), vectors[row], atol=0.02)


def test_removal_works_after_the_switch(corpus, tmp_path):
    ids, vectors = corpus
    index = FaissIndex.build(DIM, batches_of(ids, vectors), len(ids), flat_limit=1000)
    gone = ids[:300]
    index.remove(gone.tolist() + [1])  # 1 was never added
    assert len(index) == len(ids) - 300
    assert set(index.ids().tolist()) == set(ids[300:].tolist())
    found = {i for q in vectors[:300] for i, _ in index.search(q, 10)}
    assert not found & set(gone.tolist())
    index.add(ids[:10], vectors[:10])  # and ids can come back
    assert index.search(vectors[3], 1)[0][0] == ids[3]


def test_ivf_is_saved_and_loaded_as_the_same_kind(corpus, ivf, tmp_path):
    path = tmp_path / "dense.faiss"
    ivf.save(path)
    loaded = FaissIndex.load(path, flat_limit=1000)
    assert (loaded.kind, loaded.nlist, loaded.nprobe) == ("ivf", ivf.nlist, ivf.nprobe)
    queries = clustered(20, seed=5)
    assert top_ids(loaded, queries) == top_ids(ivf, queries)
    loaded.remove(corpus[0][:5])  # the id map survives the round trip
    assert len(loaded) == len(ivf) - 5


def test_needs_rebuild_on_growth_and_shrinking(corpus):
    ids, vectors = corpus
    flat = FaissIndex(DIM, flat_limit=1000).create()
    flat.add(ids[:1001], vectors[:1001])
    assert flat.needs_rebuild() and not flat.needs_rebuild(1000)
    index = FaissIndex.build(DIM, batches_of(ids, vectors), 3000, flat_limit=1000)
    trained = index.nlist**2
    assert not index.needs_rebuild(trained * 2)
    assert index.needs_rebuild(trained * 4)  # grown: more lists
    assert index.needs_rebuild(500)  # below half the flat limit: exact again


def test_flat_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("ZHICE_FLAT_LIMIT", raising=False)
    assert flat_limit_from_env() == dense_module.FLAT_LIMIT
    monkeypatch.setenv("ZHICE_FLAT_LIMIT", "2000")
    assert flat_limit_from_env() == 2000
    monkeypatch.setenv("ZHICE_FLAT_LIMIT", "lots")
    with pytest.raises(ZhiceError, match="ZHICE_FLAT_LIMIT must be a positive integer"):
        flat_limit_from_env()


# vectors no list narrows down: the PQ shortlist ----------------------------------------------
def isotropic(n: int, seed: int) -> np.ndarray:
    """Random directions: every point about as far from every other, so inverted lists
    cannot narrow a search (the fake embedder's vectors behave much like this)."""
    x = np.random.default_rng(seed).standard_normal((n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def hard() -> tuple[np.ndarray, np.ndarray, FaissIndex]:
    vectors = isotropic(6000, seed=6)
    ids = np.arange(6000, dtype=np.int64) * 3 + 2
    index = FaissIndex.build(DIM, batches_of(ids, vectors), 6000, flat_limit=1000,
                             queries=isotropic(256, seed=7))
    return ids, vectors, index


def test_when_lists_cannot_narrow_a_pq_shortlist_keeps_recall(hard):
    ids, vectors, index = hard
    assert index.kind == "ivf" and index.shortlist_depth is not None
    assert "shortlist of" in index.describe()
    queries = isotropic(200, seed=8)
    recall = recall_at(top_ids(index, queries), top_ids(exact_index(ids, vectors), queries))
    assert recall >= 0.95


def test_the_shortlist_forgets_removed_ids_and_is_saved(hard, tmp_path):
    ids, vectors, built = hard
    path = tmp_path / "dense.faiss"
    built.save(path)
    index = FaissIndex.load(path, flat_limit=1000)
    gone = ids[:600]  # a tenth: tombstones, the shortlist keeps its codes
    index.remove(gone)
    queries = np.vstack([vectors[:50], isotropic(50, seed=9)])
    assert not {i for q in queries for i, _ in index.search(q, 10)} & set(gone.tolist())
    assert index.search(vectors[700], 1)[0][0] == ids[700]
    index.save(path)
    reloaded = FaissIndex.load(path, flat_limit=1000)
    assert top_ids(reloaded, queries) == top_ids(index, queries)
    assert len(reloaded) == 5400
    import faiss

    assert faiss.read_index(str(path)).ntotal == 5400  # plain faiss reads the IVF part
    reloaded.remove(ids[600:1500])  # past a fifth dead: the shortlist is made again
    assert reloaded._dead == set() and reloaded._shortlist.ntotal == 4500
    assert reloaded.search(vectors[2000], 1)[0][0] == ids[2000]


def test_a_damaged_shortlist_makes_the_file_unreadable(hard, tmp_path):
    path = tmp_path / "dense.faiss"
    hard[2].save(path)
    data = bytearray(path.read_bytes()[: -CHECKSUM])  # as an older zhice wrote it
    data[-16:-8] = (10**12).to_bytes(8, "little")  # the trailer points past the file
    path.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="damaged shortlist"):
        FaissIndex.load(path)


CHECKSUM = 24  # the bytes of the checksum record that ends a saved file


@pytest.mark.parametrize("where", ["index", "shortlist", "trailer", "checksum record"])
def test_a_flipped_byte_anywhere_is_caught_by_the_checksum(hard, tmp_path, where):
    path = tmp_path / "dense.faiss"
    hard[2].save(path)
    data = bytearray(path.read_bytes())
    at = {"index": 200, "shortlist": len(data) - 2000, "trailer": len(data) - CHECKSUM - 20,
          "checksum record": len(data) - 18}[where]
    data[at] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="damaged"):
        FaissIndex.load(path, checksummed=True)


def test_a_file_without_a_checksum_still_loads_unless_one_is_expected(corpus, ivf, tmp_path):
    path = tmp_path / "dense.faiss"
    ivf.save(path)
    path.write_bytes(path.read_bytes()[: -CHECKSUM])  # an older zhice's file
    queries = corpus[1][:20]
    assert top_ids(FaissIndex.load(path, flat_limit=1000), queries) == top_ids(ivf, queries)
    with pytest.raises(RuntimeError, match="its checksum is gone"):
        FaissIndex.load(path, flat_limit=1000, checksummed=True)


def test_a_full_disk_is_an_oserror_and_leaves_the_old_file(corpus, ivf, tmp_path, monkeypatch):
    import errno
    import os

    path = tmp_path / "dense.faiss"
    ivf.save(path)
    before = path.read_bytes()
    real_write = os.write

    def full(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError) as e:
        ivf.save(path)
    assert e.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["dense.faiss"]


# ZhiceIndex: the switch happens as the index grows, is saved, and reopens ------------------
def sqlite_ids(index: ZhiceIndex) -> list[int]:
    return sorted(index.store.chunk_ids().tolist())


def test_zhice_index_switches_to_ivf_as_it_grows(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ZHICE_FLAT_LIMIT", "60")
    idx_dir = tmp_path / "idx"
    with ZhiceIndex.open(idx_dir, embedder="fake:64", create=True) as index, index.writing():
        seed = 0
        while len(index) <= 60:
            assert index.dense.kind == "flat"
            add_text(index, f"{seed}.txt", policy_text(seed, paragraphs=6))
            seed += 1
        assert index.dense.kind == "ivf"
        assert sorted(index.dense.ids().tolist()) == sqlite_ids(index)
    with ZhiceIndex.open(idx_dir) as index, index.writing():
        assert index.dense.kind == "ivf"  # persisted
        assert sorted(index.dense.ids().tolist()) == sqlite_ids(index)
        index.remove("0.txt")  # removal after the switch
        ids = sqlite_ids(index)
        assert sorted(index.dense.ids().tolist()) == ids == sorted(index.bm25.ids().tolist())
        first = index.chunks([ids[0]])[ids[0]].chunk
        assert index.dense_search(first.embedding_text(), 1)[0][0] == ids[0]
    on_disk = FaissIndex.load(idx_dir / "dense.faiss")
    assert on_disk.kind == "ivf" and sorted(on_disk.ids().tolist()) == ids


def test_a_lost_dense_file_of_a_large_index_is_rebuilt_as_ivf(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ZHICE_FLAT_LIMIT", "40")
    idx_dir = tmp_path / "idx"
    with ZhiceIndex.open(idx_dir, embedder="fake:64", create=True) as index, index.writing():
        for seed in range(12):
            add_text(index, f"{seed}.txt", policy_text(seed, paragraphs=6))
        ids = sqlite_ids(index)
    (idx_dir / "dense.faiss").unlink()
    with ZhiceIndex.open(idx_dir) as index:
        assert index.dense.kind == "ivf"
        assert sorted(index.dense.ids().tolist()) == ids
    assert FaissIndex.load(idx_dir / "dense.faiss").kind == "ivf"


def test_shrinking_below_half_the_limit_goes_back_to_exact(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ZHICE_FLAT_LIMIT", "40")
    with ZhiceIndex.open(tmp_path / "idx", embedder="fake:64", create=True) as index:
        with index.writing():
            for seed in range(12):
                add_text(index, f"{seed}.txt", policy_text(seed, paragraphs=6))
            assert index.dense.kind == "ivf"
            for seed in range(12):
                if len(index) <= 20:
                    break
                index.remove(f"{seed}.txt")
            assert index.dense.kind == "flat"
            assert sorted(index.dense.ids().tolist()) == sqlite_ids(index)


def test_a_server_takes_in_the_ivf_a_concurrent_ingest_saved(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ZHICE_FLAT_LIMIT", "40")
    idx_dir = tmp_path / "idx"
    with ZhiceIndex.open(idx_dir, embedder="fake:64", create=True) as index, index.writing():
        add_text(index, "0.txt", policy_text(0, paragraphs=6))
    with ZhiceIndex.open(idx_dir) as serving, ZhiceIndex.open(idx_dir) as other:
        built = []
        monkeypatch.setattr(serving, "_rebuild_dense", lambda: built.append(1))
        with other.writing():
            for seed in range(1, 12):
                add_text(other, f"{seed}.txt", policy_text(seed, paragraphs=6))
            serving.refresh()  # mid-ingest: caught up by id, in the kind it has
            assert serving.dense.kind == "flat" and len(serving) == len(other) > 40
        assert other.dense.kind == "ivf"
        serving.refresh()  # the ingest is done and saved: its index is taken in
        assert serving.dense.kind == "ivf" and not built
        assert sorted(serving.dense.ids().tolist()) == sqlite_ids(serving)
