"""Ingest of files and folders: what is collected, what is skipped and why, what is counted."""

import io
import re
from pathlib import Path

import docx
import pytest

from tests.index.test_index import (
    MARKER,
    SpyEmbedder,
    assert_consistent,
    bm25_sources,
    policy_text,
    share_segmenter,
)
from tests.ingest.test_archive import padded_docx
from tests.ingest.test_budget import big_page
from zhice.index.index import AddResult, ZhiceIndex
from zhice.index.pipeline import Failure, IngestSummary, collect, index_files
from zhice.ingest.chunker import chunk_document
from zhice.ingest.loaders import load

SUPPORTED = ".txt, .md, .markdown, .html, .htm, .pdf, .docx, .png, .jpg, .jpeg"


@pytest.fixture(autouse=True)
def _fast_segmenter(monkeypatch: pytest.MonkeyPatch) -> None:
    share_segmenter(monkeypatch)


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def docx_bytes(text: str) -> bytes:
    document = docx.Document()
    document.add_heading("关于数字经济的意见", level=1)
    for para in text.split("\n"):
        if para:
            document.add_paragraph(para)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def n_chunks(path: Path, source: str) -> int:
    return len(chunk_document(load(path, source)).chunks)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of supported files, plus what a folder walk must pass over."""
    root = tmp_path / "docs"
    write(root / "a.txt", policy_text(1, marker=MARKER))
    write(root / "b.md", "# 关于产业转型的意见\n\n" + policy_text(2))
    write(
        root / "sub" / "c.html",
        "<html><head><title>城市更新</title></head><body><h1>城市更新</h1>"
        + "".join(f"<p>{p}</p>" for p in policy_text(3).split("\n"))
        + "</body></html>",
    )
    write(root / "sub" / "deeper" / "d.docx", docx_bytes(policy_text(4)))
    write(root / "E.TXT", policy_text(5))  # suffixes compare case-insensitively
    # passed over: unsupported suffixes, no suffix, hidden files and folders
    write(root / "notes.xyz", policy_text(6))
    write(root / "README", policy_text(7))
    write(root / ".hidden.txt", policy_text(8))
    write(root / ".git" / "e.txt", policy_text(9))
    write(root / "sub" / ".cache" / "f.md", policy_text(10))
    return root


@pytest.fixture
def index(tmp_path: Path):
    with ZhiceIndex.open(tmp_path / "idx", embedder="fake", create=True) as idx:
        yield idx


def test_a_folder_gives_its_supported_files_named_inside_it(folder: Path) -> None:
    found, failures = collect([folder])
    assert failures == []
    assert found == [
        (folder / "E.TXT", "E.TXT"),
        (folder / "a.txt", "a.txt"),
        (folder / "b.md", "b.md"),
        (folder / "sub" / "c.html", "sub/c.html"),
        (folder / "sub" / "deeper" / "d.docx", "sub/deeper/d.docx"),
    ]


def test_files_named_on_the_command_line_are_taken_whatever_their_suffix(
    folder: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.txt"
    found, failures = collect(
        [folder / "sub" / "c.html", folder / "notes.xyz", folder / ".hidden.txt", missing]
    )
    assert found == [
        (folder / "sub" / "c.html", "c.html"),
        (folder / "notes.xyz", "notes.xyz"),
        (folder / ".hidden.txt", ".hidden.txt"),
    ]
    assert failures == [Failure(str(missing), f"{missing}: no such file or folder")]


def test_a_hidden_folder_named_on_the_command_line_is_walked(folder: Path) -> None:
    # hidden means hidden inside the folder walked, not anywhere in its path
    assert collect([folder / ".git"]) == ([(folder / ".git" / "e.txt", "e.txt")], [])


def test_every_bad_input_is_named_with_its_reason_and_the_rest_is_ingested(
    folder: Path, tmp_path: Path, index: ZhiceIndex
) -> None:
    write(folder / "bad.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage")
    write(folder / "empty.txt", b"")
    write(folder / "blank.md", "  \n\n \n")
    missing = tmp_path / "missing.docx"
    seen: list[tuple[str, AddResult | None]] = []
    summary = index_files(
        index,
        [folder, folder / "notes.xyz", missing],
        progress=lambda source, result: seen.append((source, result)),
    )

    assert [f.path for f in summary.failures] == [
        str(missing),
        str(folder / "bad.pdf"),
        str(folder / "blank.md"),
        str(folder / "empty.txt"),
        str(folder / "notes.xyz"),
    ]
    reasons = [f.reason for f in summary.failures]
    assert reasons[0] == f"{missing}: no such file or folder"
    assert reasons[1].startswith("bad.pdf: cannot read this PDF file, it may be corrupt (")
    assert reasons[1].endswith("); open and re-save it, or download it again")
    assert reasons[2] == "blank.md: no text in the file; add text to it or leave it out"
    assert reasons[3] == "empty.txt: empty file (0 bytes); add text to it or leave it out"
    assert reasons[4] == f"notes.xyz: unsupported format '.xyz'; zhice reads {SUPPORTED}"

    good = {"E.TXT", "a.txt", "b.md", "sub/c.html", "sub/deeper/d.docx"}
    assert [f.source for f in index.files()] == sorted(good)
    chunks = {f.source: f.chunks for f in index.files()}
    paths = {
        "E.TXT": folder / "E.TXT",
        "a.txt": folder / "a.txt",
        "b.md": folder / "b.md",
        "sub/c.html": folder / "sub/c.html",
        "sub/deeper/d.docx": folder / "sub/deeper/d.docx",
    }
    assert chunks == {s: n_chunks(paths[s], s) for s in good}
    assert (summary.added, summary.updated, summary.unchanged) == (5, 0, 0)
    assert summary.chunks == summary.embedded == sum(chunks.values())
    assert re.fullmatch(
        rf"10 files: 5 added, 0 updated, 0 unchanged, 5 failed; {summary.chunks} chunks "
        r"indexed, 0 duplicates folded, in \d+\.\d s",
        summary.line(),
    )
    # progress: every collected file once, in order; None for the ones that failed
    assert [s for s, _ in seen] == [
        "E.TXT",
        "a.txt",
        "b.md",
        "bad.pdf",
        "blank.md",
        "empty.txt",
        "sub/c.html",
        "sub/deeper/d.docx",
        "notes.xyz",
    ]
    assert [s for s, r in seen if r is None] == ["bad.pdf", "blank.md", "empty.txt", "notes.xyz"]
    assert all(r.status == "added" for _, r in seen if r is not None)
    assert bm25_sources(index, MARKER) == ["a.txt"]
    assert_consistent(index.directory)


def test_hostile_files_are_named_with_the_reason_and_the_batch_goes_on(
    folder: Path, index: ZhiceIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = write(folder / "bomb.docx", padded_docx(210, level=1))
    slow = write(folder / "slow.html", big_page(1))  # ~2 s to read here
    write(folder / "nul.txt", policy_text(13).replace("。", "。\x00", 1))
    monkeypatch.setenv("ZHICE_LOAD_SECONDS", "0.5")
    summary = index_files(index, [folder])
    assert [(f.path, f.reason.split(",")[0]) for f in summary.failures] == [
        (str(bomb), "bomb.docx: unpacks to 211 MB"),
        (str(slow), "slow.html: still reading after 0.5 s"),
    ]
    # the five good files, and the one with a NUL byte in it, which used to be refused
    assert [f.source for f in index.files()] == [
        "E.TXT", "a.txt", "b.md", "nul.txt", "sub/c.html", "sub/deeper/d.docx"
    ]
    assert_consistent(index.directory)


def test_records_keep_the_absolute_path_and_the_file_hash(
    folder: Path, index: ZhiceIndex, monkeypatch
) -> None:
    import hashlib

    monkeypatch.chdir(folder.parent)
    index_files(index, [Path("docs") / "a.txt"])
    (record,) = index.files()
    assert record.source == "a.txt"
    assert record.path == str((folder / "a.txt").resolve())
    assert record.sha256 == hashlib.sha256((folder / "a.txt").read_bytes()).hexdigest()
    assert record.title == policy_text(1).split("\n")[0]


def test_an_unreadable_file_is_skipped(
    folder: Path, index: ZhiceIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = write(folder / "locked.txt", policy_text(11))
    real_open = Path.open

    def open_(self: Path, *args, **kwargs):  # chmod 0 does not stop root, so fake EACCES
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)  # where the file is first read, to hash it
    summary = index_files(index, [folder])
    assert summary.failures == [Failure(str(locked), "locked.txt: cannot read (Permission denied)")]
    assert summary.added == 5


def test_a_second_ingest_of_unchanged_files_does_nothing(folder: Path, tmp_path: Path) -> None:
    spy = SpyEmbedder()
    with ZhiceIndex.open(tmp_path / "idx", embedder=spy, create=True) as index:
        first = index_files(index, [folder])
        embedded = len(spy.texts)
        assert embedded == first.embedded == first.chunks > 0
        gen = index.store.generation()
    spy = SpyEmbedder()
    with ZhiceIndex.open(tmp_path / "idx", embedder=spy) as index:
        second = index_files(index, [folder])
        assert spy.texts == []
        assert index.store.generation() == gen
    assert (second.added, second.updated, second.unchanged, second.failures) == (0, 0, 5, [])
    assert (second.chunks, second.duplicates, second.embedded) == (0, 0, 0)
    assert re.fullmatch(
        r"5 files: 0 added, 0 updated, 5 unchanged, 0 failed; 0 chunks "
        r"indexed, 0 duplicates folded, in \d+\.\d s",
        second.line(),
    )
    assert_consistent(tmp_path / "idx")


def test_a_changed_file_is_updated_and_only_it_is_embedded(folder: Path, tmp_path: Path) -> None:
    spy = SpyEmbedder()
    with ZhiceIndex.open(tmp_path / "idx", embedder=spy, create=True) as index:
        index_files(index, [folder])
        write(folder / "a.txt", policy_text(12))
        spy.texts.clear()
        summary = index_files(index, [folder])
        n = n_chunks(folder / "a.txt", "a.txt")
        assert (summary.added, summary.updated, summary.unchanged) == (0, 1, 4)
        assert summary.chunks == summary.embedded == len(spy.texts) == n
        assert bm25_sources(index, MARKER) == []
        assert {f.source: f.chunks for f in index.files()}["a.txt"] == n
    assert_consistent(tmp_path / "idx")


def test_a_copy_in_the_batch_is_folded_not_embedded(folder: Path, tmp_path: Path) -> None:
    write(folder / "copy" / "a.txt", (folder / "a.txt").read_bytes())
    spy = SpyEmbedder()
    with ZhiceIndex.open(tmp_path / "idx", embedder=spy, create=True) as index:
        summary = index_files(index, [folder])
        n = n_chunks(folder / "a.txt", "a.txt")
        files = {f.source: (f.chunks, f.duplicates) for f in index.files()}
        assert files["a.txt"] == (n, 0)
        assert files["copy/a.txt"] == (0, n)  # a.txt comes first in the walk
        assert summary.duplicates == n
        assert len(spy.texts) == summary.embedded == summary.chunks
    assert_consistent(tmp_path / "idx")


def test_an_interrupted_batch_keeps_what_was_done(folder: Path, index: ZhiceIndex) -> None:
    def stop_after_two(source: str, result) -> None:
        if source == "a.txt":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index_files(index, [folder], progress=stop_after_two)
    assert [f.source for f in index.files()] == ["E.TXT", "a.txt"]
    assert_consistent(index.directory)  # saved on the way out, no reopen needed
    summary = index_files(index, [folder])
    assert (summary.added, summary.unchanged) == (3, 2)


def test_summary_line_counts_every_file() -> None:
    summary = IngestSummary(
        added=4, chunks=12, duplicates=2, seconds=1.26, failures=[Failure("x", "x: bad")]
    )
    assert summary.line() == (
        "5 files: 4 added, 0 updated, 0 unchanged, 1 failed; 12 chunks indexed, "
        "2 duplicates folded, in 1.3 s"
    )
