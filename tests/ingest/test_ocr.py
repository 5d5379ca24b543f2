"""OCR on real scanned pages made here: Chinese policy text drawn into page images in
several fonts and sizes, one page fed in sideways, one under a red masthead with a red
seal (zhice.eval.scans), put into PDFs and image files, read back and scored."""

import io
import re
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from zhice.eval.scans import (
    DPI,
    NOTICE,
    PLAN,
    char_accuracy,
    cjk_font,
    page_text,
    photograph,
    scan_pages,
    scan_pdf,
)
from zhice.ingest.budget import PAGE_SECONDS_VARIABLE, LoadBudget, load_within_budget
from zhice.ingest.errors import LoadError
from zhice.ingest.loaders import load
from zhice.ingest.ocr import EXTRA, OcrEngine, OcrLine, assemble, layer_problem, read_image

ACCURACY = 0.97  # characters read right, on every kind of page
A4 = 595 * 842  # pt²


@pytest.fixture(scope="session")
def engine() -> OcrEngine:
    return OcrEngine().load()


@pytest.fixture(scope="session")
def pages():
    return scan_pages()


@pytest.fixture(scope="session")
def scan(pages, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scans") / "数字政府.pdf"
    path.write_bytes(scan_pdf([p.image for p in pages]))
    return path


@pytest.fixture(scope="session")
def scanned(scan: Path, engine: OcrEngine):
    return load(scan, ocr=engine)


def bgr(image):
    import numpy as np

    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def one_line(message: str) -> str:
    assert "\n" not in message
    return message


# --- the layer screen --------------------------------------------------------------


def test_a_missing_layer_needs_ocr_only_where_something_is_drawn():
    assert layer_problem("", ink=True) == "missing"
    assert layer_problem(" \n ", ink=False) is None  # a blank page


def test_a_garbled_layer_needs_ocr_a_foreign_one_does_not():
    mojibake = "¹úÎñÔº¹ØÓÚ¼ÓÇ¿Êý×ÖÕþ¸®½¨ÉèµÄÖ¸µ¼Òâ¼û"  # GBK bytes read as Latin-1
    assert layer_problem(mojibake, ink=True) == "garbled"
    assert layer_problem("\ufffd\ufffd\ue012\ue013政府", ink=True) == "garbled"
    assert layer_problem("Décret relatif à la protection des données", ink=True) is None


def test_a_thin_layer_over_a_page_sized_image_needs_ocr():
    assert layer_problem("- 1 -", True, image_area=A4, page_area=A4) == "thin"
    body = "各地区各部门要认真贯彻落实。" * 12  # 168 characters: a page's worth of a scan
    assert layer_problem(body, True, image_area=A4, page_area=A4) is None
    # a logo beside the text is no scan, however little text the page has
    assert layer_problem("- 1 -", True, image_area=0.1 * A4, page_area=A4) is None


# --- reading order -----------------------------------------------------------------


def box(text: str, left: float, top: float, right: float, height: float = 30) -> OcrLine:
    return OcrLine(text, ((left, top), (right, top), (right, top + height), (left, top + height)),
                   0.99)


def test_boxes_are_read_in_lines_and_paragraphs_without_spaces_between_characters():
    boxes = [
        box("关于加快推进数字政府建设的", 220, 100, 880, 44),  # a title over two centred lines
        box("实施意见", 450, 160, 650, 44),
        box("各区县人民政府：", 100, 240, 340),  # flush left, and short: its own paragraph
        box("为加快建设数字政府，全市政务服务事项网上可办", 160, 290, 1000),  # indented
        box("率达到98%以上，计算资源不少于120", 100, 340, 1000),  # wrapped mid-figure
        box("00核。", 100, 390, 220),
        box("一、总体要求", 160, 440, 340),
        box("建设", 160, 490, 220), box("GDP", 232, 490, 300), box("growth", 320, 490, 460),
        box("监测平台。", 470, 490, 620),
    ]
    expected = ("关于加快推进数字政府建设的实施意见\n各区县人民政府：\n"
                "为加快建设数字政府，全市政务服务事项网上可办率达到98%以上，计算资源不少于12000核。\n"
                "一、总体要求\n建设GDP growth监测平台。")
    assert assemble(boxes) == expected
    assert assemble(list(reversed(boxes))) == expected  # the order boxes come in is no matter


def test_a_blank_line_between_paragraphs_ends_one():
    boxes = [box("第一段没有缩进，每一行都写到了右边", 100, 100, 1000),
             box("最后一行也一直写到了右边", 100, 150, 1000),
             box("第二段也没有缩进，但前面空了一行", 100, 250, 1000),
             box("所以是新的一段。", 100, 300, 1000)]
    assert assemble(boxes) == ("第一段没有缩进，每一行都写到了右边最后一行也一直写到了右边\n"
                               "第二段也没有缩进，但前面空了一行所以是新的一段。")


def test_a_doc_number_whose_brackets_ocr_misread_is_written_as_a_gongwen_writes_it():
    def read(number: str) -> str:
        return assemble([box("临江市人民政府文件", 300, 100, 800, 50),
                         box(number, 420, 200, 680)]).split("\n")[1]

    assert read("临政发〔[2024】12号") == "临政发〔2024〕12号"
    assert read("临政发[2024〕12号") == "临政发〔2024〕12号"
    assert read("国办函[2011]10号") == "国办函[2011]10号"  # a pair read as a pair stays
    assert read("于2024年[2024]度") == "于2024年[2024]度"  # no 号: not a doc number


# --- pages and files ---------------------------------------------------------------


@pytest.mark.slow
def test_every_kind_of_scanned_page_is_read_accurately(scanned, pages):
    assert scanned.ocr_pages == (1, 2, 3, 4, 5)
    assert len(scanned.page_starts) == 5
    for number, page in enumerate(pages, 1):
        start = scanned.page_starts[number - 1]
        end = scanned.page_starts[number] if number < 5 else len(scanned.text)
        accuracy = char_accuracy(scanned.text[start:end], page.text)
        assert accuracy >= ACCURACY, f"page {number} ({page.kind}): {accuracy:.4f}"
    # what the sideways page says is found on it, in reading order
    at = scanned.text.index("专项资金不少于3.5亿元")
    assert scanned.page_at(at) == 4
    assert scanned.text.index("三、保障措施") < at < scanned.text.index("强化人才支撑")


@pytest.mark.slow
def test_the_red_masthead_title_and_seal_come_out_as_lines_of_their_own(scanned):
    first = scanned.text[: scanned.page_starts[1]].strip().split("\n")
    assert first[0] == "临江市人民政府文件"
    assert "临江市人民政府关于印发临江市数字政府建设实施方案的通知" in first
    assert first[-2:] == ["临江市人民政府", "2024年3月15日"]  # the seal reads as nothing


@pytest.mark.slow
@pytest.mark.parametrize(("turn", "rotation"), [(90, 270), (-90, 90), (180, 180)])
def test_a_page_turned_any_way_is_read_upright(engine, pages, turn, rotation):
    page = pages[-1]
    read = engine.read(bgr(page.image.rotate(turn, expand=True)))
    assert read.rotation == rotation
    assert char_accuracy(read.text, page.text) >= ACCURACY
    assert read.text.index("四、附则") < read.text.index("负责解释")


@pytest.mark.slow
def test_png_and_jpeg_files_are_documents_of_one_page(tmp_path, engine, pages):
    png = tmp_path / "通知.png"
    pages[0].image.save(png)
    doc = load(png, ocr=engine)
    assert (doc.page_starts, doc.ocr_pages) == ((0,), (1,))
    assert char_accuracy(doc.text, pages[0].text) >= ACCURACY
    (kept,) = doc.page_images  # the page as people check the text against it
    assert kept.page == 1 and Image.open(io.BytesIO(kept.jpeg)).size == (848, 1200)

    # a photographed page: greyish paper, JPEG, stored sideways with an EXIF turn
    jpeg = photograph(pages[-1].image)
    read = read_image(jpeg, "附则.jpg", engine)
    assert read.rotation == 0  # EXIF turned it upright before OCR saw it
    assert char_accuracy(read.text, pages[-1].text) >= ACCURACY
    assert Image.open(io.BytesIO(read.jpeg)).size == (848, 1200)  # upright too
    (tmp_path / "附则.jpeg").write_bytes(jpeg)
    assert load(tmp_path / "附则.jpeg", ocr=engine).text == read.text


def test_a_corrupt_image_is_one_line_naming_it(tmp_path, pages):
    whole = io.BytesIO()
    pages[-1].image.save(whole, "PNG")
    cut = tmp_path / "半截.png"
    cut.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    junk = tmp_path / "乱码.jpg"
    junk.write_bytes(bytes(range(256)) * 8)
    for path in (cut, junk):
        with pytest.raises(LoadError) as info:
            load(path)
        message = one_line(str(info.value))
        assert message.startswith(f"{path.name}: not a readable image (")
        assert message.endswith("open and re-save it, or take the picture again")


# --- text layers and scans in one PDF ----------------------------------------------


def text_pdf(lines: list[str], image=None, image_box=None) -> bytes:
    """A PDF page with a text layer (`lines`) and, if given, an image drawn in
    `image_box` (x, y, width, height in pt)."""
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf)
    if image is not None:
        pdf.drawImage(ImageReader(image), *image_box)
    pdf.setFont("STSong-Light", 12)
    for i, line in enumerate(lines):
        pdf.drawString(72, 100 - 20 * i, line)
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


def calls(log: list):
    return lambda done, total: log.append((done, total))


def test_a_text_pdf_with_a_logo_is_not_read_by_ocr(tmp_path, engine):
    logo = Image.new("RGB", (120, 120), (200, 30, 30))
    lines = ["临江市人民政府关于加强政务公开工作的通知", "各区县人民政府：现将有关事项通知如下。"]
    path = tmp_path / "通知.pdf"
    path.write_bytes(text_pdf(lines, logo, (72, 700, 60, 60)))
    log = []
    doc = load(path, ocr=engine, progress=calls(log))
    assert (doc.ocr_pages, log, doc.page_images) == ((), [], ())
    assert re.sub(r"\s+", "", doc.text) == "".join(lines)


@pytest.mark.slow
def test_a_scan_with_only_its_page_number_in_the_layer_is_read_by_ocr(tmp_path, engine, pages):
    path = tmp_path / "附则.pdf"
    path.write_bytes(text_pdf(["- 5 -"], pages[-1].image, (0, 0, 595, 842)))
    log = []
    doc = load(path, ocr=engine, progress=calls(log))
    assert (doc.ocr_pages, log) == ((1,), [(0, 1), (1, 1)])
    assert [image.page for image in doc.page_images] == [1]
    assert char_accuracy(doc.text, pages[-1].text) >= ACCURACY


@pytest.mark.slow
def test_a_photo_with_a_caption_keeps_its_caption(tmp_path, engine):
    photo = Image.new("RGB", (800, 600), (90, 140, 200))
    ImageDraw.Draw(photo).ellipse((200, 150, 600, 450), fill=(240, 200, 60))
    path = tmp_path / "图片新闻.pdf"
    path.write_bytes(text_pdf(["图为临江市政务服务中心"], photo, (0, 120, 595, 722)))
    log = []
    doc = load(path, ocr=engine, progress=calls(log))
    assert log == [(0, 1), (1, 1)]  # looked at: the layer is thin over a page-sized image
    assert (doc.ocr_pages, doc.text) == ((), "图为临江市政务服务中心")  # and it reads nothing more
    assert doc.page_images == ()  # its layer stands for the page: no image is kept


# --- without the extra -------------------------------------------------------------


@pytest.mark.parametrize("missing", ["rapidocr_onnxruntime", "pypdfium2"])
def test_without_the_extra_a_scan_or_an_image_says_which_extra_to_install(
        tmp_path, pages, scan, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # as if it were not installed
    with pytest.raises(LoadError) as info:
        load(scan)
    assert one_line(str(info.value)) == (
        f"数字政府.pdf: no usable text layer on pages 1-5 of 5 (scanned?); reading it needs "
        f"OCR, an optional extra: {EXTRA}")
    png = tmp_path / "附则.png"
    pages[-1].image.save(png)
    with pytest.raises(LoadError) as info:
        load(png)
    assert one_line(str(info.value)) == (
        f"附则.png: an image; reading it needs OCR, an optional extra: {EXTRA}")
    assert EXTRA == 'pip install "zhice[ocr]"'


def test_without_the_extra_text_pdfs_read_as_before(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)
    path = tmp_path / "通知.pdf"
    path.write_bytes(text_pdf(["各区县人民政府：现将有关事项通知如下。"]))
    assert load(path).text == "各区县人民政府：现将有关事项通知如下。"


# --- the budget: a page at a time --------------------------------------------------


@pytest.mark.slow
def test_a_scan_longer_than_the_files_budget_is_read_a_page_at_a_time(tmp_path, pages):
    path = tmp_path / "六页.pdf"
    path.write_bytes(scan_pdf([pages[-1].image] * 6))
    log = []
    budget = LoadBudget(seconds=2, page_seconds=60)
    started = time.perf_counter()
    doc = load_within_budget(path, budget=budget, progress=calls(log))
    assert time.perf_counter() - started > budget.seconds  # the file's budget alone: skipped
    assert log == [(n, 6) for n in range(7)]
    assert doc.ocr_pages == (1, 2, 3, 4, 5, 6)
    assert doc.text.count("本方案由临江市大数据发展管理局负责解释") == 6


@pytest.mark.slow
def test_a_page_past_its_budget_stops_its_file_only(tmp_path, pages):
    path = tmp_path / "两页.pdf"
    path.write_bytes(scan_pdf([pages[-1].image] * 2))
    with pytest.raises(LoadError) as info:
        load_within_budget(path, budget=LoadBudget(seconds=60, page_seconds=0.01))
    assert one_line(str(info.value)) == (
        f"两页.pdf: OCR of page 1 of the 2 to read took more than 0.01 s, so the file was "
        f"skipped; set {PAGE_SECONDS_VARIABLE} higher")
    text = tmp_path / "通知.txt"
    text.write_text("现将有关事项通知如下。", encoding="utf-8")
    assert load_within_budget(text).text == "现将有关事项通知如下。"  # the next file is read


def test_the_page_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(PAGE_SECONDS_VARIABLE, "15")
    assert LoadBudget.from_environment().page_seconds == 15.0


@pytest.mark.slow
def test_a_300_page_scan_is_read_page_by_page(tmp_path):
    face = cjk_font("sans", 32)
    images = []
    for n in range(1, 301):  # slips of one line each: 300 pages in a minute
        image = Image.new("RGB", (640, 96), "white")
        ImageDraw.Draw(image).text((24, 28), f"政务服务事项第{n}项编码LJ{n:05d}", font=face,
                                   fill="black")
        images.append(image)
    path = tmp_path / "清单.pdf"
    path.write_bytes(scan_pdf(images, dpi=DPI))
    log = []
    doc = load_within_budget(path, budget=LoadBudget(seconds=10), progress=calls(log))
    assert log == [(n, 300) for n in range(301)]
    assert doc.ocr_pages == tuple(range(1, 301))
    for n in (1, 123, 300):
        assert doc.page_at(doc.text.index(f"LJ{n:05d}")) == n


def test_the_scans_drawn_are_the_documents_text():
    # the notice's text is what its blocks hold, in order, as the text version has it
    assert page_text(NOTICE).startswith("临江市人民政府文件\n临政发〔2024〕12号\n")
    assert "专项资金不少于3.5亿元" in page_text(PLAN[2])
    assert char_accuracy("临江市人民政府", "临江市人民政府") == 1.0
    assert char_accuracy("临江市政府", "临江市人民政府") == pytest.approx(5 / 7)
