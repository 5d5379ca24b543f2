"""`zhice ingest`, `zhice remove`, `zhice list`: exit codes and exact output."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.index.test_index import assert_consistent, policy_text
from zhice.assistant.cli import main
from zhice.index.index import ZhiceIndex
from zhice.ingest.chunker import chunk_document
from zhice.ingest.loaders import load

SUPPORTED = ".txt, .md, .markdown, .html, .htm, .pdf, .docx, .png, .jpg, .jpeg"
# the console script installed beside the interpreter running the tests (any venv)
ZHICE = Path(sys.executable).parent / "zhice"
SUMMARY = re.compile(
    r"(\d+) files: (\d+) added, (\d+) updated, (\d+) unchanged, (\d+) failed; (\d+) chunks "
    r"indexed, (\d+) duplicates folded, in \d+\.\d s"
)
TITLES = {
    "a.txt": policy_text(1).split("\n")[0],
    "b.md": "关于产业转型的意见",
    # a page without <main>: its first line reads as a title, the <title> names the site
    "d.html": policy_text(4).split("\n")[0],
    "sub/c.txt": policy_text(3).split("\n")[0],
}


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """Four good documents and one empty file: five files, one of which fails."""
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text(policy_text(1), encoding="utf-8")
    (root / "b.md").write_text("# 关于产业转型的意见\n\n" + policy_text(2), encoding="utf-8")
    (root / "sub" / "c.txt").write_text(policy_text(3), encoding="utf-8")
    (root / "d.html").write_text(
        "<html><head><title>城市更新 - 某市政府</title></head><body>"
        + "".join(f"<p>{p}</p>" for p in policy_text(4).split("\n"))
        + "</body></html>",
        encoding="utf-8",
    )
    (root / "empty.txt").write_bytes(b"")
    return root


@pytest.fixture
def idx(tmp_path: Path) -> Path:
    return tmp_path / "idx"


def chunks_of(docs: Path, source: str, size: int = 400, overlap: int = 80) -> int:
    return len(chunk_document(load(docs / source, source), size, overlap).chunks)


def run(capsys: pytest.CaptureFixture, *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def ingested(capsys, docs: Path, idx: Path) -> None:
    code, _, _ = run(capsys, "ingest", docs, "--index", idx, "--embedder", "fake")
    assert code == 2  # empty.txt


# --- ingest -------------------------------------------------------------------------


def test_ingest_reports_the_failed_file_and_exits_2(capsys, docs: Path, idx: Path) -> None:
    code, out, err = run(capsys, "ingest", docs, "--index", idx, "--embedder", "fake")
    assert code == 2
    total = sum(chunks_of(docs, s) for s in TITLES)
    prefix = f"ingested into {idx}: "
    assert out.startswith(prefix) and out.endswith("\n") and out.count("\n") == 1
    assert SUMMARY.fullmatch(out[len(prefix) : -1]).groups() == (
        "5",
        "4",
        "0",
        "0",
        "1",
        str(total),
        "0",
    )
    assert err == "zhice: skipped empty.txt: empty file (0 bytes); add text to it or leave it out\n"
    assert_consistent(idx)


def test_second_ingest_of_unchanged_files_finds_them_unchanged(
    capsys, docs: Path, idx: Path
) -> None:
    ingested(capsys, docs, idx)
    (docs / "empty.txt").unlink()
    # no --embedder: the index's own (fake) is used, not the default model
    code, out, err = run(capsys, "ingest", docs, "--index", idx)
    assert (code, err) == (0, "")
    assert SUMMARY.fullmatch(out.removeprefix(f"ingested into {idx}: ").strip()).groups() == (
        "4",
        "0",
        "0",
        "4",
        "0",
        "0",
        "0",
    )


def test_changed_file_is_updated(capsys, docs: Path, idx: Path) -> None:
    ingested(capsys, docs, idx)
    (docs / "a.txt").write_text(policy_text(9), encoding="utf-8")
    code, out, err = run(capsys, "ingest", docs / "a.txt", "--index", idx)
    assert (code, err) == (0, "")
    assert SUMMARY.fullmatch(out.removeprefix(f"ingested into {idx}: ").strip()).groups() == (
        "1",
        "0",
        "1",
        "0",
        "0",
        str(chunks_of(docs, "a.txt")),
        "0",
    )
    assert_consistent(idx)


def test_every_bad_input_is_named_on_stderr(capsys, docs: Path, idx: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.xyz").write_text("一些笔记。", encoding="utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\ngarbage")
    missing = tmp_path / "missing.txt"
    code, out, err = run(
        capsys,
        "ingest",
        docs / "a.txt",
        tmp_path / "notes.xyz",
        tmp_path / "broken.pdf",
        missing,
        "--index",
        idx,
        "--embedder",
        "fake",
    )
    assert code == 2
    assert SUMMARY.fullmatch(out.removeprefix(f"ingested into {idx}: ").strip()).groups()[:5] == (
        "4",
        "1",
        "0",
        "0",
        "3",
    )
    lines = err.splitlines()
    assert len(lines) == 3
    assert lines[0] == f"zhice: skipped {missing}: no such file or folder"
    assert lines[1] == (
        f"zhice: skipped notes.xyz: unsupported format '.xyz'; zhice reads {SUPPORTED}"
    )
    assert lines[2].startswith(
        "zhice: skipped broken.pdf: cannot read this PDF file, it may be corrupt ("
    )


@pytest.mark.parametrize(
    "options",
    [
        ["--chunk-size", "10"],
        ["--chunk-size", "4001"],
        ["--overlap", "-1"],
        ["--overlap", "400"],
        ["--chunk-size", "100", "--overlap", "100"],
    ],
)
def test_bad_chunk_size_or_overlap_exits_2_before_touching_anything(
    capsys, docs: Path, idx: Path, options: list[str]
) -> None:
    code, out, err = run(capsys, "ingest", docs, "--index", idx, "--embedder", "fake", *options)
    size = options[options.index("--chunk-size") + 1] if "--chunk-size" in options else "400"
    overlap = options[options.index("--overlap") + 1] if "--overlap" in options else "80"
    assert (code, out) == (2, "")
    assert err == (
        "zhice: need 0 <= --overlap < --chunk-size <= 4000; "
        f"got --overlap {overlap}, --chunk-size {size}\n"
    )
    assert not idx.exists()


def test_chunk_size_is_used(capsys, docs: Path, idx: Path) -> None:
    code, out, _ = run(
        capsys,
        "ingest",
        docs / "a.txt",
        "--index",
        idx,
        "--embedder",
        "fake",
        "--chunk-size",
        "120",
        "--overlap",
        "0",
    )
    assert code == 0
    n = chunks_of(docs, "a.txt", 120, 0)
    assert n > chunks_of(docs, "a.txt")
    assert SUMMARY.fullmatch(out.removeprefix(f"ingested into {idx}: ").strip()).group(6) == str(n)


def test_a_chunk_size_that_is_not_a_number_is_a_usage_error(capsys, docs: Path, idx: Path) -> None:
    with pytest.raises(SystemExit) as e:
        main(["ingest", str(docs), "--index", str(idx), "--chunk-size", "many"])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        "zhice: argument --chunk-size: invalid int value: 'many'; see: zhice ingest --help\n"
    )
    assert not idx.exists()


def test_missing_arguments_are_usage_errors(capsys) -> None:
    for argv in ([], ["ingest"], ["remove"], ["frobnicate"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("zhice: ") and err.count("\n") == 1, err


def test_another_embedder_than_the_index_has_is_refused(capsys, docs: Path, idx: Path) -> None:
    ingested(capsys, docs, idx)
    code, out, err = run(capsys, "ingest", docs, "--index", idx, "--embedder", "fake:32")
    assert (code, out) == (2, "")
    assert err == (
        f"zhice: index at {idx} was built with embedder 'fake-64', not 'fake-32'; "
        "leave out --embedder to use 'fake-64', or use a new --index DIR\n"
    )


def test_unknown_embedder_exits_2_and_leaves_no_index(capsys, docs: Path, idx: Path) -> None:
    code, out, err = run(capsys, "ingest", docs, "--index", idx, "--embedder", "bogus")
    assert (code, out) == (2, "")
    assert err.startswith("zhice: unknown embedder 'bogus'; use one of: e5-small")
    assert err.count("\n") == 1
    code, _, err = run(capsys, "list", "--index", idx)
    assert code == 2 and err.startswith(f"zhice: no index at {idx};")


def test_a_busy_index_is_reported(capsys, docs: Path, idx: Path) -> None:
    ingested(capsys, docs, idx)
    with ZhiceIndex.open(idx) as other, other.writing():
        code, out, err = run(capsys, "remove", "a.txt", "--index", idx)
    assert (code, out) == (2, "")
    assert err == f"zhice: another zhice process is writing to {idx}; wait for it to finish\n"


# --- list ----------------------------------------------------------------------------


def test_list_shows_documents_and_chunk_counts(capsys, docs: Path, idx: Path) -> None:
    ingested(capsys, docs, idx)
    n = {s: chunks_of(docs, s) for s in TITLES}
    code, out, err = run(capsys, "list", "--index", idx)
    assert (code, err) == (0, "")
    assert out == (
        f"a.txt      {n['a.txt']:>5} chunks  {TITLES['a.txt']}\n"
        f"b.md       {n['b.md']:>5} chunks  关于产业转型的意见\n"
        f"d.html     {n['d.html']:>5} chunks  {TITLES['d.html']}\n"
        f"sub/c.txt  {n['sub/c.txt']:>5} chunks  {TITLES['sub/c.txt']}\n"
        f"4 documents, {sum(n.values())} chunks\n"
    )


def test_list_json_has_every_field(capsys, docs: Path, idx: Path) -> None:
    ingested(capsys, docs, idx)
    code, out, err = run(capsys, "list", "--index", idx, "--json")
    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    assert "关于" in out  # ensure_ascii=False: Chinese as is
    records = json.loads(out)
    stamps = [r.pop("ingested_at") for r in records]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", s) for s in stamps)
    facts = [r.pop("facts") for r in records]  # what each states (ingest/facts.py)
    assert [f["title"] for f in facts] == [TITLES[s] for s in sorted(TITLES)]
    assert records == [
        {
            "source": s,
            "title": TITLES[s],
            "chunks": chunks_of(docs, s),
            "duplicates": 0,
            "sha256": hashlib.sha256((docs / s).read_bytes()).hexdigest(),
            "path": str((docs / s).resolve()),
        }
        for s in sorted(TITLES)
    ]
    assert list(json.loads(out)[0]) == [
        "source",
        "title",
        "chunks",
        "duplicates",
        "sha256",
        "path",
        "ingested_at",
        "facts",
    ]


def test_list_counts_duplicates(capsys, docs: Path, idx: Path) -> None:
    (docs / "empty.txt").unlink()
    (docs / "copy.txt").write_bytes((docs / "a.txt").read_bytes())
    code, out, _ = run(capsys, "ingest", docs, "--index", idx, "--embedder", "fake")
    n = chunks_of(docs, "a.txt")
    assert code == 0
    assert SUMMARY.fullmatch(out.removeprefix(f"ingested into {idx}: ").strip()).group(7) == str(n)
    records = {r["source"]: r for r in json.loads(run(capsys, "list", "--index", idx, "--json")[1])}
    assert (records["a.txt"]["chunks"], records["a.txt"]["duplicates"]) == (n, 0)
    assert (records["copy.txt"]["chunks"], records["copy.txt"]["duplicates"]) == (0, n)


def test_list_of_a_missing_index_exits_2(capsys, tmp_path: Path) -> None:
    where = tmp_path / "nowhere"
    for argv in (["list"], ["list", "--json"], ["remove", "a.txt"]):
        code, out, err = run(capsys, *argv, "--index", where)
        assert (code, out) == (2, "")
        assert err == (
            f"zhice: no index at {where}; build one with: zhice ingest PATH --index {where}\n"
        )
    assert not where.exists()


def test_an_index_path_that_is_a_file_exits_2(capsys, docs: Path, tmp_path: Path) -> None:
    a_file = docs / "a.txt"
    for argv in (["ingest", docs, "--embedder", "fake"], ["list"], ["remove", "a.txt"]):
        code, out, err = run(capsys, *argv, "--index", a_file)
        assert (code, out) == (2, "")
        assert err == f"zhice: {a_file} is a file, not an index folder; use another --index DIR\n"


def test_index_defaults_to_zhice_index_then_the_data_folder(
    capsys, docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = tmp_path / "xdg" / "zhice" / "index"
    code, _, err = run(capsys, "list")
    assert code == 2
    assert err.startswith(f"zhice: no index at {default};")
    monkeypatch.setenv("ZHICE_INDEX", str(tmp_path / "env-idx"))
    code, out, _ = run(capsys, "ingest", docs / "a.txt", "--embedder", "fake")
    assert code == 0
    assert out.startswith(f"ingested into {tmp_path / 'env-idx'}: 1 files: 1 added")
    assert run(capsys, "list")[1].startswith("a.txt ")
    assert not default.exists()


# --- remove ---------------------------------------------------------------------------


def test_remove_then_list(capsys, docs: Path, idx: Path) -> None:
    ingested(capsys, docs, idx)
    code, out, err = run(capsys, "remove", "a.txt", "sub/c.txt", "--index", idx)
    assert (code, out, err) == (0, "removed a.txt\nremoved sub/c.txt\n", "")
    n = {s: chunks_of(docs, s) for s in ("b.md", "d.html")}
    code, out, _ = run(capsys, "list", "--index", idx)
    assert out == (
        f"b.md    {n['b.md']:>5} chunks  关于产业转型的意见\n"
        f"d.html  {n['d.html']:>5} chunks  {TITLES['d.html']}\n"
        f"2 documents, {sum(n.values())} chunks\n"
    )
    assert len(assert_consistent(idx)) == sum(n.values())


def test_remove_of_an_unknown_source_exits_2(capsys, docs: Path, idx: Path) -> None:
    ingested(capsys, docs, idx)
    code, out, err = run(capsys, "remove", "nope.txt", "--index", idx)
    assert (code, out) == (2, "")
    assert err == "zhice: nope.txt is not in the index; `zhice list` shows what is\n"
    # the known ones are removed all the same; the unknown one is still reported
    code, out, err = run(capsys, "remove", "b.md", "nope.txt", "--index", idx)
    assert (code, out) == (2, "removed b.md\n")
    assert err == "zhice: nope.txt is not in the index; `zhice list` shows what is\n"
    assert "b.md" not in run(capsys, "list", "--index", idx)[1]


def test_removing_everything_leaves_an_empty_index(capsys, docs: Path, idx: Path) -> None:
    ingested(capsys, docs, idx)
    assert run(capsys, "remove", *TITLES, "--index", idx)[0] == 0
    assert run(capsys, "list", "--index", idx) == (
        0,
        "the index is empty; add documents with: zhice ingest PATH\n",
        "",
    )
    assert run(capsys, "list", "--json", "--index", idx) == (0, "[]\n", "")
    assert assert_consistent(idx) == []


# --- the installed console script ---------------------------------------------------------


def test_console_script_end_to_end(docs: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ZHICE_INDEX": str(tmp_path / "idx"),
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
    }
    env.pop("PYTHONPATH", None)

    def zhice(*args: str | Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(ZHICE), *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )

    done = zhice("ingest", docs, "--embedder", "fake")
    assert done.returncode == 2
    assert done.stderr == (
        "zhice: skipped empty.txt: empty file (0 bytes); add text to it or leave it out\n"
    )
    assert SUMMARY.fullmatch(
        done.stdout.removeprefix(f"ingested into {tmp_path / 'idx'}: ").strip()
    ).groups()[:5] == ("5", "4", "0", "0", "1")
    listed = zhice("list", "--json")
    assert (listed.returncode, listed.stderr) == (0, "")
    assert [(r["source"], r["chunks"]) for r in json.loads(listed.stdout)] == [
        (s, chunks_of(docs, s)) for s in sorted(TITLES)
    ]
    assert_consistent(tmp_path / "idx")
