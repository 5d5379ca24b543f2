"""What keeps the index fast and small at a million chunks: BM25 loads without a Python
object per term or document, old files still load, chunk ids from bulk inserts are never
reused, ingest prepares files ahead in order; and the scale benchmark's smallest run."""

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.index.test_index import add_text, policy_text, share_segmenter
from zhice.index.bm25 import Bm25Index
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import _ahead

ROOT = Path(__file__).resolve().parents[2]
DOCS = {
    10: "the cat sat on the mat",
    11: "the dog chased the cat",
    12: "dogs and cats living together",
    13: "a bird sang on the mat mat mat",
    14: "quantum chromodynamics",
}
QUERIES = ["cat", "the cat", "mat", "dog cat", "bird quantum", "unknown", "zebra"]


@pytest.fixture(autouse=True)
def _fast_segmenter(monkeypatch: pytest.MonkeyPatch) -> None:
    share_segmenter(monkeypatch)


def built(docs: dict[int, str]) -> Bm25Index:
    index = Bm25Index(str.split)
    index.add(list(docs), list(docs.values()))
    return index


def results(index: Bm25Index) -> list:
    return [index.search(q, 10) for q in QUERIES]


def test_a_loaded_bm25_index_answers_without_building_per_term_objects(tmp_path):
    index = built(DOCS)
    index.add([20], ["zebra cat"])  # a term added after the others: saved in sorted order
    path = tmp_path / "bm25.npz"
    index.save(path)
    with np.load(path) as z:
        vocab = z["vocab"].tobytes().decode("utf-8").split("\0")
        assert vocab == sorted(vocab) and z["data"].dtype == np.uint16
    loaded = Bm25Index.load(path, str.split)
    assert results(loaded) == results(index)
    assert [loaded.df(t) for t in ("cat", "zebra", "nope")] == [3, 1, 0]
    assert loaded._term_map is None and loaded._slot_map is None  # a reader builds neither
    loaded.remove([11])  # a change builds what it needs
    loaded.add([21], ["cat"])
    assert results(loaded) == results(built({**{i: t for i, t in DOCS.items() if i != 11},
                                             20: "zebra cat", 21: "cat"}))


def test_a_removal_counts_df_over_live_postings(tmp_path):
    index = built(DOCS)
    index.save(tmp_path / "bm25.npz")
    loaded = Bm25Index.load(tmp_path / "bm25.npz", str.split)
    loaded.remove([10, 11])  # both documents with "cat", two of three with "the"
    assert [loaded.df(t) for t in ("cat", "the", "mat", "dog")] == [0, 1, 1, 0]
    fresh = built({i: t for i, t in DOCS.items() if i not in (10, 11)})
    assert results(loaded) == results(fresh)


def test_a_version_1_file_still_loads(tmp_path):
    """The layout before sorted vocabularies: terms in id order, tf as float32."""
    terms = ["cat", "the", "mat", "dog"]
    docs = [["the", "cat"], ["mat", "dog", "dog"], ["cat", "cat", "mat"]]
    rows, cols, tfs = [], [], []
    for d, tokens in enumerate(docs):
        for t in dict.fromkeys(tokens):
            rows.append(terms.index(t))
            cols.append(d)
            tfs.append(tokens.count(t))
    order = np.lexsort((cols, rows))
    indptr = np.searchsorted(np.asarray(rows)[order], np.arange(len(terms) + 1))
    path = tmp_path / "old.npz"
    np.savez(path, magic=np.array("zhice-bm25"), version=np.array(1),
             params=np.array([1.5, 0.75]),
             vocab=np.frombuffer("\0".join(terms).encode(), np.uint8),
             n_terms=np.array(len(terms)), indptr=indptr.astype(np.int32),
             indices=np.asarray(cols, np.int32)[order],
             data=np.asarray(tfs, np.float32)[order], ids=np.array([5, 6, 7]),
             dl=np.array([len(d) for d in docs]), meta=np.frombuffer(b"{}", np.uint8))
    loaded = Bm25Index.load(path, str.split)
    fresh = Bm25Index(str.split)
    fresh.add_tokens([5, 6, 7], docs)
    for q in ("cat", "dog mat", "the"):
        assert loaded.search(q, 5) == fresh.search(q, 5)
    loaded.save(tmp_path / "new.npz")  # and is written back in the new layout
    assert [Bm25Index.load(tmp_path / "new.npz", str.split).search(q, 5)
            for q in ("cat", "dog mat")] == [fresh.search(q, 5) for q in ("cat", "dog mat")]


def test_bulk_inserted_chunk_ids_are_never_reused(tmp_path):
    with ZhiceIndex.open(tmp_path / "idx", embedder="fake:16", create=True) as index:
        add_text(index, "a.txt", policy_text(1))
        add_text(index, "b.txt", policy_text(2))
        last = int(index.store.chunk_ids().max())
        index.remove("b.txt")  # the highest ids are gone
        add_text(index, "c.txt", policy_text(3))
        new = [c for c in index.store.chunk_ids().tolist() if c > last]
        assert new and min(new) == last + 1
        stored = index.chunks(new)
        assert {s.chunk.source for s in stored.values()} == {"c.txt"}
        assert all(s.chunk.title == policy_text(3).split("\n")[0] for s in stored.values())


def test_ingest_prepares_ahead_in_order_and_stops_with_its_consumer():
    seen = []
    assert list(_ahead(range(20), lambda i: seen.append(i) or i * i, depth=3)) == [
        i * i for i in range(20)]

    def fails_at_5(i):
        if i == 5:
            raise ValueError("file 5 is broken")
        return i

    got = []
    with pytest.raises(ValueError, match="file 5"):
        for value in _ahead(range(10), fails_at_5, depth=3):
            got.append(value)
    assert got == [0, 1, 2, 3, 4]  # the error comes at its own item, not before

    before = threading.active_count()
    for value in _ahead(range(10_000), lambda i: i, depth=2):
        if value == 3:
            break  # the consumer stops (an error, Ctrl+C): so does the thread
    assert threading.active_count() == before


# the benchmark's smallest run ---------------------------------------------------------------
ROW = re.compile(r"^\s+1k\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s")


@pytest.mark.slow
def test_scale_bench_runs_its_smallest_size(tmp_path):
    data = Path(os.environ.get("ZHICE_BENCHMARKS") or ROOT.parent / "shared" / "benchmarks")
    if not (data / "cmrc2018" / "cmrc2018_dev.json").exists():
        pytest.skip(f"the CMRC 2018 and DRCD sets are not in {data}")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale_bench.py"), "--sizes", "1k",
         "--queries", "10", "--work", str(tmp_path), "--data", str(data)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("zhice bench: embedder fake:384, ")
    assert lines[1].split()[:6] == ["size", "files", "chunks", "ingest/s", "p50", "ms"]
    (row,) = [m for m in map(ROW.match, lines[2:]) if m]
    files, chunks, per_s, p50, p95 = row.groups()
    assert 800 <= int(chunks) <= 1500 and int(files) > 0
    assert float(per_s) > 0 and 0 < float(p50) <= float(p95)
    assert lines[2].rstrip().endswith(f"flat (exact), {chunks} vectors")
    assert "recall@10: the dense index's top 10" in done.stdout  # the legend
    assert not list(tmp_path.glob("index-*"))  # indexes go unless --keep
