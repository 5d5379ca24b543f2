"""Hybrid retrieval: dense (FAISS) and BM25 candidates fused by reciprocal rank."""

from collections.abc import Callable, Sequence
from dataclasses import replace

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from zhice.index.contract import SearchIndex
from zhice.ingest.normalize import search_key
from zhice.ingest.types import Chunk

from .rerank import within_documents, without_document_name
from .types import Hit

RRF_K = 60  # the constant of Cormack et al.; ranks past ~60 barely count
FILTER_DEPTH = 10  # how much deeper each list is read when only some documents count
# Asked again when the index changed mid-question (another process's ingest): its
# searches and chunk reads then show one state. Past this many, the last answer stands.
RETRIES = 3

# A further ranked list: search key and depth -> (chunk id, score), best first.
RankedSearch = Callable[[str, int], list[tuple[int, float]]]
# Ranked lists by name, and each list's (rank, score) by chunk id.
Lists = dict[str, list[tuple[int, float]]]
Ranks = dict[str, dict[int, tuple[int, float]]]


class HybridRetriever:
    """`retrieve(question, k) -> list[Hit]`, best first.

    The question is normalised like the chunks (NFKC, traditional to simplified), so a
    simplified question finds a traditional passage. Each retriever contributes
    `weight / (RRF_K + rank)` for its top `candidates`.

    >>> HybridRetriever(index).retrieve("示范区有多少个？", k=5)
    """

    def __init__(self, index: SearchIndex, candidates: int = 50,
                 dense_weight: float = 1.0, bm25_weight: float = 1.0,
                 reranker: Callable[[str, list[Hit]], list[Hit]] | None = None,
                 rerank_depth: int = 20,
                 extra: dict[str, tuple[RankedSearch, float]] | None = None):
        """`extra`: further ranked lists fused beside dense and BM25, by name, each with
        its weight."""
        self.index = index
        self.candidates = candidates
        self.extra = dict(extra or {})
        self.weights = {"dense": dense_weight, "bm25": bm25_weight,
                        **{name: weight for name, (_, weight) in self.extra.items()}}
        self.reranker = reranker
        self.rerank_depth = rerank_depth

    def retrieve(self, question: str, k: int, sources: set[str] | None = None) -> list[Hit]:
        """The best `k` passages; with `sources`, only passages of those documents."""
        if k <= 0:
            raise ValueError(f"k must be greater than 0. Currently, k is {k}")
        if sources is not None and not sources:
            return []
        if not hasattr(self.index, "changed"):  # a fixed ranking (a test's, a wrapped store)
            return self._retrieve(question, k, sources)
        for _ in range(RETRIES):
            seen = self.index.generation()
            hits = self._retrieve(question, k, sources)
            if self.index.generation() == seen and not self.index.changed():
                break
            self.index.refresh()
        return hits

    def _retrieve(self, question: str, k: int, sources: set[str] | None) -> list[Hit]:
        # a filter keeps only some of each list: look deeper so that enough are left
        n = max(self.candidates, k) * (FILTER_DEPTH if sources is not None else 1)
        lists = self._search(search_key(question), n)
        ordered, ranks = self._fuse(lists)
        depth = max(k, self.rerank_depth) if self.reranker else k
        if sources is not None:  # a candidate of another document is no candidate
            of = self.index.sources([cid for cid, _ in ordered])
            ordered = [(cid, s) for cid, s in ordered if of.get(cid) in sources]
        best = ordered[:depth]
        chunks = self.index.chunks([cid for cid, _ in best])
        # a chunk missing from `chunks` was removed since the search (a concurrent ingest)
        hits = [_hit(cid, chunks[cid].chunk, score, ranks, chunks[cid].lines)
                for cid, score in best if cid in chunks]
        if self.reranker:
            hits = self._rerank(question, hits, lists)
        return hits[:k]

    def _search(self, key: str, n: int, given: Lists | None = None) -> Lists:
        """Each list's top `n` for a search key, best first, by list name; `given`
        lists are taken as they are."""
        given = given or {}
        searches = {"dense": self.index.dense_search, "bm25": self.index.bm25_search,
                    **{name: search for name, (search, _) in self.extra.items()}}
        lists: Lists = {}
        for name, search in searches.items():
            if name in given:
                lists[name] = given[name]
            else:  # a zero weight skips the search
                lists[name] = search(key, n) if self.weights[name] else []
        return lists

    def _fuse(self, lists: Lists) -> tuple[list[tuple[int, float]], Ranks]:
        """The lists fused: (chunk id, fused score) best first, and each list's (rank,
        score) by chunk id."""
        fused: dict[int, float] = {}
        ranks: Ranks = {}
        for name, results in lists.items():
            ranks[name] = {cid: (rank, score) for rank, (cid, score) in enumerate(results, 1)}
            for rank, (cid, _) in enumerate(results, 1):
                fused[cid] = fused.get(cid, 0.0) + self.weights[name] / (RRF_K + rank)
        return sorted(fused.items(), key=lambda item: (-item[1], item[0])), ranks

    def _rerank(self, question: str, hits: list[Hit], lists: Lists) -> list[Hit]:
        """The reranker's order; when the question names the document it asks about
        ("三中全会决定中，…的总目标是什么？"), each document's passages then fill the places
        it holds in the order of the question without that name, searched and re-ranked
        alike. The name picks the document among documents; inside it, it only favours
        the passages that repeat the name (the preamble, the 实施 section), in the
        search as much as in the sentence scores."""
        ranked = self.reranker(question, hits)
        head, tail = ranked[: self.rerank_depth], ranked[self.rerank_depth :]
        inside = self.inside_document(question, head, lists)
        if inside is None:
            return ranked
        place = {h.id: i for i, h in enumerate(head)}
        order = within_documents([h.chunk.source for h in head],
                                 [place[h.id] for h in self.reranker(*inside)])
        # a place keeps its score: scores still fall with rank
        return [replace(head[i], score=h.score) for i, h in zip(order, head)] + tail

    def inside_document(self, question: str, hits: Sequence[Hit], lists: Lists | None = None
                        ) -> tuple[str, list[Hit]] | None:
        """For a question that names the document it asks about: the question without
        that name, and the passages with the scores it gives them (`rescored`); None for
        any other question. `lists`: the question's own, when already searched."""
        about = without_document_name(question)
        if about == question:
            return None
        # the question's own dense list stands for its shorter form's: an embedding is
        # most of a query's time, and the name moves it little
        if lists is None:
            lists = {"dense": self.index.dense_search(search_key(question), self.candidates)
                     if self.weights["dense"] else []}
        return about, self.rescored(about, hits, {"dense": lists["dense"]})

    def rescored(self, question: str, hits: Sequence[Hit], given: Lists | None = None
                 ) -> list[Hit]:
        """The same passages with the fused and BM25 scores another question gives them
        (none where it does not find them), best fused first; `given` lists are used as
        they are instead of searched."""
        ordered, ranks = self._fuse(self._search(search_key(question), self.candidates, given))
        fused = dict(ordered)
        out = [_hit(h.id, h.chunk, fused.get(h.id, 0.0), ranks, h.lines) for h in hits]
        return sorted(out, key=lambda h: (-h.score, h.id))


def _hit(cid: int, chunk: Chunk, score: float, ranks: Ranks,
         lines: tuple[tuple[str, ...], ...] | None) -> Hit:
    """A fused candidate with its dense and BM25 rank and score."""
    d, b = ranks.get("dense", {}).get(cid), ranks.get("bm25", {}).get(cid)
    return Hit(cid, chunk, score, d[0] if d else None, b[0] if b else None,
               d[1] if d else None, b[1] if b else None, lines)


class ZhiceRetriever(BaseRetriever):
    """The hybrid retriever as a LangChain retriever, for use in any LangChain chain."""

    retrieve_fn: Callable[[str, int], list[Hit]]
    k: int = 5

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [hit_to_document(h) for h in self.retrieve_fn(query, self.k)]


def hit_to_document(hit: Hit) -> Document:
    """A Hit as a LangChain Document: passage text plus where it came from."""
    c = hit.chunk
    return Document(
        page_content=c.text,
        metadata={"id": hit.id, "source": c.source, "title": c.title, "heading": c.heading,
                  "start": c.start, "end": c.end, "page": c.page, "score": hit.score},
    )
