"""Chinese-aware splitting: headings give context, sentences are the unit of a chunk.

Works on cleaned text (one paragraph a line). Offsets stay in cleaned coordinates;
the pipeline maps them back to the loaded text.
"""

import re
from dataclasses import dataclass, replace

from .normalize import search_key
from .types import CELL_SEPARATOR

# Heading patterns and the level each stands at. Markdown levels are 1-6; the policy
# hierarchy sits below them, so "## 一、总体要求" is level 2 and "一、" alone is 12.
_HEADINGS = (
    (re.compile(r"^(#{1,6})\s+(.+)$"), None),
    (re.compile(r"^第[一二三四五六七八九十百零\d]+编\s*\S.*$"), 10),
    (re.compile(r"^第[一二三四五六七八九十百零\d]+章\s*\S.*$"), 11),
    (re.compile(r"^第[一二三四五六七八九十百零\d]+节\s*\S.*$"), 12),
    (re.compile(r"^[一二三四五六七八九十]+、\s*\S.*$"), 13),
    (re.compile(r"^[（(][一二三四五六七八九十]+[）)]\s*\S.*$"), 14),
    (re.compile(r"^专栏\s*\d+.*$"), 15),
    (re.compile(r"^\d{1,2}[.．、]\s*\D.*$"), 16),
)
_MAX_HEADING = 40  # longer lines that start like a heading are body text ("（一）坚持…，…。")
# A short line with no sentence punctuation between paragraphs is a subheading of news
# and web articles ("向韶关学什么"); it sits below every numbered level.
_SHORT_HEADING = re.compile(r"^[^，,。！？；;!?：:“”\"|]{2,24}$")  # "|": a table row is text
_IMPLICIT_LEVEL = 20
# "第三条 为了……" is an article: its label heads its own paragraph only.
_ARTICLE = re.compile(r"^(第[一二三四五六七八九十百零\d]+条)\s*")

# A sentence ends after 。！？；! ? ; or …… plus any closing quotes or brackets.
_SENTENCE_END = re.compile(r"(?:[。！？；!?;]|…{1,2}|\.(?=\s|$))[”’」』）)\]】]*")
_CLOSERS = "”’」』）)]】"


@dataclass(frozen=True)
class Sentence:
    """A sentence of the cleaned text, with the heading path it sits under."""

    start: int
    end: int
    heading: str
    paragraph: int
    table_header: str = ""  # in a table, below its first row: that row (_table_header)


@dataclass(frozen=True)
class Span:
    """A chunk before it is keyed: cleaned-text offsets and its heading path."""

    start: int
    end: int
    heading: str


_TABLE_ROW = CELL_SEPARATOR.strip()  # what marks a line as a table row
_HEADER_CELL = 20  # characters of a header cell kept in the heading path

# A run-in heading: "（二）工作方针。优先发展，育人为本……" names its section in a short
# first sentence and goes on with the section's text in the same paragraph (how Chinese
# policy documents write 一、（一）1. items). The label is a heading and the whole line
# stays body text: the sentences after the label are often the answer.
_RUN_IN_LABEL = re.compile(r"[^，,；;：:。！？!?“”\"]{1,24}(?=。)")


def run_in_heading(line: str) -> tuple[int, str] | None:
    """(level, label) when a numbered line is a run-in heading, else None."""
    for pattern, level in _HEADINGS[1:]:  # numbered levels only, not Markdown
        if pattern.match(line):
            label = _RUN_IN_LABEL.match(line)
            if label and len(line) > label.end() + 1:  # text after the label's 。
                return level, label.group(0)
            return None
    return None


def heading_level(line: str) -> tuple[int, str] | None:
    """(level, label) when the line is a heading, else None."""
    if len(line) > _MAX_HEADING + 8:
        return None
    for pattern, level in _HEADINGS:
        m = pattern.match(line)
        if not m:
            continue
        if level is None:  # Markdown: the marker's length is the level
            return len(m.group(1)), m.group(2).strip()
        if len(line) > _MAX_HEADING:
            return None
        return level, line.rstrip("。.：:")
    if _SHORT_HEADING.match(line) and not re.fullmatch(r"[\d.,%％万亿元个]+", line):
        return _IMPLICIT_LEVEL, line
    return None


def sentences(text: str) -> list[Sentence]:
    """Every sentence of the cleaned text, with its heading path. Numbered and Markdown
    heading lines are context, not sentences."""
    out: list[Sentence] = []
    stack: list[tuple[int, str]] = []
    pos = 0
    lines = text.split("\n")
    headings = [_heading_of(line.strip()) for line in lines]
    header = ""  # the first row of the table the block is in ("" outside tables)
    for number, line in enumerate(lines):
        start, pos = pos, pos + len(line) + 1
        if not line.strip():
            header = ""
            continue
        found, run_in = headings[number]
        if found and found[0] == _IMPLICIT_LEVEL and not _heads_body(headings, number):
            found = None  # a title block, a date or signature line: text, not a heading
        if found:
            level, label = found
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, label))
            # A numbered or Markdown heading is context only. A short unnumbered line is
            # a subheading as often as it is text that stands alone: a signature, a date
            # line, "（征求意见稿）". It heads what follows and stays text, so an answer
            # in it can be found and cited.
            if not run_in and level != _IMPLICIT_LEVEL:
                continue
        path = " > ".join(label for _, label in stack)
        article = _ARTICLE.match(line)
        if article:
            path = f"{path} > {article.group(1)}" if path else article.group(1)
        # The table goes on to the next blank line (a row of one merged cell has no "|")
        below = header
        header = header or (_table_header(line) if _TABLE_ROW in line else "")
        for s, e in sentence_spans(line):
            out.append(Sentence(start + s, start + e, path, number, below))
    return out


def _table_header(row: str) -> str:
    """A table's first row as a heading: its cells, the longest ones cut."""
    cells = [c.strip() for c in row.split(_TABLE_ROW) if c.strip()]
    return CELL_SEPARATOR.join(c if len(c) <= _HEADER_CELL else c[:_HEADER_CELL] + "…"
                               for c in cells)


def _heading_of(line: str) -> tuple[tuple[int, str] | None, bool] | None:
    """A stripped line's (level, label) if it is a heading, else None, and whether it is
    a run-in heading (which is text as well); None for an empty line."""
    if not line:
        return None
    run_in = run_in_heading(line)
    return (run_in, True) if run_in else (heading_level(line), False)


def _heads_body(headings: list, number: int) -> bool:
    """Whether the next non-empty line after `number` is body text, which a short line
    above it would head; a run of short lines (a title block, 发文机关 and 成文日期,
    目录) heads nothing."""
    for nxt in range(number + 1, len(headings)):  # stops at the next line: no slice copy
        heading = headings[nxt]
        if heading is not None:
            found, run_in = heading
            return found is None or run_in
    return False


def sentence_keys(text: str) -> list[tuple[int, int, str]]:
    """A passage's sentences, line by line: (start, end, search key), offsets in `text`.

    The one sentence layout of a passage: ingest segments these keys for BM25 and keeps
    them by sentence, and the re-ranker reads them back instead of segmenting again.
    """
    out = []
    pos = 0
    for line in text.split("\n"):
        # one conversion a line, sliced, when it kept the line's length (nearly always:
        # NFKC and traditional-to-simplified map character for character)
        key = search_key(line)
        sliced = len(key) == len(line)
        for s, e in sentence_spans(line):
            out.append((pos + s, pos + e, key[s:e] if sliced else search_key(line[s:e])))
        pos += len(line) + 1
    return out


def sentence_spans(line: str) -> list[tuple[int, int]]:
    """Split one paragraph into sentences, trimming surrounding spaces."""
    spans, begin = [], 0
    for m in _SENTENCE_END.finditer(line):
        end = m.end()
        # A straight quote after the end closes the sentence only while one is open:
        # in 突出贡献。"十四五"规划 it opens the next sentence.
        while end < len(line) and (
            line[end] in _CLOSERS or line[end] in "\"'" and line.count(line[end], 0, end) % 2
        ):
            end += 1
        spans.append((begin, end))
        begin = end
    if begin < len(line):
        spans.append((begin, len(line)))
    out = []
    for s, e in spans:
        while s < e and line[s].isspace():
            s += 1
        while e > s and line[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out


def split(text: str, size: int = 400, overlap: int = 80, max_size: int = 600) -> list[Span]:
    """Group sentences into chunks of about `size` characters under one heading path.

    A chunk never crosses a heading; the next chunk repeats whole trailing sentences
    of the previous one up to `overlap` characters; a sentence longer than `max_size`
    is cut at a comma (or hard, as a last resort).

    >>> text = "一、总则\\n甲。乙。"
    >>> [text[s.start:s.end] for s in split(text, size=2, overlap=0)]
    ['甲。', '乙。']
    """
    if not 0 <= overlap < size <= max_size:
        raise ValueError(
            f"need 0 <= overlap < size <= max_size; got overlap={overlap}, size={size}, "
            f"max_size={max_size}"
        )
    units = [u for s in sentences(text) for u in _cut_long(text, s, max_size)]
    spans: list[Span] = []
    group: list[Sentence] = []

    def flush() -> None:
        if group:
            # A chunk of a table's later rows is under its header row too:
            # "城乡教育共同体数量（个）| 102 | 120" says which figure is 十三五期间 and which
            # 2025目标 only with it.
            heading, header = group[0].heading, group[0].table_header
            if header:
                heading = f"{heading} > {header}" if heading else header
            spans.append(Span(group[0].start, group[-1].end, heading))

    for unit in units:
        if group and (
            unit.heading != group[0].heading or unit.end - group[0].start > size
        ):
            flush()
            same_section = unit.heading == group[0].heading
            group = _tail(group, overlap) if same_section else []
            # overlap must leave room for the new sentence
            while group and unit.end - group[0].start > max_size:
                group = group[1:]
        group.append(unit)
    flush()
    return spans


def opening(text: str, size: int = 400) -> list[Sentence]:
    """The document's first sentences, up to about `size` characters and the first
    numbered or Markdown heading after them: the title block, 文号, issuer, date and
    preamble that `split` parts where a short line seems to head the body.

    >>> t = "规划\\n（征求意见稿）\\n2021年3月2日\\n为推动发展，制订本规划。\\n一、总则\\n甲。"
    >>> [t[s.start:s.end] for s in opening(t, 40)]
    ['规划', '（征求意见稿）', '2021年3月2日', '为推动发展，制订本规划。']
    """
    end, seen_text = 0, False
    for line in text[: size * 4].split("\n"):
        heading = _heading_of(line.strip())
        if heading is not None:
            found, run_in = heading
            explicit = bool(found) and (run_in or found[0] != _IMPLICIT_LEVEL)
            if explicit and seen_text:
                break
            seen_text = seen_text or not explicit
        end += len(line) + 1
    units = sentences(text[:end])
    return [u for u in units if u.end - units[0].start <= size] or units[:1]


def _tail(group: list[Sentence], overlap: int) -> list[Sentence]:
    """The last whole sentences of a chunk that fit in `overlap` characters."""
    tail: list[Sentence] = []
    for s in reversed(group[1:]):
        if group[-1].end - s.start > overlap:
            break
        tail.insert(0, s)
    return tail


def _cut_long(text: str, s: Sentence, max_size: int) -> list[Sentence]:
    """A sentence over `max_size` characters, cut at the last comma that keeps each
    piece within the limit."""
    pieces: list[Sentence] = []
    start = s.start
    while s.end - start > max_size:
        window = text[start : start + max_size]
        cut = max(window.rfind(c) for c in "，,、：:")
        end = start + (cut + 1 if cut > max_size // 3 else max_size)
        pieces.append(replace(s, start=start, end=end))
        start = end
    pieces.append(replace(s, start=start))
    return pieces
