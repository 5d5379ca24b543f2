"""The values that flow from files to the index: one frozen dataclass each."""

import hashlib
from dataclasses import dataclass, field

# How the loaders write a table row: its cells joined by this (LoadedDocument). Cleaning
# may drop the spaces around the bar; whoever reads rows back keys on the bar.
CELL_SEPARATOR = " | "


def content_hash(text: str) -> str:
    """SHA-256 hex of text: the id of a chunk and the version of a file."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PageImage:
    """A page OCR read, as a JPEG for people to check its text against: the 1-based
    page number and the image, turned upright as OCR read it (ingest/ocr.py page_jpeg)."""

    page: int
    jpeg: bytes = field(repr=False)


@dataclass(frozen=True)
class LoadedDocument:
    """A file as loaded: the text every citation offset refers to.

    Loaders render structure into `text` the same way for every format: headings as
    Markdown lines ("## 标题"), paragraphs separated by a blank line, table rows as
    cells joined by " | ". `page_starts[i]` is the offset where page i + 1 begins
    (PDF and images; empty for formats without pages). `ocr_pages`: the 1-based pages
    whose text OCR read (ingest/ocr.py), and `page_images` their images, kept with the
    index so that a citation of such a page can show the page itself.
    """

    source: str
    text: str
    title: str = ""
    page_starts: tuple[int, ...] = ()
    ocr_pages: tuple[int, ...] = ()
    page_images: tuple[PageImage, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding `offset`, or None for formats without pages."""
        if not self.page_starts:
            return None
        page = 0
        for i, start in enumerate(self.page_starts):
            if start <= offset:
                page = i
        return page + 1


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: original text for display, key for search."""

    source: str
    ordinal: int
    text: str
    key: str
    heading: str
    start: int
    end: int
    page: int | None = None
    title: str = ""
    id: str = field(default="", compare=False)

    def __post_init__(self):
        if not self.id:
            object.__setattr__(self, "id", content_hash(self.key))

    @property
    def path(self) -> str:
        """The heading path as shown beside the title: without a first step that repeats
        the title (a document card is under its title; a scan's title read in a large
        font is a heading too)."""
        first, _, rest = self.heading.partition(" > ")
        return rest if self.title and first.strip() == self.title.strip() else self.heading

    def embedding_text(self) -> str:
        """What is embedded: the heading path gives the passage its context."""
        return f"{self.heading}\n{self.key}" if self.heading else self.key
