"""Damaged or unusual index folders: flipped bytes in the search files or in SQLite, a
full disk while saving, a read-only folder. Real indexes on disk, the fake embedder."""

import errno
import json
import os
import random
import sqlite3
from pathlib import Path

import pytest

import zhice.index.catalog as catalog_module
import zhice.index.index as index_module
from tests.index.test_index import (
    MARKER,
    add_text,
    assert_consistent,
    bm25_sources,
    chunked,
    policy_text,
    share_segmenter,
)
from zhice.index.catalog import list_files
from zhice.index.errors import IndexCorruptError, IndexReadOnlyError, IndexStorageError
from zhice.index.index import ZhiceIndex

SEEDS = (31, 32, 33, 34)


@pytest.fixture(autouse=True)
def _fast_segmenter(monkeypatch: pytest.MonkeyPatch) -> None:
    share_segmenter(monkeypatch)


@pytest.fixture
def idx_dir(tmp_path: Path) -> Path:
    """A saved index of four documents (one holds MARKER)."""
    where = tmp_path / "idx"
    with ZhiceIndex.open(where, embedder="fake", create=True) as index:
        for seed in SEEDS:
            add_text(index, f"{seed}.txt", policy_text(seed, marker=MARKER if seed == 32 else ""))
        index.save()
    return where


def answers(index: ZhiceIndex) -> list:
    """What searches find: the dense top 5 of each document's first chunk, and BM25."""
    out = []
    for seed in SEEDS:
        first = chunked(f"{seed}.txt", policy_text(seed)).chunks[0]
        out.append([(cid, round(score, 5)) for cid, score in index.dense_search(
            first.embedding_text(), 5)])
    return [out, bm25_sources(index, MARKER)]


def flip_bytes(path: Path, n: int, seed: int, start: int = 0, stop: int | None = None) -> None:
    """Flip one random bit in each of n random bytes of path[start:stop]."""
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    for _ in range(n):
        at = rng.randrange(start, stop or len(data))
        data[at] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def table_pages(db_path: Path, name: str) -> tuple[list[int], int]:
    """The pages (1-based) of a table or index, and the page size (dbstat)."""
    db = sqlite3.connect(db_path)
    try:
        pages = [p for (p,) in db.execute(
            "SELECT pageno FROM dbstat WHERE name = ? ORDER BY pageno", (name,))]
        return pages, db.execute("PRAGMA page_size").fetchone()[0]
    finally:
        db.close()


def replace_in_pages(db_path: Path, name: str, old: bytes, new: bytes) -> int:
    """Overwrite `old` with `new` (same length) wherever it occurs in the pages of
    table or index `name`, and only there; how many times."""
    assert len(old) == len(new)
    pages, size = table_pages(db_path, name)
    data = bytearray(db_path.read_bytes())
    done = 0
    for page in pages:
        lo, hi = (page - 1) * size, page * size
        chunk = data[lo:hi]
        done += chunk.count(old)
        data[lo:hi] = chunk.replace(old, new)
    db_path.write_bytes(bytes(data))
    return done


def damage_sqlite(idx_dir: Path, seed: int = 1) -> None:
    """A few hundred flipped bytes in the data pages (not the header page)."""
    db = idx_dir / "zhice.sqlite3"
    _, size = table_pages(db, "chunks")
    flip_bytes(db, 300, seed, start=size)


def folder_bytes(idx_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(idx_dir.iterdir())}


# --- the search files: checked, and rebuilt from SQLite when damaged ------------------


@pytest.mark.parametrize("name", ["dense.faiss", "bm25.npz"])
def test_flipped_bytes_in_a_search_file_are_found_and_repaired(idx_dir: Path, name) -> None:
    ids = assert_consistent(idx_dir)
    with ZhiceIndex.open(idx_dir) as index:
        before = answers(index)
    flip_bytes(idx_dir / name, 50, seed=7, start=64)
    with ZhiceIndex.open(idx_dir) as index:
        assert answers(index) == before
    assert assert_consistent(idx_dir) == ids  # and the repair was saved


def test_a_dense_file_of_an_older_zhice_opens_and_gets_a_checksum(idx_dir: Path) -> None:
    dense, meta = idx_dir / "dense.faiss", idx_dir / "dense.json"
    written = dense.read_bytes()
    dense.write_bytes(written[:-24])  # no checksum record, and dense.json says none
    stamp = json.loads(meta.read_text())
    meta.write_text(json.dumps({k: v for k, v in stamp.items() if k != "checksum"}))
    with ZhiceIndex.open(idx_dir) as index:
        before = answers(index)
        assert len(index) == len(assert_consistent(idx_dir))
        assert dense.read_bytes() == written[:-24]  # nothing to repair: not rewritten
        with index.writing():
            add_text(index, "new.txt", policy_text(40))
    assert dense.read_bytes()[-8:] == b"zhiceCK1"
    assert json.loads(meta.read_text())["checksum"] == "crc32"
    with ZhiceIndex.open(idx_dir) as index:
        assert answers(index)[1] == before[1]
    assert_consistent(idx_dir)


# --- SQLite: refused when damaged, with how to rebuild ------------------------------------


def test_a_damaged_database_is_refused_for_reading_and_writing(idx_dir: Path) -> None:
    damage_sqlite(idx_dir)
    before = folder_bytes(idx_dir)
    for opening in (lambda: ZhiceIndex.open(idx_dir),
                    lambda: ZhiceIndex.open(idx_dir, embedder="fake", create=True),
                    lambda: list_files(idx_dir)):
        with pytest.raises(IndexCorruptError) as e:
            opening()
        message = str(e.value)
        assert message.startswith(f"the index database in {idx_dir} is damaged (")
        assert message.endswith(
            f"); rebuild the index from the texts it stores with: zhice ingest --rebuild "
            f"--index {idx_dir} (or ingest the files again into a new --index DIR)")
        assert "\n" not in message
    assert folder_bytes(idx_dir) == before  # nothing was written into it


def test_damage_a_query_meets_is_our_error_not_sqlites(
        idx_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # past READ_CHECK_MAX_BYTES a reader does not check on open: a damaged text is
    # found by the query that reads it
    monkeypatch.setattr(index_module, "READ_CHECK_MAX_BYTES", 0)
    monkeypatch.setattr(catalog_module, "READ_CHECK_MAX_BYTES", 0)
    db = idx_dir / "zhice.sqlite3"
    text = chunked("32.txt", policy_text(32, marker=MARKER)).chunks[1].text
    assert MARKER in text
    word = MARKER.encode("utf-8")
    assert replace_in_pages(db, "chunks", word, b"\xff" + word[1:]) >= 1
    with ZhiceIndex.open(idx_dir) as index:
        hits = index.bm25_search(MARKER, 5)  # BM25 holds tokens, not the text
        with pytest.raises(IndexCorruptError, match="damaged .Could not decode to UTF-8"):
            index.chunks([cid for cid, _ in hits])


def test_a_database_whose_index_disagrees_with_its_table_is_refused_for_writing(
        idx_dir: Path) -> None:
    # a flipped byte in a record's indexed column: pages and records are sound, so
    # quick_check (a reader's) passes; integrity_check (a writer's) finds the index
    # entry without its row
    db = idx_dir / "zhice.sqlite3"
    assert replace_in_pages(db, "chunks", b"31.txt", b"39.txt") >= 1
    with ZhiceIndex.open(idx_dir) as index:
        assert len(index.files()) == 4
        with pytest.raises(IndexCorruptError, match="missing from index chunks_source"):
            with index.writing():
                pass
    with pytest.raises(IndexCorruptError, match="missing from index chunks_source"):
        ZhiceIndex.open(idx_dir, embedder="fake", create=True)


# --- a full disk --------------------------------------------------------------------------


def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC from os.write for the temporary files every search file is written
    through (atomic.py writes with os.write): the lowest level Python reaches."""
    real = os.write

    def write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)


def test_a_full_disk_while_saving_is_our_error_and_loses_nothing(
        idx_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = folder_bytes(idx_dir)
    full_disk(monkeypatch)
    index = ZhiceIndex.open(idx_dir)
    with pytest.raises(IndexStorageError) as e:
        with index.writing():
            add_text(index, "late.txt", policy_text(41, marker=MARKER))
    index.close()
    assert str(e.value) == (f"no space left on the disk holding {idx_dir}; free space and run "
                            "the command again: nothing stored was lost")
    after = folder_bytes(idx_dir)
    assert {k: v for k, v in after.items() if k != "zhice.sqlite3"} == {
        k: v for k, v in before.items() if k != "zhice.sqlite3"}  # the old files, whole
    assert not list(idx_dir.glob("*.tmp"))
    # still full: a reader repairs in memory, and its failing write is no error
    with ZhiceIndex.open(idx_dir) as index:
        assert bm25_sources(index, MARKER) == ["32.txt", "late.txt"]
    monkeypatch.undo()
    share_segmenter(monkeypatch)
    with ZhiceIndex.open(idx_dir) as index:  # space again: the repair is written
        assert [f.source for f in index.files()][-1] == "late.txt"
    assert len(assert_consistent(idx_dir)) == sum(
        len(chunked("x", policy_text(s)).chunks) for s in SEEDS) + len(
        chunked("x", policy_text(41, marker=MARKER)).chunks)


# --- read-only ----------------------------------------------------------------------------


def test_an_index_opened_read_only_is_searched_and_never_written(idx_dir: Path) -> None:
    # a commit whose search files were never saved: a writable reader would repair them
    with ZhiceIndex.open(idx_dir) as index:
        add_text(index, "late.txt", policy_text(42, marker=MARKER))
    (idx_dir / "write.lock").unlink()
    before = folder_bytes(idx_dir)
    with ZhiceIndex.open(idx_dir, read_only=True) as index:
        assert index.read_only
        assert bm25_sources(index, MARKER) == ["32.txt", "late.txt"]  # repaired in memory
        with pytest.raises(IndexReadOnlyError) as e:
            with index.writing():
                pass
        assert str(e.value) == (
            f"the index folder {idx_dir} is read-only: it can be searched but not changed; "
            "copy it somewhere writable, or make it writable, to ingest or remove documents")
        with pytest.raises(IndexReadOnlyError):
            index.remove("31.txt")  # SQLite itself refuses, in our words
    # SQLite may add its readers' -wal and -shm (a concurrent writer needs them): all
    # else is as it was, and no lock file was made
    after = folder_bytes(idx_dir)
    assert {k: v for k, v in after.items() if not k.endswith(("-wal", "-shm"))} == before
