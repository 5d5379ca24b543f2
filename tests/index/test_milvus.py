"""MilvusIndex on Milvus Lite: the same ranks as the embedded store, a file replaced
without a moment seen twice or not at all, nothing left by a removal, and an index
built another way refused."""

import random
import re
import threading
from pathlib import Path

import pytest

pytest.importorskip("milvus_lite")

from tests.index.test_index import MARKER, policy_text, share_segmenter  # noqa: E402
from zhice.assistant.chain import Assistant  # noqa: E402
from zhice.index.contract import SearchIndex  # noqa: E402
from zhice.index.errors import IndexMismatchError, IndexNotFoundError  # noqa: E402
from zhice.index.index import ZhiceIndex  # noqa: E402
from zhice.index.milvus import MilvusIndex  # noqa: E402
from zhice.index.milvus_spec import parse_milvus  # noqa: E402
from zhice.index.milvus_store import (  # noqa: E402
    ANALYZER,
    TOKENIZER,
    MilvusStore,
    term_word,
    terms_text,
)
from zhice.index.pipeline import index_files  # noqa: E402
from zhice.index.segment import ChineseSegmenter  # noqa: E402
from zhice.index.stores import open_index  # noqa: E402
from zhice.ingest.chunker import chunk_document  # noqa: E402
from zhice.ingest.types import LoadedDocument  # noqa: E402

QUERIES = ["经济发展", "产业转型升级", "城市基地改革", "生态环境保护", "数字网络安全",
           "科技人才教育", MARKER, "金融服务市场", "区域协调发展", "财政税收监管"]


@pytest.fixture(autouse=True)
def _fast_segmenter(monkeypatch: pytest.MonkeyPatch) -> None:
    share_segmenter(monkeypatch)


def make_docs(root: Path, n: int = 8, seed: int = 1) -> Path:
    docs = root / "docs"
    docs.mkdir(parents=True)
    rng = random.Random(seed)
    for i in range(n):
        marker = MARKER if i in (2, 5) else ""
        (docs / f"{i:02d}_规划.txt").write_text(
            policy_text(seed * 100 + i, paragraphs=rng.randint(3, 6), marker=marker),
            encoding="utf-8")
    return docs


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory):
    """The same files, in the same order, in the embedded store and in Milvus Lite."""
    root = tmp_path_factory.mktemp("parity")
    docs = make_docs(root)
    mp = pytest.MonkeyPatch()
    share_segmenter(mp)
    embedded = ZhiceIndex.open(root / "idx", embedder="fake", create=True)
    index_files(embedded, [docs], size=120, overlap=20)
    lite = open_index(f"milvus:{root / 'idx.db'}", embedder="fake", create=True)
    index_files(lite, [docs], size=120, overlap=20)
    yield embedded, lite
    embedded.close()
    lite.close()
    mp.undo()


def _keys(index, ranked) -> list[tuple[str, int]]:
    chunks = index.chunks([cid for cid, _ in ranked])
    return [(chunks[cid].chunk.source, chunks[cid].chunk.ordinal) for cid, _ in ranked]


def test_dense_and_bm25_rank_alike(pair):
    embedded, lite = pair
    assert len(embedded) == len(lite) > 30
    for query in QUERIES:
        for search in ("dense_search", "bm25_search"):
            a = getattr(embedded, search)(query, 20)
            b = getattr(lite, search)(query, 20)
            assert _keys(embedded, a) == _keys(lite, b), (query, search)
            assert [s for _, s in a] == pytest.approx([s for _, s in b], rel=1e-4)


def test_fused_and_reranked_hits_rank_alike(pair):
    """The whole retriever (RRF over both lists, then the coverage re-ranker, whose
    term weights come from df): rank for rank."""
    embedded, lite = pair
    with Assistant.open(embedded) as a, Assistant.open(lite) as b:
        for query in QUERIES:
            ha = a.retriever.retrieve(query, 10)
            hb = b.retriever.retrieve(query, 10)
            assert [(h.chunk.source, h.chunk.ordinal) for h in ha] == [
                (h.chunk.source, h.chunk.ordinal) for h in hb], query
            assert [(h.dense_rank, h.bm25_rank) for h in ha] == [
                (h.dense_rank, h.bm25_rank) for h in hb], query
            assert [h.lines for h in ha] == [h.lines for h in hb]
        for token in ("经济", "产业", MARKER, "阿尔伯特", "不在其中"):
            assert embedded.df(token) == lite.df(token), token


def test_reads_agree(pair):
    embedded, lite = pair
    files = embedded.files()
    assert [(f.source, f.sha256, f.title, f.chunks, f.facts) for f in files] == [
        (f.source, f.sha256, f.title, f.chunks, f.facts) for f in lite.files()]
    assert embedded.file_hashes() == lite.file_hashes()
    assert embedded.titles() == lite.titles()
    for f in files:
        assert embedded.file_text(f.source) == lite.file_text(f.source)
    assert lite.file_text("nope.txt") is None
    assert embedded.facts() == lite.facts()
    for f in files:
        assert [(s.chunk, s.lines) for s in embedded.document_chunks(f.source)] == [
            (s.chunk, s.lines) for s in lite.document_chunks(f.source)]
    assert lite.document_chunks("nope.txt") == []


def test_terms_are_one_word_to_any_analyzer():
    """Each BM25 token becomes 12 letters a-z: Milvus Lite's standard analyzer (\\w+,
    lowercased) and a server's grammar-based standard tokenizer (words split at spaces
    and punctuation, lowercased, long tokens over 40 bytes dropped) both read the
    terms field as exactly our tokens, in order."""
    from milvus_lite.analyzer.factory import create_analyzer

    seg = ChineseSegmenter().load()
    tokens = seg("2024年国内生产总值达到17.71万亿元，增长5.2%，Ａ股和AI产业！") + ["x", "ß", "é"]
    text = terms_text(tokens)
    words = [term_word(t) for t in tokens]
    assert all(re.fullmatch("[a-z]{12}", w) for w in words)
    assert len(set(words)) == len(set(tokens))
    assert create_analyzer(ANALYZER).tokenize(text) == words
    assert [w for w in re.split(r"[^0-9A-Za-z]+", text.lower()) if w and len(w) <= 40] == words


def test_replacing_a_file_never_shows_it_twice_or_not_at_all(tmp_path):
    """A reader asks while a writer replaces one file over and over: every answer holds
    that file's passages of one version, and holds them."""
    docs = make_docs(tmp_path, n=3)
    index = open_index(f"milvus:{tmp_path / 'r.db'}", embedder="fake", create=True)
    try:
        index_files(index, [docs])
        target = docs / "01_规划.txt"
        from zhice.assistant.retrieve import HybridRetriever

        retriever = HybridRetriever(index)
        stop = threading.Event()
        seen: list[set[str]] = []

        def write() -> None:
            try:
                for version in range(6):
                    text = policy_text(7, paragraphs=3) + f"第{version}版，{MARKER}。\n"
                    target.write_text(text, encoding="utf-8")
                    index_files(index, [target])
            finally:
                stop.set()

        writer = threading.Thread(target=write)
        writer.start()
        while not stop.is_set():
            hits = retriever.retrieve(MARKER, 10)
            versions = {m for h in hits if h.chunk.source == target.name
                        for m in re.findall(r"第(\d)版", h.chunk.text)}
            sources = {h.chunk.source for h in hits}
            seen.append(versions)
            assert target.name in sources
            assert len(versions) <= 1, versions
        writer.join()
        assert len(seen) > 3
        assert index.file_text(target.name).count("第5版") == 1
    finally:
        index.close()


def test_remove_leaves_no_row(tmp_path):
    docs = make_docs(tmp_path, n=3)
    index = open_index(f"milvus:{tmp_path / 'x.db'}", embedder="fake", create=True)
    try:
        index_files(index, [docs])
        (docs / "00_规划.txt").write_text(policy_text(99), encoding="utf-8")
        summary = index_files(index, [docs])
        assert (summary.updated, summary.unchanged) == (1, 2)
        with index.writing():
            assert index.remove("00_规划.txt")
            assert not index.remove("00_规划.txt")
        m = index.milvus
        for name in (m.chunks_name, m.files_name):
            rows = m.client.query(name, filter='source == "00_规划.txt"', output_fields=["source"])
            assert rows == [], name
        versions = {r["version"] for r in m.client.query(
            m.files_name, filter="", output_fields=["version"], limit=100)}
        texts = {r["version"] for r in m.client.query(
            m.texts_name, filter="", output_fields=["version"], limit=100)}
        chunks = {r["version"] for r in m.client.query(
            m.chunks_name, filter="", output_fields=["version"], limit=1000)}
        assert texts == chunks == versions and len(versions) == 2  # nothing of old versions
        state = m.get_meta("state")
        assert (state["hidden"], state["open"]) == ([], None)
        assert m.client.query(m.df_name, filter=f"batch > {state['through']}",
                              output_fields=["bucket"]) == []
        assert len(index) == state["chunks"] == len(m.client.query(
            m.chunks_name, filter="", output_fields=["id"], limit=1000))
        assert [f.source for f in index.files()] == ["01_规划.txt", "02_规划.txt"]
    finally:
        index.close()


def test_an_index_built_another_way_is_refused(tmp_path):
    where = f"milvus:{tmp_path / 'm.db'}"
    with open_index(where, embedder="fake", create=True) as index:
        doc = LoadedDocument("a.txt", policy_text(1))
        index.add(chunk_document(doc), "sha", "a.txt")
    with pytest.raises(IndexMismatchError, match="built with embedder 'fake-64'"):
        open_index(where, embedder="fake:32")
    # another tokenizer recorded
    store = MilvusStore(parse_milvus(where)).connect()
    assert store.exists()  # and loaded
    info = store.get_meta("info")
    store.put_meta("info", {**info, "tokenizer": "jieba"})
    store.close()
    with pytest.raises(IndexMismatchError, match="BM25 tokenizer 'jieba'"):
        open_index(where)
    # collections of the same name made with Milvus's own jieba analyzer
    other = f"milvus:{tmp_path / 'o.db'}"
    store = MilvusStore(parse_milvus(other)).connect()
    import zhice.index.milvus_store as ms

    original = ms.ANALYZER
    try:
        ms.ANALYZER = {"tokenizer": "jieba"}
        store.create(64)
    finally:
        ms.ANALYZER = original
    store.put_meta("info", {**info, "tokenizer": TOKENIZER})
    store.close()
    with pytest.raises(IndexMismatchError, match="not made by this zhice"):
        open_index(other)
    with pytest.raises(IndexNotFoundError, match="no index at milvus:"):
        open_index(f"milvus:{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()  # asking made nothing


def test_open_index_picks_the_recorded_store(tmp_path):
    docs = make_docs(tmp_path, n=2)
    folder = tmp_path / "idx"
    with open_index(folder, embedder="fake", create=True,
                    store=f"milvus:{tmp_path / 'p.db'}") as index:
        assert isinstance(index, MilvusIndex)
        index_files(index, [docs])
    with open_index(folder) as index:  # as `zhice ask --index idx` opens it
        assert isinstance(index, MilvusIndex) and len(index.files()) == 2
        assert isinstance(index, SearchIndex)
    with pytest.raises(IndexMismatchError, match="leave out --store"):
        open_index(folder, store=f"milvus:{tmp_path / 'q.db'}")
    embedded = tmp_path / "emb"
    with open_index(embedded, embedder="fake", create=True) as index:
        assert isinstance(index, ZhiceIndex) and isinstance(index, SearchIndex)
    with pytest.raises(IndexMismatchError, match="zhice migrate"):
        open_index(embedded, store=f"milvus:{tmp_path / 'q.db'}")


def test_a_lite_file_another_process_holds_is_busy(tmp_path):
    """Milvus Lite serves one process: a second (`zhice ingest` beside `zhice serve`) is
    told so in one line, not a stack trace."""
    import fcntl
    import os

    from zhice.index.errors import IndexBusyError

    where = f"milvus:{tmp_path / 'b.db'}"
    open_index(where, embedder="fake", create=True).close()
    fd = os.open(tmp_path / "b.db" / "LOCK", os.O_RDWR)  # as the other process's Milvus Lite
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(IndexBusyError, match="Milvus Lite serves one process at a time"):
            open_index(where)
    finally:
        os.close(fd)
    open_index(where).close()
