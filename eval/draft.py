"""Draft a dataset from the user's own documents: candidate questions with gold quotes.

Extractive, no model: a sentence of an indexed chunk that states a figure, defines a
term or lists items becomes a question about it, its figure, definition or items the
keywords, and the sentence itself the quote. A person checks and edits the drafts
(some read awkwardly out of context) before using them as an eval set; every line is
valid for `load_dataset` and every quote is an exact phrase of its source.

    lines = draft_questions(index, 20)
    write_jsonl(Path("draft.jsonl"), lines)   # then: zhice eval --dataset draft.jsonl
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

from zhice.index.contract import SearchIndex
from zhice.ingest.normalize import match_key
from zhice.ingest.split import sentence_spans

# A figure worth asking about: a number with a unit or a percent sign. Years (2024年)
# and numbers in citations ("(周文,2023)") are not.
_FIGURE = re.compile(
    r"(?<![\d.])(\d+(?:\.\d+)?)(%|(?:万亿|亿|万|千)?(?:元|美元|个|家|座|项|人|户|所|条|件|吨|亩|倍|处"
    r"|批|类|名|位|次|公里|平方公里|千米|米)|万亿|亿|万)")
_CLAUSE_END = "，,；;：:。！？!?"
_DEFINE = re.compile(r"^(?P<term>[^，,。；;：:“”\"()（）]{2,16}?)"
                     r"(?P<cue>是指(?![导引出挥])|指的是|是以|是一种|定义为)(?P<rest>[^。；;]{4,})")
_LIST = re.compile(r"(?P<head>[^，,。；;：:]{2,24}?)"
                   r"(?P<cue>包括|包含|主要有|分别是|分别为|涵盖)了?[：:]?(?P<items>[^。；;，,(（]+)")
_NOT_A_TERM = ("这", "那", "其", "它", "该", "此", "但", "而", "并", "所谓")
# A short opening clause that only links to what came before ("同时,", "例如,").
_LEAD_IN = re.compile(r"^[^，,；;：:]{1,4}[，,]")
_MAX_QUOTE = 80
_MIN_QUOTE = 8


@dataclass(frozen=True)
class Draft:
    """One candidate question: a dataset line once given an id."""

    type: str
    question: str
    keywords: tuple[str, ...]
    min_match: int
    source: str
    quote: str

    def to_line(self, qid: str) -> dict:
        line = {"id": qid, "type": self.type, "question": self.question,
                "keywords": list(self.keywords)}
        if self.min_match != len(self.keywords):
            line["min_match"] = self.min_match
        line["evidence"] = [{"source": self.source, "quote": self.quote}]
        return line


def draft_questions(index: SearchIndex, n: int) -> list[dict]:
    """Up to `n` dataset lines, spread over the documents and the kinds of question."""
    if n < 1:
        raise ValueError(f"n must be at least 1. Currently, n is {n}")
    per_source: dict[str, list[Draft]] = {}
    for f in index.files():
        key = match_key(index.file_text(f.source) or "")
        seen: set[str] = set()
        found = []
        for draft in _drafts_of(index, f.source):
            q = match_key(draft.quote)
            if q in seen or q not in key:  # a quote must stand in the source as loaded
                continue
            seen.add(q)
            found.append(draft)
        per_source[f.source] = _interleave(found)
    chosen: list[Draft] = []
    while len(chosen) < n and any(per_source.values()):
        for source in list(per_source):
            if per_source[source] and len(chosen) < n:
                chosen.append(per_source[source].pop(0))
    return [d.to_line(f"draft{i:03d}") for i, d in enumerate(chosen, 1)]


def _drafts_of(index: SearchIndex, source: str) -> Iterator[Draft]:
    for stored in index.document_chunks(source):
        chunk = stored.chunk
        for line in chunk.text.split("\n"):
            for s, e in sentence_spans(line):
                sentence = line[s:e].strip()
                for make in (_number, _definition, _listing):
                    draft = make(sentence, source)
                    if draft:
                        yield draft


def _interleave(drafts: list[Draft]) -> list[Draft]:
    """Alternate the kinds, in document order within each kind."""
    kinds: dict[str, list[Draft]] = {}
    for d in drafts:
        kinds.setdefault(d.type, []).append(d)
    out = []
    while any(kinds.values()):
        for kind in list(kinds):
            if kinds[kind]:
                out.append(kinds[kind].pop(0))
    return out


def _clause_span(sentence: str, start: int, end: int) -> tuple[int, int]:
    """The clauses around [start, end): from the sentence start if short enough, else
    from the clause before; to the end of the clause holding `end`."""
    stop = next((i for i in range(end, len(sentence)) if sentence[i] in _CLAUSE_END),
                len(sentence))
    begin = 0
    if stop > _MAX_QUOTE:
        marks = [i for i in range(start) if sentence[i] in _CLAUSE_END]
        begin = marks[-2] + 1 if len(marks) >= 2 else (marks[-1] + 1 if marks else 0)
    return begin, stop


def _number(sentence: str, source: str) -> Draft | None:
    for m in _FIGURE.finditer(sentence):
        before = sentence[: m.start()]
        if before.count("(") > before.count(")") or before.count("（") > before.count("）"):
            continue  # inside a citation or a note
        begin, stop = _clause_span(sentence, m.start(), m.end())
        lead = _LEAD_IN.match(sentence[begin : m.start()])
        begin += lead.end() if lead else 0
        quote = sentence[begin:stop].strip()
        if not _MIN_QUOTE <= len(quote) <= _MAX_QUOTE:
            continue
        unit = m.group(2)
        unit = "" if unit == "%" else unit
        how_many = "几" if sentence[: m.start()].endswith("第") else "多少"  # 第2位 -> 第几位
        asked = sentence[begin : m.start()] + how_many + unit + sentence[m.end() : stop]
        return Draft("number", asked.strip() + "？", (m.group(0),), 1, source, quote)
    return None


def _definition(sentence: str, source: str) -> Draft | None:
    m = _DEFINE.search(sentence)
    if not m:
        return None
    term = m.group("term").strip()
    if term.startswith(_NOT_A_TERM) or len(sentence) > _MAX_QUOTE * 2:
        return None
    first = re.split(r"[、，,（(“”\"]", m.group("rest"), maxsplit=1)[0].strip()
    keyword = first[:12]
    quote = sentence[: m.end("cue") + len(first)].strip()
    if len(keyword) < 2 or not _MIN_QUOTE <= len(quote) <= _MAX_QUOTE:
        return None
    return Draft("definition", f"什么是{term}？", (keyword,), 1, source, quote)


def _listing(sentence: str, source: str) -> Draft | None:
    m = _LIST.search(sentence)
    if not m:
        return None
    listed = m.group("items").split("等")[0]
    items = [i.strip(" 和及") for i in re.split(r"、|以及|和|及", listed)]
    items = [i for i in items if 2 <= len(i) <= 12]
    head = m.group("head").strip().rstrip("既也还都")
    if len(items) < 3 or head.startswith(_NOT_A_TERM):
        return None
    quote = sentence[m.start("head") : m.end("items")].strip()
    if len(quote) > _MAX_QUOTE:
        quote = quote[:_MAX_QUOTE]
    keywords = tuple(items[:3])
    if any(k not in quote for k in keywords):
        return None
    return Draft("list", f"{head}{m.group('cue')}哪些？", keywords, 2, source, quote)
