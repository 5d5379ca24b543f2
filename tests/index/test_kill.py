"""An ingest killed with SIGKILL at a random point leaves an index that opens consistent,
and the next ingest finishes the job exactly as one clean run would have."""

import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.index.slow_ingest import start_ingest
from tests.index.test_index import assert_consistent, policy_text, share_segmenter
from zhice.index.errors import IndexNotFoundError
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files

N_FILES = 30
ROUNDS = 3
KILLS = 2


@pytest.fixture(autouse=True)
def _fast_segmenter(monkeypatch: pytest.MonkeyPatch) -> None:
    share_segmenter(monkeypatch)


def make_corpus(root: Path) -> list[str]:
    """30 Chinese documents of 2 to 6 paragraphs; the last two repeat earlier ones, so
    duplicates across files are folded (and must come out the same after kills)."""
    rng = random.Random(7)
    root.mkdir()
    names = []
    for i in range(N_FILES):
        name = f"{i:02d}_通知.txt"
        text = policy_text(100 + i, paragraphs=rng.randint(2, 6))
        if i == N_FILES - 2:
            text = (root / names[5]).read_text(encoding="utf-8")
        if i == N_FILES - 1:
            text = (root / names[11]).read_text(encoding="utf-8")
        (root / name).write_text(text, encoding="utf-8")
        names.append(name)
    return names


def state(idx: Path) -> dict[str, tuple]:
    """Per source: (sha256, title, chunk texts in order, duplicate texts in order)."""
    db = sqlite3.connect(idx / "zhice.sqlite3")
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'files'").fetchone():
            return {}  # killed before the schema was written
        out = {}
        for source, sha, title in db.execute("SELECT source, sha256, title FROM files"):
            chunks = [
                t
                for (t,) in db.execute(
                    "SELECT text FROM chunks WHERE source = ? ORDER BY ordinal", (source,)
                )
            ]
            dups = [
                t
                for (t,) in db.execute(
                    "SELECT text FROM duplicates WHERE source = ? ORDER BY kind, ordinal, start",
                    (source,),
                )
            ]
            out[source] = (sha, title, chunks, dups)
        return out
    finally:
        db.close()


@pytest.mark.slow
def test_ingest_killed_at_random_points_recovers(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    names = make_corpus(docs)

    # the reference: one clean run, timed from "ready" to its end
    ref = tmp_path / "ref"
    started = time.perf_counter()
    proc = start_ingest(docs, ref)
    out, err = proc.communicate(timeout=60)
    duration = time.perf_counter() - started
    assert (proc.returncode, err) == (0, ""), err
    assert f"{N_FILES} files: {N_FILES} added," in out
    expected = state(ref)
    assert sorted(expected) == names
    assert sum(len(v[3]) for v in expected.values()) > 0  # the copies were folded
    n_chunks = sum(len(v[2]) for v in expected.values())

    rng = random.Random(20240601)
    landed = []
    for round_ in range(ROUNDS):
        idx = tmp_path / f"idx{round_}"
        # two kills on each index: the second run resumes what the first left behind
        for kill in range(KILLS):
            delay = rng.uniform(0.05, duration)
            where = f"round {round_}, kill {kill}, after {delay:.2f} s"
            proc = start_ingest(docs, idx)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)  # does nothing if it has already finished
            proc.communicate(timeout=60)
            assert proc.returncode in (-signal.SIGKILL, 0), (where, proc.returncode)
            try:
                index = ZhiceIndex.open(idx)  # the recorded embedder, as `zhice ask` opens it
            except IndexNotFoundError:
                # killed before the index recorded its embedder: there is none yet
                assert not (idx / "zhice.sqlite3").exists() or not state(idx), where
                landed.append(None)
                continue
            with index:
                assert index.embedder.name == "fake-64"
                have = state(idx)
                landed.append(len(have))
                # every file went in whole or not at all, in the order of the walk
                assert sorted(have) == names[: len(have)], where
                assert have == {s: expected[s] for s in have}, where
                assert len(index) == sum(len(v[2]) for v in have.values()), where
            assert_consistent(idx)

        # the following ingest finishes the job
        with ZhiceIndex.open(idx, embedder="fake", create=True) as index:
            have = state(idx)
            summary = index_files(index, [docs])
            assert (summary.added, summary.unchanged, summary.updated) == (
                N_FILES - len(have),
                len(have),
                0,
            )
            assert summary.failures == []
        assert state(idx) == expected
        with ZhiceIndex.open(idx) as index:
            assert [f.source for f in index.files()] == names
            assert len(index) == n_chunks
        assert len(assert_consistent(idx)) == n_chunks
    print(f"ingest {duration:.2f} s, {n_chunks} chunks; files in after each kill: {landed}")
