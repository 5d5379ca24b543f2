"""Loaders on real files of every format, made here, with Chinese content."""

import io
import random
import re
import time
import zipfile
from pathlib import Path

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from pypdf import PdfReader, PdfWriter
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from zhice.ingest.errors import LoadError, UnsupportedFileError, ZhiceError
from zhice.ingest.loaders import MAX_FILE_BYTES, MAX_TEXT_CHARS, SUPPORTED_SUFFIXES, load

# 镕, 喆 and 堃 are in GBK but not GB2312; 䶮 and 𠀀 only in GB18030 (four-byte codes).
GBK_TEXT = "第一章　总则\r\n国务院关于印发《规划》的通知。\r\n朱镕基、张喆、王堃\r\n"
GB18030_TEXT = GBK_TEXT + "刘䶮、𠀀字\r\n"
GARBAGE = random.Random(0).randbytes(3000)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --- text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (GB18030_TEXT, "utf-8"),
        (GB18030_TEXT, "utf-8-sig"),
        (GB18030_TEXT, "gb18030"),
        (GBK_TEXT, "gbk"),
        (GB18030_TEXT, "utf-16"),
    ],
)
def test_txt_is_decoded_exactly_with_crlf_normalised(tmp_path, text, encoding):
    doc = load(write(tmp_path, "通知.txt", text.encode(encoding)))
    assert doc.text == text.replace("\r\n", "\n")
    assert (doc.source, doc.title, doc.page_starts) == ("通知.txt", "", ())
    assert doc.page_at(3) is None


def test_big5_is_not_mistaken_for_gb18030(tmp_path):
    # Big5 bytes are valid GB18030 too, decoding to kana and private-use mojibake.
    text = "中華人民共和國國民經濟和社會發展第十四個五年規劃。\n"
    assert load(write(tmp_path, "規劃.txt", text.encode("big5"))).text == text


def test_lone_cr_and_source_override(tmp_path):
    doc = load(str(write(tmp_path, "a.txt", "甲\r乙\n".encode())), source="政策/a.txt")
    assert (doc.text, doc.source) == ("甲\n乙\n", "政策/a.txt")


def test_markdown_title_is_the_first_h1_and_suffix_is_case_insensitive(tmp_path):
    text = "前言\n\n# 十四五规划纲要\n\n## 第一章 发展环境\n\n正文。\n\n# 附录\n"
    doc = load(write(tmp_path, "纲要.MD", text.encode()))
    assert (doc.text, doc.title) == (text, "十四五规划纲要")
    assert load(write(tmp_path, "b.markdown", "## 小节\n".encode())).title == ""


def test_control_and_zero_width_characters_are_dropped_not_the_file(tmp_path):
    # one NUL used to reject the whole file as binary
    data = "第一条\x00 总则\u200b。\r\n规\ufeff划\u2060纲\u200c要\u200d\x7f\x85\x9f。\f第二页\t完\n"
    doc = load(write(tmp_path, "通知.txt", data.encode()))
    assert doc.text == "第一条 总则。\n规划纲要\n。\n第二页\t完\n"


def test_nul_padding_after_the_text_is_dropped(tmp_path):
    doc = load(write(tmp_path, "崩溃后.txt", "通知正文。\n".encode() + b"\x00" * 4096))
    assert doc.text == "通知正文。\n"


def test_invisible_characters_leave_page_starts_on_their_pages(tmp_path):
    pdf = make_pdf([["第一\u200b页\x00正文"], ["第二\ufeff页正文"], ["第三页"]])
    doc = load(write(tmp_path, "页.pdf", pdf))
    assert doc.text == "第一页正文\n\n第二页正文\n\n第三页"
    assert doc.page_starts == (0, 7, 14)
    assert [doc.page_at(doc.text.index(p)) for p in ("第一", "第二", "第三")] == [1, 2, 3]


def test_text_past_the_character_limit_is_refused_with_the_limit(tmp_path):
    limit = f"{MAX_TEXT_CHARS:,}"
    message = load_error(write(tmp_path, "长.txt", b"a" * (MAX_TEXT_CHARS + 1)))
    assert message == (f"长.txt: {MAX_TEXT_CHARS + 1:,} characters of text, more than the "
                       f"{limit} characters zhice takes from one file; split it into smaller files")
    # a plain text file that cannot hold fewer characters is refused before decoding
    message = load_error(write(tmp_path, "大.md", b"a" * (4 * MAX_TEXT_CHARS + 1)))
    assert message.startswith("大.md: 8 MB of text, more than the " + limit)
    assert load(write(tmp_path, "刚好.txt", b"a" * MAX_TEXT_CHARS)).text == "a" * MAX_TEXT_CHARS


def test_a_file_past_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "巨大.pdf"
    with path.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 2**20)  # sparse: no disk, no time
    assert load_error(path) == (
        "巨大.pdf: 201 MB, more than the 200 MB zhice reads from one file; "
        "split it into smaller files"
    )


# --- HTML ------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>关于推进新型城镇化的意见 - 中国政府网</title>
<style>body { color: red; }</style>
<script>var tracker = "脚本内容";</script>
</head>
<body class="has-sidebar">
<header><a href="/">首页</a> 网站头部</header>
<nav><ul><li>导航一</li><li>导航二</li></ul></nav>
<div class="sidebar">侧栏推荐阅读</div>
<p>正文之外的段落</p>
<main>
  <div class="breadcrumb">首页 &gt; 政策</div>
  <h1>关于推进<span>新型城镇化</span>的意见</h1>
  <p>新型城镇化是现代化的必由之路，
     是最大的内需潜力所在。</p>
  <h2>一、总体要求</h2>
  <p>坚持以人为本。<br>推进<strong>农业转移人口</strong>市民化。</p>
  <ul><li>放开落户限制</li><li>完善<a href="#">公共服务</a></li></ul>
  <table>
    <thead><tr><th>指标</th><th>2025年</th></tr></thead>
    <tr><td>常住人口城镇化率</td><td>70%</td></tr>
  </table>
  <!-- 编辑注释 -->
  <div id="comments">网友评论</div>
  <div class="share-bar">分享到微信</div>
  <div class="ad-banner">广告</div>
  <div class="head-note">责任编辑：李明</div>
</main>
<footer>版权所有 网站底部</footer>
</body>
</html>
"""

PAGE_TEXT = """# 关于推进新型城镇化的意见

新型城镇化是现代化的必由之路， 是最大的内需潜力所在。

## 一、总体要求

坚持以人为本。
推进农业转移人口市民化。

放开落户限制

完善公共服务

指标 | 2025年
常住人口城镇化率 | 70%

责任编辑：李明"""


def test_html_renders_main_text_only(tmp_path):
    doc = load(write(tmp_path, "意见.html", PAGE.encode()))
    assert doc.text == PAGE_TEXT
    assert doc.title == "关于推进新型城镇化的意见"


def test_html_without_main_uses_body_and_h1_title(tmp_path):
    page = (
        "<html><body><div class='nav-menu'>导航</div>"
        "<div>第一段<div>嵌套段落</div>尾巴</div><h3>三级标题</h3><h1>主标题</h1>"
        "<p>甲<br><br>乙</p></body></html>"
    )
    doc = load(write(tmp_path, "a.HTM", page.encode()))
    assert doc.text == "第一段\n\n嵌套段落\n\n尾巴\n\n### 三级标题\n\n# 主标题\n\n甲\n\n乙"
    assert doc.title == "主标题"


def test_html_chrome_class_on_a_page_wrapper_keeps_the_content(tmp_path):
    page = (
        "<body><div class='layout with-sidebar'><div class='menu'>菜单</div>"
        "<article><h1>标题</h1><p>正文</p></article></div></body>"
    )
    assert load(write(tmp_path, "w.html", page.encode())).text == "# 标题\n\n正文"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("国务院关于印发规划的通知_滚动新闻_中国政府网", "国务院关于印发规划的通知"),
        ("规划纲要 | 国家发展改革委", "规划纲要"),
        ("浙江省教育厅关于深化普通高中课程改革的通知--党政办-某中学",
         "浙江省教育厅关于深化普通高中课程改革的通知"),
        ("_中国政府网", "_中国政府网"),
        ("2021-2025年规划", "2021-2025年规划"),
    ],
)
def test_html_title_drops_the_site_suffix(tmp_path, title, expected):
    page = f"<html><head><title>{title}</title></head><body><p>正文</p></body></html>"
    assert load(write(tmp_path, "t.html", page.encode())).title == expected


# Past Python's recursion limit (1,000), where <span>, <td> and <article> failed with a
# RecursionError; <div> took 17 s at this depth, its time growing with depth squared.
DEPTH = 5_000


@pytest.mark.parametrize("tag", ["div", "span", "td", "article", "a"])
def test_html_nested_deeper_than_the_recursion_limit_reads_in_linear_time(tmp_path, tag):
    page = f"<html><body>{f'<{tag}>' * DEPTH}深层正文。{f'</{tag}>' * DEPTH}</body></html>"
    started = time.perf_counter()
    doc = load(write(tmp_path, "deep.html", page.encode()))
    assert time.perf_counter() - started < 2  # 0.1-0.2 s here
    assert doc.text == "深层正文。"


def test_html_deep_chrome_tables_and_headings_render_as_before(tmp_path):
    """Each structure of the renderer, nested past the recursion limit: chrome is
    dropped whole, rows of nested tables stay in their cell, headings hold their text."""
    chrome = "<div class='share'>" * DEPTH + "分享" + "</div>" * DEPTH
    table = "<table><tr><td>格" * DEPTH + "底" + "</td></tr></table>" * DEPTH
    heading = "<h2>题" * DEPTH + "</h2>" * DEPTH
    page = f"<html><body><p>开头</p>{chrome}{table}{heading}<p>结尾</p></body></html>"
    doc = load(write(tmp_path, "deep.html", page.encode()))
    assert doc.text == f"开头\n\n{'格 ' * (DEPTH - 1)}格底\n\n## {' '.join('题' * DEPTH)}\n\n结尾"


def test_html_in_declared_gb2312_with_gbk_characters(tmp_path):
    page = '<html><head><meta charset="gb2312"></head><body><p>朱镕基讲话</p></body></html>'
    assert load(write(tmp_path, "gb.html", page.encode("gbk"))).text == "朱镕基讲话"


# --- PDF -------------------------------------------------------------------------

PDF_PAGES = (
    ["第一章 发展环境", "国内生产总值突破一百万亿元。"],
    ["第二章 指导方针", "坚持新发展理念。"],
)


def make_pdf(pages, title: str = "", draw_text: bool = True) -> bytes:
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf)
    if title:
        pdf.setTitle(title)
    for lines in pages:
        pdf.setFont("STSong-Light", 12)
        if draw_text:
            for i, line in enumerate(lines):
                pdf.drawString(72, 750 - 20 * i, line)
        else:
            pdf.rect(72, 600, 200, 100, fill=1)
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def test_pdf_text_pages_and_title(tmp_path):
    doc = load(write(tmp_path, "纲要.pdf", make_pdf(PDF_PAGES, title="十四五规划纲要")))
    assert squeeze(doc.text) == squeeze("".join(sum(PDF_PAGES, [])))
    assert doc.title == "十四五规划纲要"
    assert len(doc.page_starts) == 2 and doc.page_starts[0] == 0
    second = doc.text.index("第二章")
    assert doc.page_starts[1] <= second
    assert doc.text[doc.page_starts[1] - 2 : doc.page_starts[1]] == "\n\n"
    assert (doc.page_at(doc.text.index("一百万亿元")), doc.page_at(second)) == (1, 2)


def test_pdf_with_empty_user_password_opens(tmp_path):
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(PDF_PAGES))))
    writer.encrypt(user_password="", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    assert "指导方针" in load(write(tmp_path, "只读.pdf", out.getvalue())).text


# --- DOCX ------------------------------------------------------------------------


def make_docx(core_title: str = "") -> bytes:
    document = docx.Document()
    document.core_properties.title = core_title
    document.add_paragraph("关于加快发展的意见", style="Title")
    document.add_heading("一、总体要求", level=1)
    document.add_paragraph("坚持稳中求进。")
    document.add_paragraph("   ")
    table = document.add_table(rows=2, cols=3)
    rows = [["指标", "2020年", "2025年"], ["城镇化率", "60%", ""]]
    for row, cells in zip(table.rows, rows, strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    document.add_heading("（一）主要目标", level=2)
    document.add_paragraph("到2025年，\n基本实现目标。")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


DOCX_TEXT = """# 关于加快发展的意见

# 一、总体要求

坚持稳中求进。

指标 | 2020年 | 2025年
城镇化率 | 60%

## （一）主要目标

到2025年，
基本实现目标。"""


def test_docx_renders_blocks_in_document_order(tmp_path):
    doc = load(write(tmp_path, "意见.docx", make_docx()))
    assert (doc.text, doc.title) == (DOCX_TEXT, "关于加快发展的意见")


def test_docx_title_prefers_core_properties(tmp_path):
    assert load(write(tmp_path, "b.docx", make_docx("元数据标题"))).title == "元数据标题"


def without_core_properties(data: bytes) -> bytes:
    """The .docx with docProps/core.xml and its relationship taken out, as some
    converters write it."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            if item.filename == "docProps/core.xml":
                continue
            content = src.read(item)
            if item.filename == "_rels/.rels":
                content = re.sub(rb"<Relationship [^>]*core-properties[^>]*/>", b"", content)
            dst.writestr(item, content)
    return out.getvalue()


def docx_of(*paragraphs: str, heading: str = "") -> bytes:
    document = docx.Document()
    if heading:
        document.add_heading(heading, level=2)
    for text in paragraphs:
        document.add_paragraph(text)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def test_docx_without_core_properties_is_titled_by_its_heading_not_word_document(tmp_path):
    # python-docx makes up the title "Word Document" for such a file
    data = without_core_properties(docx_of("正文。", heading="关于加快发展的意见"))
    assert b"docProps/core.xml" not in data
    doc = load(write(tmp_path, "无属性.docx", data))
    assert (doc.title, doc.text) == ("关于加快发展的意见", "## 关于加快发展的意见\n\n正文。")


def test_docx_with_the_made_up_title_saved_is_titled_by_its_first_line(tmp_path):
    # ... and saves it into the file when it rewrites one: it is no title either
    document = docx.Document(io.BytesIO(without_core_properties(
        docx_of("关于推进新型城镇化的意见", "各地区、各部门：", "新型城镇化是现代化的必由之路。"))))
    buf = io.BytesIO()
    document.save(buf)
    assert document.core_properties.title == "Word Document"
    assert load(write(tmp_path, "存过.docx", buf.getvalue())).title == "关于推进新型城镇化的意见"


def test_docx_first_line_is_a_title_only_if_it_reads_as_one(tmp_path):
    sentence = "新型城镇化是现代化的必由之路，是最大的内需潜力所在。"
    assert load(write(tmp_path, "a.docx", docx_of(sentence))).title == ""  # the chunker's to derive
    document = docx.Document()
    document.add_table(rows=1, cols=1).cell(0, 0).text = "表格不是标题"
    document.add_paragraph("十四五规划纲要")
    buf = io.BytesIO()
    document.save(buf)
    assert load(write(tmp_path, "b.docx", buf.getvalue())).title == "十四五规划纲要"


def test_docx_wps_heading_styles_and_merged_cells(tmp_path):
    document = docx.Document()
    document.styles.add_style("标题 2", WD_STYLE_TYPE.PARAGRAPH)
    document.add_paragraph("第二节", style="标题 2")
    table = document.add_table(rows=2, cols=3)
    merged = table.cell(0, 0).merge(table.cell(0, 1))
    merged.text = "合并单元格"
    table.cell(0, 2).text = "右"
    table.cell(1, 0).text = "甲"
    buf = io.BytesIO()
    document.save(buf)
    doc = load(write(tmp_path, "wps.docx", buf.getvalue()))
    assert (doc.text, doc.title) == ("## 第二节\n\n合并单元格 | 右\n甲", "第二节")


# --- errors ----------------------------------------------------------------------


def test_unsupported_suffix_names_file_and_choices(tmp_path):
    with pytest.raises(UnsupportedFileError) as info:
        load(write(tmp_path, "notes.xls", b"x"))
    message = str(info.value)
    assert message.startswith("notes.xls: unsupported format '.xls'; zhice reads .txt, .md")
    assert all(suffix in message for suffix in SUPPORTED_SUFFIXES)
    assert isinstance(info.value, ZhiceError)


def load_error(path: Path) -> str:
    with pytest.raises(LoadError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(path.name + ": ") and "\n" not in message
    return message


def test_missing_file_and_directory(tmp_path):
    assert "no such file" in load_error(tmp_path / "缺失.txt")
    (tmp_path / "目录.md").mkdir()
    assert "is a directory" in load_error(tmp_path / "目录.md")


def test_empty_and_whitespace_only_files(tmp_path):
    assert "empty file" in load_error(write(tmp_path, "空.txt", b""))
    assert "no text" in load_error(write(tmp_path, "空白.txt", b" \r\n\n"))
    assert "no text" in load_error(write(tmp_path, "空.html", b"<html><script>x</script></html>"))


def test_binary_txt(tmp_path):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("通知.txt", GARBAGE)
    message = load_error(write(tmp_path, "包.txt", archive.getvalue()))
    assert re.fullmatch(r"包\.txt: binary content \(\d+ control bytes in 3,\d{3}\), not text; "
                        r"check the file type", message)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    assert "binary content" in load_error(write(tmp_path, "图.md", png))


def test_corrupt_pdf(tmp_path):
    message = load_error(write(tmp_path, "坏.pdf", GARBAGE))
    assert "cannot read this PDF file, it may be corrupt" in message


def test_corrupt_docx(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("hello.txt", "你好")
    assert "not a valid .docx" in load_error(write(tmp_path, "空包.docx", buf.getvalue()))
    message = load_error(write(tmp_path, "乱码.docx", GARBAGE))
    assert "not a valid .docx" in message and "old .doc" in message


def test_pdf_without_text_layer_or_text_to_read_on_its_page(tmp_path):
    # drawn on, so read by OCR (tests/ingest/test_ocr.py), which finds no text either
    message = load_error(write(tmp_path, "扫描件.pdf", make_pdf([[]], draw_text=False)))
    assert message == ("扫描件.pdf: no text, neither in the PDF's text layer nor found by OCR "
                       "on page 1; check that the scan is legible")


def test_password_protected_pdf(tmp_path):
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(PDF_PAGES))))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    assert "password-protected" in load_error(write(tmp_path, "加密.pdf", out.getvalue()))


def test_html_article_found_among_a_school_sites_chrome(tmp_path):
    """A saved government or school page without <main>: menus, a link list, the path,
    a property line, 上一篇/下一篇 and 打印 around the article are left out; the
    article's own table of contents (#_Toc links) and a Word export's unclosed <a> kept."""
    body = "".join(f"<p>第{i}条 各地要加强技能人才培养，完善职业技能等级制度，健全评价体系。</p>"
                   for i in range(12))
    links = "".join(f"<li><a href='/Item/{i}.aspx'>每周一学（第{i}期）学习材料</a></li>"
                    for i in range(8))
    page = (
        "<html><head><title>每周一学（第3期）--学习专栏-某中学</title></head>"
        "<body><div class='top'>今天是<a href='/a'>智慧校园</a></div>"
        f"<div class='left'><h3>推荐阅读</h3><ul>{links}</ul></div>"
        "<div class='mainBox'><div class='path'>当前位置：<a href='/'>首页</a> &gt; "
        "<a href='/c'>党政办</a></div><h2 class='title'>每周一学</h2>"
        "<div class='property'>文章来源：作者：发布时间：2022年10月10日</div>"
        "<div class='conTxt'><p>关于加强技能人才工作的意见</p>"
        "<p><a href='http://host/Content.aspx#_Toc1'>一、总体要求……1</a></p>"
        f"<a href='http://host/x'>{body}</a></div>"
        "<div>【打印正文】</div><div>上一篇：<a href='/p'>喜迎二十大</a>[ 10-08 ]</div></div>"
        "</body></html>"
    )
    doc = load(write(tmp_path, "school.html", page.encode()))
    assert doc.title == "关于加强技能人才工作的意见"  # the article's, not the column's
    text = doc.text
    # the property line's date is the page's byline: kept, the rest of the line is not
    assert text.startswith("发布时间：2022年10月10日\n\n"
                           "关于加强技能人才工作的意见\n\n一、总体要求……1\n\n第0条")
    assert text.endswith("健全评价体系。")
    for chrome in ("今天是", "推荐阅读", "当前位置", "文章来源", "打印正文", "上一篇"):
        assert chrome not in text


def test_html_salutation_is_no_title_the_pages_title_stays(tmp_path):
    body = "".join(f"<p>第{i}条 各地要加强课程改革，完善选课制度，健全评价体系。</p>"
                   for i in range(5))
    page = ("<html><head><title>关于深化课程改革的通知--党政办-某中学</title></head><body>"
            f"<div><a href='/m'>菜单</a></div><div><p>各市、县（市、区）教育局：</p>{body}</div>"
            "</body></html>")
    assert load(write(tmp_path, "n.html", page.encode())).title == "关于深化课程改革的通知"


def test_html_byline_in_the_sites_chrome_stays_as_the_pages_first_line(tmp_path):
    page = (
        "<html><head><title>关于某事的通知</title></head><body>"
        "<div class='nav'>首页</div>"
        "<div class='property'><span>文章来源：</span><span>发布时间：2024年08月26日</span>"
        "<span>点击数：</span></div>"
        "<article><h1>关于某事的通知</h1><p>正文一段。</p></article></body></html>"
    )
    doc = load(write(tmp_path, "n.html", page.encode()))
    assert doc.text == "发布时间：2024年08月26日\n\n# 关于某事的通知\n\n正文一段。"
    assert doc.title == "关于某事的通知"


def test_html_without_a_byline_gains_no_line(tmp_path):
    page = "<body><article><h1>标题</h1><p>2024年8月26日发布了通知。</p></article></body>"
    text = load(write(tmp_path, "p.html", page.encode())).text
    assert text == "# 标题\n\n2024年8月26日发布了通知。"
