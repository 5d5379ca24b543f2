"""Files to text: one small loader per format, all rendering structure the same way.

Every loader gives a `LoadedDocument` whose text uses the shared rendering (headings
as Markdown lines, paragraphs separated by a blank line, table rows as cells joined
by " | "), so the later stages never look at the file format.

    doc = load("corpus/纲要.pdf")        # LoadedDocument(source="纲要.pdf", text=..., ...)
    doc.title, doc.page_at(offset)      # metadata title; the page a citation falls on
"""

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import LoadError, UnsupportedFileError
from .types import LoadedDocument

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")

_SPACE = re.compile(r"\s+")
_MD_TITLE = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_BIG5_AS_GB = re.compile(r"[\u3040-\u30ff\ue000-\uf8ff]")


def load(path: Path | str, source: str | None = None) -> LoadedDocument:
    """Read one file into text; raise UnsupportedFileError or LoadError, in the user's terms.

    Args:
        path: the file to read.
        source: the name the document is cited by; defaults to the file name.
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
        data = path.read_bytes()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise LoadError(f"{source}: cannot read the file ({reason}); check its permissions") from e
    if not data:
        raise LoadError(f"{source}: empty file (0 bytes); add text to it or leave it out")
    loader, kind = _FORMATS[suffix]
    try:
        doc = loader(data, source)
    except LoadError:
        raise
    except Exception as e:  # a library's own error must not reach the user raw
        raise LoadError(
            f"{source}: cannot read this {kind} file, it may be corrupt "
            f"({type(e).__name__}: {e}); open and re-save it, or download it again"
        ) from e
    if not doc.text.strip():
        raise LoadError(f"{source}: no text in the file; add text to it or leave it out")
    return doc


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
    if b"\x00" in data:
        raise LoadError(f"{source}: binary content (NUL bytes), not text; check the file type")
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


def _is_chrome(tag) -> bool:
    """Site chrome by id or class: navigation, menus, sidebars, comments, ads."""
    # "has-sidebar" on a wrapper of the whole page is not chrome: keep what holds content.
    if tag.name in ("html", "body", "main") or tag.find(("main", "article", "h1")):
        return False
    attrs = tag.attrs or {}
    names = [attrs.get("id") or "", *(attrs.get("class") or [])]
    return any(_CHROME.search(name) for name in names if isinstance(name, str))


def _load_html(data: bytes, source: str) -> LoadedDocument:
    """The page's main text; site chrome (scripts, navigation, sidebars, ads) dropped."""
    from bs4 import BeautifulSoup
    from bs4.dammit import EncodingDetector

    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    soup = BeautifulSoup(_decode(data, source, declared), "html.parser")
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    for tag in soup.find_all(_is_chrome):
        if not tag.decomposed:
            tag.decompose()
    roots = soup.find_all("main")[:1] or [
        a for a in soup.find_all("article") if a.find_parent("article") is None
    ]
    blocks: list[str] = []
    for root in roots or [_main_block(soup.body or soup)]:
        _render_html(root, blocks)
    text = "\n\n".join(blocks)
    title = _html_title(soup) or next((b[2:] for b in blocks if b.startswith("# ")), "")
    if not roots and blocks:
        # a site's <title> names its column ("每周一学（…）--学习专栏-某校") as often as the
        # article: a first line that reads as a title is the document's own
        first = blocks[0].split("\n")[0].lstrip("# ").strip()
        if _TITLE_LINE.fullmatch(first):
            title = first
    return LoadedDocument(source, text, title=title)


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

    def walk(node) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
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
                rows = (
                    _table_row(tr)
                    for tr in child.find_all("tr")
                    if tr.find_parent("table") is child
                )
                text = "\n".join(row for row in rows if row)
                if text:
                    blocks.append(text)
            elif child.name in _HTML_BLOCKS:
                flush()
                walk(child)
                flush()
            else:
                walk(child)

    walk(root)
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
    return " | ".join(cell for cell in cells if cell)


# --- PDF -------------------------------------------------------------------------


def _load_pdf(data: bytes, source: str) -> LoadedDocument:
    """The text layer page by page; page_starts marks where each page begins."""
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
    parts: list[str] = []
    starts: list[int] = []
    offset = 0
    for page in reader.pages:
        text = _newlines(page.extract_text() or "").strip()
        starts.append(offset)
        parts.append(text)
        offset += len(text) + 2  # the "\n\n" that joins pages
    text = "\n\n".join(parts)
    if not text.strip():
        raise LoadError(f"{source}: the PDF has no text layer (scanned?); run OCR first")
    meta = reader.metadata
    title = _collapse(str(meta.title or "")) if meta else ""
    # Word's PDF export writes its window title: "Microsoft Word - 通知.docx".
    title = re.sub(r"^Microsoft Word - |\.(?:docx?|wps)$", "", title, flags=re.I).strip()
    return LoadedDocument(source, text, title=title, page_starts=tuple(starts))


# --- DOCX ------------------------------------------------------------------------

_DOCX_HEADING = re.compile(r"(?:heading|标题)\s*(\d)", re.I)
_DOCX_TITLE = ("title", "标题")


def _load_docx(data: bytes, source: str) -> LoadedDocument:
    """Paragraphs and tables in document order; heading styles become Markdown headings."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as e:
        raise LoadError(
            f"{source}: not a valid .docx (Word) file ({type(e).__name__}: {e}); "
            "if it is an old .doc, save it as .docx in Word or WPS"
        ) from e
    blocks: list[str] = []
    headings: list[tuple[bool, str]] = []
    for block, heading in _docx_blocks(document):
        blocks.append(block)
        if heading:
            headings.append(heading)
    title = _collapse(document.core_properties.title or "")
    title = title or next((text for is_title, text in headings if is_title), "")
    title = title or next((text for _, text in headings), "")
    return LoadedDocument(source, "\n\n".join(blocks), title=title)


def _docx_blocks(document) -> Iterator[tuple[str, tuple[bool, str] | None]]:
    """Rendered blocks in document order, each with (is_title, text) if it is a heading."""
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
                text = _collapse(text)
                yield "#" * level + " " + text, (is_title, text)
            else:
                yield text, None
        elif child.tag == qn("w:tbl"):
            table = Table(child, document)
            rows = []
            # The row's own cells, not row.cells: that repeats a merged cell per column.
            for tr in child.tr_lst:
                cells = (_collapse(_Cell(tc, table).text) for tc in tr.tc_lst)
                row = " | ".join(cell for cell in cells if cell)
                if row:
                    rows.append(row)
            if rows:
                yield "\n".join(rows), None


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
}
