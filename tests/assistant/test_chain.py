"""The question-to-answer chain: one LangChain Runnable, and the result object it gives
(INTERFACES.md) field by field."""

import json
from pathlib import Path

import pytest
from langchain_core.runnables import Runnable, RunnableLambda, RunnableSequence

from tests.assistant.test_retrieve import CORPUS, build_index
from tests.index.test_index import share_segmenter
from zhice.assistant.chain import MAX_QUESTION, RETRIEVED, Assistant, build_chain
from zhice.assistant.check import claims
from zhice.assistant.errors import BadQuestionError
from zhice.assistant.extractive import NOT_FOUND
from zhice.assistant.rerank import CoverageReranker
from zhice.assistant.types import Answer, Citation, Hit
from zhice.ingest.types import Chunk

TITLE = "关于推动老工业城市转型的指导意见"
GOAL = "到2025年，老工业城市新增就业岗位120万个，城镇登记失业率控制在5%以内。"
# The loaded text has spaces inside a word ("培育 新 兴"); cleaning deletes them.
TASKS_AS_WRITTEN = "推动传统产业改造，培育 新 兴产业集群，建设一批创新平台。"
TASKS = "推动传统产业改造，培育新兴产业集群，建设一批创新平台。"
PLAN = (
    f"# {TITLE}\n\n## 一、总体要求\n\n### （二）主要目标\n\n{GOAL}\n\n"
    f"## 二、重点任务\n\n{TASKS_AS_WRITTEN}\n"
)
DOCS = {**CORPUS, "plan.md": PLAN}  # 13 chunks
RESULT_KEYS = {"id", "question", "answer", "abstained", "citations", "retrieved", "latency_ms"}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_index(tmp_path_factory.mktemp("chain"), DOCS)


@pytest.fixture(scope="module")
def assistant(index_dir: Path):
    with pytest.MonkeyPatch.context() as mp:
        share_segmenter(mp)
        opened = Assistant.open(index_dir)
    yield opened
    opened.close()


# --- the chain object ------------------------------------------------------------------
def test_open_builds_the_extractive_chain_on_the_indexs_own_embedder(assistant):
    assert assistant.mode == "extractive"
    assert assistant.generator is None
    assert assistant.owns_index
    assert assistant.index.embedder.name == "fake-64"
    assert len(assistant.index) == 13
    assert isinstance(assistant.retriever.reranker, CoverageReranker)
    assert isinstance(assistant.chain, RunnableSequence)
    assert [step.name for step in assistant.chain.steps] == [
        "validate",
        "rewrite",
        "retrieve",
        "answer",
        "check",
    ]


def scripted_hits(n: int) -> list[Hit]:
    return [
        Hit(i, Chunk("s.txt", i, f"第{i}段。", f"第{i}段。", "", 4 * i, 4 * i + 4), 1.0 / i)
        for i in range(1, n + 1)
    ]


class ScriptedRetriever:
    """What build_chain needs of a retriever: `index.refresh()`, `index.store.facts()`
    and `retrieve(q, k, sources)`."""

    def __init__(self):
        self.calls: list[tuple[str, int]] = []
        self.refreshed = 0
        self.index = self.store = self

    def refresh(self) -> None:
        self.refreshed += 1

    def facts(self, sources=None) -> dict:
        return {}

    def retrieve(self, question: str, k: int, sources=None) -> list[Hit]:
        self.calls.append((question, k))
        return scripted_hits(12)[:k]


def scripted_answerer(sentence: str, seen: list):
    def answer(question: str, hits: list[Hit]) -> Answer:
        seen.append((question, [h.id for h in hits]))
        return Answer(question, sentence + "[1]", False, (Citation(1, hits[0]),), tuple(hits))

    return answer


def test_build_chain_returns_runnables_that_validate_rewrite_retrieve_answer_and_check():
    retriever, seen = ScriptedRetriever(), []
    prepare, finish = build_chain(
        retriever,
        scripted_answerer("第1段。", seen),
        lambda question, history: f"{history[-1]}→{question}",
    )
    assert isinstance(prepare, Runnable)
    assert isinstance(finish, Runnable)
    inp = {"question": "  那乙呢？ ", "k": 3, "history": ["甲是什么？"], "id": "q9"}
    prepared = prepare.invoke(inp)
    assert prepared["question"] == "那乙呢？"
    assert prepared["searched"] == "甲是什么？→那乙呢？"
    assert [h.id for h in prepared["hits"]] == list(range(1, RETRIEVED + 1))
    answer = finish.invoke(prepared)
    assert retriever.calls == [("甲是什么？→那乙呢？", RETRIEVED)]  # max(k, RETRIEVED)
    assert retriever.refreshed == 1
    assert seen == [("甲是什么？→那乙呢？", [1, 2, 3])]  # the answerer sees the top k
    assert answer.question == "那乙呢？"
    assert answer.searched == "甲是什么？→那乙呢？"
    assert answer.id == "q9"
    assert [h.id for h in answer.retrieved] == list(range(1, RETRIEVED + 1))
    assert (answer.answer, answer.abstained) == ("第1段。[1]", False)
    assert (prepare | finish).invoke(inp) == answer


def test_the_check_step_drops_a_sentence_its_passage_does_not_hold():
    prepare, finish = build_chain(ScriptedRetriever(), scripted_answerer("第9段。", []))
    answer = (prepare | finish).invoke({"question": "问题？", "k": 2})
    assert answer.abstained
    assert answer.answer == NOT_FOUND
    assert answer.citations == ()
    assert answer.unsupported == ("第9段。",)


def test_ask_invokes_the_chain_with_question_k_id_and_history():
    received = []
    canned = Answer("问题", "回答", False, (), ())

    def record(inp: dict) -> dict:
        received.append(inp)
        return inp

    assistant = Assistant(
        index=None,
        prepare=RunnableLambda(record),
        finish=RunnableLambda(lambda inp: canned),
        retriever=None,
        answerer=None,
        owns_index=False,
    )
    answer = assistant.ask("问题", k=3, id="q1", history=["上一个问题"], since=2020,
                           issuer="国务院")
    assert received == [{"question": "问题", "k": 3, "id": "q1", "history": ["上一个问题"],
                         "since": 2020, "issuer": "国务院"}]
    assert answer.answer == "回答"
    assert answer.latency_ms > 0
    assistant.ask("问题")
    assert received[1] == {"question": "问题", "k": 5, "id": None, "history": [],
                           "since": None, "issuer": None}


# --- the result object -----------------------------------------------------------------
def test_to_dict_is_the_interfaces_result_object(assistant):
    result = assistant.ask("到2025年老工业城市新增多少就业岗位？", id="q1").to_dict()
    assert set(result) == RESULT_KEYS  # not rewritten: no searched_question
    assert result["id"] == "q1"
    assert result["question"] == "到2025年老工业城市新增多少就业岗位？"
    assert result["answer"] == GOAL + "[1]"
    assert result["abstained"] is False
    heading = "一、总体要求 > （二）主要目标"  # under the title, which is not said twice
    start = PLAN.index(GOAL)
    assert result["citations"] == [
        {
            "marker": 1,
            "source": "plan.md",
            "title": TITLE,  # the document's own "# " heading, not its file name
            "heading": heading,
            "text": GOAL,
            "start": start,
            "end": start + len(GOAL),
            "page": None,
            "quotes": [GOAL],
        }
    ]
    retrieved = result["retrieved"]
    assert [r["rank"] for r in retrieved] == list(range(1, RETRIEVED + 1))
    top = dict(retrieved[0])
    assert isinstance(top.pop("score"), float)
    assert top == {
        "rank": 1,
        "source": "plan.md",
        "title": TITLE,
        "heading": heading,
        "text": GOAL,
        "start": start,
        "end": start + len(GOAL),
    }
    scores = [r["score"] for r in retrieved]
    assert scores == sorted(scores, reverse=True)  # best first
    assert len({(r["source"], r["start"]) for r in retrieved}) == RETRIEVED
    for r in retrieved:  # only plan.md's tasks hold spaces that cleaning deleted
        assert DOCS[r["source"]][r["start"] : r["end"]].replace(" ", "") == r["text"]
    assert isinstance(result["latency_ms"], float)
    assert result["latency_ms"] > 0
    assert json.loads(json.dumps(result, ensure_ascii=False)) == result


def test_every_answer_marker_names_a_citation(assistant):
    answer = assistant.ask("首批示范区包括哪些城市？老工业城市新增多少就业岗位？")
    result = answer.to_dict()
    zones = "首批示范区包括株洲、湘潭、衡阳和宜宾等城市。"
    # both parts answered, each sentence cited to its own passage, numbered by first use
    # (which part leads is the answer model's choice)
    parts = claims(result["answer"])
    assert sorted(sentence for sentence, _ in parts) == sorted([GOAL, zones])
    assert [markers for _, markers in parts] == [[1], [2]]
    by_marker = {c["marker"]: c for c in result["citations"]}
    assert sorted(by_marker) == [1, 2]
    for sentence, [marker] in parts:
        assert sentence in by_marker[marker]["text"]
    assert {c["source"] for c in result["citations"]} == {"plan.md", "zones.txt"}


def test_citation_offsets_slice_the_source_as_loaded(assistant):
    citation = assistant.ask("推动传统产业改造有哪些任务？").to_dict()["citations"][0]
    assert (citation["source"], citation["text"]) == ("plan.md", TASKS)
    assert citation["heading"] == "二、重点任务"
    # offsets point into the file as loaded, before cleaning deleted the stray spaces
    assert citation["start"] == PLAN.index(TASKS_AS_WRITTEN)
    assert PLAN[citation["start"] : citation["end"]] == TASKS_AS_WRITTEN
    assert TASKS_AS_WRITTEN.replace(" ", "") == TASKS


def test_a_traditional_citation_keeps_its_script(assistant):
    citation = assistant.ask("寧波舟山港貨物吞吐量排第幾？").to_dict()["citations"][0]
    assert citation["source"] == "hk.txt"
    assert citation["title"] == "港口航運"
    assert DOCS["hk.txt"][citation["start"] : citation["end"]] == citation["text"]
    assert citation["text"].startswith("寧波舟山港貨物吞吐量")


def test_abstaining_still_lists_the_closest_passages(assistant):
    # none of its words is in any passage: nothing can answer it
    result = assistant.ask("特斯拉的股价是多少？").to_dict()
    assert result["abstained"] is True
    assert result["answer"] == NOT_FOUND
    assert result["citations"] == []
    assert len(result["retrieved"]) == 10  # INTERFACES.md: at least the top 10
    for r in result["retrieved"]:
        assert r["text"] and r["source"] in DOCS


def test_k_limits_the_passages_answered_from_not_the_retrieved_list(assistant):
    answer = assistant.ask("首批示范区包括哪些城市？老工业城市新增多少就业岗位？", k=1)
    assert [c.hit.chunk.source for c in answer.citations] == ["plan.md"]
    assert len(answer.retrieved) == RETRIEVED


def test_stream_in_extractive_mode_yields_the_answer_alone(assistant):
    events = list(assistant.stream("宜宾动力电池产量占全国比重多少？", id="s1"))
    assert len(events) == 1
    asked = assistant.ask("宜宾动力电池产量占全国比重多少？", id="s1")
    assert {**events[0].to_dict(), "latency_ms": 0} == {**asked.to_dict(), "latency_ms": 0}


# --- follow-ups --------------------------------------------------------------------------
def test_a_follow_up_is_searched_rewritten_and_says_so(assistant):
    follow_up = assistant.ask("那衡阳呢？", history=["株洲在产业转型上有什么做法？"])
    result = follow_up.to_dict()
    assert result["question"] == "那衡阳呢？"
    assert result["searched_question"] == "衡阳在产业转型上有什么做法？"
    assert set(result) == RESULT_KEYS | {"searched_question"}
    standalone = assistant.ask("衡阳在产业转型上有什么做法？").to_dict()
    assert "searched_question" not in standalone
    assert result["retrieved"] == standalone["retrieved"]
    assert result["answer"] == standalone["answer"]


def test_a_question_that_needs_no_context_is_searched_as_asked(assistant):
    result = assistant.ask("国家级工业遗产一共有多少处？", history=["那衡阳呢？"]).to_dict()
    assert "searched_question" not in result
    assert result["citations"][0]["source"] == "heritage.txt"


# --- bad questions -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "k", "message"),
    [
        ("", 5, "the question is empty; ask something, e.g. 示范区有多少个？"),
        (" \n\t\u3000", 5, "the question is empty; ask something, e.g. 示范区有多少个？"),
        (
            "问" * (MAX_QUESTION + 1),
            5,
            "the question is 501 characters long; the limit is 500. Ask about one thing at a time",
        ),
        ("示范区有多少个？", 0, "k must be between 1 and 50; got 0"),
        ("示范区有多少个？", 51, "k must be between 1 and 50; got 51"),
    ],
)
def test_bad_questions_are_refused_in_the_users_terms(assistant, question, k, message):
    with pytest.raises(BadQuestionError) as raised:
        assistant.ask(question, k=k)
    assert str(raised.value) == message
    assert raised.value.zh != message and raised.value.zh.isascii() is False  # for the page


@pytest.mark.parametrize("question", ["？？？", "……！", "😀🎉", "【】《》", "?!"])
def test_punctuation_or_emoji_alone_is_not_a_question(assistant, question):
    with pytest.raises(BadQuestionError, match="is not a question: it has no words") as raised:
        assistant.ask(question)
    assert "这不是一个问题" in raised.value.zh


@pytest.mark.parametrize("question", ["2023？", "GDP?", "第5条"])
def test_a_short_question_of_letters_or_digits_is_still_asked(assistant, question):
    assert assistant.ask(question).question == question


def test_the_limit_counts_the_stripped_question(assistant):
    assert MAX_QUESTION == 500
    answer = assistant.ask("  " + "问" * MAX_QUESTION + "  ")
    assert answer.question == "问" * MAX_QUESTION
    assert answer.abstained


def test_invisible_characters_in_a_question_change_nothing(assistant):
    typed = assistant.ask("首批示范区有哪些城市？")
    pasted = assistant.ask("首批\u200b示范区\u200d有哪些\ufeff城市\x00？")
    assert pasted.question == typed.question
    assert (pasted.answer, pasted.searched) == (typed.answer, typed.searched)
    with pytest.raises(BadQuestionError, match="empty"):
        assistant.ask("\u200b\u200b\ufeff")
