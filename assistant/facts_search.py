"""Questions about a document itself find the passage where it says so.

"这份文件的文号是多少？", "《…》是哪些部门印发的？", "…是什么时候印发的？": the answer is a
fact ingest read (ingest/facts.py) from a line such as the 发文字号 under the masthead
or the 落款 at the end, which shares almost no words with the question, so neither
BM25 nor the embedding ranks it. `FactsSearch` is a further ranked list for the
retriever (HybridRetriever's `extra`): the passages of the question's documents that
hold the facts asked for.

    >>> FactsSearch(index)(search_key("国务院这份意见的文号是多少？"), 50)
    [(17, 1.0)]
"""

import re
from collections.abc import Callable, Iterable, Sequence

from zhice.ingest.facts import DocumentFacts
from zhice.ingest.normalize import is_traditional, match_key, search_key, to_simplified

from .check import unmatched
from .types import Answer, Citation, Hit

_ISSUED = "印发|发布|通过|出台|成文|签发|下发|公布|发出|颁布|制定"
_WHEN = "什么时候|何时|哪一?天|哪一?年|哪年哪月|几月几日|日期|时间"
# The elements of an official document a question asks for (GB/T 9704's 发文字号,
# 发文机关, 成文日期; a plan's 规划期), in the forms Chinese asks for them: a closed
# class of the language of official documents, matched on the search key.
ASKED = {
    "doc_numbers": re.compile(r"文号|发文字号"),
    "issuers": re.compile(rf"(?:哪个|哪些|哪一个|哪几个|什么|哪家)(?:部门|单位|机关|机构).{{0,4}}"
                          rf"(?:{_ISSUED})|(?:谁|由谁).{{0,2}}(?:{_ISSUED})|发文机关|印发机关|发文单位"),
    "date": re.compile(rf"(?:{_WHEN}).{{0,6}}(?:{_ISSUED})|(?:{_ISSUED}).{{0,6}}(?:{_WHEN})"),
    "period": re.compile(r"有效期|规划期|实施期|施行|时间段|期限"),
}
NAMED_DOCUMENTS = 3  # documents searched when the question names none: BM25's first
TITLE_MIN = 4  # characters of a title (or 《》 name) that count as naming a document
_BRACKETED = re.compile(r"[（(〔\[【][^）)〕\]】]*[）)〕\]】]")
_SEARCH_DEPTH = 200  # BM25 hits read for one document's fact values
_CN = "〇一二三四五六七八九"


_PUBLISHED = re.compile(r"发布|公布|发表|上线")


def title_core(title: str) -> str:
    """A title as a question would name it: match key without 《》 or what stands in
    brackets ("(2013-2022 年)", "（征求意见稿）")."""
    return match_key(_BRACKETED.sub("", title)).strip("《》")


def named_documents(index, question_key: str) -> list[str]:
    """The documents the question names: a title (its core) inside the question, or a
    《…》 name that holds or is held by a title."""
    asked = match_key(question_key)
    quoted = [match_key(q) for q in re.findall(r"《([^《》]+)》", question_key)]
    return [source for source, title in index.titles().items()
            if len(core := title_core(title)) >= TITLE_MIN and (core in asked or any(
                len(q) >= TITLE_MIN and (q in core or core in q) for q in quoted))]


def asked_facts(question_key: str) -> list[str]:
    """The fields of DocumentFacts a question (its search key) asks for, the likelier
    first: a date asked of a publication is a page's 发布日期 before the 成文日期."""
    fields = [name for name, form in ASKED.items() if form.search(question_key)]
    if "date" in fields:
        dates = ["published", "date"] if _PUBLISHED.search(question_key) else ["date", "published"]
        at = fields.index("date")
        fields[at:at + 1] = dates
    return fields


def written_forms(facts: DocumentFacts, field: str) -> list[str]:
    """How a stated fact can stand in a document's text, as match keys (no spaces)."""
    if field == "doc_numbers":
        values = list(facts.doc_numbers)
    elif field == "issuers":
        values = list(facts.issuers)
    elif field in ("date", "published"):
        values = _dates(getattr(facts, field)) if getattr(facts, field) else []
    else:
        values = re.findall(r"(?:19|20)\d{2}", facts.period)[:1] or []
    return [key for key in dict.fromkeys(match_key(v) for v in values) if key]


def _dates(iso: str) -> list[str]:
    """2014-08-10 as 2014年8月10日, 2014年08月10日, 2014-08-10 and 二〇一四年八月十日."""
    parts = [int(p) for p in iso.split("-")]
    units = "年月日"[: len(parts)]
    arabic = "".join(f"{p}{u}" for p, u in zip(parts, units, strict=True))
    padded = "".join(f"{p:02d}{u}" for p, u in zip(parts, units, strict=True))
    chinese = "".join(_CN[int(d)] for d in str(parts[0])) + "年" + "".join(
        f"{_cn_number(p)}{u}" for p, u in zip(parts[1:], units[1:], strict=True))
    return [arabic, padded, iso, chinese]


def _cn_number(n: int) -> str:
    """1-31 in Chinese numerals: 十, 十二, 二十六."""
    tens, ones = divmod(n, 10)
    return (_CN[tens] if tens > 1 else "") + ("十" if tens else "") + (_CN[ones] if ones else "")


class FactsSearch:
    """Passages holding the facts a question asks for, of the documents it names (by
    title or 《》 name), else of BM25's first documents; an empty list for any other
    question, so fusing it changes nothing there."""

    def __init__(self, index):
        self.index = index
        # the last question's documents, by (question key, index generation): retrieval
        # and FactsAnswerer ask for them in turn for the same question
        self._last: tuple[tuple[str, int], list[str]] | None = None

    def __call__(self, question_key: str, k: int) -> list[tuple[int, float]]:
        fields = asked_facts(question_key)
        if not fields:
            return []
        sources = self.documents(question_key)
        facts = self.index.facts(sources)
        found: list[int] = []
        for source in sources:
            forms = [f for field in fields for f in written_forms(facts.get(source,
                                                                        DocumentFacts()), field)]
            found += [cid for cid in self._holding(source, forms) if cid not in found]
        return [(cid, 1.0) for cid in found[:k]]

    def documents(self, question_key: str) -> list[str]:
        """The documents a question is about: those it names, else BM25's first."""
        asked = (question_key, self.index.generation())
        if self._last and self._last[0] == asked:
            return self._last[1]
        named = named_documents(self.index, question_key)
        if not named:
            hits = self.index.bm25_search(question_key, NAMED_DOCUMENTS * 10)
            of = self.index.sources([cid for cid, _ in hits])
            named = list(dict.fromkeys(of[cid] for cid, _ in hits if cid in of))[:NAMED_DOCUMENTS]
        self._last = (asked, named)
        return named

    def _holding(self, source: str, forms: Iterable[str]) -> list[int]:
        """Chunks of `source` whose search key holds one of `forms`, in BM25 order."""
        forms = list(forms)
        if not forms:
            return []
        hits = self.index.bm25_search(" ".join(forms), _SEARCH_DEPTH)
        of = self.index.sources([cid for cid, _ in hits])
        ids = [cid for cid, _ in hits if of.get(cid) == source]
        chunks = self.index.chunks(ids)
        return [cid for cid in ids if cid in chunks
                and any(form in match_key(chunks[cid].chunk.key) for form in forms)]


_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")


class FactsAnswerer:
    """Answers a question about a document itself from the retrieved line that states
    the fact (the 文号 line, the 落款, "（2024年7月18日…通过）"), cited; any other
    question, or one whose fact no retrieved passage states, goes to `answerer`."""

    def __init__(self, answerer: Callable[[str, Sequence[Hit]], Answer], search: FactsSearch):
        self.answerer = answerer
        self.search = search

    def __call__(self, question: str, hits: Sequence[Hit]) -> Answer:
        key = search_key(question)
        fields = asked_facts(key)
        if fields and hits:
            named = self.search.documents(key)
            facts = self.search.index.facts({h.chunk.source for h in hits})
            # the likelier field first; the documents the question is about first, each
            # in retrieval order
            # (a passage of another year or another document states no fact of this one)
            ordered = [h for h in sorted(hits, key=lambda h: h.chunk.source not in named)
                       if not unmatched(question, [Citation(1, h)])]
            for field in fields:
                for hit in ordered:
                    forms = written_forms(facts.get(hit.chunk.source, DocumentFacts()), field)
                    quote = _stating(hit.chunk.text, forms)
                    if quote:
                        shown = quote if is_traditional(question) else to_simplified(quote)
                        return Answer(question, f"{shown}[1]", False,
                                      (Citation(1, hit, (quote,)),), tuple(hits))
        return self.answerer(question, hits)


def _stating(text: str, forms: Sequence[str]) -> str | None:
    """The first sentence (or line) of `text` that holds one of `forms`."""
    for m in _SENTENCE.finditer(text):
        if any(form in match_key(m.group()) for form in forms):
            return m.group().strip()
    return None
