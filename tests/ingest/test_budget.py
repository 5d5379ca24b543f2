"""Loading in a child process under a time and memory budget, on real files made here."""

import io
import time
from pathlib import Path

import docx
import pytest

from tests.ingest.test_loaders import PAGE, PDF_PAGES, make_docx, make_pdf
from zhice.ingest import budget
from zhice.ingest.budget import (
    LOAD_MEGABYTES,
    LOAD_SECONDS,
    MEGABYTES_VARIABLE,
    SECONDS_VARIABLE,
    LoadBudget,
    load_within_budget,
)
from zhice.ingest.errors import LoadError, UnsupportedFileError, ZhiceError
from zhice.ingest.loaders import load


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def big_page(megabytes: float) -> bytes:
    """A plain page of many short paragraphs: the parser's slowest and largest case per
    byte (a MB takes ~2 s and ~40 MB here), so a small file is past a small budget."""
    row = "<p class='c'>第{}条 加强<span>城市规划</span>管理，促进<a href='#x'>协调</a>发展。</p>\n"
    rows = [row.format(i) for i in range(int(megabytes * 2**20 / len(row.format(0).encode())))]
    return f"<html><body><div>{''.join(rows)}</div></body></html>".encode()


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    document = docx.Document()
    document.add_paragraph("关于推进新型城镇化的意见")
    document.add_paragraph("正文\u200b。")
    buf = io.BytesIO()
    document.save(buf)
    return [
        write(tmp_path / "通知.txt", "第一条\x00 总则。\r\n".encode("gb18030")),
        write(tmp_path / "纲要.md", "# 十四五规划纲要\n\n正文。\n".encode()),
        write(tmp_path / "意见.html", PAGE.encode()),
        write(tmp_path / "纲要.pdf", make_pdf(PDF_PAGES, title="十四五规划纲要")),
        write(tmp_path / "意见.docx", make_docx()),
        write(tmp_path / "无题.docx", buf.getvalue()),
    ]


def test_the_child_gives_exactly_what_load_gives(files: list[Path]) -> None:
    for path in files:
        doc = load_within_budget(path, "政策/" + path.name)
        assert doc == load(path, "政策/" + path.name)
    assert doc.title == "关于推进新型城镇化的意见"


def test_load_errors_come_back_as_they_are(tmp_path: Path) -> None:
    missing = tmp_path / "缺失.txt"
    for path, kind in [
        (missing, LoadError),
        (write(tmp_path / "空.txt", b""), LoadError),
        (write(tmp_path / "表.xls", b"x"), UnsupportedFileError),
    ]:
        with pytest.raises(kind) as expected:
            load(path)
        with pytest.raises(kind) as got:
            load_within_budget(path)
        assert str(got.value) == str(expected.value)


def test_a_relative_path_is_read_from_the_callers_directory(
    files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(files[0].parent)
    assert load_within_budget(Path(files[0].name)) == load(files[0])


def test_a_file_past_the_time_budget_is_named_and_skipped(
    files: list[Path], tmp_path: Path
) -> None:
    path = write(tmp_path / "慢.html", big_page(1))
    load_within_budget(files[0])  # the reading process started: its start is no file's time
    started = time.perf_counter()
    with pytest.raises(LoadError) as info:
        load_within_budget(path, budget=LoadBudget(seconds=0.5, megabytes=0))
    assert time.perf_counter() - started < 1.5
    assert str(info.value) == (
        f"慢.html: still reading after 0.5 s, so it was skipped; split the file, or set "
        f"{SECONDS_VARIABLE} higher"
    )
    assert load_within_budget(files[2]) == load(files[2])  # and the next file is read


def test_a_reading_process_gone_between_files_is_replaced(files: list[Path]) -> None:
    load_within_budget(files[0])
    budget._READER._process.kill()  # as the system's out-of-memory killer would
    budget._READER._process.wait()
    assert load_within_budget(files[1]) == load(files[1])


def test_a_file_past_the_memory_budget_is_named_and_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "大.html", big_page(3))
    with pytest.raises(LoadError) as info:
        load_within_budget(path, budget=LoadBudget(seconds=60, megabytes=100))
    assert str(info.value) == (
        f"大.html: needs more than 100 MB of memory to read, so it was skipped; split the "
        f"file, or set {MEGABYTES_VARIABLE} higher"
    )


def test_the_budget_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECONDS_VARIABLE, raising=False)
    monkeypatch.delenv(MEGABYTES_VARIABLE, raising=False)
    assert LoadBudget.from_environment() == LoadBudget(LOAD_SECONDS, LOAD_MEGABYTES)
    monkeypatch.setenv(SECONDS_VARIABLE, "30")
    monkeypatch.setenv(MEGABYTES_VARIABLE, "0")
    assert LoadBudget.from_environment() == LoadBudget(30.0, 0)
    for bad in ("ten", "-1"):
        monkeypatch.setenv(MEGABYTES_VARIABLE, bad)
        with pytest.raises(ZhiceError) as info:
            LoadBudget.from_environment()
        assert str(info.value) == (
            f"{MEGABYTES_VARIABLE} must be a number of megabytes, or 0 for no limit; "
            f"it is '{bad}'"
        )
