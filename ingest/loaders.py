"""Files to text: one small loader per format, all rendering structure the same way.

Every loader gives a `LoadedDocument` whose text uses the shared rendering (headings
as Markdown lines, paragraphs separated by a blank line, table rows as cells joined
by " | "), so the later stages never look at the file format.

    doc = load("corpus/纲要.pdf")        # LoadedDocument(source="纲要.pdf", text=..., ...)
    doc.title, doc.page_at(offset)      # metadata title; the page a citation falls on

Files past MAX_FILE_BYTES, or with more text than MAX_TEXT_CHARS, are refused; so are
.docx files that would unpack too far (ingest/archive.py). load() reads in this
process; ingest/budget.py reads under a time and memory budget. PDF pages without a
usable text layer, and image files, are read by OCR (ingest/ocr.py, the `ocr` extra).
"""

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from functools import partial
from itertools import accumulate
from pathlib import Path

from .archive import check_archive
from .errors import LoadError, UnsupportedFileError
from .normalize import strip_invisible
from .ocr import OcrEngine, PageProgress, read_image, read_pdf_pages
from .types import CELL_SEPARATOR, LoadedDocument, PageImage

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".png",
                      ".jpg", ".jpeg")
# formats with pages, which OCR may read: their loaders take the engine and progress
PAGED_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg")
# Ten times the web upload's limit; the whole file is read into memory.
MAX_FILE_BYTES = 200 * 2**20
# About 2,000 pages of Chinese, 13 times the longest policy document we know (the
# 14th five-year plan is 150,000). Cleaning holds ~150 bytes a character (ingest/clean.py
# keeps a Python object per character and offset): 300 MB at this limit.
MAX_TEXT_CHARS = 2_000_000
_PLAIN_TEXT = (".txt", ".md", ".markdown")
_MAX_CHAR_BYTES = 4  # no encoding zhice reads spends more on one character

_SPACE = re.compile(r"\s+")
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20)])  # C0 but tab to CR
_BINARY_SHARE = 0.01
_FEW_CONTROLS = 8
_MD_TITLE = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_BIG5_AS_GB = re.compile(r"[\u3040-\u30ff\ue000-\uf8ff]")


def load(path: Path | str, source: str | None = None, *, ocr: OcrEngine | None = None,
         progress: PageProgress | None = None) -> LoadedDocument:
    """Read one file into text; raise UnsupportedFileError or LoadError, in the user's terms.

    Args:
        path: the file to read.
        source: the name the document is cited by; defaults to the file name.
        ocr: the engine for pages without a usable text layer and for images; one is
            loaded for this file when needed and not given.
        progress: called with (pages read, pages to read) as OCR goes.
    """
    path = Path(path)
    source = source or path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        found = f"'{suffix}'" if suffix else "(no file extension)"
        raise UnsupportedFileError(
            f"{source}: unsupported format {found}; zhice reads {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not path.exists():
        raise LoadError(f"{source}: no such file ({path}); check the path")
    if path.is_dir():
        raise LoadError(f"{source}: is a directory, not a file; pass the files inside it")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LoadError(
                f"{source}: {size / 2**20:,.0f} MB, more than the {MAX_FILE_BYTES // 2**20} MB "
                "zhice reads from one file; split it into smaller files"
            )
        data = path.read_bytes()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise LoadError(f"{source}: cannot read the file ({reason}); check its permissions") from e
    if not data:
        raise LoadError(f"{source}: empty file (0 bytes); add text to it or leave it out")
    if suffix in _PLAIN_TEXT and len(data) > _MAX_CHAR_BYTES * MAX_TEXT_CHARS:
        raise _too_long(source, f"{len(data) / 2**20:,.0f} MB of text")  # before decoding it
    loader, kind = _FORMATS[suffix]
    if suffix in PAGED_SUFFIXES:
        loader = partial(loader, ocr=ocr, progress=progress)
    try:
        doc = _visible(loader(data, source))
    except (LoadError, MemoryError):  # out of memory is the budget's to report
        raise
    except Exception as e:  # a library's own error must not reach the user raw
        raise LoadError(
            f"{source}: cannot read this {kind} file, it may be corrupt "
            f"({type(e).__name__}: {e}); open and re-save it, or download it again"
        ) from e
    if not doc.text.strip():
        raise LoadError(f"{source}: no text in the file; add text to it or leave it out")
    if len(doc.text) > MAX_TEXT_CHARS:
        raise _too_long(source, f"{len(doc.text):,} characters of text")
    return doc


def _too_long(source: str, found: str) -> LoadError:
    return LoadError(
        f"{source}: {found}, more than the {MAX_TEXT_CHARS:,} characters zhice takes "
        "from one file; split it into smaller files"
    )


def _visible(doc: LoadedDocument) -> LoadedDocument:
    """doc without control and zero-width characters, taken out here, before any offset
    into the text exists; each page start moves back by what went before it."""
    cuts = [0, *doc.page_starts, len(doc.text)]
    pieces = [strip_invisible(doc.text[a:b]) for a, b in zip(cuts, cuts[1:])]
    starts = tuple(accumulate(len(piece) for piece in pieces))[: len(doc.page_starts)]
    return LoadedDocument(doc.source, "".join(pieces), strip_invisible(doc.title), starts,
                          doc.ocr_pages, doc.page_images)


def _newlines(text: str) -> str:
    """CRLF and lone CR to LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _collapse(text: str) -> str:
    """All runs of whitespace to one space, ends stripped."""
    return _SPACE.sub(" ", text).strip()


# --- text ------------------------------------------------------------------------


def _decode(data: bytes, source: str, declared: str | None = None) -> str:
    """Bytes to str: UTF-8 (BOM stripped), a declared charset, GB18030, then detection."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")  # Notepad's "Unicode": the BOM makes it certain
    # A few control bytes, or NUL padding after a crash, are damage to a text file: they
    # are stripped after decoding (no encoding zhice reads uses one inside a character).
    # Many are an image or an archive renamed: 10% of compressed data's bytes are.
    data = data.rstrip(b"\x00")
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    if controls > max(_BINARY_SHARE * len(data), _FEW_CONTROLS):
        raise LoadError(
            f"{source}: binary content ({controls:,} control bytes in {len(data):,}), "
            "not text; check the file type"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if declared:
        # gb2312/gbk pages routinely hold characters only their superset GB18030 has.
        gb = declared.lower() in ("gb2312", "gbk", "gb18030", "x-gbk", "cp936")
        try:
            return data.decode("gb18030" if gb else declared)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        pass
    else:
        # Big5 bytes decode as GB18030 too, into kana and private-use characters that
        # Chinese prose never holds: then the file is Big5 (traditional script).
        if not _BIG5_AS_GB.search(text):
            return text
        try:
            return data.decode("cp950")
        except UnicodeDecodeError:
            return text
    # Short Chinese texts fool detection (GBK read as something else), hence last.
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise LoadError(f"{source}: not text in any encoding zhice recognises; save it as UTF-8")
    return str(best)


def _load_text(data: bytes, source: str) -> LoadedDocument:
    """Plain text, kept as is: only the encoding and line endings are normalised."""
    return LoadedDocument(source, _newlines(_decode(data, source)))


def _load_markdown(data: bytes, source: str) -> LoadedDocument:
    """Markdown is already the shared rendering; the title is the first "# " heading."""
    text = _newlines(_decode(data, source))
    match = _MD_TITLE.search(text)
    return LoadedDocument(source, text, title=match.group(1).strip() if match else "")


# --- HTML ------------------------------------------------------------------------

_HTML_DROP = "script style noscript template nav header footer aside form iframe svg".split()
# Matched against id and class values; "ad" only as a whole word ("ad-banner", "top_ad"),
# because a plain "ad-" substring also hits "head-title" and "download-link".
_CHROME = re.compile(
    r"nav|menu|breadcrumb|footer|sidebar|comment|share|advert|(?:^|[-_])ads?(?:[-_]|$)", re.I
)
_HTML_BLOCKS = frozenset(
    "address article aside blockquote body dd details div dl dt fieldset figcaption figure "
    "h1 h2 h3 h4 h5 h6 hr html li main ol p pre section summary table tbody td tfoot th "
    "thead tr ul".split()
)
_HEADING = re.compile(r"h([1-6])")
_TITLE_SUFFIX = re.compile(r" - | \| |_|--")
# A document's own first line reads as its title: short, no sentence in it, no colon
# at its end (a salutation "各市、县（市、区）教育局：" is no title)
_TITLE_LINE = re.compile(r"[^，,。；;！？!?]{4,60}(?<![：:])")


_CONTENT = ("main", "article", "h1")


def _is_chrome(tag, holding: set[int]) -> bool:
    """Site chrome by id or class: navigation, menus, sidebars, comments, ads."""
    # "has-sidebar" on a wrapper of the whole page is not chrome: keep what holds content.
    if tag.name in ("html", "body", "main") or id(tag) in holding:
        return False
    attrs = tag.attrs or {}
    names = [attrs.get("id") or "", *(attrs.get("class") or [])]
    return any(_CHROME.search(name) for name in names if isinstance(name, str))


# Every pass over a page below is one loop over an explicit stack, never recursion, and
# sees each element once or a bounded number of times: a page nested 50,000 levels deep
# reads in time linear in its size, where asking each element about its descendants
# (find(), find_parent(), bs4's decompose() and .decomposed) was quadratic and recursive
# walks stopped at Python's recursion limit near 1,000 levels.


def _load_html(data: bytes, source: str) -> LoadedDocument:
    """The page's main text; site chrome (scripts, navigation, sidebars, ads) dropped."""
    from bs4 import BeautifulSoup
    from bs4.dammit import EncodingDetector

    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    soup = BeautifulSoup(_decode(data, source, declared), "html.parser")
    _prune(soup, lambda tag: tag.name in _HTML_DROP)
    byline = _byline(soup)
    holding = _holding(soup, _CONTENT)
    _prune(soup, lambda tag: _is_chrome(tag, holding))
    main = soup.find("main")
    roots = [main] if main else _find_outside(soup, "article", ("article",))
    blocks: list[str] = []
    for root in roots or [_main_block(soup.body or soup)]:
        _render_html(root, blocks)
    text = "\n\n".join(blocks)
    title = _html_title(soup) or next((b[2:] for b in blocks if b.startswith("# ")), "")
    if not roots and blocks:
        # a site's <title> names its column ("每周一学（…）--学习专栏-某校") as often as the
        # article: a first line that reads as a title is the document's own
        title = _title_line(blocks[0].split("\n")[0].lstrip("# ")) or title
    if byline and byline not in text:
        text = f"{byline}\n\n{text}"  # above the article, not inside a title broken over lines
    return LoadedDocument(source, text, title=title)


# A page's byline, "发布时间：2024年08月26日", stands in the site's chrome beside the
# article, which is pruned: it is the page's publication date, so it is kept as a line.
_BYLINE = re.compile(r"(?:发布|發布|發佈|发表|發表|公布|公佈)(?:日期|时间|時間)\s*[:：]\s*"
                     r"(?:(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日"
                     r"|(?:19|20)\d{2}[-./]\d{1,2}[-./]\d{1,2})")


def _byline(soup) -> str:
    """The first labelled publication date in the page's text, "" if none."""
    string = soup.find(string=_BYLINE)
    return _collapse(_BYLINE.search(string).group()) if string else ""


def _title_line(line: str) -> str:
    """line, stripped, if it reads as a document's title; else ""."""
    line = line.strip()
    return line if _TITLE_LINE.fullmatch(line) else ""


def _prune(root, remove: Callable) -> None:
    """Take every tag under root that remove(tag) picks out of the tree, with all it
    holds; a tag taken out is not looked into."""
    from bs4 import Tag

    stack = [root]
    while stack:
        node = stack.pop()
        kept, removed = [], []
        for child in node.contents:
            (removed if isinstance(child, Tag) and remove(child) else kept).append(child)
        if removed:
            # extract(i) deletes contents[i], moving every sibling after it: with the ones
            # to remove put last, each goes from the end. (It relinks the tree through
            # the sibling links, which the order of this list does not touch.)
            node.contents = kept + removed
            for i in range(len(node.contents) - 1, len(kept) - 1, -1):
                node.contents[i].extract(i)
        stack.extend(child for child in kept if isinstance(child, Tag))


def _holding(root, names: tuple[str, ...]) -> set[int]:
    """id() of every tag under root that has a descendant named in `names`."""
    from bs4 import Tag

    order, stack = [], [root]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(child for child in node.contents if isinstance(child, Tag))
    holding: set[int] = set()
    for node in reversed(order):  # each tag after all of its descendants
        if node.parent is not None and (node.name in names or id(node) in holding):
            holding.add(id(node.parent))
    return holding


def _find_outside(root, name: str, fence: tuple[str, ...]) -> list:
    """The tags called `name` under root, in document order, that are inside no tag
    called one of `fence` (below root)."""
    from bs4 import Tag

    found = []
    stack = [child for child in reversed(root.contents) if isinstance(child, Tag)]
    while stack:
        tag = stack.pop()
        if tag.name == name:
            found.append(tag)
        if tag.name not in fence:
            stack.extend(child for child in reversed(tag.contents) if isinstance(child, Tag))
    return found


# A page without <main> or <article> (most government and school sites): the article is
# the deepest element that holds most of the page's text outside links and leaves out no
# more than a few lines of it. Menus and link lists are link text; breadcrumbs, dates,
# 上一篇/下一篇 and footers are short; a title, a date line or a table of contents is
# not, and stays in.
_LEFT_OUT = 300  # characters
_MAIN_SHARE = 0.8  # of the parent's: a short page is not narrowed to one of its paragraphs
_LINK_TEXT = 80  # characters: longer than any headline
_OTHER_PAGE = re.compile(r"^[^#]*$")  # a link with a #fragment points into a document


def _main_block(root):
    """The deepest element holding _MAIN_SHARE of its parent's text outside links, whose
    siblings on the way down hold at most _LEFT_OUT characters of it."""
    from bs4 import Tag

    own = _text_outside_links(root)
    node, size = root, own.get(id(root), 0)
    while size:
        children = [c for c in node.children if isinstance(c, Tag) and c.name in _HTML_BLOCKS]
        best = max(children, key=lambda c: own.get(id(c), 0), default=None)
        kept = own.get(id(best), 0)
        if kept < _MAIN_SHARE * size or size - kept > _LEFT_OUT or best.name in ("tr", "td"):
            break
        node, size = best, kept
    return node


def _text_outside_links(root) -> dict[int, int]:
    """id(element) -> its non-space characters outside links, for every element under
    root, in one iterative pass, linear in the page's size. A menu's or a
    list's link is a headline to another page; a "link" longer than any headline is an
    unclosed <a> that swallowed the article (Word-exported pages), and one to a #fragment
    (#_Toc…) is the document's own table of contents: both count as text."""
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    text: dict[int, int] = {}
    links: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in node.children if isinstance(c, Tag))
            continue
        total = sum(len(_SPACE.sub("", str(c))) for c in node.children
                    if isinstance(c, NavigableString) and not isinstance(c, PreformattedString))
        total += sum(text[id(c)] for c in node.children if isinstance(c, Tag))
        linked = sum(links[id(c)] for c in node.children if isinstance(c, Tag))
        if (node.name == "a" and _OTHER_PAGE.match(node.get("href") or "#")
                and total <= _LINK_TEXT):
            linked = total
        text[id(node)], links[id(node)] = total, linked
    return {key: text[key] - links[key] for key in text}


def _html_title(soup) -> str:
    """<title> without the site's name after " - ", " | " or "_", if a title is left."""
    tag = soup.find("title")
    title = _collapse(tag.get_text()) if tag else ""
    head = _TITLE_SUFFIX.split(title, maxsplit=1)[0].strip()
    return head or title


def _render_html(root, blocks: list[str]) -> None:
    """Append root's blocks in document order: headings, paragraphs, table rows."""
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    inline: list[str | None] = []  # None marks a <br>: source newlines are mere spaces

    def flush() -> None:
        lines, line = [], []
        for part in [*inline, None]:
            if part is None:
                lines.append(_collapse("".join(line)))
                line = []
            else:
                line.append(part)
        # <br><br> is how older pages separate paragraphs: it stays one blank line.
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
        if text:
            blocks.append(text)
        inline.clear()

    end_of_block = object()
    stack = list(reversed(root.contents))  # the nodes still to visit, next one last
    while stack:
        child = stack.pop()
        if child is end_of_block:
            flush()
        elif isinstance(child, NavigableString):
            if not isinstance(child, PreformattedString):  # comments, doctype, CDATA
                inline.append(str(child))
        elif not isinstance(child, Tag):
            continue
        elif child.name == "br":
            inline.append(None)
        elif heading := _HEADING.fullmatch(child.name):
            flush()
            text = _collapse(_html_inline(child))
            if text:
                blocks.append("#" * int(heading.group(1)) + " " + text)
        elif child.name == "table":
            flush()
            # a row inside a cell is in that cell's text already; a nested table too
            rows = (_table_row(tr) for tr in _find_outside(child, "tr", ("table", "td", "th")))
            text = "\n".join(row for row in rows if row)
            if text:
                blocks.append(text)
        elif child.name in _HTML_BLOCKS:
            flush()
            stack.append(end_of_block)
            stack.extend(reversed(child.contents))
        else:
            stack.extend(reversed(child.contents))
    flush()


def _html_inline(tag) -> str:
    """The text of tag, with <br> and block boundaries as newlines."""
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    parts = []
    for node in tag.descendants:
        if isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            parts.append(str(node))
        elif isinstance(node, Tag) and (node.name == "br" or node.name in _HTML_BLOCKS):
            parts.append("\n")
    return "".join(parts)


def _table_row(tr) -> str:
    """Non-empty cells of a row joined by " | "."""
    cells = (_collapse(_html_inline(cell)) for cell in tr.find_all(["td", "th"], recursive=False))
    return CELL_SEPARATOR.join(cell for cell in cells if cell)


# --- PDF -------------------------------------------------------------------------


def _load_pdf(data: bytes, source: str, ocr: OcrEngine | None = None,
              progress: PageProgress | None = None) -> LoadedDocument:
    """The text layer page by page, or OCR's text where a page has no usable layer;
    page_starts marks where each page begins."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        # Many published PDFs are encrypted with an empty user password (only
        # copying or printing is restricted): those open without asking.
        try:
            opened = reader.decrypt("")
        except DependencyError as e:
            raise LoadError(
                f"{source}: encrypted with AES, which pypdf decrypts only with the "
                "'cryptography' package; pip install cryptography, or save an unencrypted copy"
            ) from e
        if not opened:
            raise LoadError(
                f"{source}: the PDF is password-protected; save an unencrypted copy and load that"
            )
    pages = list(reader.pages)
    layers = [_newlines(page.extract_text() or "").strip() for page in pages]
    parts, images = read_pdf_pages(data, layers, pages, source, ocr, progress)
    starts = tuple(accumulate((len(part) + 2 for part in parts[:-1]), initial=0))  # "\n\n"
    meta = reader.metadata
    title = _collapse(str(meta.title or "")) if meta else ""
    # Word's PDF export writes its window title: "Microsoft Word - 通知.docx".
    title = re.sub(r"^Microsoft Word - |\.(?:docx?|wps)$", "", title, flags=re.I).strip()
    return LoadedDocument(source, "\n\n".join(parts), title=title, page_starts=starts,
                          ocr_pages=tuple(image.page for image in images),
                          page_images=images)


def _load_image(data: bytes, source: str, ocr: OcrEngine | None = None,
                progress: PageProgress | None = None) -> LoadedDocument:
    """A picture of a document, read by OCR: one page."""
    page = read_image(data, source, ocr, progress)
    return LoadedDocument(source, page.text, page_starts=(0,), ocr_pages=(1,),
                          page_images=(PageImage(1, page.jpeg),))


# --- DOCX ------------------------------------------------------------------------

_DOCX_HEADING = re.compile(r"(?:heading|标题)\s*(\d)", re.I)
_DOCX_TITLE = ("title", "标题")
# python-docx's title for a file without core properties (docProps/core.xml), made up
# when they are read, and saved into every file it writes from such a one: no title.
_DOCX_NO_TITLE = "Word Document"


def _load_docx(data: bytes, source: str) -> LoadedDocument:
    """Paragraphs and tables in document order; heading styles become Markdown headings."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    check_archive(data, source)
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as e:
        raise LoadError(
            f"{source}: not a valid .docx (Word) file ({type(e).__name__}: {e}); "
            "if it is an old .doc, save it as .docx in Word or WPS"
        ) from e
    blocks: list[str] = []
    first: dict[str, str] = {}  # kind of block -> the first one's text
    for block, kind in _docx_blocks(document):
        blocks.append(block)
        if kind in ("title", "heading"):
            first.setdefault(kind, block.split(" ", 1)[1])
        elif kind == "paragraph":
            first.setdefault(kind, block.split("\n", 1)[0])
    title = _collapse(document.core_properties.title or "")
    if title == _DOCX_NO_TITLE:
        title = ""
    # the first line if it reads as a title, as on a web page; else the chunker derives
    # one from the text, as for any file without a title
    title = title or first.get("title") or first.get("heading") or _title_line(
        first.get("paragraph", ""))
    return LoadedDocument(source, "\n\n".join(blocks), title=title)


def _docx_blocks(document) -> Iterator[tuple[str, str]]:
    """Rendered blocks in document order, each with its kind: "title" (the Title style),
    "heading", "paragraph" or "table"."""
    from docx.oxml.ns import qn
    from docx.table import Table, _Cell
    from docx.text.paragraph import Paragraph

    def children(element) -> Iterator:
        for child in element.iterchildren():
            if child.tag == qn("w:sdt"):  # content controls (cover pages) wrap body blocks
                content = child.find(qn("w:sdtContent"))
                if content is not None:
                    yield from children(content)
            else:
                yield child

    for child in children(document.element.body):
        if child.tag == qn("w:p"):
            paragraph = Paragraph(child, document)
            text = _newlines(paragraph.text).strip()
            if not text:
                continue
            level, is_title = _docx_heading_level(paragraph)
            if level:
                yield "#" * level + " " + _collapse(text), "title" if is_title else "heading"
            else:
                yield text, "paragraph"
        elif child.tag == qn("w:tbl"):
            table = Table(child, document)
            rows = []
            # The row's own cells, not row.cells: that repeats a merged cell per column.
            for tr in child.tr_lst:
                cells = (_collapse(_Cell(tc, table).text) for tc in tr.tc_lst)
                row = CELL_SEPARATOR.join(cell for cell in cells if cell)
                if row:
                    rows.append(row)
            if rows:
                yield "\n".join(rows), "table"


def _docx_heading_level(paragraph) -> tuple[int, bool]:
    """(Markdown heading level, is the Title style); level 0 for body text."""
    name = (paragraph.style.name or "").strip() if paragraph.style is not None else ""
    if name.lower() in _DOCX_TITLE:
        return 1, True
    match = _DOCX_HEADING.fullmatch(name)
    if match and int(match.group(1)) > 0:
        return min(int(match.group(1)), 6), False  # Markdown, like HTML, stops at 6
    return 0, False


_FORMATS: dict[str, tuple[Callable[[bytes, str], LoadedDocument], str]] = {
    ".txt": (_load_text, "text"),
    ".md": (_load_markdown, "Markdown"),
    ".markdown": (_load_markdown, "Markdown"),
    ".html": (_load_html, "HTML"),
    ".htm": (_load_html, "HTML"),
    ".pdf": (_load_pdf, "PDF"),
    ".docx": (_load_docx, "Word (.docx)"),
    ".png": (_load_image, "PNG image"),
    ".jpg": (_load_image, "JPEG image"),
    ".jpeg": (_load_image, "JPEG image"),
}
