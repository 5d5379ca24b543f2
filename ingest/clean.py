"""Repair what PDF and web extraction break in Chinese text, keeping a map to the source.

Cleaning only ever deletes characters of the loaded text, so the cleaned text maps
back to the source by one index array: `Cleaned.offsets[i]` is where cleaned character
i stood in the loaded text. A citation can then point into the file as the user has it.
"""

import re
from dataclasses import dataclass
from statistics import median

import numpy as np

from .normalize import to_simplified
from .split import run_in_heading

# Lines that are not content, matched against the stripped line in simplified script.
_JUNK_LINES = (
    re.compile(r"^[-—–－]\s*\d{1,4}\s*[-—–－]$"),  # page marker " - 2 - "
    re.compile(r"^第\s*\d{1,4}\s*页(\s*共\s*\d+\s*页)?$"),  # 第 2 页
    re.compile(r"^.{1,60}?(\.{3,}|…{2,}|·{3,}|\t)\s*\d{1,3}$"),  # TOC with leader or tab
    re.compile(r"^目\s*录$"),
    re.compile(r"^(更新时间|发布时间|发布日期|来源|日期)\s*[:：].{0,80}$"),  # site chrome
    re.compile(r"^.{0,40}图源\s*[:：].{0,40}$"),  # image credit
    re.compile(r"^.{0,40}(图片来源|摄影|供图)\s*[:：/].{0,40}$"),
    re.compile(r"^本文标签\s*[:：]"),  # tag line
    # editor footer; a bare 编辑 needs a separator, or "编辑出版年鉴。" would go too
    re.compile(r"^((本版|责任)编辑\s*[:：]?|编辑\s*[:：]|编辑\s)\s*\S.{0,80}$"),
)

# A line ending in one of these ends a paragraph; anything else may be a wrapped line.
# U+FFFD ends a paragraph too: in extracted text it marks where a paragraph was cut off.
_PARAGRAPH_END = "。！？；：!?;:…）)】\ufffd"
# A closing quote ends one only after a sentence end (“……。”); after a word it is
# inside the sentence: 集中作好“高、新、轻、绿” / 四篇文章 is one sentence.
_CLOSING_QUOTES = "”」』"
# Without a measured wrap width, only a line longer than any heading can be wrapped.
_LONG_LINE = 80
_ZERO_WIDTH = "\ufeff\u200b\u200c\u200d\u2060\ufffd"  # U+FFFD marks truncated text here
_SPACE = " \t\u3000\u00a0\r"


def _is_cjk(ch: str) -> bool:
    """CJK ideographs and the full-width punctuation that surrounds them."""
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0x3000 <= o <= 0x303F
        or 0xFF00 <= o <= 0xFFEF
        or 0x20000 <= o <= 0x2FFFF
        or o in (0x201C, 0x201D, 0x2018, 0x2019, 0x2014, 0x2026, 0x00B7)
    )


def _width(line: str) -> int:
    """Display width: what a PDF wraps by (a CJK character is two Latin ones)."""
    return sum(2 if _is_cjk(c) else 1 for c in line)


@dataclass(frozen=True)
class Cleaned:
    """Cleaned text and, for each of its characters, its offset in the loaded text."""

    text: str
    offsets: np.ndarray

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """Offsets in the loaded text of cleaned text[start:end] (end exclusive)."""
        return int(self.offsets[start]), int(self.offsets[end - 1]) + 1


def _is_junk(line: str, seen_short: set[str]) -> bool:
    """A page marker, TOC line, site chrome, credit, or a short line seen before
    (running headers, a title repeated by the site template)."""
    key = to_simplified(line)
    if any(p.match(key) for p in _JUNK_LINES):
        return True
    compact = re.sub(r"\s+", "", key)
    if len(compact) <= 60 and not compact.startswith("#"):
        if compact in seen_short:
            return True
        seen_short.add(compact)
    return False


def _wrap_width(widths: list[int]) -> int | None:
    """The width a PDF wrapped its lines at, or None when lines were not wrapped.

    Wrapped text has many unterminated lines of nearly the same width; a text of
    paragraph-per-line (or truncated paragraphs) does not, and must not be joined.
    """
    long = [w for w in widths if w >= 30]
    if len(long) < 4:
        return None
    mid = median(long)
    near = [w for w in long if abs(w - mid) <= 0.12 * mid]
    return int(mid) if len(near) >= 0.6 * len(long) else None


def clean(text: str) -> Cleaned:
    """Clean loaded text: drop junk lines and stray characters, remove spaces between
    CJK characters, join lines broken inside a sentence, one newline between paragraphs.

    >>> clean("重 构产业\\n - 2 - \\n优势").text
    '重构产业\\n优势'
    """
    keep = np.ones(len(text), dtype=bool)  # only read inside content lines
    lines: list[tuple[int, int]] = []  # (start, end) of each content line, stripped
    seen_short: set[str] = set()
    pos = 0
    for raw in text.split("\n"):
        start, end = pos, pos + len(raw)
        pos = end + 1
        while start < end and text[start] in _SPACE:
            start += 1
        while end > start and text[end - 1] in _SPACE:
            end -= 1
        if (
            start < end
            and text[start] in _STRAY_LEAD
            and _STARTS_BLOCK.match(text[start + 1 : end])
        ):
            start += 1  # "?(一) 标题": an unmapped glyph before a heading
        if start < end and not _is_junk(text[start:end], seen_short):
            lines.append((start, end))

    for start, end in lines:
        _drop_inline(text, start, end, keep)

    widths = [_width(text[s:e]) for s, e in lines]
    wrap = _wrap_width(
        [w for (s, e), w in zip(lines, widths, strict=True) if _may_wrap(text, s, e)]
    )
    out_chars: list[str] = []
    out_offsets: list[int] = []
    for i, (start, end) in enumerate(lines):
        if i and not _joins(text, lines[i - 1], widths[i - 1], wrap, (start, end)):
            out_chars.append("\n")
            out_offsets.append(lines[i - 1][1])  # the newline after the previous line
        idx = np.flatnonzero(keep[start:end]) + start
        out_chars.extend(text[j] for j in idx)
        out_offsets.extend(idx.tolist())
    return Cleaned("".join(out_chars), np.asarray(out_offsets, dtype=np.int64))


def _drop_inline(text: str, start: int, end: int, keep: np.ndarray) -> None:
    """Mark stray characters and spaces that touch a CJK character for deletion.

    Spaces between Latin letters or digits ("GDP growth", "3 000") are kept.
    """
    i = start
    marker = _MARKDOWN_MARKER.match(text, start, end)
    if marker:
        i = marker.end()
        if text[start] == ">":
            keep[start:i] = False  # a blockquote marker is layout, not text
    while i < end:
        ch = text[i]
        if ch in _ZERO_WIDTH:
            keep[i] = False
        elif ch in _SPACE:
            j = i
            while j < end and text[j] in _SPACE:
                j += 1
            before = text[i - 1] if i > start else ""
            after = text[j] if j < end else ""
            if not before or not after or _is_cjk(before) or _is_cjk(after) or ch != " ":
                keep[i:j] = False
                if before and after and not (_is_cjk(before) or _is_cjk(after)):
                    keep[i] = True  # a tab or full-width space between Latin words
            else:
                keep[i + 1 : j] = False  # collapse runs of spaces in Latin text
            i = j
            continue
        i += 1


def _may_wrap(text: str, start: int, end: int) -> bool:
    """A line that may continue on the next: unterminated, and not a heading."""
    if text[end - 1] in _PARAGRAPH_END or text[start] == "#":
        return False
    if text[end - 1] in _CLOSING_QUOTES:
        body = text[start:end].rstrip(_CLOSING_QUOTES)
        if body and body[-1] in _PARAGRAPH_END:
            return False
    heading_like = _STARTS_BLOCK.match(text[start : start + 8])
    # a run-in heading ("（一）指导思想。高举……") is a paragraph that may wrap like any other
    return (not heading_like or _width(text[start:end]) >= _LONG_LINE
            or run_in_heading(text[start:end]) is not None)


def _joins(
    text: str, prev: tuple[int, int], prev_width: int, wrap: int | None, line: tuple[int, int]
) -> bool:
    """Whether `line` continues the sentence of `prev`."""
    limit = wrap * 0.85 if wrap else _LONG_LINE
    if not _may_wrap(text, *prev) or prev_width < limit:
        return False
    nxt = text[line[0] : line[0] + 8]
    if nxt.startswith("#") or _STARTS_BLOCK.match(nxt):
        return False
    # A short line without punctuation is a title ("序 言"), not the end of a sentence
    # cut off on the line before (002's garbled preface ends mid-word just above it).
    return not _SHORT_TITLE.fullmatch(text, *line)


_STRAY_LEAD = "?？"
_SHORT_TITLE = re.compile(r"[^，,。！？；;!?：:、“”\"]{1,16}")

# "## 标题" keeps its space (it is how loaders render headings); "> " is dropped.
_MARKDOWN_MARKER = re.compile(r"#{1,6} |> ?")

# A line that starts like a heading or a list item begins a new paragraph.
_STARTS_BLOCK = re.compile(
    r"^([一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[）)]|第[一二三四五六七八九十百\d]+[章节条]"
    r"|专栏\s*\d|\d+[.、．]\D|[-*•●—]{1,2})"
)


def drop_lines(cleaned: Cleaned, spans: list[tuple[int, int]]) -> Cleaned:
    """The cleaned text without the given lines (cleaned offsets) and their newlines."""
    keep = np.ones(len(cleaned.text), dtype=bool)
    for start, end in spans:
        keep[start : min(end + 1, len(keep))] = False
    idx = np.flatnonzero(keep)
    text = "".join(cleaned.text[i] for i in idx).rstrip("\n")
    return Cleaned(text, cleaned.offsets[idx][: len(text)])
