"""The Milvus writer: batches committed by one state write, df buckets that follow each
commit, what an interrupted writer leaves, one writer at a time, and a server's lease
(on Milvus Lite's meta collection, with a clock the test moves)."""

import subprocess
import sys
from collections import Counter

import pytest

pytest.importorskip("milvus_lite")

import zhice.index.milvus as milvus_module  # noqa: E402
from tests.index.test_index import MARKER, policy_text, share_segmenter  # noqa: E402
from tests.index.test_milvus import make_docs  # noqa: E402
from zhice.index.errors import IndexBusyError  # noqa: E402
from zhice.index.milvus_lease import LEASE_S, LEASE_SETTLE_S, ServerLease  # noqa: E402
from zhice.index.milvus_store import MilvusStore  # noqa: E402
from zhice.index.pipeline import index_files  # noqa: E402
from zhice.index.stores import open_index  # noqa: E402


@pytest.fixture(autouse=True)
def _fast_segmenter(monkeypatch: pytest.MonkeyPatch) -> None:
    share_segmenter(monkeypatch)


def true_df(index) -> Counter:
    """How many visible chunks hold each token, counted from the chunks themselves."""
    return Counter(t for f in index.files() for s in index.document_chunks(f.source)
                   for t in {t for line in s.lines for t in line})


def assert_df(index, words) -> None:
    counted = true_df(index)
    assert {t: index.df(t) for t in words} == {t: counted[t] for t in words}


def leftovers(index) -> dict:
    """What a settled index holds besides its visible rows: none of it."""
    m = index.milvus
    state = m.get_meta("state")
    rows = {name: m.client.query(name, filter=f"version > {state['through']}",
                                 output_fields=["version"])
            for name in (m.chunks_name, m.texts_name, m.files_name)}
    df = m.client.query(m.df_name, filter=f"batch > {state['through']}",
                        output_fields=["bucket"])
    return {"hidden": state["hidden"], "open": state["open"], "df": df,
            **{k: v for k, v in rows.items() if v}}


SETTLED = {"hidden": [], "open": None, "df": []}


def stop_after(monkeypatch, method: str) -> None:
    """MilvusStore.`method` does its work, then the writer stops: as if killed there."""
    real = getattr(MilvusStore, method)

    def then_stop(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(MilvusStore, method, then_stop)


def change_and_stop(tmp_path, monkeypatch, method: str):
    """An index of four files; then one is replaced and one removed in one batch, and
    the writer stops after `method`. The index, and every token seen, are returned."""
    docs = make_docs(tmp_path, n=4)
    index = open_index(f"milvus:{tmp_path / 'd.db'}", embedder="fake", create=True)
    index_files(index, [docs])
    words = set(true_df(index)) | {"不在其中"}
    (docs / "01_规划.txt").write_text(policy_text(77, marker=MARKER) + "第二版。\n",
                                      encoding="utf-8")
    stop_after(monkeypatch, method)
    with pytest.raises(KeyboardInterrupt), index.writing():
        index_files(index, [docs / "01_规划.txt"])
        index.remove("02_规划.txt")
    monkeypatch.undo()
    share_segmenter(monkeypatch)
    return index, words


def test_a_writer_stopped_past_its_commit_point_shows_the_batch(tmp_path, monkeypatch):
    """Stopped before deleting the replaced rows: a reader sees the new files, and
    every df as their chunks give it; the next writer deletes the replaced rows."""
    index, words = change_and_stop(tmp_path, monkeypatch, "delete_versions")
    with index:
        assert index.milvus.get_meta("state")["hidden"]  # committed, not settled
        reader = open_index(index.location)  # another reader of the file (same process)
        try:
            assert sorted(f.source for f in reader.files()) == [
                "00_规划.txt", "01_规划.txt", "03_规划.txt"]
            assert "第二版" in reader.file_text("01_规划.txt")
            words |= {t for s in reader.document_chunks("01_规划.txt") for line in s.lines
                      for t in line}  # the new version's (第二, 版), the old's (words)
            assert reader.df("第二") == 1
            assert_df(reader, words)
            assert len(reader) == sum(f.chunks for f in reader.files())
            with index.writing():  # the next writer settles what was left
                pass
            reader.refresh()
            assert_df(reader, words)
            assert leftovers(reader) == SETTLED
            m = reader.milvus
            assert not m.client.query(m.chunks_name, filter='source == "02_规划.txt"',
                                      output_fields=["id"])
        finally:
            reader.close()


def test_a_writer_stopped_before_its_commit_point_changes_nothing(tmp_path, monkeypatch):
    """Stopped with the batch's rows and df buckets written, its state not: a reader
    sees the files and every df as they were; the next writer takes it all back."""
    docs = make_docs(tmp_path, n=4)
    with open_index(f"milvus:{tmp_path / 'r.db'}", embedder="fake", create=True) as index:
        index_files(index, [docs])
        before = {f.source: f.sha256 for f in index.files()}
    index, words = change_and_stop(tmp_path / "2", monkeypatch, "write_df")
    with index:
        assert index.milvus.get_meta("state")["open"] is not None
        index.refresh()
        assert {f.source: f.sha256 for f in index.files()} == before
        assert "第二版" not in index.file_text("01_规划.txt")
        assert index.df("第二") == 0
        assert_df(index, words)
        with index.writing():  # takes back the rows past `through`, the df buckets' after
            pass
        assert leftovers(index) == SETTLED
        assert_df(index, words)
        assert {f.source: f.sha256 for f in index.files()} == before


def test_files_added_whole_before_an_error_are_kept(tmp_path):
    """As the embedded store commits file by file, the files of a batch added before an
    error in the next one go in."""
    docs = make_docs(tmp_path, n=3)
    with open_index(f"milvus:{tmp_path / 'e.db'}", embedder="fake", create=True) as index:
        with pytest.raises(RuntimeError, match="in the middle"), index.writing():
            index_files(index, [docs / "00_规划.txt", docs / "01_规划.txt"])
            raise RuntimeError("in the middle")
        assert [f.source for f in index.files()] == ["00_规划.txt", "01_规划.txt"]
        assert leftovers(index) == SETTLED


def test_batches_commit_as_they_fill(tmp_path, monkeypatch):
    monkeypatch.setattr(milvus_module, "BATCH_FILES", 3)
    docs = make_docs(tmp_path, n=8)
    seen = []
    with open_index(f"milvus:{tmp_path / 'b.db'}", embedder="fake", create=True) as index:
        reader = open_index(f"milvus:{tmp_path / 'b.db'}")
        try:
            def progress(source, result) -> None:
                reader.refresh()
                seen.append(len(reader.files()))

            index_files(index, [docs], progress)
        finally:
            reader.close()
        assert seen == [0, 0, 0, 3, 3, 3, 6, 6]  # a batch is committed when the next needs room
        assert len(index.files()) == 8 and leftovers(index) == SETTLED


def test_a_second_writer_in_this_process_is_busy(tmp_path):
    where = f"milvus:{tmp_path / 'w.db'}"
    with open_index(where, embedder="fake", create=True) as a, open_index(where) as b:
        with a.writing():
            with pytest.raises(IndexBusyError, match="another writer of this process") as e:
                with b.writing():
                    pass
            assert "\n" not in str(e.value)
        with b.writing():  # free again
            pass


HOLD = """
import sys
from zhice.index.stores import open_index
index = open_index(sys.argv[1])
print("open", flush=True)
sys.stdin.read()
"""


def test_a_second_process_on_a_lite_file_is_one_line(tmp_path, capsys):
    """Milvus Lite serves one process: `zhice ingest` (or any command) beside another
    process that has the file open is told so in one line, exit 2, and nothing changes."""
    from zhice.assistant.cli import main

    docs = make_docs(tmp_path, n=2)
    where = f"milvus:{tmp_path / 'p.db'}"
    assert main(["ingest", str(docs), "--index", where, "--embedder", "fake"]) == 0
    capsys.readouterr()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, where], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "open\n"
        (docs / "00_规划.txt").write_text(policy_text(5), encoding="utf-8")
        for argv in (["ingest", str(docs)], ["remove", "00_规划.txt"], ["list"]):
            assert main([*argv, "--index", where]) == 2
            out, err = capsys.readouterr()
            assert out == "" and err.count("\n") == 1, err
            assert f"another process has {where} open" in err
    finally:
        holder.communicate("", timeout=60)
    assert main(["list", "--index", where]) == 0
    assert "2 documents" in capsys.readouterr().out


class Clock:
    """Wall and monotonic time that move only when told (sleep moves both)."""

    def __init__(self):
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def lease(store: MilvusStore, owner: str, clock: Clock) -> ServerLease:
    return ServerLease(store, owner, clock.time, clock.time, clock.sleep)


def test_a_server_lease_lets_one_writer_on_at_a_time(tmp_path):
    """The server's lease, run against Milvus Lite's meta collection."""
    with open_index(f"milvus:{tmp_path / 'l.db'}", embedder="fake", create=True) as index:
        store, clock = index.milvus, Clock()
        a = lease(store, "hosta:1:1", clock).take()
        with pytest.raises(IndexBusyError, match=r"another zhice process \(hosta:1\) is "
                                                 "writing .*; wait for it to finish"):
            lease(store, "hostb:2:1", clock).take()
        a.check()  # still a's
        clock.sleep(LEASE_S / 2)
        a.check()  # renewed: a quarter of the lease had passed
        assert store.get_meta("writer")["until"] == clock.now + LEASE_S
        clock.sleep(LEASE_S + 1)  # a went quiet past its lease: b may take it
        b = lease(store, "hostb:2:1", clock).take()
        with pytest.raises(IndexBusyError, match="lost its lease and stopped"):
            a.check()
        a.release()  # not a's to release
        assert store.get_meta("writer")["owner"] == "hostb:2:1"
        b.release()
        assert store.get_meta("writer") is None


def test_a_lease_taken_too_slowly_or_overwritten_is_given_up(tmp_path):
    with open_index(f"milvus:{tmp_path / 's.db'}", embedder="fake", create=True) as index:
        store, clock = index.milvus, Clock()
        slow = lease(store, "slow:1:1", clock)
        real_put = store.put_meta

        def put_late(key, value):  # the write of the lease arrives late
            clock.sleep(LEASE_SETTLE_S)
            real_put(key, value)

        store.put_meta = put_late
        try:
            with pytest.raises(IndexBusyError, match="too slowly"):
                slow.take()
        finally:
            store.put_meta = real_put
        assert store.get_meta("writer") is None  # given back

        # two writers that both found no lease: the one whose row stood is the one on
        first = lease(store, "one:1:1", clock)
        second = lease(store, "two:2:1", clock)

        def other_writes(seconds):  # while `first` waits, `second` writes its lease
            second._write()
            clock.sleep(seconds)

        first.sleep = other_writes
        with pytest.raises(IndexBusyError, match=r"\(two:2\)"):
            first.take()
        assert store.get_meta("writer")["owner"] == "two:2:1"
