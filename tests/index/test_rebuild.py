"""`zhice ingest --rebuild`: an index made again from the texts its database stores is
the index an ingest of the same files gives; a damaged database gives what can be read,
and a failure leaves the old folder as it was."""

import sqlite3
from pathlib import Path

import numpy as np
import pytest

import zhice.index.embedders.fake as fake_module
from tests.index.test_damage import replace_in_pages
from tests.index.test_index import assert_consistent, policy_text, share_segmenter
from tests.ingest.test_loaders import make_pdf
from zhice.index.errors import IndexBusyError, IndexMismatchError, IndexReplacedError
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files
from zhice.index.rebuild import IndexRebuild, page_starts
from zhice.ingest.errors import ZhiceError

SIZE, OVERLAP = 200, 40  # not the defaults: a rebuild must take what the index recorded


@pytest.fixture(autouse=True)
def _fast_segmenter(monkeypatch: pytest.MonkeyPatch) -> None:
    share_segmenter(monkeypatch)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """Texts, a copy of one (its chunks are duplicates), a repeated paragraph (folded),
    and a PDF whose third page is blank (page numbers to reproduce)."""
    root = tmp_path / "docs"
    root.mkdir()
    for seed in (51, 52, 53):
        (root / f"{seed}.txt").write_text(policy_text(seed), encoding="utf-8")
    (root / "copy.txt").write_text(policy_text(52), encoding="utf-8")
    para = policy_text(54, paragraphs=1).split("\n")[1]
    (root / "folded.txt").write_text(f"关于重复段落的通知\n{para}\n{policy_text(55)}{para}\n",
                                     encoding="utf-8")
    lines = [line for seed in (56, 57, 58) for line in policy_text(seed).split("\n")[1:]]
    cut = [[s[i : i + 30] for s in lines[k::4] for i in range(0, len(s), 30)][:20]
           for k in range(4)]
    (root / "plan.pdf").write_bytes(make_pdf([cut[0], cut[1], [], cut[2], cut[3]]))
    return root


def ingest(docs: Path, where: Path) -> None:
    with ZhiceIndex.open(where, embedder="fake", create=True) as index:
        summary = index_files(index, [docs], size=SIZE, overlap=OVERLAP)
        assert summary.failures == []
        index.record_chunking(SIZE, OVERLAP)  # as `zhice ingest` does


def snapshot(where: Path) -> dict:
    """Everything the index holds but ids and times: chunks by (source, ordinal)."""
    db = sqlite3.connect(where / "zhice.sqlite3")
    try:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        meta.pop("generation")
        return {
            "meta": meta,
            "files": db.execute("SELECT source, path, sha256, title, text FROM files "
                                "ORDER BY source").fetchall(),
            "chunks": db.execute('SELECT source, ordinal, hash, heading, text, key, start, "end",'
                                 " page, tokens, vector FROM chunks ORDER BY source, ordinal"
                                 ).fetchall(),
            "duplicates": db.execute(
                'SELECT d.source, d.kind, d.ordinal, d.text, d.start, d."end", d.page, '
                "c.source, c.ordinal FROM duplicates d LEFT JOIN chunks c ON c.id = d.canonical "
                "ORDER BY 1, 2, 3, 5").fetchall(),
        }
    finally:
        db.close()


def answers(where: Path) -> list:
    """Dense and BM25 top 5 of a few questions, as (source, ordinal, score)."""
    with ZhiceIndex.open(where) as index:
        out = []
        for question in ("产业转型升级示范区", "生态环境保护", "数字经济发展"):
            for hits in (index.dense_search(question, 5), index.bm25_search(question, 5)):
                chunks = index.chunks([cid for cid, _ in hits])
                out.append([(chunks[c].chunk.source, chunks[c].chunk.ordinal, round(s, 4))
                            for c, s in hits])
        return out


def test_a_rebuild_is_the_index_an_ingest_of_the_same_files_gives(tmp_path, docs) -> None:
    idx = tmp_path / "idx"
    ingest(docs, idx)
    before, asked = snapshot(idx), answers(idx)
    pages = {p for *_, p, _, _ in before["chunks"] if p is not None}
    assert pages == {1, 2, 4, 5}  # the blank third page holds no chunk
    assert any(d[1] == "chunk" for d in before["duplicates"])  # copy.txt's
    assert any(d[1] == "paragraph" for d in before["duplicates"])  # folded.txt's
    with IndexRebuild(idx) as rebuild:
        assert [d.source for d in rebuild.documents] == [
            "51.txt", "52.txt", "53.txt", "copy.txt", "folded.txt", "plan.pdf"]
        summary = rebuild.run()
    assert (summary.documents, summary.lost, summary.kept) == (6, [], None)
    assert summary.chunks == len(before["chunks"])
    assert snapshot(idx) == before
    assert answers(idx) == asked
    assert_consistent(idx)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "idx"]  # nothing left over


def test_a_process_that_held_the_old_index_is_told_and_writes_nothing(tmp_path, docs) -> None:
    idx = tmp_path / "idx"
    ingest(docs, idx)
    with ZhiceIndex.open(idx) as server:  # `zhice serve`, open while another process rebuilds
        assert server.bm25_search("产业转型升级示范区", 1)
        with IndexRebuild(idx) as rebuild:
            rebuild.run()
        with pytest.raises(IndexReplacedError, match="restart"):
            server.changed()
        with pytest.raises(IndexReplacedError), server.writing():
            pass
    with ZhiceIndex.open(idx) as reopened:  # a restart reads the new index
        assert not reopened.changed()


def test_damaged_texts_are_reported_and_the_old_folder_kept(tmp_path, docs) -> None:
    idx = tmp_path / "idx"
    ingest(docs, idx)
    before = snapshot(idx)
    old_db = (idx / "zhice.sqlite3").read_bytes()
    db = idx / "zhice.sqlite3"
    # 51.txt's text no longer reads as UTF-8; in 53.txt's a character became another
    # (still UTF-8: only its stored chunks can tell)
    text_51 = policy_text(51).split("\n")[2][:6].encode()
    assert replace_in_pages(db, "files", text_51, b"\xff" + text_51[1:]) == 1
    text_53 = policy_text(53).split("\n")[1][:6]
    changed = text_53[:2] + ("经" if text_53[2] != "经" else "济") + text_53[3:]
    assert replace_in_pages(db, "files", text_53.encode(), changed.encode()) == 1
    damaged = db.read_bytes()
    with IndexRebuild(idx) as rebuild:
        summary = rebuild.run()
    assert summary.lost == [
        "51.txt: its stored text cannot be read (not UTF-8); ingest the file again",
        "53.txt: its stored text does not give the passages it had (damaged?); indexed as "
        "stored, ingest the file again to be sure",
    ]
    assert summary.kept == tmp_path / "idx.damaged"
    assert (summary.kept / "zhice.sqlite3").read_bytes() == damaged != old_db
    after = snapshot(idx)
    assert [f[0] for f in after["files"]] == ["52.txt", "53.txt", "copy.txt", "folded.txt",
                                              "plan.pdf"]
    assert [f[2] for f in after["files"] if f[0] == "53.txt"] == [""]  # no version of the file
    # the next ingest of the files puts back what was lost, as it was
    with ZhiceIndex.open(idx) as index:
        summary = index_files(index, [docs], size=SIZE, overlap=OVERLAP)
    assert (summary.added, summary.updated, summary.unchanged) == (1, 1, 4)
    again = snapshot(idx)
    assert again["files"] == before["files"] and again["meta"] == before["meta"]
    assert sorted(again["chunks"]) == sorted(before["chunks"])
    assert_consistent(idx)


def test_a_failed_rebuild_leaves_the_old_folder_as_it_was(
        tmp_path, docs, monkeypatch: pytest.MonkeyPatch) -> None:
    idx = tmp_path / "idx"
    ingest(docs, idx)
    before = {p.name: p.read_bytes() for p in idx.iterdir()}
    calls = []
    real = fake_module.FakeEmbedder.embed_documents

    def failing(self, texts):
        calls.append(len(texts))
        if len(calls) == 3:
            raise RuntimeError("the model crashed")
        return real(self, texts)

    monkeypatch.setattr(fake_module.FakeEmbedder, "embed_documents", failing)
    with pytest.raises(RuntimeError, match="the model crashed"), IndexRebuild(idx) as rebuild:
        rebuild.run()
    assert {p.name: p.read_bytes() for p in idx.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "idx"]


def test_a_rebuild_waits_for_no_writer_and_keeps_the_embedder(tmp_path, docs) -> None:
    idx = tmp_path / "idx"
    ingest(docs, idx)
    with ZhiceIndex.open(idx) as other, other.writing():
        with pytest.raises(IndexBusyError, match="another zhice process is writing"):
            IndexRebuild(idx).__enter__()
    with pytest.raises(IndexMismatchError) as e, IndexRebuild(idx, embedder="fake:32") as rebuild:
        rebuild.run()
    assert str(e.value) == (f"index at {idx} was built with embedder 'fake-64', not 'fake-32'; "
                            "leave out --embedder to rebuild it with 'fake-64'")
    with IndexRebuild(idx, embedder="fake") as rebuild:  # the same one, named: fine
        assert rebuild.run().lost == []


def test_a_damaged_record_of_the_embedder_must_be_named(tmp_path, docs) -> None:
    idx = tmp_path / "idx"
    ingest(docs, idx)
    assert replace_in_pages(idx / "zhice.sqlite3", "meta", b"fake", b"fakx") == 2
    with pytest.raises(ZhiceError) as e, IndexRebuild(idx) as rebuild:
        rebuild.run()
    assert str(e.value) == (
        f"the index at {idx} does not say which embedder built it (its record is damaged: "
        f"'fakx', 'fakx-64'); name it: zhice ingest --rebuild --embedder SPEC --index {idx}")
    with IndexRebuild(idx, embedder="fake") as rebuild:
        assert rebuild.run().lost == []
    with ZhiceIndex.open(idx) as index:
        assert index.embedder.name == "fake-64"


def test_page_starts_put_every_known_offset_on_its_page() -> None:
    from zhice.ingest.types import LoadedDocument

    first = {1: 0, 2: 120, 4: 400, 5: 610}  # page 3 has no chunk start
    starts = page_starts(first)
    assert starts == (0, 120, 400, 400, 610)
    doc = LoadedDocument("a.pdf", "x" * 800, page_starts=starts)
    assert [doc.page_at(o) for o in (0, 119, 120, 399, 400, 609, 610, 799)] == [
        1, 1, 2, 2, 4, 4, 5, 5]
    assert page_starts({}) == ()
    assert page_starts({3: 50}) == (50, 50, 50)
    assert np.array_equal(page_starts({2: 10, 1: 0}), (0, 10))
