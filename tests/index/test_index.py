"""ZhiceIndex: SQLite, FAISS and BM25 kept in step through adds, updates, removals,
duplicates across files, crashes and reopening."""

import hashlib
import json
import random
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import zhice.index.index as index_module
from zhice.index.embedders.fake import FakeEmbedder
from zhice.index.errors import EmbedderError, IndexBusyError, IndexMismatchError, IndexNotFoundError
from zhice.index.index import AddResult, ZhiceIndex
from zhice.index.pipeline import index_files
from zhice.index.segment import ChineseSegmenter
from zhice.ingest.chunker import ChunkedDocument, chunk_document
from zhice.ingest.normalize import search_key
from zhice.ingest.types import LoadedDocument

# Two-character words only: every character trigram spans two words, so two random
# texts share few trigrams and no paragraph is folded as a near-duplicate of another.
WORDS = (
    "经济 发展 产业 转型 升级 创新 城市 基地 改革 开放 生态 环境 保护 就业 投资 消费 制造 "
    "科技 人才 教育 医疗 交通 能源 农业 金融 服务 市场 企业 政府 政策 规划 建设 区域 协调 "
    "质量 效益 安全 绿色 数字 网络 资源 文化 旅游 民生 社会 治理 法治 监管 财政 税收"
).split()
# Phrases whose characters appear in no word above: a BM25 query for one of them
# matches only the chunks that hold it.
MARKER = "阿尔伯特码头"
MARKER_2 = "珠穆朗玛峰"

_SHARED_SEGMENTER: ChineseSegmenter | None = None


def share_segmenter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let every index opened in this process (embedded, Milvus, a migrate's) reuse one
    loaded jieba (0.5 s a load)."""
    import zhice.index.migrate as migrate_module
    import zhice.index.milvus as milvus_module

    global _SHARED_SEGMENTER
    if _SHARED_SEGMENTER is None:
        _SHARED_SEGMENTER = ChineseSegmenter().load()
    shared = _SHARED_SEGMENTER
    for module in (index_module, milvus_module, migrate_module):
        monkeypatch.setattr(module, "ChineseSegmenter", lambda: shared)


@pytest.fixture(autouse=True)
def _fast_segmenter(monkeypatch: pytest.MonkeyPatch) -> None:
    share_segmenter(monkeypatch)


def policy_text(seed: int, paragraphs: int = 4, marker: str = "") -> str:
    """A deterministic Chinese document: a title line, then paragraphs of random words;
    `marker` goes into the second paragraph."""
    rng = random.Random(seed)
    out = [f"关于{rng.choice(WORDS)}{rng.choice(WORDS)}的通知"]
    for p in range(paragraphs):
        sentences = []
        for _ in range(5):
            sentence = "".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14)))
            sentences.append(sentence + "。")
        if p == 1 and marker:
            sentences.insert(2, f"推进{marker}建设。")
        out.append("".join(sentences))
    return "\n".join(out) + "\n"


def chunked(source: str, text: str, size: int = 200, overlap: int = 40) -> ChunkedDocument:
    return chunk_document(LoadedDocument(source, text), size, overlap)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def add_text(index: ZhiceIndex, source: str, text: str) -> AddResult:
    return index.add(chunked(source, text), sha(text), f"/docs/{source}")


class SpyEmbedder(FakeEmbedder):
    """The fake embedder, counting what it is asked to embed."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__(dim)
        self.texts: list[str] = []

    def embed_documents(self, texts):
        self.texts.extend(texts)
        return super().embed_documents(texts)


def read_stores(index_dir: Path) -> dict:
    """What is on disk, read directly from the files (no ZhiceIndex involved)."""
    import faiss

    db = sqlite3.connect(index_dir / "zhice.sqlite3")
    try:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        rows = db.execute("SELECT id, tokens, vector FROM chunks").fetchall()
        orphans = {
            "chunks without file": db.execute(
                "SELECT COUNT(*) FROM chunks WHERE source NOT IN (SELECT source FROM files)"
            ).fetchone()[0],
            "duplicates without chunk": db.execute(
                "SELECT COUNT(*) FROM duplicates WHERE canonical IS NOT NULL "
                "AND canonical NOT IN (SELECT id FROM chunks)"
            ).fetchone()[0],
            "duplicates without file": db.execute(
                "SELECT COUNT(*) FROM duplicates WHERE source NOT IN (SELECT source FROM files)"
            ).fetchone()[0],
        }
    finally:
        db.close()
    dense = faiss.read_index(str(index_dir / "dense.faiss"))
    dense_ids = faiss.vector_to_array(dense.id_map).astype(np.int64).tolist()
    with np.load(index_dir / "bm25.npz", allow_pickle=False) as z:
        bm25_ids = z["ids"].astype(np.int64).tolist()
        bm25_dl = z["dl"].astype(np.int64).tolist()
        bm25_meta = json.loads(z["meta"].tobytes().decode("utf-8"))
    return {
        "meta": meta,
        "rows": rows,
        "orphans": orphans,
        "dense": dense,
        "dense_ids": dense_ids,
        "dense_meta": json.loads((index_dir / "dense.json").read_text()),
        "bm25_ids": bm25_ids,
        "bm25_dl": dict(zip(bm25_ids, bm25_dl, strict=True)),
        "bm25_meta": bm25_meta,
    }


def assert_consistent(index_dir: Path) -> list[int]:
    """FAISS ids == SQLite chunk ids == BM25 ids, read from the files on disk; the
    vectors and token counts agree with SQLite's, both files carry SQLite's generation,
    and no row points at a missing file or chunk. Returns the sorted chunk ids."""
    s = read_stores(index_dir)
    sqlite_ids = sorted(r[0] for r in s["rows"])
    assert len(s["dense_ids"]) == len(set(s["dense_ids"])), "an id twice in FAISS"
    assert len(s["bm25_ids"]) == len(set(s["bm25_ids"])), "an id twice in BM25"
    assert sorted(s["dense_ids"]) == sqlite_ids
    assert sorted(s["bm25_ids"]) == sqlite_ids
    for cid, tokens, blob in s["rows"]:
        stored = np.frombuffer(blob, dtype=np.float32)
        np.testing.assert_array_equal(s["dense"].reconstruct(cid), stored)
        # the column keeps them by line (heading, sentences): BM25 counts them all
        assert s["bm25_dl"][cid] == len(re.findall(r"[^\t\n]+", tokens))
    gen = int(s["meta"]["generation"])
    assert s["dense_meta"]["generation"] == gen
    assert s["bm25_meta"]["generation"] == gen
    assert s["orphans"] == dict.fromkeys(s["orphans"], 0)
    return sqlite_ids


def rows_of(index_dir: Path, source: str) -> dict[str, int]:
    """Rows that mention `source` in each table."""
    db = sqlite3.connect(index_dir / "zhice.sqlite3")
    try:
        return {
            "files": db.execute(
                "SELECT COUNT(*) FROM files WHERE source = ?", (source,)
            ).fetchone()[0],
            "chunks": db.execute(
                "SELECT COUNT(*) FROM chunks WHERE source = ?", (source,)
            ).fetchone()[0],
            "duplicates": db.execute(
                "SELECT COUNT(*) FROM duplicates WHERE source = ?", (source,)
            ).fetchone()[0],
        }
    finally:
        db.close()


def ids_of(index: ZhiceIndex, source: str) -> list[int]:
    return [
        r[0]
        for r in index.store.db.execute(
            "SELECT id FROM chunks WHERE source = ? ORDER BY id", (source,)
        )
    ]


def bm25_sources(index: ZhiceIndex, phrase: str) -> list[str]:
    """The sources of every BM25 hit for `phrase`, each once, sorted."""
    hits = index.bm25_search(search_key(phrase), 10)
    chunks = index.chunks([cid for cid, _ in hits])
    return sorted({chunks[cid].chunk.source for cid, _ in hits})


def top_dense_source(index: ZhiceIndex, text: str) -> tuple[str, float]:
    (cid, score), *_ = index.dense_search(text, 1)
    return index.chunks([cid])[cid].chunk.source, score


@pytest.fixture
def idx_dir(tmp_path: Path) -> Path:
    return tmp_path / "idx"


def new_index(idx_dir: Path, embedder="fake") -> ZhiceIndex:
    return ZhiceIndex.open(idx_dir, embedder=embedder, create=True)


# --- opening -----------------------------------------------------------------------


def test_missing_index_without_create_says_how_to_build_one(tmp_path: Path) -> None:
    where = tmp_path / "nothing"
    with pytest.raises(IndexNotFoundError) as e:
        ZhiceIndex.open(where, embedder="fake")
    assert str(e.value) == (
        f"no index at {where}; build one with: zhice ingest PATH --index {where}"
    )
    assert not where.exists()


def test_new_index_records_its_embedder_and_writes_empty_stores(idx_dir: Path) -> None:
    with new_index(idx_dir, "fake:16") as index:
        assert index.embedder.name == "fake-16"
        assert index.store.meta() == {
            "schema": "1",
            "embedder": "fake-16",
            "embedder_spec": "fake:16",
            "dim": "16",
            "generation": "0",
            "store": "embedded",
        }
        assert len(index) == 0
    assert assert_consistent(idx_dir) == []
    assert sorted(p.name for p in idx_dir.iterdir()) == [
        "bm25.npz",
        "dense.faiss",
        "dense.json",
        "write.lock",
        "zhice.sqlite3",
    ]


def test_open_without_embedder_uses_the_recorded_one(idx_dir: Path) -> None:
    with new_index(idx_dir, "fake:16") as index:
        add_text(index, "a.txt", policy_text(1))
        index.save()
    with ZhiceIndex.open(idx_dir) as index:  # as `zhice ask` does: no --embedder
        assert index.embedder.name == "fake-16"
        assert index.embedder.dim == 16
        assert len(index) == len(chunked("a.txt", policy_text(1)).chunks)


def test_index_built_with_an_embedder_object_reopens_without_one(idx_dir: Path) -> None:
    with new_index(idx_dir, SpyEmbedder(16)) as index:
        add_text(index, "a.txt", policy_text(1))
        index.save()
    with ZhiceIndex.open(idx_dir) as index:
        assert index.embedder.name == "fake-16"
        assert index.store.meta()["embedder_spec"] == "fake:16"


def test_another_embedder_is_a_mismatch_naming_both(idx_dir: Path) -> None:
    new_index(idx_dir, "fake").close()
    with pytest.raises(IndexMismatchError) as e:
        ZhiceIndex.open(idx_dir, embedder="fake:32")
    assert str(e.value) == (
        f"index at {idx_dir} was built with embedder 'fake-64', not 'fake-32'; "
        "leave out --embedder to use 'fake-64', or use a new --index DIR"
    )
    with pytest.raises(IndexMismatchError):
        ZhiceIndex.open(idx_dir, embedder="fake:32", create=True)
    with ZhiceIndex.open(idx_dir, embedder=SpyEmbedder()) as index:  # same model: fine
        assert index.embedder.name == "fake-64"


def test_same_name_other_dimension_is_a_mismatch(idx_dir: Path) -> None:
    new_index(idx_dir, "fake").close()
    impostor = FakeEmbedder(32)
    impostor.name = "fake-64"
    with pytest.raises(IndexMismatchError) as e:
        ZhiceIndex.open(idx_dir, embedder=impostor)
    assert str(e.value) == (
        f"index at {idx_dir} holds 64-d vectors but embedder fake-64 gives 32-d; "
        "use a new --index DIR"
    )


def test_a_failed_create_leaves_no_half_made_index(idx_dir: Path) -> None:
    with pytest.raises(EmbedderError):
        ZhiceIndex.open(idx_dir, embedder="fake:x", create=True)
    with pytest.raises(IndexNotFoundError):  # not an index that adopts the next embedder
        ZhiceIndex.open(idx_dir)
    with new_index(idx_dir, "fake:16") as index:  # and the typo does not poison the folder
        assert index.embedder.name == "fake-16"


def test_an_index_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for create in (False, True):
        with pytest.raises(IndexNotFoundError) as e:
            ZhiceIndex.open(a_file, embedder="fake", create=create)
        assert str(e.value) == f"{a_file} is a file, not an index folder; use another --index DIR"
    with pytest.raises(IndexNotFoundError) as e:
        ZhiceIndex.open(a_file / "idx", embedder="fake", create=True)
    assert str(e.value) == (
        f"cannot create an index at {a_file / 'idx'} (Not a directory); use another --index DIR"
    )
    assert a_file.read_text() == "x"


def test_the_write_lock_admits_one_writer(idx_dir: Path) -> None:
    first = new_index(idx_dir)
    second = ZhiceIndex.open(idx_dir)
    try:
        with first.writing():
            with pytest.raises(IndexBusyError) as e:
                with second.writing():
                    pass
            assert str(e.value) == (
                f"another zhice process is writing to {idx_dir}; wait for it to finish"
            )
        with second.writing():  # released
            pass
    finally:
        first.close()
        second.close()


# --- adding, updating, removing ------------------------------------------------------


def test_add_indexes_every_store(idx_dir: Path) -> None:
    a, b = policy_text(1, marker=MARKER), policy_text(2)
    n_a, n_b = len(chunked("a.txt", a).chunks), len(chunked("b.txt", b).chunks)
    assert n_a >= 3 and n_b >= 3
    with new_index(idx_dir) as index:
        assert add_text(index, "a.txt", a) == AddResult("a.txt", "added", n_a, 0, n_a)
        assert add_text(index, "b.txt", b) == AddResult("b.txt", "added", n_b, 0, n_b)
        assert len(index) == n_a + n_b
        index.save()
        assert bm25_sources(index, MARKER) == ["a.txt"]
        first_b = chunked("b.txt", b).chunks[0]
        source, score = top_dense_source(index, first_b.embedding_text())
        assert source == "b.txt" and score == pytest.approx(1.0, abs=1e-5)
    assert len(assert_consistent(idx_dir)) == n_a + n_b
    with ZhiceIndex.open(idx_dir) as index:
        assert [(f.source, f.chunks, f.duplicates, f.sha256, f.path) for f in index.files()] == [
            ("a.txt", n_a, 0, sha(a), "/docs/a.txt"),
            ("b.txt", n_b, 0, sha(b), "/docs/b.txt"),
        ]
        assert bm25_sources(index, MARKER) == ["a.txt"]
    assert len(assert_consistent(idx_dir)) == n_a + n_b


def test_chunks_come_back_with_their_tokens_by_heading_and_sentence(idx_dir: Path) -> None:
    text = policy_text(3, marker=MARKER)
    with new_index(idx_dir) as index:
        add_text(index, "a.txt", text)
        stored = index.chunks(index.store.chunk_ids().tolist())
        for s in stored.values():
            lines = index.segmenter.passage(s.chunk.heading, s.chunk.text)
            assert s.lines == tuple(map(tuple, lines))
        index.save()
    # an index written before tokens were kept by line: one line a chunk, read as none;
    # BM25 rebuilt from it still finds the same passages
    db = sqlite3.connect(idx_dir / "zhice.sqlite3")
    with db:
        db.execute("UPDATE chunks SET tokens = replace(tokens, char(10), char(9))")
    db.close()
    (idx_dir / "bm25.npz").unlink()
    with ZhiceIndex.open(idx_dir) as index:
        assert all(s.lines is None for s in index.chunks(stored).values())
        assert bm25_sources(index, MARKER) == ["a.txt"]
    assert len(assert_consistent(idx_dir)) == len(stored)


def test_unchanged_content_costs_no_embedding(idx_dir: Path) -> None:
    spy = SpyEmbedder()
    text = policy_text(3)
    n = len(chunked("a.txt", text).chunks)
    with new_index(idx_dir, spy) as index:
        assert add_text(index, "a.txt", text).embedded == n
        assert len(spy.texts) == n
        assert index.is_current("a.txt", sha(text))
        assert add_text(index, "a.txt", text) == AddResult("a.txt", "unchanged")
        assert len(spy.texts) == n
        index.save()
        gen = index.store.generation()
    again = SpyEmbedder()
    with ZhiceIndex.open(idx_dir, again) as index:
        assert add_text(index, "a.txt", text) == AddResult("a.txt", "unchanged")
        assert index.store.generation() == gen  # nothing was written
    assert again.texts == []
    assert_consistent(idx_dir)


def test_changed_file_replaces_its_chunks_in_every_store(idx_dir: Path) -> None:
    old, new = policy_text(4, marker=MARKER), policy_text(5, marker=MARKER_2)
    spy = SpyEmbedder()
    with new_index(idx_dir, spy) as index:
        add_text(index, "a.txt", old)
        add_text(index, "keep.txt", policy_text(6))
        old_ids = ids_of(index, "a.txt")
        index.save()
        spy.texts.clear()
        n_new = len(chunked("a.txt", new).chunks)
        assert add_text(index, "a.txt", new) == AddResult("a.txt", "updated", n_new, 0, n_new)
        assert len(spy.texts) == n_new
        assert bm25_sources(index, MARKER) == []
        assert bm25_sources(index, MARKER_2) == ["a.txt"]
        new_ids = ids_of(index, "a.txt")
        assert len(new_ids) == n_new and not set(new_ids) & set(old_ids)
        assert [f.sha256 for f in index.files() if f.source == "a.txt"] == [sha(new)]
        index.save()
    on_disk = assert_consistent(idx_dir)
    assert not set(old_ids) & set(on_disk)
    with ZhiceIndex.open(idx_dir) as index:
        assert bm25_sources(index, MARKER) == []
        db = index.store.db
        assert (
            db.execute(
                "SELECT COUNT(*) FROM chunks WHERE text LIKE ?", (f"%{MARKER}%",)
            ).fetchone()[0]
            == 0
        )


def test_remove_leaves_no_trace(idx_dir: Path) -> None:
    with new_index(idx_dir) as index:
        add_text(index, "gone.txt", policy_text(7, marker=MARKER))
        add_text(index, "keep.txt", policy_text(8))
        gone_ids = ids_of(index, "gone.txt")
        keep_ids = ids_of(index, "keep.txt")
        index.save()
        assert rows_of(idx_dir, "gone.txt")["chunks"] > 0
        assert index.remove("gone.txt") is True
        assert index.remove("gone.txt") is False
        assert index.remove("never.txt") is False
        assert bm25_sources(index, MARKER) == []
        assert set(index.dense.ids().tolist()) == set(keep_ids)
        assert set(index.bm25.ids().tolist()) == set(keep_ids)
        index.save()
    assert rows_of(idx_dir, "gone.txt") == {"files": 0, "chunks": 0, "duplicates": 0}
    assert assert_consistent(idx_dir) == keep_ids
    assert not set(gone_ids) & set(read_stores(idx_dir)["dense_ids"])


def test_remove_then_add_again_gets_fresh_ids(idx_dir: Path) -> None:
    text = policy_text(9)
    with new_index(idx_dir) as index:
        add_text(index, "a.txt", text)
        first = ids_of(index, "a.txt")
        index.remove("a.txt")
        assert add_text(index, "a.txt", text).status == "added"
        assert min(ids_of(index, "a.txt")) > max(first)  # ids are never reused
        index.save()
    assert_consistent(idx_dir)


def test_folded_paragraphs_are_recorded_and_removed(idx_dir: Path) -> None:
    para = "".join(WORDS[i % len(WORDS)] + WORDS[(i * 7) % len(WORDS)] for i in range(20)) + "。"
    text = f"关于测试的通知\n{para}\n{policy_text(10, paragraphs=2)}{para}\n"
    doc = chunked("a.txt", text)
    assert len(doc.folded) == 1
    with new_index(idx_dir) as index:
        result = index.add(doc, sha(text), "/docs/a.txt")
        assert result.duplicates == 1
        assert [f.duplicates for f in index.files()] == [1]
        assert rows_of(idx_dir, "a.txt")["duplicates"] == 1
        index.remove("a.txt")
        index.save()
    assert rows_of(idx_dir, "a.txt") == {"files": 0, "chunks": 0, "duplicates": 0}
    assert_consistent(idx_dir)


# --- duplicates across files -----------------------------------------------------------


def test_same_content_under_two_names_is_indexed_once(idx_dir: Path) -> None:
    text = policy_text(11, marker=MARKER)
    n = len(chunked("a.txt", text).chunks)
    spy = SpyEmbedder()
    with new_index(idx_dir, spy) as index:
        add_text(index, "a.txt", text)
        assert add_text(index, "copy.txt", text) == AddResult("copy.txt", "added", 0, n, 0)
        assert len(spy.texts) == n
        assert len(index) == n
        assert [(f.source, f.chunks, f.duplicates) for f in index.files()] == [
            ("a.txt", n, 0),
            ("copy.txt", 0, n),
        ]
        canon = index.store.db.execute(
            "SELECT canonical FROM duplicates WHERE source = 'copy.txt' ORDER BY ordinal"
        ).fetchall()
        assert [c for (c,) in canon] == ids_of(index, "a.txt")
        assert bm25_sources(index, MARKER) == ["a.txt"]
        index.save()
    assert_consistent(idx_dir)


def test_removing_the_original_promotes_its_duplicates(idx_dir: Path) -> None:
    text = policy_text(12, marker=MARKER)
    doc = chunked("a.txt", text)
    n = len(doc.chunks)
    spy = SpyEmbedder()
    with new_index(idx_dir, spy) as index:
        add_text(index, "a.txt", text)
        add_text(index, "copy.txt", text)
        a_ids = ids_of(index, "a.txt")
        index.save()
        spy.texts.clear()
        assert index.remove("a.txt")
        assert spy.texts == []  # the stored vectors are reused
        assert [(f.source, f.chunks, f.duplicates) for f in index.files()] == [("copy.txt", n, 0)]
        assert bm25_sources(index, MARKER) == ["copy.txt"]
        source, score = top_dense_source(index, doc.chunks[1].embedding_text())
        assert source == "copy.txt" and score == pytest.approx(1.0, abs=1e-5)
        promoted = index.chunks(ids_of(index, "copy.txt"))
        assert [c.chunk.text for c in promoted.values()] == [c.text for c in doc.chunks]
        assert not set(promoted) & set(a_ids)
        index.save()
    assert rows_of(idx_dir, "a.txt") == {"files": 0, "chunks": 0, "duplicates": 0}
    assert len(assert_consistent(idx_dir)) == n
    with ZhiceIndex.open(idx_dir) as index:
        assert bm25_sources(index, MARKER) == ["copy.txt"]
        # copy.txt's promoted chunks are canonical now: a new copy folds into them
        assert add_text(index, "a.txt", text) == AddResult("a.txt", "added", 0, n, 0)
        index.save()
    assert len(assert_consistent(idx_dir)) == n


def test_removing_the_copy_leaves_the_original_alone(idx_dir: Path) -> None:
    text = policy_text(29, marker=MARKER)
    n = len(chunked("a.txt", text).chunks)
    with new_index(idx_dir) as index:
        add_text(index, "a.txt", text)
        add_text(index, "copy.txt", text)
        a_ids = ids_of(index, "a.txt")
        assert index.remove("copy.txt")
        assert ids_of(index, "a.txt") == a_ids
        assert [(f.source, f.chunks, f.duplicates) for f in index.files()] == [("a.txt", n, 0)]
        index.save()
    assert rows_of(idx_dir, "copy.txt") == {"files": 0, "chunks": 0, "duplicates": 0}
    assert assert_consistent(idx_dir) == a_ids


def test_promotion_chain_over_three_copies(idx_dir: Path) -> None:
    text = policy_text(13, marker=MARKER)
    n = len(chunked("a.txt", text).chunks)
    with new_index(idx_dir) as index:
        for name in ("a.txt", "b.txt", "c.txt"):
            add_text(index, name, text)
        index.remove("a.txt")
        # b's copies are promoted; c's now point at b's new chunks
        assert [(f.source, f.chunks, f.duplicates) for f in index.files()] == [
            ("b.txt", n, 0),
            ("c.txt", 0, n),
        ]
        canon = [
            c
            for (c,) in index.store.db.execute(
                "SELECT canonical FROM duplicates WHERE source = 'c.txt' ORDER BY ordinal"
            )
        ]
        assert canon == ids_of(index, "b.txt")
        index.save()
        assert len(assert_consistent(idx_dir)) == n
        index.remove("b.txt")
        assert [(f.source, f.chunks, f.duplicates) for f in index.files()] == [("c.txt", n, 0)]
        assert bm25_sources(index, MARKER) == ["c.txt"]
        index.save()
    assert len(assert_consistent(idx_dir)) == n


def test_updating_the_original_promotes_its_duplicates(idx_dir: Path) -> None:
    text, new = policy_text(14, marker=MARKER), policy_text(15, marker=MARKER_2)
    n, n_new = len(chunked("a.txt", text).chunks), len(chunked("a.txt", new).chunks)
    with new_index(idx_dir) as index:
        add_text(index, "a.txt", text)
        add_text(index, "copy.txt", text)
        assert add_text(index, "a.txt", new).status == "updated"
        assert [(f.source, f.chunks, f.duplicates) for f in index.files()] == [
            ("a.txt", n_new, 0),
            ("copy.txt", n, 0),
        ]
        assert bm25_sources(index, MARKER) == ["copy.txt"]
        assert bm25_sources(index, MARKER_2) == ["a.txt"]
        index.save()
    assert len(assert_consistent(idx_dir)) == n + n_new


def test_shared_chunks_between_different_files(idx_dir: Path) -> None:
    # b repeats a's title and first three paragraphs (the marker's in the second), then
    # goes on differently: its first two chunks are a's
    a = policy_text(16, paragraphs=4, marker=MARKER)
    b = "\n".join(a.split("\n")[:4] + policy_text(17, 2).split("\n")[1:])
    with new_index(idx_dir) as index:
        add_text(index, "a.txt", a)
        result = add_text(index, "b.txt", b)
        n_b = len(chunked("b.txt", b).chunks)
        assert (result.chunks, result.duplicates) == (n_b - 2, 2)  # two chunks are shared
        assert bm25_sources(index, MARKER) == ["a.txt"]  # b's copy is not indexed twice
        index.remove("a.txt")
        assert [(f.source, f.chunks, f.duplicates) for f in index.files()] == [("b.txt", n_b, 0)]
        assert bm25_sources(index, MARKER) == ["b.txt"]
        index.save()
    assert len(assert_consistent(idx_dir)) == n_b


# --- atomic writes and recovery ---------------------------------------------------------


def test_save_goes_through_a_temporary_file_and_leaves_none(
    idx_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zhice.index.dense as dense_module

    renames: list[tuple[str, str]] = []
    real_replace = dense_module.os.replace

    def spy_replace(src, dst):
        renames.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(dense_module.os, "replace", spy_replace)
    with new_index(idx_dir) as index:
        renames.clear()
        add_text(index, "a.txt", policy_text(18))
        index.save()
    target = str(idx_dir / "dense.faiss")
    faiss_renames = [(s, d) for s, d in renames if d == target]
    assert len(faiss_renames) == 1
    src = Path(faiss_renames[0][0])
    assert src.parent == idx_dir and src.name != "dense.faiss" and src.suffix == ".tmp"
    assert not [p.name for p in idx_dir.iterdir() if p.name.endswith(".tmp")]
    assert_consistent(idx_dir)


def test_a_failed_faiss_write_keeps_the_old_file(
    idx_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faiss

    with new_index(idx_dir) as index:
        add_text(index, "a.txt", policy_text(19))
        index.save()
        before = (idx_dir / "dense.faiss").read_bytes()
        add_text(index, "b.txt", policy_text(20))

        def broken(index, writer):
            raise RuntimeError("a faiss error")

        monkeypatch.setattr(faiss, "write_index", broken)
        with pytest.raises(RuntimeError, match="a faiss error"):
            index.save()
        monkeypatch.undo()
        share_segmenter(monkeypatch)
        assert (idx_dir / "dense.faiss").read_bytes() == before
        assert not [p.name for p in idx_dir.iterdir() if p.name.endswith(".tmp")]
    # SQLite holds b.txt, the files do not: the next open repairs them
    with ZhiceIndex.open(idx_dir) as index:
        assert [f.source for f in index.files()] == ["a.txt", "b.txt"]
    n = len(chunked("a", policy_text(19)).chunks) + len(chunked("b", policy_text(20)).chunks)
    assert len(assert_consistent(idx_dir)) == n


def test_crash_after_commit_before_save_is_reconciled_on_open(idx_dir: Path) -> None:
    with new_index(idx_dir) as index:
        add_text(index, "a.txt", policy_text(21))
        add_text(index, "gone.txt", policy_text(22))
        index.save()
    saved = read_stores(idx_dir)
    index = ZhiceIndex.open(idx_dir)
    add_text(index, "b.txt", policy_text(23, marker=MARKER))
    index.remove("gone.txt")
    index.close()  # "crash": committed to SQLite, FAISS and BM25 never saved
    stale = read_stores(idx_dir)
    assert stale["dense_ids"] == saved["dense_ids"]
    assert stale["bm25_ids"] == saved["bm25_ids"]
    assert int(stale["meta"]["generation"]) == stale["dense_meta"]["generation"] + 2
    with ZhiceIndex.open(idx_dir) as index:
        assert bm25_sources(index, MARKER) == ["b.txt"]
        first_b = chunked("b.txt", policy_text(23, marker=MARKER)).chunks[0]
        assert top_dense_source(index, first_b.embedding_text())[0] == "b.txt"
        assert [f.source for f in index.files()] == ["a.txt", "b.txt"]
    ids = assert_consistent(idx_dir)
    assert len(ids) == sum(
        len(chunked("x", policy_text(s, marker=m)).chunks) for s, m in ((21, ""), (23, MARKER))
    )


DAMAGE = {
    "faiss deleted": lambda d: (d / "dense.faiss").unlink(),
    "faiss garbage": lambda d: (d / "dense.faiss").write_bytes(b"not a faiss index" * 20),
    "faiss truncated": lambda d: (d / "dense.faiss").write_bytes(
        (d / "dense.faiss").read_bytes()[:100]
    ),
    "faiss empty": lambda d: (d / "dense.faiss").write_bytes(b""),
    "dense.json deleted": lambda d: (d / "dense.json").unlink(),
    "bm25 deleted": lambda d: (d / "bm25.npz").unlink(),
    "bm25 garbage": lambda d: (d / "bm25.npz").write_bytes(b"PK\x03\x04 not a zip"),
    "both deleted": lambda d: [(d / n).unlink() for n in ("dense.faiss", "bm25.npz")],
    "all three deleted": lambda d: [
        (d / n).unlink() for n in ("dense.faiss", "dense.json", "bm25.npz")
    ],
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_lost_or_damaged_store_files_are_rebuilt_from_sqlite(idx_dir: Path, damage) -> None:
    with new_index(idx_dir) as index:
        add_text(index, "a.txt", policy_text(24, marker=MARKER))
        add_text(index, "b.txt", policy_text(25))
        index.save()
    ids = assert_consistent(idx_dir)
    damage(idx_dir)
    with ZhiceIndex.open(idx_dir) as index:
        assert len(index) == len(ids)
        assert bm25_sources(index, MARKER) == ["a.txt"]
        first = chunked("b.txt", policy_text(25)).chunks[0]
        assert top_dense_source(index, first.embedding_text()) == ("b.txt", pytest.approx(1.0))
    assert assert_consistent(idx_dir) == ids


def test_a_writer_opened_before_another_writes_catches_up(idx_dir: Path) -> None:
    new_index(idx_dir).close()
    late = ZhiceIndex.open(idx_dir)  # opened, then another process writes
    with ZhiceIndex.open(idx_dir) as other:
        with other.writing():
            add_text(other, "a.txt", policy_text(26))
    with late.writing():
        add_text(late, "b.txt", policy_text(27))
    try:
        assert len(late) == len(late.store.chunk_ids())
    finally:
        late.close()
    n = len(chunked("a", policy_text(26)).chunks) + len(chunked("b", policy_text(27)).chunks)
    assert len(assert_consistent(idx_dir)) == n


def test_writing_saves_even_when_interrupted(idx_dir: Path) -> None:
    with new_index(idx_dir) as index:
        with pytest.raises(KeyboardInterrupt):
            with index.writing():
                add_text(index, "a.txt", policy_text(28))
                raise KeyboardInterrupt
    # no reopen: the files on disk were written by writing()'s exit
    assert len(assert_consistent(idx_dir)) == len(chunked("a", policy_text(28)).chunks)


def test_a_revised_version_under_another_name_stays_searchable(tmp_path):
    # Near-copies of another file are indexed, not folded: the figure that changed
    # between two versions of a policy is exactly what a user asks about.
    old = "国家支持建设了20个产业转型升级示范区，引领老工业城市转型。" * 3
    new = old.replace("20个", "25个")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "v1.txt").write_text(old, encoding="utf-8")
    (tmp_path / "docs" / "v2.txt").write_text(new, encoding="utf-8")
    idx_dir = tmp_path / "idx"
    with ZhiceIndex.open(idx_dir, embedder="fake", create=True) as index:
        index_files(index, [tmp_path / "docs"])
        assert [(f.source, f.chunks, f.duplicates) for f in index.files()] == [
            ("v1.txt", 1, 0), ("v2.txt", 1, 0)]
        assert bm25_sources(index, "25个") == ["v2.txt"]
    assert_consistent(idx_dir)


def test_a_save_killed_half_way_leaves_no_temporary_file_behind(idx_dir: Path) -> None:
    with new_index(idx_dir, "fake:16") as index:
        add_text(index, "a.txt", policy_text(1))
        index.save()
    (idx_dir / "dense.faiss.x1y2.tmp").write_bytes(b"half a file")
    (idx_dir / ".bm25.npz.x1y2.tmp").write_bytes(b"half a file")
    with ZhiceIndex.open(idx_dir) as index, index.writing():
        pass
    assert not list(idx_dir.glob("*.tmp"))


def test_refresh_takes_in_what_another_process_committed(idx_dir: Path) -> None:
    with new_index(idx_dir, "fake:16") as serving, ZhiceIndex.open(idx_dir) as other:
        with other.writing():
            add_text(other, "late.txt", policy_text(7, marker=MARKER))
        assert bm25_sources(serving, MARKER) == []  # a server opened before the ingest
        serving.refresh()
        assert bm25_sources(serving, MARKER) == ["late.txt"]
        assert set(serving.dense.ids().tolist()) == set(ids_of(serving, "late.txt"))


def test_a_refresh_between_commit_and_apply_is_not_applied_twice(
        idx_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The web UI: a question's refresh() can catch up with an upload's commit before
    # the upload applies it in memory; the apply must then be a no-op, not a re-add.
    with new_index(idx_dir, "fake:16") as index:
        apply = index._apply

        def refresh_first(*args):
            index.refresh()
            apply(*args)

        monkeypatch.setattr(index, "_apply", refresh_first)
        with index.writing():
            add_text(index, "a.txt", policy_text(1, marker=MARKER))
            index.remove("a.txt")
            add_text(index, "b.txt", policy_text(2, marker=MARKER))
        assert bm25_sources(index, MARKER) == ["b.txt"]
        b_ids = ids_of(index, "b.txt")
    assert assert_consistent(idx_dir) == b_ids
