"""A scanned PDF from file to cited answer: ingested with a batch into a real index,
its pages read by OCR, questions answered from it as from the same text born digital,
each citation giving the page and saying OCR read it (result object, CLI, page)."""

import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.index.test_index import share_segmenter
from zhice.assistant.chain import Assistant
from zhice.assistant.cli import main
from zhice.assistant.web.render import sources_html
from zhice.eval.scans import QUESTIONS, plan_text, scan_pages, scan_pdf
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files
from zhice.index.rebuild import IndexRebuild
from zhice.ingest.budget import MEGABYTES_VARIABLE, SECONDS_VARIABLE
from zhice.ingest.ocr import EXTRA

SCAN = "数字政府.pdf"

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ZHICE_INDEX", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    share_segmenter(monkeypatch)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """root/scan-index from a batch holding the scan and a corrupt photo, root/text-index
    from the same documents as text; the batch's summary and OCR's progress."""
    root = tmp_path_factory.mktemp("scanned")
    batch, text = root / "batch", root / "text"
    batch.mkdir()
    text.mkdir()
    (batch / SCAN).write_bytes(scan_pdf([page.image for page in scan_pages()]))
    (batch / "坏.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(500))
    (text / "数字政府.txt").write_text(plan_text(), encoding="utf-8")
    progress = []
    with pytest.MonkeyPatch.context() as mp:
        share_segmenter(mp)
        with ZhiceIndex.open(root / "scan-index", embedder="fake", create=True) as index:
            summary = index_files(index, [batch], pages=lambda *p: progress.append(p))
        with ZhiceIndex.open(root / "text-index", embedder="fake", create=True) as index:
            index_files(index, [text])
    return root, summary, progress


def test_the_scan_is_ingested_and_the_corrupt_photo_named(built):
    _, summary, progress = built
    assert (summary.added, len(summary.failures)) == (1, 1)
    (failure,) = summary.failures
    assert failure.reason.startswith("坏.jpg: not a readable image (")
    assert "\n" not in failure.reason
    assert progress == [(SCAN, n, 5) for n in range(6)]


@pytest.mark.parametrize(("question", "expected", "page"), QUESTIONS)
def test_questions_are_answered_from_the_ocr_page_as_from_the_text(built, question, expected,
                                                                   page):
    root, _, _ = built
    with Assistant.open(root / "scan-index") as assistant:
        scanned = assistant.ask(question).to_dict()
    with Assistant.open(root / "text-index") as assistant:
        typed = assistant.ask(question).to_dict()
    assert expected in typed["answer"] and expected in scanned["answer"]
    assert not scanned["abstained"]
    cited = [c for c in scanned["citations"] if expected in c["text"]]
    assert cited and all((c["source"], c["page"], c["ocr"]) == (SCAN, page, True) for c in cited)


def test_the_cli_shows_the_page_and_that_ocr_read_it(built, capsys):
    root, _, _ = built
    question, _, page = QUESTIONS[0]
    assert main(["ask", question, "--index", str(root / "scan-index")]) == 0
    out = capsys.readouterr().out
    assert f" 第{page}页（OCR识别）\n" in out
    assert main(["ask", question, "--index", str(root / "scan-index"), "--json"]) == 0
    (citation, *_) = json.loads(capsys.readouterr().out)["citations"]
    assert (citation["page"], citation["ocr"]) == (page, True)
    assert main(["list", "--index", str(root / "scan-index"), "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["facts"]["ocr_pages"] == [1, 2, 3, 4, 5]
    assert main(["list", "--index", str(root / "scan-index")]) == 0
    assert "[OCR: 5 pages]" in capsys.readouterr().out


def test_the_page_marks_the_passage_read_by_ocr(built):
    root, _, _ = built
    with Assistant.open(root / "scan-index") as assistant:
        answer = assistant.ask(QUESTIONS[1][0])
    html = sources_html([answer])
    assert "第3页" in html and 'class="zc-ocr"' in html and "OCR识别" in html


def test_a_rebuilt_index_still_knows_which_pages_ocr_read(built, tmp_path):
    root, _, _ = built
    copy = tmp_path / "index"
    shutil.copytree(root / "scan-index", copy)
    with IndexRebuild(copy) as rebuild:
        rebuild.run()
    with Assistant.open(copy) as assistant:
        (citation, *_) = assistant.ask(QUESTIONS[2][0]).to_dict()["citations"]
    assert (citation["page"], citation["ocr"]) == (4, True)


def test_without_the_extra_a_batch_names_the_scan_and_loses_nothing(tmp_path, monkeypatch):
    # read in this process (no budget), where the import of RapidOCR is made to fail
    monkeypatch.setenv(SECONDS_VARIABLE, "0")
    monkeypatch.setenv(MEGABYTES_VARIABLE, "0")
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)
    first, batch = tmp_path / "first", tmp_path / "batch"
    first.mkdir()
    batch.mkdir()
    (first / "已有.txt").write_text("临江市已有的政策文件。", encoding="utf-8")
    page = scan_pages()[-1].image
    (batch / "扫描件.pdf").write_bytes(scan_pdf([page]))
    png = io.BytesIO()
    page.save(png, "PNG")
    (batch / "照片.png").write_bytes(png.getvalue())
    (batch / "新.txt").write_text("临江市新的政策文件。", encoding="utf-8")
    with ZhiceIndex.open(tmp_path / "index", embedder="fake", create=True) as index:
        index_files(index, [first])
        summary = index_files(index, [batch])
        sources = {f.source for f in index.files()}
    assert summary.added == 1 and sources == {"已有.txt", "新.txt"}
    assert sorted(f.reason for f in summary.failures) == [
        f"扫描件.pdf: no usable text layer on page 1 of 1 (scanned?); reading it needs OCR, "
        f"an optional extra: {EXTRA}",
        f"照片.png: an image; reading it needs OCR, an optional extra: {EXTRA}",
    ]
