"""The command line on damaged or unusual index folders: flipped bytes, a full disk, a
read-only folder. Every case ends in output a user can act on and the exit code that
goes with it, never a traceback; `zhice ingest --rebuild` makes the index again.

A full disk and a read-only folder are real where the kernel lets an unprivileged
process make them (a tmpfs, a read-only bind mount, in a user and mount namespace of
its own: root too sees them as such); the full disk is also simulated in-process."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.index.test_damage import damage_sqlite, flip_bytes, folder_bytes, full_disk
from tests.index.test_index import assert_consistent, share_segmenter
from zhice.assistant.cli import main

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO / "corpus"
QUESTION = "首批示范区有多少个？"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """The bundled corpus: first/ holds two of its files, all/ the five."""
    root = tmp_path / "docs"
    shutil.copytree(CORPUS, root / "all", ignore=shutil.ignore_patterns("README*"))
    (root / "first").mkdir()
    for f in sorted((root / "all").iterdir())[:2]:
        shutil.copy(f, root / "first")
    return root


@pytest.fixture
def idx(tmp_path: Path, docs: Path, capsys) -> Path:
    where = tmp_path / "idx"
    assert run(capsys, "ingest", docs / "all", "--index", where, "--embedder", "fake")[0] == 0
    return where


def run(capsys: pytest.CaptureFixture, *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def answer_of(out: str) -> dict:
    """`zhice ask --json`'s result without its latency."""
    answer = json.loads(out)
    answer.pop("latency_ms")
    return answer


def one_line(err: str) -> str:
    """stderr that is one `zhice: ...` line: its text."""
    assert err.startswith("zhice: ") and err.count("\n") == 1 and err.endswith("\n"), err
    return err[len("zhice: "):-1]


# --- flipped bytes -------------------------------------------------------------------------


def test_a_damaged_database_is_one_line_and_exit_2_for_every_command(capsys, idx, docs) -> None:
    damage_sqlite(idx)
    before = folder_bytes(idx)
    refused = (f"the index database in {idx} is damaged (", "); rebuild the index from the "
               f"texts it stores with: zhice ingest --rebuild --index {idx} (or ingest the "
               "files again into a new --index DIR)")
    for argv in (["list"], ["list", "--json"], ["ask", QUESTION], ["ingest", docs / "all"],
                 ["remove", "000_1f01759c0709e46e.txt"]):
        code, out, err = run(capsys, *argv, "--index", idx)
        assert (code, out) == (2, ""), argv
        assert one_line(err).startswith(refused[0]) and err.endswith(refused[1] + "\n"), argv
    assert folder_bytes(idx) == before
    # what the damaged database still holds, made into a new index (the flips may have
    # hit the record of the embedder: it is named)
    code, out, err = run(capsys, "ingest", "--rebuild", "--index", idx, "--embedder", "fake")
    assert code == 2  # not everything could be recovered
    lines = err.splitlines()
    assert lines[-1] == (f"zhice: the old index is kept at {idx.parent / 'idx.damaged'}; "
                         "delete it when done with it")
    assert all(line.startswith("zhice: could not recover ") for line in lines[:-1])
    assert out.startswith(f"rebuilt {idx} from its stored texts: ")
    code, out, err = run(capsys, "list", "--index", idx)
    assert (code, err) == (0, "")
    assert_consistent(idx)


def test_flipped_bytes_in_the_dense_file_change_no_answer(capsys, idx) -> None:
    code, asked, _ = run(capsys, "ask", QUESTION, "--index", idx, "--json")
    assert code == 0
    flip_bytes(idx / "dense.faiss", 50, seed=3, start=64)
    code, out, err = run(capsys, "ask", QUESTION, "--index", idx, "--json")
    assert (code, err) == (0, "")
    assert answer_of(out) == answer_of(asked)
    assert_consistent(idx)


def test_rebuild_of_a_sound_index_gives_the_same_answers(capsys, idx, tmp_path) -> None:
    code, asked, _ = run(capsys, "ask", QUESTION, "--index", idx, "--json")
    listed = run(capsys, "list", "--index", idx)
    code, out, err = run(capsys, "ingest", "--rebuild", "--index", idx)
    assert (code, err) == (0, "")
    assert out.startswith(f"rebuilt {idx} from its stored texts: 5 documents, 100 chunks "
                          "indexed, 4 duplicates folded, 0 could not be recovered, in ")
    assert run(capsys, "list", "--index", idx) == listed
    code, out, _ = run(capsys, "ask", QUESTION, "--index", idx, "--json")
    assert (code, answer_of(out)) == (0, answer_of(asked))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "idx"]  # nothing left


def test_rebuild_chunks_as_the_ingest_did(capsys, tmp_path, docs) -> None:
    idx = tmp_path / "idx"
    code, out, _ = run(capsys, "ingest", docs / "all", "--index", idx, "--embedder", "fake",
                       "--chunk-size", "150", "--overlap", "0")
    chunks = out.split("; ")[1].split(" chunks")[0]
    listed = run(capsys, "list", "--index", idx)
    code, out, err = run(capsys, "ingest", "--rebuild", "--index", idx)
    assert (code, err) == (0, "")
    assert f", {chunks} chunks indexed," in out
    assert run(capsys, "list", "--index", idx) == listed


def test_rebuild_takes_no_paths_and_checks_the_chunk_size(capsys, idx, docs) -> None:
    for argv, message in (
            (["ingest", docs, "--rebuild"], "argument --rebuild: not allowed with argument PATH"),
            (["ingest"], "one of the arguments PATH --rebuild is required")):
        with pytest.raises(SystemExit) as e:
            main([str(a) for a in argv])
        assert e.value.code == 2
        assert one_line(capsys.readouterr().err) == f"{message}; see: zhice ingest --help"
    code, out, err = run(capsys, "ingest", "--rebuild", "--index", idx, "--chunk-size", "60")
    assert (code, out) == (2, "")
    assert one_line(err) == "need 0 <= --overlap < --chunk-size <= 4000; got --overlap 80, " \
                            "--chunk-size 60"
    where = idx.parent / "nowhere"
    code, out, err = run(capsys, "ingest", "--rebuild", "--index", where)
    assert one_line(err) == (f"no index at {where} to rebuild; build one with: zhice ingest "
                             f"PATH --index {where}")


# --- a full disk ---------------------------------------------------------------------------


def test_a_full_disk_during_ingest_is_one_line_and_loses_nothing(
        capsys, tmp_path, docs, monkeypatch: pytest.MonkeyPatch) -> None:
    idx = tmp_path / "idx"
    assert run(capsys, "ingest", docs / "first", "--index", idx, "--embedder", "fake")[0] == 0
    full_disk(monkeypatch)  # ENOSPC from os.write, for the search files
    code, out, err = run(capsys, "ingest", docs / "all", "--index", idx)
    assert (code, out) == (2, "")
    assert one_line(err) == (f"no space left on the disk holding {idx}; free space and run "
                             "the command again: nothing stored was lost")
    # still full: reading needs no write, and says what SQLite committed
    code, listed, err = run(capsys, "list", "--index", idx)
    assert (code, err) == (0, "")
    assert listed.endswith("5 documents, 100 chunks\n")
    code, asked, err = run(capsys, "ask", QUESTION, "--index", idx, "--json")
    assert (code, err) == (0, "")
    monkeypatch.undo()
    share_segmenter(monkeypatch)
    assert run(capsys, "list", "--index", idx) == (0, listed, "")
    code, out, err = run(capsys, "ask", QUESTION, "--index", idx, "--json")
    assert (code, answer_of(out), err) == (0, answer_of(asked), "")
    assert len(assert_consistent(idx)) == 100  # the first open with space saved the repair


# --- real full disk and read-only folder, in a namespace of their own -----------------------

STEPS = """
import contextlib, io, json, sys
import zhice.index.index as index_module
from zhice.index.segment import ChineseSegmenter
from zhice.assistant.cli import main

shared = ChineseSegmenter().load()
index_module.ChineseSegmenter = lambda: shared
results = []
for step in json.loads(sys.argv[1]):
    if isinstance(step, str):  # a Python statement
        exec(step)
        continue
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(step)
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def in_namespace(mounts: str, steps: list) -> list[tuple[int, str, str]]:
    """Run steps (CLI argv lists, or Python statements) as root of a new user and mount
    namespace, after the shell commands `mounts`: the results of the argv steps."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("no unprivileged user and mount namespaces here")
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f'{mounts} && exec "$0" -c "$1" "$2"',
         sys.executable, STEPS, json.dumps([s if isinstance(s, str) else list(map(str, s))
                                            for s in steps])],
        capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    return [tuple(r) for r in json.loads(done.stdout)]


@pytest.mark.slow
def test_a_really_full_disk(tmp_path, docs) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    idx = disk / "idx"

    def fill(name: str, leave: int) -> str:
        return (f"import os; s = os.statvfs({str(disk)!r}); f = open({str(disk / name)!r}, "
                f"'wb'); f.write(b'0' * max(0, s.f_bavail * s.f_frsize - {leave})); f.close()")

    (first, full, listed, asked, listed_full, asked_full, ingest_full, remove_full,
     listed_later, asked_later, again) = in_namespace(
        f"mount -t tmpfs -o size=3m tmpfs {disk}",
        [["ingest", docs / "first", "--index", idx, "--embedder", "fake"],
         fill("filler", 300 * 1024),  # room for SQLite's commit, not for the search files
         ["ingest", docs / "all", "--index", idx],
         ["list", "--index", idx],
         ["ask", QUESTION, "--index", idx, "--json"],
         fill("filler2", 0),  # not a byte left: SQLite cannot even make its -shm file
         ["list", "--index", idx],
         ["ask", QUESTION, "--index", idx, "--json"],
         ["ingest", docs / "all", "--index", idx],
         ["remove", "000_1f01759c0709e46e.txt", "--index", idx],
         f"os.remove({str(disk / 'filler')!r}); os.remove({str(disk / 'filler2')!r})",
         ["list", "--index", idx],
         ["ask", QUESTION, "--index", idx, "--json"],
         ["ingest", docs / "all", "--index", idx],
         "from tests.index.test_index import assert_consistent; from pathlib import Path; "
         f"assert_consistent(Path({str(idx)!r}))"])
    no_space = (f"no space left on the disk holding {idx}; free space and run the command "
                "again: nothing stored was lost")
    assert first[0] == 0
    for failed in (full, ingest_full, remove_full):
        assert failed[:2] == (2, "") and one_line(failed[2]) == no_space
    assert listed[0] == asked[0] == 0 and listed[2] == asked[2] == ""
    for later in ((listed_full, asked_full), (listed_later, asked_later)):
        assert later[0] == listed
        assert later[1][0] == 0 and answer_of(later[1][1]) == answer_of(asked[1])
    assert again[0] == 0 and again[1].startswith(f"ingested into {idx}: 5 files: ")


def test_a_read_only_folder_is_searched_and_changes_are_refused(capsys, idx, docs) -> None:
    listed = run(capsys, "list", "--index", idx)
    asked = run(capsys, "ask", QUESTION, "--index", idx, "--json")
    before = folder_bytes(idx)
    refused = (f"the index folder {idx} is read-only: it can be searched but not changed; "
               "copy it somewhere writable, or make it writable, to ingest or remove documents")
    steps = [["list", "--index", idx], ["ask", QUESTION, "--index", idx, "--json"],
             ["ingest", docs / "all", "--index", idx],
             ["remove", "000_1f01759c0709e46e.txt", "--index", idx],
             ["ingest", "--rebuild", "--index", idx]]
    if os.geteuid() == 0:  # chmod does not stop root: a read-only bind mount does
        results = in_namespace(
            f"mount --bind {idx} {idx} && mount -o remount,ro,bind {idx} {idx}", steps)
    else:
        for path in (idx, *idx.iterdir()):
            path.chmod(path.stat().st_mode & ~0o222)
        try:
            results = [run(capsys, *step) for step in steps]
        finally:
            for path in (idx, *idx.iterdir()):
                path.chmod(path.stat().st_mode | 0o200)
    assert results[0] == listed
    assert results[1][0] == 0 and answer_of(results[1][1]) == answer_of(asked[1])
    for code, out, err in results[2:]:
        assert (code, out) == (2, "")
        assert one_line(err) == refused
    assert folder_bytes(idx) == before
