"""Hybrid retrieval: dense (FAISS) and BM25 candidates fused by reciprocal rank."""

from collections.abc import Callable

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from zhice.index.contract import SearchIndex
from zhice.ingest.normalize import search_key

from .types import Hit

RRF_K = 60  # the constant of Cormack et al.; ranks past ~60 barely count
FILTER_DEPTH = 10  # how much deeper each list is read when only some documents count
# Asked again when the index changed mid-question (another process's ingest): its
# searches and chunk reads then show one state. Past this many, the last answer stands.
RETRIES = 3

# A further ranked list: search key and depth -> (chunk id, score), best first.
RankedSearch = Callable[[str, int], list[tuple[int, float]]]


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
        key = search_key(question)
        # a filter keeps only some of each list: look deeper so that enough are left
        n = max(self.candidates, k) * (FILTER_DEPTH if sources is not None else 1)
        ranked = {
            "dense": self.index.dense_search(key, n) if self.weights["dense"] else [],
            "bm25": self.index.bm25_search(key, n) if self.weights["bm25"] else [],
            **{name: search(key, n) for name, (search, weight) in self.extra.items() if weight},
        }
        fused: dict[int, float] = {}
        ranks: dict[str, dict[int, tuple[int, float]]] = {}
        for name, results in ranked.items():
            ranks[name] = {cid: (rank, score) for rank, (cid, score) in enumerate(results, 1)}
            for rank, (cid, _) in enumerate(results, 1):
                fused[cid] = fused.get(cid, 0.0) + self.weights[name] / (RRF_K + rank)
        depth = max(k, self.rerank_depth) if self.reranker else k
        ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
        if sources is not None:  # a candidate of another document is no candidate
            of = self.index.sources([cid for cid, _ in ordered])
            ordered = [(cid, s) for cid, s in ordered if of.get(cid) in sources]
        best = ordered[:depth]
        chunks = self.index.chunks([cid for cid, _ in best])
        hits = []
        for cid, score in best:
            if cid not in chunks:
                continue  # removed since the search (a concurrent ingest)
            d, b = ranks["dense"].get(cid), ranks["bm25"].get(cid)
            hits.append(Hit(cid, chunks[cid].chunk, score,
                            d[0] if d else None, b[0] if b else None,
                            d[1] if d else None, b[1] if b else None, chunks[cid].lines))
        if self.reranker:
            hits = self.reranker(question, hits)
        return hits[:k]


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
