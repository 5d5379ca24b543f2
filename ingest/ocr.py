"""Text from page images: scanned PDF pages and photographed or scanned image files.

RapidOCR (the `rapidocr-onnxruntime` package) runs PaddleOCR's Chinese detection,
recognition and direction models, which ship inside its wheel: nothing is downloaded.
It is the optional extra `zhice[ocr]`, with `pypdfium2` to render PDF pages.

    engine = OcrEngine().load()        # OcrUnavailableError naming the extra without it
    page = engine.read(image)          # OcrPage: text in reading order, lines, rotation
    page_jpeg(image, page.rotation)    # the page upright as a JPEG, to show beside its text
    layer_problem(text, ink, image_area, page_area)   # why a text layer needs OCR, or None

Only pages whose text layer cannot stand for the page are read (layer_problem): a
layer that is missing on a page with ink on it, garbled (no ToUnicode map: replacement,
private-use or mojibake characters), or thin over a large image (a scan with only
its page number in the layer). Thin is a cheap screen: the loader keeps the layer when
OCR reads no more characters than it holds (a photograph with a caption).
"""

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from statistics import median

from .errors import LoadError, ZhiceError
from .types import PageImage

EXTRA = 'pip install "zhice[ocr]"'
# The longest side of an image handed to OCR, in pixels: RapidOCR's own max_side_len,
# past which it scales images down itself. A4 at this size is 171 dpi, where 10.5 pt
# (五号, the smallest body size of official documents) is 25 px high: lines are cut
# from it for the recogniser. Text is found on a copy scaled to DETECT_SIDE: at most
# three quarters of the time a page takes at 2000, accuracy within 0.01 of it on every
# kind of page measured (benchmarks/results/ocr.txt, "detector sizes").
OCR_SIDE = 2000
DETECT_SIDE = 1280
MAX_DPI = 300  # a small PDF page is rendered no finer: scans rarely hold more detail
# The image of an OCR-read page kept with the index, for people to check the text
# against: 1200 px on the long side is A4 at 103 dpi, where 10.5 pt body text is 15 px
# high and legible on a screen; JPEG at quality 80 takes 20-80 KB a page, a fifteenth
# of a PNG's bytes on a noisy scan, and OCR reads it as well as the page it came from
# (benchmarks/results/page_images.txt).
PAGE_IMAGE_SIDE = 1200
PAGE_IMAGE_QUALITY = 80
PageProgress = Callable[[int, int], None]  # (pages read, pages to read)

# Layer screens. Garbled: most of the layer's characters are of kinds that real text
# has few of. Thin: fewer characters than a tenth of what the page's images could hold
# at 三号 (16 pt, the body size of GB/T 9704) with 1.5 line spacing (16 x 24 pt each).
_GARBLED = re.compile(r"[\ufffd\ue000-\uf8ff\u0080-\u024f]")
_GARBLED_SHARE = 0.5
_CHARACTER_AREA = 16 * 24  # pt²
_THIN_SHARE = 0.1
# Images below this share of the page (logos, photos beside text) never make a layer thin.
_LARGE_IMAGE = 0.5

# Reading order, in units of the body's line height u (a CJK character's width is about
# u). GB/T 9704 indents a paragraph by two characters, so a line starting more than
# _INDENT past the left margin starts one; wrapped lines end within a character of the
# right margin, so a line ending more than _SHORT before it ends one.
_INDENT = 0.8
_SHORT = 1.5
_SAME_LINE = 0.5  # of the smaller height: boxes whose centres differ less share a line
_GAP = 1.5  # times the median gap between lines: a blank line between paragraphs
# A title broken over lines: centred lines (margins equal within a character) of a size
# above the body's (a short box's height varies by a quarter; a title is 1.4 x body)
_TITLE_SIZE = 1.15
_SAME_SIZE = 1.25
_SPACE = 0.3  # a gap between boxes on a line wider than this is a space (Latin text)
_TALL = 1.5  # a box this many times taller than wide is sideways text
# A 发文字号 as OCR misreads its 六角括号 ("临政发〔[2024】12号"): brackets around a year
# between an issuer's short name and "N号" that are doubled or do not pair. 公文 write
# them as 〔〕 (GB/T 9704-2012); a pair read as a pair ("国办函[2011]10号") is left.
_DOC_NUMBER = re.compile(r"(?<=[\u4e00-\u9fff])([〔\[［【(（{]{1,2})\s*((?:19|20)\d{2})\s*"
                         r"([〕\]］】)）}]{1,2})(?=\s*(?:第\s*)?\d{1,5}\s*号)")
_PAIRS = {"〔〕", "[]", "［］", "【】", "()", "（）", "{}"}
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0002fa1f]")


class OcrUnavailableError(ZhiceError):
    """OCR was needed and the optional extra is not installed (or does not import)."""


def layer_problem(text: str, ink: bool, image_area: float = 0.0,
                  page_area: float = 0.0) -> str | None:
    """Why a page's text layer cannot stand for the page: "missing" (no text, but ink on
    the page), "garbled", "thin" (few characters over a large image), or None.

    Args:
        text: the layer's text.
        ink: whether anything is drawn on the page (images, paths).
        image_area, page_area: in pt²; 0 when unknown (then no layer is thin).
    """
    chars = _chars(text)
    if not chars:
        return "missing" if ink else None
    if len(_GARBLED.findall(text)) > _GARBLED_SHARE * chars:
        return "garbled"
    if page_area and image_area >= _LARGE_IMAGE * page_area and (
            chars < _THIN_SHARE * image_area / _CHARACTER_AREA):
        return "thin"
    return None


@dataclass(frozen=True)
class OcrLine:
    """A detected text box: its text, its corners (x, y) in the upright page image, and
    the recogniser's confidence."""

    text: str
    box: tuple[tuple[float, float], ...]
    score: float

    @property
    def height(self) -> float:
        (x0, y0), _, _, (x3, y3) = self.box
        return ((x3 - x0) ** 2 + (y3 - y0) ** 2) ** 0.5

    @property
    def centre(self) -> tuple[float, float]:
        return (sum(x for x, _ in self.box) / 4, sum(y for _, y in self.box) / 4)

    @property
    def left(self) -> float:
        return min(x for x, _ in self.box)

    @property
    def right(self) -> float:
        return max(x for x, _ in self.box)


@dataclass(frozen=True)
class OcrPage:
    """What OCR read on one page: the text in reading order (paragraphs on lines of
    their own), the lines it came from, by how many degrees counter-clockwise the
    image was turned to read it, and (from read_image) the page as page_jpeg makes it."""

    text: str
    lines: tuple[OcrLine, ...]
    rotation: int = 0
    jpeg: bytes = field(default=b"", repr=False)


class OcrEngine:
    """RapidOCR on one thread (the machine is shared with the embedder and other jobs).
    The constructor is cheap; load() imports and builds the models, once.

        engine = OcrEngine().load()
        engine.read(bgr)        # an H x W x 3 uint8 array, BGR as OpenCV has it
    """

    def __init__(self, threads: int = 1, detect_side: int = DETECT_SIDE):
        self.threads = threads
        self.detect_side = detect_side
        self._ocr = None

    def load(self) -> "OcrEngine":
        """Build the models; OcrUnavailableError, naming the extra, when it is missing."""
        if self._ocr is None:
            try:
                import cv2
                import pypdfium2  # noqa: F401 - the other half of the extra: fail here, once
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as e:
                raise unavailable(e) from e
            cv2.setNumThreads(self.threads)
            # "max": the detector never enlarges an image (a one-line slip 4x, by
            # default); read() hands it images already at DETECT_SIDE
            self._ocr = RapidOCR(intra_op_num_threads=self.threads,
                                 inter_op_num_threads=self.threads, det_limit_type="max")
        return self

    def read(self, image) -> OcrPage:
        """The text on a page image (H x W x 3, BGR), turned upright first when it lies
        sideways or upside down."""
        import numpy as np

        if self._ocr is None:
            raise RuntimeError("OcrEngine.read() before load()")
        image = fit(image)
        boxes = self._detect(image)
        rotation = 0
        if boxes and _sideways(boxes):
            image, rotation = np.ascontiguousarray(np.rot90(image)), 90
            boxes = self._detect(image)
        if not boxes:
            return OcrPage("", (), rotation)
        crops = self._ocr.get_crop_img_list(image, [np.array(b, np.float32) for b in boxes])
        _, directions, _ = self._ocr.text_cls(crops)
        # The direction model errs on single lines (a long upright line read as turned
        # at 0.92 confidence): the page is turned as a whole, by the vote of its lines.
        if _upside_down(directions):
            rotation = (rotation + 180) % 360
            height, width = image.shape[:2]
            boxes = [tuple((width - x, height - y) for x, y in b[2:] + b[:2]) for b in boxes]
            crops = [np.ascontiguousarray(np.rot90(c, 2)) for c in crops]
        recognised, _ = self._ocr.text_rec(crops)
        lines = tuple(OcrLine(text.strip(), box, float(score))
                      for box, (text, score, *_) in zip(boxes, recognised)
                      if text.strip() and score >= self._ocr.text_score)
        return OcrPage(assemble(lines), lines, rotation)

    def _detect(self, image) -> list[tuple[tuple[float, float], ...]]:
        """Text boxes as four corners each, clockwise from the top left, found on a copy
        of image scaled to detect_side."""
        small = fit(image, self.detect_side)
        scale = image.shape[1] / small.shape[1]
        found, _ = self._ocr.text_det(small)
        if found is None:
            return []
        return [tuple((float(x) * scale, float(y) * scale) for x, y in box) for box in found]


def unavailable(error: ImportError) -> OcrUnavailableError:
    """The missing-extra error; an import that failed for another reason says which."""
    why = "" if isinstance(error, ModuleNotFoundError) else f" (importing it failed: {error})"
    return OcrUnavailableError(f"reading it needs OCR, an optional extra: {EXTRA}{why}")


def page_jpeg(image, rotation: int = 0, side: int = PAGE_IMAGE_SIDE,
              quality: int = PAGE_IMAGE_QUALITY) -> bytes:
    """A page image (H x W x 3, BGR) as people see it beside its OCR text: turned
    upright by `rotation` (OcrPage.rotation), at most `side` pixels long, JPEG."""
    import cv2
    import numpy as np

    upright = np.ascontiguousarray(np.rot90(fit(image, side), rotation // 90))
    ok, data = cv2.imencode(".jpg", upright, [cv2.IMWRITE_JPEG_QUALITY, quality,
                                              cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    if not ok:
        raise LoadError(f"could not encode a {upright.shape[1]}x{upright.shape[0]} page "
                        "image as JPEG")
    return data.tobytes()


def fit(image, side: int = OCR_SIDE):
    """image scaled down so that its longer side is at most `side` pixels."""
    import cv2

    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _sideways(boxes: Sequence[tuple]) -> bool:
    """Whether most text boxes stand upright: lines of a page turned by 90 degrees."""
    tall = wide = 0
    for (x0, y0), (x1, y1), _, (x3, y3) in boxes:
        width = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
        height = ((x3 - x0) ** 2 + (y3 - y0) ** 2) ** 0.5
        tall += height >= _TALL * width
        wide += width >= _TALL * height
    return tall > wide


def _upside_down(directions: Sequence) -> bool:
    """Whether the lines' direction votes, weighted by confidence, say "turned 180"."""
    turned = sum(float(score) for label, score in directions if label == "180")
    upright = sum(float(score) for label, score in directions if label != "180")
    return turned > upright


def assemble(lines: Sequence[OcrLine]) -> str:
    """Lines of text boxes in reading order, one paragraph a line: boxes that share a
    line are joined left to right, lines that continue a paragraph are joined to it;
    no space between Chinese characters, one between Latin words."""
    rows = _rows(lines)
    if not rows:
        return ""
    # a short box's height is padded more than a long one's: the body size is measured
    # on the long lines
    widest = max(row.right - row.left for row in rows)
    unit = median(row.height for row in rows if row.right - row.left >= widest / 2)
    left = _quantile([row.left for row in rows], 0.2)
    right = _quantile([row.right for row in rows], 0.8)
    gaps = [b.top - a.bottom for a, b in zip(rows, rows[1:]) if b.top > a.bottom]
    usual_gap = median(gaps) if gaps else unit
    def centred_title(row: _Row) -> bool:
        return (row.height > _TITLE_SIZE * unit
                and abs((row.left - left) - (right - row.right)) < unit)

    paragraphs = [rows[0].text]
    for before, row in zip(rows, rows[1:]):
        if centred_title(before) and centred_title(row) and (
                1 / _SAME_SIZE <= row.height / before.height <= _SAME_SIZE):
            continues = True
        else:
            continues = not (row.left - left > _INDENT * unit
                             or right - before.right > _SHORT * unit
                             or row.top - before.bottom > max(_GAP * usual_gap, unit / 2))
        if continues:  # a wrapped line: no space, unless between two Latin words
            paragraphs[-1] = _join(paragraphs[-1], row.text, paragraphs[-1][-1:].isalpha())
        else:
            paragraphs.append(row.text)
    return _DOC_NUMBER.sub(_doc_number, "\n".join(paragraphs))


def _doc_number(m: re.Match) -> str:
    return m.group(0) if m.group(1) + m.group(3) in _PAIRS else f"〔{m.group(2)}〕"


@dataclass
class _Row:
    """Boxes that share a line of text, left to right."""

    boxes: list[OcrLine]

    @property
    def text(self) -> str:
        text, end = "", None
        for box in sorted(self.boxes, key=lambda b: b.left):
            spaced = end is not None and box.left - end > _SPACE * box.height
            text, end = _join(text, box.text, spaced), box.right
        return text

    @property
    def height(self) -> float:
        return median(b.height for b in self.boxes)

    @property
    def middle(self) -> float:
        return sum(b.centre[1] for b in self.boxes) / len(self.boxes)

    @property
    def top(self) -> float:
        return self.middle - self.height / 2

    @property
    def bottom(self) -> float:
        return self.middle + self.height / 2

    @property
    def left(self) -> float:
        return min(b.left for b in self.boxes)

    @property
    def right(self) -> float:
        return max(b.right for b in self.boxes)


def _rows(lines: Sequence[OcrLine]) -> list[_Row]:
    """Boxes grouped into lines of text, top to bottom."""
    rows: list[_Row] = []
    for line in sorted(lines, key=lambda b: b.centre[1]):
        for row in reversed(rows[-3:]):  # a line's boxes lie close together in y
            if abs(line.centre[1] - row.middle) < _SAME_LINE * min(line.height, row.height):
                row.boxes.append(line)
                break
        else:
            rows.append(_Row([line]))
    return sorted(rows, key=lambda r: r.middle)


def _join(text: str, more: str, spaced: bool) -> str:
    """text + more, with a space where `spaced` says there is one between two Latin
    letters or digits (Chinese has none; "20" and "00" a box apart are one figure)."""
    if (spaced and text and more and not _CJK.match(text[-1]) and not _CJK.match(more[0])
            and text[-1].isalnum() and more[0].isalnum()):
        return f"{text} {more}"
    return text + more


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- files --------------------------------------------------------------------------


def read_image(data: bytes, source: str, engine: OcrEngine | None = None,
               progress: PageProgress | None = None) -> OcrPage:
    """The text of an image file (PNG, JPEG), turned upright by its EXIF orientation,
    with the page's JPEG (page_jpeg); LoadError when it is no readable image, OCR is not
    installed, or it finds no text."""
    image = _decode_image(data, source)
    if progress:  # before the models load: their time is the first page's
        progress(0, 1)
    try:
        engine = (engine or OcrEngine()).load()
    except OcrUnavailableError as e:
        raise LoadError(f"{source}: an image; {e}") from e
    page = engine.read(image)
    if progress:
        progress(1, 1)
    if not page.text:
        raise LoadError(f"{source}: OCR found no text in the image; check that it is a "
                        "legible picture of a document")
    return replace(page, jpeg=page_jpeg(image, page.rotation))


def _decode_image(data: bytes, source: str):
    """data as an H x W x 3 BGR array, its longer side at most OCR_SIDE."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", (OCR_SIDE, OCR_SIDE))  # a JPEG decodes at a fraction
            image = ImageOps.exif_transpose(opened)
            if image.mode in ("RGBA", "LA", "PA", "P"):  # transparent: on white paper
                image = Image.alpha_composite(Image.new("RGBA", image.size, "white"),
                                              image.convert("RGBA"))
            image = image.convert("RGB")
            image.thumbnail((OCR_SIDE, OCR_SIDE), Image.Resampling.LANCZOS)
    except Image.DecompressionBombError as e:
        raise LoadError(f"{source}: {e}; scale the image down") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        # Pillow reports a damaged PNG chunk as SyntaxError, a truncated file as OSError
        raise LoadError(f"{source}: not a readable image ({type(e).__name__}: {e}); open "
                        "and re-save it, or take the picture again") from e
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def read_pdf_pages(data: bytes, layers: Sequence[str], pages: Sequence, source: str,
                   engine: OcrEngine | None = None, progress: PageProgress | None = None
                   ) -> tuple[list[str], tuple[PageImage, ...]]:
    """Each page's text: its text layer, or what OCR reads where layer_problem says the
    layer cannot stand for the page; and the images of the pages OCR read (page_jpeg),
    by their 1-based numbers.

    Args:
        layers: each page's text layer.
        pages: pypdf's pages, for their size (and, without pypdfium2, their images).
    """
    # A layer holding as many characters as the whole page could need is never thin:
    # only the other pages are measured (pdfium walks every object of a page).
    candidates = [i for i, (page, text) in enumerate(zip(pages, layers))
                  if layer_problem(text, True, *[_area(page)] * 2)]
    if not candidates:
        return list(layers), ()
    try:
        import pypdfium2 as pdfium
    except ImportError as e:
        return _without_ocr(layers, pages, source, unavailable(e))
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        return _without_ocr(layers, pages, source, OcrUnavailableError(
            f"OCR cannot open it ({e}); open and re-save the PDF"))
    try:
        problems = {i: problem for i in candidates
                    if (problem := layer_problem(layers[i], *_ink(document[i])))}
        if not problems:
            return list(layers), ()
        if progress:  # before the models load: their time is the first page's
            progress(0, len(problems))
        try:
            engine = (engine or OcrEngine()).load()
        except OcrUnavailableError as e:
            return _without_ocr(layers, pages, source, e, problems)
        texts, read = list(layers), []
        for done, (i, problem) in enumerate(sorted(problems.items())):
            if progress and done:
                progress(done, len(problems))
            image = _render(document[i])
            page = engine.read(image)
            # a thin layer stays when OCR reads no more than it holds (a photo's caption)
            if problem != "thin" or _chars(page.text) > _chars(layers[i]):
                texts[i] = page.text
                read.append(PageImage(i + 1, page_jpeg(image, page.rotation)))
        if progress:
            progress(len(problems), len(problems))
    finally:
        document.close()
    if not any(t.strip() for t in texts):
        raise LoadError(f"{source}: no text, neither in the PDF's text layer nor found by "
                        f"OCR on {_pages(problems)}; check that the scan is legible")
    return texts, tuple(read)


def _without_ocr(layers: Sequence[str], pages: Sequence, source: str,
                 why: OcrUnavailableError, problems: dict[int, str] | None = None
                 ) -> tuple[list[str], tuple[PageImage, ...]]:
    """The layers as they are, unless a page has no usable one (a thin layer, which
    only OCR can tell from a photograph's caption, is kept): then a LoadError."""
    if problems is None:
        problems = {i: problem for i, text in enumerate(layers)
                    if (problem := layer_problem(text, not text.strip() and _has_images(
                        pages[i])))}
    needed = [i for i, p in problems.items() if p != "thin"]
    if not any(t.strip() for t in layers):
        needed = list(range(len(layers)))
    if not needed:
        return list(layers), ()
    raise LoadError(f"{source}: no usable text layer on {_pages(needed)} of {len(layers)} "
                    f"(scanned?); {why}")


def _area(page) -> float:
    """A pypdf page's area in pt²."""
    box = page.mediabox
    return float(box.width) * float(box.height)


def _has_images(page) -> bool:
    try:
        return bool(page.images)
    except Exception:  # pypdf on a damaged resource dictionary: take it that there are
        return True


def _ink(page) -> tuple[bool, float, float]:
    """(anything drawn on a pdfium page, the area its images cover, its area), in pt²."""
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    drawn, covered = False, 0.0
    for item in page.get_objects(max_depth=2):
        drawn = True
        if item.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            left, bottom, right, top = item.get_bounds()
            covered += max(0.0, min(right, width) - max(left, 0.0)) * max(
                0.0, min(top, height) - max(bottom, 0.0))
    return drawn, min(covered, width * height), width * height


def _render(page):
    """A pdfium page as a BGR array, its longer side OCR_SIDE pixels (or MAX_DPI)."""
    import numpy as np

    scale = min(OCR_SIDE / max(page.get_size()), MAX_DPI / 72)
    return np.array(page.render(scale=scale).to_numpy()[:, :, :3])


def _chars(text: str) -> int:
    return len(re.sub(r"\s+", "", text))


def _pages(indexes) -> str:
    """"page 3", "pages 1-3, 7": 1-based, from 0-based indexes."""
    numbers = sorted(i + 1 for i in indexes)
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    spans = [f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs]
    return ("page " if len(numbers) == 1 else "pages ") + ", ".join(spans)
