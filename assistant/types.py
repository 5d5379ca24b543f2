"""What flows from a question to a cited answer: one frozen dataclass each."""

from dataclasses import dataclass, field
from datetime import date

from zhice.ingest.types import Chunk

# the answer modes: the chain's check, the command line's choices, the page's radio
MODES = ("extractive", "llm")

@dataclass(frozen=True)
class Hit:
    """A retrieved passage: fused score and the ranks it had in each retriever."""

    id: int
    chunk: Chunk
    score: float
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    bm25_score: float | None = None
    # its BM25 tokens by line as ingest segmented them (index.store.StoredChunk.lines)
    lines: tuple[tuple[str, ...], ...] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Citation:
    """A passage an answer sentence rests on; `quote` is the sentence as it stands in
    the passage (original script), at `quote_start` in the passage text."""

    marker: int
    hit: Hit
    quotes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        c = self.hit.chunk
        return {
            "marker": self.marker, "source": c.source, "title": c.title, "heading": c.path,
            "text": c.text, "start": c.start, "end": c.end, "page": c.page,
            "quotes": list(self.quotes),
        }


@dataclass(frozen=True)
class Answer:
    """The result of one question (INTERFACES.md, result object)."""

    question: str
    answer: str
    abstained: bool
    citations: tuple[Citation, ...]
    retrieved: tuple[Hit, ...]
    searched: str = ""  # the question actually searched, when it differs from `question`
    unsupported: tuple[str, ...] = ()
    # years, documents, ordinals the question names and the cited passages do not
    unmatched: tuple[str, ...] = ()
    latency_ms: float = 0.0
    id: str | None = None
    extra: dict = field(default_factory=dict, compare=False)
    # source -> DocumentFacts of the documents retrieved (what each states about itself)
    documents: dict = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict:
        out = {
            "id": self.id, "question": self.question, "answer": self.answer,
            "abstained": self.abstained,
            "citations": [_with_facts(c.to_dict(), self.documents) for c in self.citations],
            "retrieved": [
                {"rank": rank, "source": h.chunk.source, "title": h.chunk.title,
                 "heading": h.chunk.path, "text": h.chunk.text, "score": round(h.score, 6),
                 "start": h.chunk.start, "end": h.chunk.end}
                for rank, h in enumerate(self.retrieved, 1)
            ],
            "latency_ms": round(self.latency_ms, 2),
        }
        if self.searched and self.searched != self.question:
            out["searched_question"] = self.searched
        if self.unsupported:
            out["unsupported"] = list(self.unsupported)
        if self.unmatched:
            out["unmatched"] = list(self.unmatched)
        dated = self.sources_by_date()
        if dated:
            out["sources_by_date"] = [{"marker": m, "source": src, "date": d}
                                      for m, src, d in dated]
        return out

    def sources_by_date(self) -> tuple[tuple[int, str, str], ...]:
        """(marker, source, date) of the citations, newest document first, when they
        come from documents that state different dates: a figure may have been revised
        since, and the reader must see which is which. () otherwise."""
        dated = [(c.marker, c.hit.chunk.source, self.documents[c.hit.chunk.source].date)
                 for c in self.citations
                 if c.hit.chunk.source in self.documents
                 and self.documents[c.hit.chunk.source].date]
        if len({d for _, _, d in dated}) < 2:
            return ()
        return tuple(sorted(dated, key=lambda x: (x[2], -x[0]), reverse=True))


def _with_facts(citation: dict, documents: dict) -> dict:
    """A citation with the facts its document states (文号, issuers, date…), if any,
    and whether its stated period had ended by this year; `ocr: true` when OCR read
    its page (the text may hold misread characters: the page is the authority)."""
    facts = documents.get(citation["source"])
    stated = facts.stated() if facts is not None else {}
    stated.pop("title", None)  # the citation has the title already
    if facts is not None and facts.ended(date.today().year):
        stated["period_ended"] = True
    if facts is not None and facts.read_by_ocr(citation["page"]):
        citation = {**citation, "ocr": True}
    return {**citation, "facts": stated} if stated else citation
