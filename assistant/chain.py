"""The path from question to checked answer, as one LangChain Runnable.

    validate | rewrite | retrieve | answer | check

In llm mode the answer step is the chat model's (assistant/llm.py: prompt, model,
parse, check, with the extractive answer as the fallback).

The CLI, the eval command and the web UI all invoke the same object, built here.
"""

import math
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

from langchain_core.runnables import Runnable, RunnableLambda

from zhice.index.contract import SearchIndex
from zhice.index.stores import open_index
from zhice.ingest.normalize import strip_invisible

from .answer_model import AnswerModel
from .check import check_answer
from .errors import BadQuestionError
from .extractive import NOT_FOUND, ExtractiveAnswerer
from .facts_search import FactsAnswerer, FactsSearch
from .followup import needs_context, standalone
from .params import RetrievalParams
from .question import tagger
from .rerank import CoverageReranker
from .retrieve import HybridRetriever
from .types import MODES, Answer, Hit

MAX_QUESTION = 500  # characters; a pasted document is not a question
RETRIEVED = 10  # passages listed in every result, whatever k is
FACTS_WEIGHT = 2.0  # FactsSearch's list in the fusion: the votes of dense and BM25 together
MAX_K = 50


def validate(question: str) -> str:
    """The question stripped, or BadQuestionError saying what is wrong. Control and
    zero-width characters go first, as they do from documents: a question pasted from
    a web page asks what the same question typed asks."""
    q = strip_invisible(question or "").strip()
    if not q:
        raise BadQuestionError("the question is empty; ask something, e.g. 示范区有多少个？",
                               zh="问题是空的：请输入一个问题，例如“示范区有多少个？”")
    if len(q) > MAX_QUESTION:
        raise BadQuestionError(
            f"the question is {len(q)} characters long; the limit is {MAX_QUESTION}. "
            "Ask about one thing at a time",
            zh=f"问题有 {len(q)} 个字，超过了 {MAX_QUESTION} 字的上限：请一次只问一件事")
    # letters of any script, or digits: punctuation and emoji alone ask nothing
    if not any(unicodedata.category(ch)[0] in "LN" for ch in q):
        raise BadQuestionError(
            f"{q!r} is not a question: it has no words; ask something, e.g. 示范区有多少个？",
            zh="这不是一个问题（没有文字）：请用文字提问，例如“示范区有多少个？”")
    return q


def check_k(k: object) -> int:
    """The number of passages to answer from, or BadQuestionError."""
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise BadQuestionError(f"k must be between 1 and {MAX_K}; got {k!r}",
                               zh=f"参考段落数 k 应在 1 到 {MAX_K} 之间，收到的是 {k!r}")
    return k


Rewriter = Callable[[str, list[str]], str]


def build_chain(retriever: HybridRetriever, answerer, rewriter: Rewriter = standalone
                ) -> tuple[Runnable, Runnable]:
    """The two halves of the chain: `prepare` (validate | rewrite | retrieve) takes
    `{"question", "k", "history", "id"}` (and optionally `since`, a year, and `issuer`:
    only documents that state a date from that year on, or that issuer) to the
    retrieved passages, `finish`
    (answer | check) to the checked `Answer`; `prepare | finish` is the whole chain.

    `history` holds the earlier questions of the conversation as they were searched
    (newest last); a follow-up is rewritten into a standalone question from them.
    """

    def _validate(inp: dict) -> dict:
        return {**inp, "question": validate(inp["question"]), "k": check_k(inp.get("k", 5))}

    def _rewrite(inp: dict) -> dict:
        return {**inp, "searched": rewriter(inp["question"], list(inp.get("history") or []))}

    def _retrieve(inp: dict) -> dict:
        index = retriever.index
        index.refresh()
        sources = None
        if inp.get("since") is not None or inp.get("issuer"):
            sources = {source for source, facts in index.facts().items()
                       if facts.matches(inp.get("since"), inp.get("issuer"))}
        hits = retriever.retrieve(inp["searched"], max(inp["k"], RETRIEVED), sources=sources)
        return {**inp, "hits": hits,
                "documents": index.facts({h.chunk.source for h in hits})}

    def _answer(inp: dict) -> Answer:
        return finish_answer(answerer(inp["searched"], inp["hits"][: inp["k"]]), inp)

    prepare = (RunnableLambda(_validate, name="validate")
               | RunnableLambda(_rewrite, name="rewrite")
               | RunnableLambda(_retrieve, name="retrieve"))
    finish = (RunnableLambda(_answer, name="answer")
              | RunnableLambda(lambda a: check_answer(a, NOT_FOUND), name="check"))
    return prepare, finish


def finish_answer(answer: Answer, inp: dict) -> Answer:
    """An answerer's Answer with the question as typed, what was searched, all the
    retrieved passages and the question's id."""
    return replace(answer, question=inp["question"], retrieved=tuple(inp["hits"]),
                   searched=inp["searched"], id=inp.get("id"),
                   documents=inp.get("documents") or {})


class Assistant:
    """An open index with its chain: what the CLI, eval and the web UI hold.

    >>> with Assistant.open(Path("~/.local/share/zhice/index")) as assistant:
    ...     print(assistant.ask("示范区有多少个？").answer)
    """

    def __init__(self, index: SearchIndex, prepare: Runnable, finish: Runnable,
                 retriever: HybridRetriever, answerer: ExtractiveAnswerer, generator=None,
                 mode: str = "extractive", owns_index: bool = True):
        self.index = index
        self.owns_index = owns_index
        self.prepare = prepare
        self.finish = finish
        self.chain = prepare | finish
        self.retriever = retriever
        self.answerer = answerer
        self.generator = generator  # the LlmAnswerer in llm mode
        self.mode = mode

    @classmethod
    def open(cls, directory: str | Path | SearchIndex, embedder: str | None = None,
             mode: str = "extractive", llm=None, answer_model: AnswerModel | None = None,
             **retriever_options) -> "Assistant":
        """Open the index (a folder or a milvus: spec, see index/stores.py) and build the
        chain. `mode` is one of MODES; in "llm" mode `llm` is an LlmConfig (default: from
        the environment). `answer_model`: which sentences answer and when to abstain
        (default: the fitted one).

        `directory` may be an index that is already open: assistants of several modes
        then share it (and the caller closes it).
        """
        if mode not in MODES:
            raise BadQuestionError(
                f"unknown answer mode {mode!r}; choose one of {', '.join(MODES)}")
        generator, rewriter = None, standalone
        if mode == "llm":
            from .llm import LlmAnswerer, LlmConfig, make_chat_model, rewrite_with_model

            config = llm or LlmConfig.from_env()
            model = make_chat_model(config)
            if hasattr(model, "load"):
                model.load()

            def rewriter(question: str, history: list[str]) -> str:
                if not needs_context(question, history):
                    return question
                return rewrite_with_model(model, question, history)

        owns = isinstance(directory, str | Path)
        index = open_index(directory, embedder=embedder) if owns else directory
        try:
            answerer = ExtractiveAnswerer(index.segmenter, idf=_idf(index), model=answer_model,
                                          known=lambda term: index.df(term) > 0)
            tagger()  # the features' and follow-ups' parts of speech
            if mode == "llm":
                generator = LlmAnswerer(model, answerer)
            params = RetrievalParams.load()
            retriever_options.setdefault("reranker", CoverageReranker(
                partial(answerer.passage_scores, title_credit=params.title_credit),
                params.fused_weight, params.bm25_weight, params.list_bonus,
                params.rerank_depth))
            retriever_options.setdefault("rerank_depth", params.rerank_depth)
            # the passages stating a fact the question asks for count as if dense and BM25
            # both ranked them so: they share no words with the question, and are exact
            facts = FactsSearch(index)
            retriever_options.setdefault("extra", {"facts": (facts, FACTS_WEIGHT)})
            retriever = HybridRetriever(index, **retriever_options)
            prepare, finish = build_chain(retriever, generator or FactsAnswerer(answerer, facts),
                                          rewriter)
        except BaseException:
            if owns:
                index.close()
            raise
        return cls(index, prepare, finish, retriever, answerer, generator, mode, owns)

    def ask(self, question: str, k: int = 5, id: str | None = None,
            history: list[str] | None = None, since: int | None = None,
            issuer: str | None = None) -> Answer:
        """Answer one question (a follow-up of `history`, if given) from the documents
        dated `since` or later and issued by `issuer`, when given; latency excludes
        model loading (done in open())."""
        started = time.perf_counter()
        answer = self.chain.invoke({"question": question, "k": k, "id": id,
                                    "history": history or [], "since": since,
                                    "issuer": issuer})
        return replace(answer, latency_ms=(time.perf_counter() - started) * 1000)

    def stream(self, question: str, k: int = 5, id: str | None = None,
               history: list[str] | None = None, since: int | None = None,
               issuer: str | None = None) -> Iterator[str | Answer]:
        """Like `ask`, but yields the answer text as the model writes it (llm mode),
        then the checked Answer; in extractive mode just the Answer."""
        started = time.perf_counter()
        inp = self.prepare.invoke({"question": question, "k": k, "id": id,
                                   "history": history or [], "since": since,
                                   "issuer": issuer})
        if self.generator is None:
            answer = self.finish.invoke(inp)
        else:
            answer = None
            for event in self.generator.stream(inp["searched"], inp["hits"][:k]):
                if isinstance(event, Answer):
                    answer = finish_answer(event, inp)
                else:
                    yield event
        yield replace(answer, latency_ms=(time.perf_counter() - started) * 1000)

    def search(self, query: str, k: int = 5) -> list[tuple[Hit, float]]:
        """The passages the chain would answer from, best first, each with how much of
        the question its best sentence holds (0 to 1): retrieval alone, for callers
        that bring their own answerer (Dify, MCP's search tool)."""
        query, k = validate(query), check_k(k)
        self.index.refresh()
        hits = self.retriever.retrieve(query, k)
        scores = self.answerer.passage_scores(query, hits)
        return [(h, min(1.0, max(0.0, s))) for h, s in zip(hits, scores)]

    def close(self) -> None:
        if self.owns_index:
            self.index.close()

    def __enter__(self) -> "Assistant":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _idf(index: SearchIndex):
    """Term weights from the BM25 index: a rare term says more about what is asked."""
    def idf(term: str) -> float:
        n = max(len(index), 1)
        df = index.df(term)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    return idf
