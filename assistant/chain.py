"""The path from question to checked answer, as one LangChain Runnable.

    validate | retrieve | answer | check

The CLI, the eval command and the web UI all invoke the same object, built here.
"""

import math
import time
from dataclasses import replace
from pathlib import Path

from langchain_core.runnables import Runnable, RunnableLambda

from index.index import ZhiceIndex

from .check import check_answer
from .errors import BadQuestionError
from .extractive import NOT_FOUND, ExtractiveAnswerer
from .rerank import CoverageReranker
from .retrieve import HybridRetriever
from .types import Answer

MAX_QUESTION = 500  # characters; a pasted document is not a question
RETRIEVED = 10  # passages listed in every result, whatever k is


def validate(question: str) -> str:
    """The question stripped, or BadQuestionError saying what is wrong."""
    q = (question or "").strip()
    if not q:
        raise BadQuestionError("the question is empty; ask something, e.g. 示范区有多少个？")
    if len(q) > MAX_QUESTION:
        raise BadQuestionError(
            f"the question is {len(q)} characters long; the limit is {MAX_QUESTION}. "
            "Ask about one thing at a time"
        )
    return q


def build_chain(retriever: HybridRetriever, answerer: ExtractiveAnswerer) -> Runnable:
    """`chain.invoke({"question": ..., "k": 5})` -> checked `Answer`."""

    def _validate(inp: dict) -> dict:
        k = inp.get("k", 5)
        if not isinstance(k, int) or not 1 <= k <= 50:
            raise BadQuestionError(f"k must be between 1 and 50; got {k!r}")
        return {**inp, "question": validate(inp["question"]), "k": k}

    def _retrieve(inp: dict) -> dict:
        searched = inp.get("searched") or inp["question"]
        return {**inp, "hits": retriever.retrieve(searched, max(inp["k"], RETRIEVED))}

    def _answer(inp: dict) -> Answer:
        hits = inp["hits"]
        answer = answerer(inp.get("searched") or inp["question"], hits[: inp["k"]])
        return replace(answer, question=inp["question"], retrieved=tuple(hits),
                       searched=inp.get("searched") or inp["question"], id=inp.get("id"))

    return (RunnableLambda(_validate, name="validate")
            | RunnableLambda(_retrieve, name="retrieve")
            | RunnableLambda(_answer, name="answer")
            | RunnableLambda(lambda a: check_answer(a, NOT_FOUND), name="check"))


class Assistant:
    """An open index with its chain: what the CLI, eval and the web UI hold.

    >>> with Assistant.open(Path("~/.local/share/zhice/index")) as assistant:
    ...     print(assistant.ask("示范区有多少个？").answer)
    """

    def __init__(self, index: ZhiceIndex, chain: Runnable, retriever: HybridRetriever,
                 answerer: ExtractiveAnswerer):
        self.index = index
        self.chain = chain
        self.retriever = retriever
        self.answerer = answerer

    @classmethod
    def open(cls, directory: Path, embedder: str | None = None, **retriever_options) -> "Assistant":
        index = ZhiceIndex.open(directory, embedder=embedder)
        answerer = ExtractiveAnswerer(index.segmenter, idf=_idf(index))
        retriever_options.setdefault("reranker", CoverageReranker(answerer.passage_scores))
        retriever = HybridRetriever(index, **retriever_options)
        return cls(index, build_chain(retriever, answerer), retriever, answerer)

    def ask(self, question: str, k: int = 5, id: str | None = None) -> Answer:
        """Answer one question; latency excludes model loading (done in open())."""
        started = time.perf_counter()
        answer = self.chain.invoke({"question": question, "k": k, "id": id})
        return replace(answer, latency_ms=(time.perf_counter() - started) * 1000)

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> "Assistant":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _idf(index: ZhiceIndex):
    """Term weights from the BM25 index: a rare term says more about what is asked."""
    bm25 = index.bm25

    def idf(term: str) -> float:
        n = max(len(bm25), 1)
        df = bm25.df(term)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    return idf
