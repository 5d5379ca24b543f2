"""Baselines run on the same index and questions as zhice, for side-by-side numbers.

- `bm25`: BM25 only (jieba tokens over the search keys), no re-ranking.
- `dense`: the index's embedder only (FAISS), no re-ranking.
- `langchain`: a plain LangChain pipeline as Langchain-Chatchat ships it: the loaded
  text of each document split by RecursiveCharacterTextSplitter (chunk_size 750,
  chunk_overlap 150, its default separators), embedded with the same embedder through
  our LangChainEmbeddings adapter into a langchain-community FAISS store (inner
  product of unit vectors: cosine), top k by similarity. The question goes in as typed: no script
  normalisation, no cleaning of the documents.

All of them answer with zhice's extractive answerer and citation check over their own
top passages, so answer metrics compare retrieval, not answer writing.

    systems = baseline_systems(assistant)          # {"bm25": ..., "dense": ..., "langchain": ...}
    results = run_questions(systems["bm25"], questions)
"""

import time
import warnings
from collections.abc import Mapping
from dataclasses import replace

from zhice.assistant.chain import RETRIEVED, Assistant, build_chain, validate
from zhice.assistant.check import check_answer
from zhice.assistant.extractive import NOT_FOUND, ExtractiveAnswerer
from zhice.assistant.retrieve import HybridRetriever
from zhice.assistant.types import Answer, Hit
from zhice.index.embedders.base import Embedder
from zhice.index.embedders.langchain import LangChainEmbeddings
from zhice.ingest.normalize import search_key
from zhice.ingest.types import Chunk

from .dataset import DatasetError
from .labels import BASELINES, RETRIEVER_BASELINES

# Langchain-Chatchat's knowledge-base defaults (CHUNK_SIZE, OVERLAP_SIZE).
CHATCHAT_CHUNK_SIZE = 750
CHATCHAT_OVERLAP = 150
EVAL_EXTRA_HINT = "pip install 'zhice[eval]'"


class BaselineError(DatasetError):
    """A baseline could not be built (a missing optional dependency, an empty index)."""


def retriever_variant(assistant: Assistant, **options) -> Assistant:
    """The same index and answerer behind another retriever configuration; shares the
    open index, so close only the original."""
    retriever = HybridRetriever(assistant.index, **options)
    prepare, finish = build_chain(retriever, assistant.generator or assistant.answerer)
    return Assistant(assistant.index, prepare, finish, retriever, assistant.answerer,
                     assistant.generator, assistant.mode)


class LangChainBaseline:
    """RecursiveCharacterTextSplitter + langchain-community FAISS + the same embedder.

    >>> baseline = LangChainBaseline(index.embedder, answerer).build({"a.txt": ("标题", text)})
    >>> baseline.ask("示范区有多少个？").answer
    """

    def __init__(self, embedder: Embedder, answerer: ExtractiveAnswerer,
                 chunk_size: int = CHATCHAT_CHUNK_SIZE, chunk_overlap: int = CHATCHAT_OVERLAP):
        self.embeddings = LangChainEmbeddings(embedder)
        self.answerer = answerer
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self._store = None
        self._chunks: dict[str, Chunk] = {}

    def build(self, documents: Mapping[str, tuple[str, str]]) -> "LangChainBaseline":
        """Split and embed documents given as source -> (title, loaded text)."""
        FAISS, DistanceStrategy, splitter_class, Document = _langchain()
        splitter = splitter_class(chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap,
                                  add_start_index=True)
        docs = []
        for source, (title, text) in documents.items():
            for d in splitter.create_documents([text], [{"source": source, "title": title}]):
                d.metadata["ordinal"] = len(docs)
                docs.append(Document(page_content=d.page_content, metadata=d.metadata,
                                     id=str(len(docs))))
        if not docs:
            raise BaselineError("the LangChain baseline has no text to index: the index is empty")
        self._chunks = {d.id: _chunk(d) for d in docs}
        # zhice's embedders return unit vectors: inner product is cosine similarity
        self._store = FAISS.from_documents(docs, self.embeddings,
                                           distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT)
        return self

    def __len__(self) -> int:
        return len(self._chunks)

    def retrieve(self, question: str, k: int) -> list[Hit]:
        if self._store is None:
            raise RuntimeError("LangChainBaseline.build() was not called")
        found = self._store.similarity_search_with_score(question, k=k)
        return [Hit(int(d.id), self._chunks[d.id], float(score)) for d, score in found]

    def ask(self, question: str, k: int = 5, id: str | None = None) -> Answer:
        """Top passages by similarity, then zhice's extractive answerer and check."""
        started = time.perf_counter()
        question = validate(question)
        hits = self.retrieve(question, max(k, RETRIEVED))
        answer = check_answer(self.answerer(question, hits[:k]), NOT_FOUND)
        return replace(answer, question=question, retrieved=tuple(hits), id=id,
                       latency_ms=(time.perf_counter() - started) * 1000)


def baseline_systems(assistant: Assistant, names: tuple[str, ...] = BASELINES) -> dict:
    """The named baselines over the assistant's index: name -> object with ask()."""
    systems = {}
    for name in names:
        if name in RETRIEVER_BASELINES:
            systems[name] = retriever_variant(assistant, **RETRIEVER_BASELINES[name][1])
        elif name == "langchain":
            index = assistant.index
            docs = {f.source: (f.title, index.file_text(f.source) or "") for f in index.files()}
            systems[name] = LangChainBaseline(assistant.index.embedder, assistant.answerer
                                              ).build(docs)
        else:
            raise BaselineError(f"unknown baseline {name!r}; use one of: {', '.join(BASELINES)}")
    return systems


def _chunk(doc) -> Chunk:
    """A LangChain document as a zhice chunk, so the answerer and results can use it."""
    text, meta = doc.page_content, doc.metadata
    start = int(meta.get("start_index", -1))
    return Chunk(meta["source"], meta["ordinal"], text, search_key(text), "",
                 start, start + len(text) if start >= 0 else -1, None, meta.get("title", ""))


def _langchain():
    """The LangChain pieces, imported only when the baseline is asked for."""
    try:
        with warnings.catch_warnings():
            # langchain-community warns on import that it is being sunset; FAISS has no
            # standalone integration package yet, and the baseline is what people run.
            warnings.simplefilter("ignore", DeprecationWarning)
            from langchain_community.vectorstores import FAISS
            from langchain_community.vectorstores.utils import DistanceStrategy
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter
    except ImportError as e:
        raise BaselineError(
            f"the LangChain baseline needs langchain-community and langchain-text-splitters "
            f"({e.name} is missing); install them with: {EVAL_EXTRA_HINT}"
        ) from None
    return FAISS, DistanceStrategy, RecursiveCharacterTextSplitter, Document
