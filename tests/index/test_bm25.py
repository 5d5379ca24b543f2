import itertools
import math
import random
import time
from collections import Counter

import numpy as np
import pytest

from zhice.index import bm25
from zhice.index.bm25 import FORMAT_VERSION, Bm25FormatError, Bm25Index

DOCS = {
    10: "the cat sat on the mat",
    11: "the dog chased the cat",
    12: "dogs and cats living together",
    13: "a bird sang on the mat mat mat",
    14: "quantum chromodynamics",
}
QUERIES = ["cat", "the cat", "mat", "dog cat", "cat cat mat", "bird quantum", "unknown", "the"]


def reference_scores(docs: dict[int, list[str]], query: list[str], k1=1.5, b=0.75):
    """Textbook BM25, written for reading rather than speed."""
    n = len(docs)
    avgdl = sum(len(d) for d in docs.values()) / n
    scores = {}
    for doc_id, doc in docs.items():
        tf = Counter(doc)
        score = 0.0
        for q in query:
            if tf[q]:
                df = sum(1 for d in docs.values() if q in d)
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score += idf * tf[q] * (k1 + 1) / (tf[q] + k1 * (1 - b + b * len(doc) / avgdl))
        if score > 0:
            scores[doc_id] = score
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def build(docs: dict[int, str], **kw) -> Bm25Index:
    index = Bm25Index(str.split, **kw)
    index.add(list(docs), list(docs.values()))
    return index


def all_results(index: Bm25Index) -> list[list[tuple[int, float]]]:
    return [index.search(q, k=100) for q in QUERIES]


def test_exact_ranking_on_tiny_corpus():
    index = build(DOCS)
    assert [i for i, _ in index.search("cat", 5)] == [11, 10]
    assert [i for i, _ in index.search("mat", 5)] == [13, 10]
    assert [i for i, _ in index.search("the cat mat", 5)] == [10, 13, 11]
    assert [i for i, _ in index.search("the cat mat", 2)] == [10, 13]
    assert index.search("unknown words", 5) == []
    assert all(score > 0 for _, score in index.search("the", 5))


@pytest.mark.parametrize("k1,b", [(1.5, 0.75), (1.2, 0.0), (2.0, 1.0)])
def test_scores_match_reference_implementation(k1, b):
    index = build(DOCS, k1=k1, b=b)
    tokenised = {i: t.split() for i, t in DOCS.items()}
    for q in QUERIES:
        got = index.search(q, k=10)
        want = reference_scores(tokenised, q.split(), k1=k1, b=b)
        assert [i for i, _ in got] == [i for i, _ in want], q
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-12), q


def test_ties_are_broken_by_smaller_id():
    index = build({5: "x y", 3: "x z", 9: "x w"})
    assert index.search("x", 3) == sorted(index.search("x", 3), key=lambda r: r[0])
    assert [i for i, _ in index.search("x", 2)] == [3, 5]


def test_repeated_query_terms_count_per_occurrence():
    index = build(DOCS)
    (once,) = [s for i, s in index.search("bird", 5) if i == 13]
    (twice,) = [s for i, s in index.search("bird bird", 5) if i == 13]
    assert twice == pytest.approx(2 * once)


def test_add_remove_add_equals_fresh_index_of_survivors(tmp_path):
    index = build(DOCS)
    index.compact()  # some documents in the base, some pending below
    index.add([20, 21], ["cat cat cat", "mat and more mat"])
    index.remove([11, 20, 999])  # one from the base, one pending, one unknown
    index.add([11], ["a new dog with another cat"])  # an id can come back after removal
    survivors = {i: t for i, t in DOCS.items() if i != 11}
    survivors |= {21: "mat and more mat", 11: "a new dog with another cat"}
    fresh = all_results(build(survivors))
    assert all_results(index) == fresh  # exact, not approximate
    assert 20 not in index and 11 in index and len(index) == len(survivors)
    assert index.ids().tolist() == sorted(survivors)
    index.compact()
    assert all_results(index) == fresh
    index.save(tmp_path / "bm25.npz")
    assert all_results(Bm25Index.load(tmp_path / "bm25.npz", str.split)) == fresh


def test_removed_id_is_never_returned():
    index = build(DOCS)
    index.remove([10])
    for q in QUERIES:
        assert 10 not in [i for i, _ in index.search(q, 10)]
    index.remove(list(DOCS))
    assert len(index) == 0 and index.search("cat", 5) == []


def test_removed_terms_leave_vocabulary_on_compaction():
    index = build(DOCS)
    index.remove([14])
    index.compact()
    assert "quantum" not in index._vocab
    assert index.search("quantum", 5) == []
    assert all_results(index) == all_results(build({i: t for i, t in DOCS.items() if i != 14}))


def test_bad_input_is_refused():
    index = build(DOCS)
    with pytest.raises(ValueError, match="already in the index"):
        index.add([10], ["again"])
    with pytest.raises(ValueError, match="repeated"):
        index.add([30, 30], ["a", "b"])
    with pytest.raises(ValueError, match="one id each"):
        index.add([30], ["a", "b"])
    with pytest.raises(ValueError, match="k must be"):
        index.search("cat", 0)
    assert 30 not in index and len(index) == len(DOCS)


def test_save_load_round_trip_with_meta(tmp_path):
    index = build(DOCS, k1=1.2, b=0.6)
    path = tmp_path / "bm25.npz"
    index.save(path, meta={"generation": 7, "tokenizer": "jieba"})
    loaded = Bm25Index.load(path, str.split)
    assert (loaded.k1, loaded.b) == (1.2, 0.6)
    assert loaded.meta == {"generation": 7, "tokenizer": "jieba"}
    assert all_results(loaded) == all_results(index)
    assert [p.name for p in tmp_path.iterdir()] == ["bm25.npz"]  # no temp file left
    loaded.add([50], ["cat"])  # a loaded index stays incremental
    loaded.save(path)  # meta is kept when not given
    assert Bm25Index.load(path, str.split).meta["generation"] == 7


def test_empty_index_round_trip(tmp_path):
    Bm25Index(str.split).save(tmp_path / "e.npz")
    loaded = Bm25Index.load(tmp_path / "e.npz", str.split)
    assert len(loaded) == 0 and loaded.search("x", 3) == []


def test_corrupt_or_foreign_file_raises_format_error_naming_the_path(tmp_path):
    path = tmp_path / "bm25.npz"
    build(DOCS).save(path)
    good = path.read_bytes()
    bad = tmp_path / "bad.npz"
    for content in (b"", b"not an index", good[: len(good) // 2], good[:-30]):
        bad.write_bytes(content)
        with pytest.raises(Bm25FormatError, match="bad.npz"):
            Bm25Index.load(bad, str.split)
    flipped = bytearray(good)
    flipped[good.index(b"quantum")] ^= 0xFF  # inside a member: the zip CRC catches it
    bad.write_bytes(bytes(flipped))
    with pytest.raises(Bm25FormatError, match="bad.npz"):
        Bm25Index.load(bad, str.split)
    np.savez(bad, x=np.arange(3))  # a valid npz, but not ours
    with pytest.raises(Bm25FormatError, match="bad.npz"):
        Bm25Index.load(bad, str.split)
    with pytest.raises(FileNotFoundError):
        Bm25Index.load(tmp_path / "missing.npz", str.split)


def test_damaged_bytes_give_format_error_or_an_unchanged_index(tmp_path):
    index = build(DOCS)
    path = tmp_path / "bm25.npz"
    index.save(path, meta={"generation": 1})
    good = path.read_bytes()
    for pos in range(0, len(good), max(1, len(good) // 150)):
        flipped = bytearray(good)
        flipped[pos] ^= 0xFF
        path.write_bytes(bytes(flipped))
        try:
            loaded = Bm25Index.load(path, str.split)
        except Bm25FormatError:
            continue
        # Only bytes no reader uses (zip timestamps, local header copies) may go unnoticed.
        assert all_results(loaded) == all_results(index) and loaded.meta == index.meta, pos


def test_other_format_version_is_refused(tmp_path):
    path = tmp_path / "bm25.npz"
    build(DOCS).save(path)
    with np.load(path) as z:
        arrays = {key: z[key] for key in z.files}
    arrays["version"] = np.array(FORMAT_VERSION + 1)
    np.savez(path, **arrays)
    with pytest.raises(Bm25FormatError, match=r"bm25\.npz.*version"):
        Bm25Index.load(path, str.split)


def test_scale_sanity():
    rng = random.Random(0)
    words = [f"w{i}" for i in range(5000)]
    zipf = list(itertools.accumulate(1 / (i + 1) for i in range(len(words))))  # as in real text
    docs = [rng.choices(words, cum_weights=zipf, k=rng.randint(20, 120)) for _ in range(20_000)]
    start = time.perf_counter()
    index = Bm25Index(str.split)
    index.add_tokens(range(20_000), docs)
    index.remove(range(0, 20_000, 10))
    index.add_tokens(range(20_000, 20_100), docs[:100])
    for _ in range(100):
        results = index.search_tokens(rng.choices(words, cum_weights=zipf, k=6), k=10)
        assert len(results) == 10 and all(i % 10 or i >= 20_000 for i, _ in results)
    assert time.perf_counter() - start < 30  # generous; typically well under 2 s


def test_random_changes_always_match_a_fresh_index(monkeypatch, tmp_path):
    # Small thresholds so automatic compaction happens in the middle of the sequence.
    monkeypatch.setattr(bm25, "_PENDING_MIN", 4)
    monkeypatch.setattr(bm25, "_DEAD_MIN", 3)
    rng = random.Random(1)
    words = "a b c d e f g h".split()
    index, live, next_id = Bm25Index(str.split), {}, 0
    for step in range(120):
        action = rng.random()
        if action < 0.55 or not live:
            batch = {
                next_id + j: " ".join(rng.choices(words, k=rng.randint(0, 6))) for j in range(3)
            }
            next_id += 3
            index.add(list(batch), list(batch.values()))
            live |= batch
        elif action < 0.9:
            gone = rng.sample(sorted(live), k=min(len(live), rng.randint(1, 3)))
            index.remove(gone)
            live = {i: t for i, t in live.items() if i not in gone}
        elif action < 0.95:
            index.compact()
        else:
            index.save(tmp_path / "i.npz")
            index = Bm25Index.load(tmp_path / "i.npz", str.split)
        fresh = build(live)
        for q in ("a", "b c", "h h a", "e f g"):
            assert index.search(q, 50) == fresh.search(q, 50), (step, q)
        assert index.ids().tolist() == sorted(live)
