"""A loaded document to chunks: clean, fold repeats, split, key. The entry point of ingest/."""

import re
from dataclasses import dataclass, replace

from .clean import clean, drop_lines
from .dedup import near_duplicate_paragraphs
from .normalize import search_key
from .split import Span, heading_level, opening, split
from .types import Chunk, LoadedDocument, PageImage

_TITLE_MAX = 60
_WS = re.compile(r"\s+")
# A sentence longer than this is cut at a comma: 600 at the default size of 400, and
# half as much again as a larger size, so any size the CLI accepts (up to 4000) works.
_MAX_SIZE = 600


@dataclass(frozen=True)
class FoldedParagraph:
    """A paragraph left out because it nearly repeats another of the same document;
    offsets of both in the loaded text."""

    text: str
    start: int
    end: int
    kept_start: int
    kept_end: int


@dataclass(frozen=True)
class ChunkedDocument:
    """What ingest/ hands to index/: the title, the chunks, and what was folded."""

    source: str
    title: str
    text: str
    chunks: tuple[Chunk, ...]
    folded: tuple[FoldedParagraph, ...]
    ocr_pages: tuple[int, ...] = ()  # LoadedDocument.ocr_pages
    page_images: tuple[PageImage, ...] = ()  # LoadedDocument.page_images: the index keeps them


def derive_title(cleaned: str, fallback: str) -> str:
    """The document's own title: its first top-level Markdown heading near the top,
    else its first line when short enough to be one, else its first clause."""
    lines = [ln.strip() for ln in cleaned.split("\n") if ln.strip()][:8]
    for line in lines:
        found = heading_level(line)
        if found and found[0] == 1:
            return found[1]
    for line in lines:
        if len(line) <= 6 and line.endswith(("：", ":")):
            continue  # "附件："
        if len(line) <= _TITLE_MAX:
            return line
        clause = re.split(r"[，,。；;：:！？!?]", line, maxsplit=1)[0]
        return clause[:_TITLE_MAX]
    return fallback


def _card(loaded: str, cleaned, units: list) -> Span | None:
    """The opening sentences as one span, up to the first place where cleaning dropped
    lines (a table of contents): a citation's span must hold just its text."""
    end = None
    for unit in units:
        start, stop = cleaned.source_span(units[0].start, unit.end)
        if _WS.sub("", loaded[start:stop]) != _WS.sub("", cleaned.text[units[0].start:unit.end]):
            break
        end = unit.end
    return Span(units[0].start, end, "") if end else None


def chunk_document(doc: LoadedDocument, size: int = 400, overlap: int = 80) -> ChunkedDocument:
    """Clean, fold repeated paragraphs, split and key a loaded document; every offset
    points into `doc.text`.

    >>> [c.text for c in chunk_document(LoadedDocument("a.txt", "一、总则\\n重 构产业。")).chunks]
    ['重构产业。']
    """
    cleaned = clean(doc.text)
    title = doc.title.strip() or derive_title(cleaned.text, doc.source)
    folds = near_duplicate_paragraphs(
        cleaned.text, [search_key(line) for line in cleaned.text.split("\n")]
    )
    folded = tuple(
        FoldedParagraph(
            cleaned.text[f.duplicate[0] : f.duplicate[1]],
            *cleaned.source_span(*f.duplicate),
            *cleaned.source_span(*f.kept),
        )
        for f in folds
    )
    cleaned = drop_lines(cleaned, [f.duplicate for f in folds])
    chunks = []
    max_size = max(_MAX_SIZE, size * 3 // 2)
    spans = split(cleaned.text, size, overlap, max_size)
    card = _card(doc.text, cleaned, opening(cleaned.text, size))
    if card and not any(s.start <= card.start and card.end <= s.end for s in spans):
        # The document card: the opening as one passage under the title, so "这份文件是
        # 哪个部门、什么时候印发的" finds title block, 文号 and date together even where
        # splitting parted them. Chunks inside it would only repeat it.
        spans = [replace(card, heading=title)] + [
            s for s in spans if not (card.start <= s.start and s.end <= card.end)
        ]
    for ordinal, span in enumerate(spans):
        text = cleaned.text[span.start : span.end]
        start, end = cleaned.source_span(span.start, span.end)
        chunks.append(
            Chunk(
                source=doc.source,
                ordinal=ordinal,
                text=text,
                key=search_key(text),
                heading=span.heading,
                start=start,
                end=end,
                page=doc.page_at(start),
                title=title,
            )
        )
    return ChunkedDocument(doc.source, title, doc.text, tuple(chunks), folded, doc.ocr_pages,
                           doc.page_images)
