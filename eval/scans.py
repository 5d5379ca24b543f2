"""Scanned pages of known text, made here, to measure OCR against (tests, benchmark).

A notice and its attached plan, as a city government would publish them, are drawn as
page images the way they come out of a scanner: the notice under its red masthead and
rule, with the red seal over its signature; the plan in other fonts and sizes (12 pt
sans, 10.5 pt serif, a page fed in sideways, 18 pt bold). The text drawn is known, so
what OCR reads can be scored by character accuracy.

    pages = scan_pages()                       # [ScanPage(kind, text, image), ...]
    QUESTIONS                                  # [(question, answer holds, page)]
    pdf = scan_pdf([p.image for p in pages])   # bytes of a PDF of page images
    char_accuracy(ocr_text, pages[0].text)     # 1 - edit distance / length

Needs Pillow and the Noto CJK fonts (Debian: fonts-noto-cjk).
"""

import io
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DPI = 200  # as office scanners save documents by default
A4_MM = (210, 297)
# GB/T 9704's margins: top 37 mm, left 28 mm, right 26 mm, bottom 35 mm
MARGINS_MM = (28, 37, 26, 35)
LINE_SPACING = 1.6
RED = (210, 20, 20)
FONT_FOLDERS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"),
                Path.home() / ".local/share/fonts", Path.home() / ".fonts")

# (style, text): the blocks of each page, in reading order. Styles: masthead, number,
# rule, title, line (flush left), para (indented two characters), right (signature
# and date), seal (the red seal, over what comes before it).
NOTICE = [
    ("masthead", "临江市人民政府文件"),
    ("number", "临政发〔2024〕12号"),
    ("rule", ""),
    ("title", "临江市人民政府关于印发临江市数字政府建设实施方案的通知"),
    ("line", "各区县人民政府，市政府各部门，各直属机构："),
    ("para", "现将《临江市数字政府建设实施方案》印发给你们，请结合实际认真贯彻落实。"
             "各地各部门要把数字政府建设作为转变政府职能的重要抓手，主要负责同志要亲自研究部署，"
             "确保各项任务按期完成。"),
    ("para", "实施过程中遇到的重大问题，请及时向市大数据发展管理局报告。"),
    ("right", "临江市人民政府"),
    ("right", "2024年3月15日"),
    ("seal", ""),
]
PLAN = [
    [
        ("title", "临江市数字政府建设实施方案"),
        ("para", "为深入贯彻落实党中央、国务院关于加强数字政府建设的决策部署，全面提升政府履职的"
                 "数字化、智能化水平，结合本市实际，制定本方案。"),
        ("para", "一、总体要求"),
        ("para", "坚持以人民为中心，坚持数据赋能、整体协同、安全可控，以政务服务“一网通办”、"
                 "城市运行“一网统管”、政务运行“一网协同”为主线，推动政府治理流程再造和模式优化。"),
        ("para", "到2026年，全市政务服务事项网上可办率达到98%以上，“一网通办”实际办件率达到"
                 "85%，企业和群众办事平均跑动次数减少到0.3次以下，电子证照共享应用覆盖率达到95%。"),
        ("para", "到2030年，基本建成整体协同、敏捷高效、智能精准、开放透明的数字政府，政府数字化"
                 "履职能力进入全省前列。"),
        ("para", "二、主要任务"),
        ("para", "（一）优化政务服务。推行高频事项“免申即享”“秒批秒办”，2025年底前实现企业开办、"
                 "不动产登记、社保医保等50项高频事项全程网办，办理时限平均压缩60%。"),
    ],
    [
        ("para", "（二）建设统一的政务云平台。整合各部门分散建设的机房和服务器，建设全市统一的"
                 "政务云平台，计算资源不少于12000核，存储容量不少于8PB，部门非涉密信息系统上云率达到100%。"
                 "新建信息系统原则上一律部署在政务云上，不再单独建设机房。"),
        ("para", "（三）推进数据共享开放。建成市级数据共享交换平台，归集人口、法人、自然资源、"
                 "电子证照等基础数据库，政务数据资源累计归集超过12亿条。制定公共数据开放目录，"
                 "2026年底前向社会开放数据集不少于800个，优先开放交通、气象、教育、医疗等领域数据。"),
        ("para", "（四）提升城市治理能力。建设城市运行管理中心，接入城管、交通、应急、环保等部门的"
                 "感知设备不少于5万个，实现重点区域视频监控全覆盖、城市运行态势一屏统览。"
                 "建立跨部门协同处置机制，一般事件处置时限不超过24小时。"),
        ("para", "（五）加强网络安全保障。落实网络安全等级保护制度，关键信息基础设施每年至少开展"
                 "一次安全检测评估，重要数据实行分类分级保护，数据出境严格按照国家有关规定办理。"),
        ("para", "（六）推动政务运行协同。推广使用“临政通”移动办公平台，实现公文流转、会议管理、"
                 "督查督办全程在线，市直部门无纸化办公率达到90%以上。"),
    ],
    [
        ("para", "三、保障措施"),
        ("para", "（一）加强组织领导。成立由市长任组长的数字政府建设领导小组，领导小组办公室设在"
                 "市大数据发展管理局，负责统筹协调、督促检查和考核评估。"),
        ("para", "（二）加大资金投入。市财政每年安排数字政府建设专项资金不少于3.5亿元，"
                 "统筹用于平台建设、系统运维和安全保障，区县按照不低于1:1的比例安排配套资金。"),
        ("para", "（三）强化人才支撑。每年培训各级领导干部和业务骨干不少于2000人次，"
                 "引进数据分析、网络安全等领域高层次人才不少于50名。"),
    ],
    [
        ("para", "四、附则"),
        ("para", "本方案自2024年4月1日起施行，有效期5年。"),
        ("para", "本方案由临江市大数据发展管理局负责解释。"),
    ],
]
# (question, what its answer must hold, the page that holds it): on a 12 pt page, a
# 10.5 pt page and the page fed in sideways
QUESTIONS = [
    ("到2026年全市政务服务事项网上可办率要达到多少？", "98%", 2),
    ("政务云平台的计算资源不少于多少核？", "12000核", 3),
    ("市财政每年安排的数字政府建设专项资金不少于多少？", "3.5亿元", 4),
]
# (kind, font, points, bold, turned): how each page is drawn, the notice first
PAGE_KINDS = [
    ("red header and seal, serif 16 pt", "serif", 16, False, False),
    ("sans 12 pt", "sans", 12, False, False),
    ("serif 10.5 pt", "serif", 10.5, False, False),
    ("sideways, sans 14 pt", "sans", 14, False, True),
    ("bold serif 18 pt", "serif", 18, True, False),
]


@dataclass(frozen=True)
class ScanPage:
    """A scanned page: what kind, the text drawn on it in reading order, its image."""

    kind: str
    text: str
    image: object  # PIL.Image.Image


def scan_pages() -> list[ScanPage]:
    """The notice and its plan as scanned pages (PAGE_KINDS)."""
    out = []
    for blocks, (kind, font, points, bold, turned) in zip([NOTICE, *PLAN], PAGE_KINDS):
        image = render_page(blocks, font, points, bold)
        if turned:  # fed into the scanner sideways: the text reads bottom to top
            image = image.rotate(90, expand=True)
        out.append(ScanPage(kind, page_text(blocks), image))
    return out


def page_text(blocks) -> str:
    """The text of a page's blocks, one a line, as a text layer would hold it."""
    return "\n".join(text for _, text in blocks if text)


def plan_text() -> str:
    """The notice and the plan as plain text: the same documents, born digital."""
    return "\n".join(page_text(blocks) for blocks in [NOTICE, *PLAN])


def render_page(blocks, font: str, points: float, bold: bool = False):
    """An A4 page image of `blocks` at DPI, in the font family ("serif" or "sans")."""
    from PIL import Image, ImageChops, ImageDraw

    px = DPI / 25.4
    width, height = round(A4_MM[0] * px), round(A4_MM[1] * px)
    left, top, right, bottom = (round(m * px) for m in MARGINS_MM)
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    size = round(points * DPI / 72)
    body = cjk_font(font, size, bold)
    y = top
    signature_top = None
    for style, text in blocks:
        if style == "rule":
            y += size // 2
            draw.rectangle((left, y, width - right, y + max(3, size // 10)), fill=RED)
            y += size
            continue
        if style == "seal":
            page = ImageChops.multiply(page, _seal(page.size, (width - right - 5.4 * size,
                                                               (signature_top + y) / 2), size))
            draw = ImageDraw.Draw(page)
            continue
        face, colour, indent, align = body, "black", 2 * size, "left"
        if style == "masthead":
            face, colour, align = cjk_font("serif", round(size * 2), True), RED, "center"
        elif style == "number":
            align = "center"
        elif style == "title":
            face, align = cjk_font(font, round(size * 1.4), True), "center"
        elif style == "right":
            align = "right"
            signature_top = y if signature_top is None else signature_top
        if style != "para":
            indent = 0
        line_height = round(face.size * LINE_SPACING)
        for i, line in enumerate(_wrap(text, face, width - left - right, indent)):
            x = left + (indent if i == 0 else 0)
            if align == "center":
                x = (width - face.getlength(line)) / 2
            elif align == "right":
                x = width - right - 2 * size - face.getlength(line)
            draw.text((x, y), line, font=face, fill=colour)
            y += line_height
        if style in ("masthead", "title"):
            y += size // 2
    if y > height - bottom:
        raise ValueError(f"the text runs {y - (height - bottom)} px past the page's bottom margin")
    return page


def _wrap(text: str, face, width: float, indent: float) -> list[str]:
    """text cut into lines no wider than `width` (the first `indent` narrower)."""
    lines, line = [], ""
    for ch in text:
        room = width - (indent if not lines else 0)
        if line and face.getlength(line + ch) > room:
            lines.append(line)
            line = ""
        line += ch
    return [*lines, line] if line else lines


def _seal(size: tuple[int, int], centre: tuple[float, float], unit: int):
    """A white layer with a red seal (ring and star) at `centre`, to multiply over a page."""
    import math

    from PIL import Image, ImageDraw

    layer = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(layer)
    radius = 3.2 * unit
    x, y = centre
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=RED,
                 width=max(4, unit // 6))
    star = [(x + r * math.sin(i * math.pi / 5), y - r * math.cos(i * math.pi / 5))
            for i, r in zip(range(10), [radius * 0.35, radius * 0.14] * 5)]
    draw.polygon(star, fill=RED)
    return layer


def photograph(image) -> bytes:
    """A JPEG of a page as a phone takes it: greyish paper, compressed, stored sideways
    with the EXIF orientation that turns it upright for viewing."""
    from PIL import Image

    paper = Image.new("RGB", image.size, (200, 196, 186))
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to view"
    out = io.BytesIO()
    Image.blend(image.convert("RGB"), paper, 0.25).rotate(90, expand=True).save(
        out, "JPEG", quality=75, exif=exif)
    return out.getvalue()


def scan_pdf(images, dpi: int = DPI) -> bytes:
    """A PDF of page images, one a page, at `dpi` (pages of their size on paper)."""
    buf = io.BytesIO()
    first, *rest = [image.convert("RGB") for image in images]
    first.save(buf, "PDF", save_all=True, append_images=rest, resolution=dpi)
    return buf.getvalue()


@cache
def _font_files() -> dict[tuple[str, str], tuple[str, int]]:
    """(family, style) -> (file, index) of the installed Noto CJK fonts."""
    from PIL import ImageFont

    found = {}
    for folder in FONT_FOLDERS:
        for path in sorted(folder.rglob("Noto*CJK*.tt[cf]")) if folder.is_dir() else ():
            for index in range(32):
                try:
                    name = ImageFont.truetype(str(path), 10, index=index).getname()
                except OSError:
                    break
                found.setdefault(name, (str(path), index))
    return found


def cjk_font(family: str, size: int, bold: bool = False):
    """Noto Serif or Sans CJK SC at `size` px; an error naming the package without it."""
    from PIL import ImageFont

    name = ("Noto Serif CJK SC" if family == "serif" else "Noto Sans CJK SC",
            "Bold" if bold else "Regular")
    if name not in _font_files():
        raise FileNotFoundError(f"the font {' '.join(name)} is not installed; on Debian: "
                                "apt-get install fonts-noto-cjk")
    path, index = _font_files()[name]
    return ImageFont.truetype(path, size, index=index)


def char_accuracy(read: str, truth: str) -> float:
    """1 - (Levenshtein distance / characters of truth), whitespace ignored: the share of
    characters read right. Can fall below 0 when far more is read than is there."""
    a, b = re.sub(r"\s+", "", read), re.sub(r"\s+", "", truth)
    if not b:
        return 1.0 if not a else 0.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        previous = current
    return 1 - previous[-1] / len(b)
