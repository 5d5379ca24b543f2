"""LLM answer mode: the chain with scripted chat models and a fake OpenAI endpoint.

Every path a user can hit without a real model: answers that cite right, cite wrong,
cite out of range, cite nothing or loop; follow-up rewriting; endpoint failures
(timeout, 401, 429, unreachable) and broken model files. The real model runs only in
the slow test at the end, when ZHICE_LLM_GGUF names a file.
"""

import os
import time
from pathlib import Path

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

import zhice.assistant.llm as llm
from zhice.assistant.chain import Assistant
from zhice.assistant.cli import main
from zhice.assistant.extractive import NOT_FOUND, ExtractiveAnswerer
from zhice.assistant.llamacpp import REPEAT_PENALTY, LlamaCppChatModel
from zhice.assistant.llm import (
    HOW_TO_CONFIGURE,
    LlmAnswerer,
    LlmConfig,
    LlmError,
    make_chat_model,
    parse,
    rewrite_with_model,
)
from zhice.assistant.types import Answer
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files
from zhice.ingest.normalize import match_key

from .fake_openai import API_KEY, FakeOpenAIServer, Reply, free_port

ROOT = Path(__file__).resolve().parents[2]
REAL_GGUF = os.environ.get("ZHICE_LLM_GGUF")  # read before the fixture below clears it

QUESTION = "国家一共支持建设了多少个产业转型升级示范区？"
# in the traditional document 004: 我國分三次在具備條件的城市支持建設了20個產業轉型升級示范區
RIGHT = "我国分三次在具备条件的城市支持建设了20个产业转型升级示范区"
WRONG_FIGURE = "我国分三次在具备条件的城市支持建设了30个产业转型升级示范区"
ELSEWHERE = "株洲特别舍得花钱在科技研发"  # true in the corpus, but not in these passages
UNANSWERABLE = "第七届进博会在哪里举办？"


@pytest.fixture(autouse=True)
def _no_llm_environment(monkeypatch):
    for name in ("BASE_URL", "MODEL", "API_KEY", "GGUF", "TIMEOUT"):
        monkeypatch.delenv(f"ZHICE_LLM_{name}", raising=False)


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory) -> Path:
    """The bundled corpus, indexed once with the fake embedder (BM25 does the work)."""
    directory = tmp_path_factory.mktemp("llm-index")
    with ZhiceIndex.open(directory, embedder="fake", create=True) as index:
        index_files(index, [ROOT / "corpus"])
    return directory


@pytest.fixture(scope="session")
def extractive(corpus_index) -> Answer:
    """The extractive answer to QUESTION: what every fallback must show."""
    with Assistant.open(corpus_index) as assistant:
        return assistant.ask(QUESTION)


@pytest.fixture(scope="session")
def marker(extractive):
    """The [n] of the first passage (of the five the model sees) that holds a phrase."""

    def find(phrase: str) -> int:
        key = match_key(phrase)
        return next(n for n, hit in enumerate(extractive.retrieved[:5], 1)
                    if key in match_key(hit.chunk.text))

    return find


class Recorder(BaseCallbackHandler):
    """The prompts a chat model was called with."""

    def __init__(self):
        self.prompts: list[list] = []

    def on_chat_model_start(self, serialized, messages, **kwargs) -> None:
        self.prompts.append(messages[0])


def scripted(*replies: str) -> tuple[GenericFakeChatModel, Recorder]:
    """LangChain's fake chat model answering `replies` in order, and its recorder."""
    recorder = Recorder()
    model = GenericFakeChatModel(messages=iter([AIMessage(r) for r in replies]),
                                 callbacks=[recorder])
    return model, recorder


@pytest.fixture
def open_llm(corpus_index, monkeypatch):
    """Assistant.open in llm mode with the given chat model instead of a configured one."""
    opened = []

    def open_with(model) -> Assistant:
        monkeypatch.setattr(llm, "make_chat_model", lambda config: model)
        assistant = Assistant.open(corpus_index, mode="llm", llm=LlmConfig(base_url="unused"))
        opened.append(assistant)
        return assistant

    yield open_with
    for assistant in opened:
        assistant.close()


# configuration ------------------------------------------------------------------------


def test_config_from_environment_with_flags_winning(monkeypatch):
    monkeypatch.setenv("ZHICE_LLM_BASE_URL", "http://env:8000/v1")
    monkeypatch.setenv("ZHICE_LLM_MODEL", "env-model")
    monkeypatch.setenv("ZHICE_LLM_API_KEY", "env-key")
    monkeypatch.setenv("ZHICE_LLM_TIMEOUT", "2.5")
    config = LlmConfig.from_env(model="flag-model", api_key=None)
    assert config == LlmConfig(base_url="http://env:8000/v1", model="flag-model",
                               api_key="env-key", timeout=2.5)
    assert config.configured
    assert not LlmConfig().configured
    assert LlmConfig(gguf="model.gguf").configured


@pytest.mark.parametrize("value", ["soon", "0", "-3"])
def test_a_bad_timeout_says_what_is_allowed(monkeypatch, value):
    monkeypatch.setenv("ZHICE_LLM_TIMEOUT", value)
    with pytest.raises(LlmError, match="ZHICE_LLM_TIMEOUT must be a number of seconds above 0"):
        LlmConfig.from_env()


def test_no_model_configured_says_how_to_configure_one():
    with pytest.raises(LlmError) as e:
        make_chat_model(LlmConfig())
    assert str(e.value) == HOW_TO_CONFIGURE


def test_openai_model_samples_without_loops():
    model = make_chat_model(LlmConfig(base_url="http://127.0.0.1:1/v1", timeout=7))
    assert model.temperature == 0.0
    assert model.frequency_penalty > 0
    assert model.max_retries == 0
    assert model.request_timeout == 7
    assert model.extra_body == {"max_tokens": llm.MAX_ANSWER_TOKENS}


def test_gguf_model_is_not_loaded_by_construction(tmp_path):
    model = make_chat_model(LlmConfig(gguf=str(tmp_path / "absent.gguf"), max_tokens=99))
    assert isinstance(model, LlamaCppChatModel)
    assert model.max_tokens == 99


def test_cli_llm_mode_without_a_model_exits_2_with_how_to(corpus_index, capsys):
    code = main(["ask", QUESTION, "--index", str(corpus_index), "--mode", "llm"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.strip() == f"zhice: {HOW_TO_CONFIGURE}"
    assert out == ""


# parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("<think>先想一想</think>示范区共有20个[1]。", "示范区共有20个[1]。"),
        ("示范区共有20个[1]。\n\n首批有12个[2]。", "示范区共有20个[1]。首批有12个[2]。"),
        ("示范区共有20个[1]。示范区共有20个[1]。示范区共有20个[1]。", "示范区共有20个[1]。"),
        ("共有二十个示范区" * 5, "共有二十个示范区"),
        ("甲是乙。丙是丁。", "甲是乙。丙是丁。"),
        # markers put up front move behind their sentence
        ("根据[2]，我国登记的国家级工业遗产总计648处。", "我国登记的国家级工业遗产总计648处[2]。"),
        ("根据段落[1][3]的内容，示范区共有20个。首批有12个[2]。",
         "示范区共有20个[1][3]。首批有12个[2]。"),
        ("示范区共有20个[1]。根据规划，要推进改造。", "示范区共有20个[1]。根据规划，要推进改造。"),
    ],
)
def test_parse(raw, text):
    assert parse(raw) == text


# the chain with LangChain's fake chat model -------------------------------------------


def test_an_answer_that_cites_right_is_shown(open_llm, marker):
    n = marker(RIGHT)
    model, recorder = scripted(f"{RIGHT}[{n}]。")
    answer = open_llm(model).ask(QUESTION)
    assert answer.answer == f"{RIGHT}。[{n}]"
    assert [c.marker for c in answer.citations] == [n]
    assert answer.unsupported == ()
    assert answer.extra["mode"] == "llm"
    assert not answer.abstained
    # one call, with the five passages numbered and the question last
    (prompt,) = recorder.prompts
    assert prompt[0].content == llm.SYSTEM_PROMPT
    assert "[5] （" in prompt[1].content and "[6] （" not in prompt[1].content
    assert prompt[1].content.endswith(f"问题：{QUESTION}\n\n{llm.ANSWER_CUE}")
    assert "unsupported" not in answer.to_dict()


def test_a_sentence_its_passage_does_not_hold_is_dropped_and_listed(open_llm, marker):
    n = marker(RIGHT)
    model, _ = scripted(f"{RIGHT}[{n}]。{ELSEWHERE}[{n}]。")
    answer = open_llm(model).ask(QUESTION)
    assert answer.answer == f"{RIGHT}。[{n}]"
    assert answer.unsupported == (f"{ELSEWHERE}。",)
    assert answer.to_dict()["unsupported"] == [f"{ELSEWHERE}。"]
    assert answer.extra["mode"] == "llm"


def test_a_wrong_figure_is_unsupported(open_llm, marker, extractive):
    n = marker(RIGHT)
    model, _ = scripted(f"{WRONG_FIGURE}[{n}]。")
    answer = open_llm(model).ask(QUESTION)
    assert answer.answer == extractive.answer
    assert answer.unsupported == (f"{WRONG_FIGURE}。",)


def test_mostly_unsupported_falls_back_to_the_extractive_answer(open_llm, marker, extractive):
    n = marker(RIGHT)
    model, _ = scripted(f"{RIGHT}[{n}]。{ELSEWHERE}[{n}]。{WRONG_FIGURE}[{n}]。")
    answer = open_llm(model).ask(QUESTION)
    assert answer.answer == extractive.answer
    assert answer.citations == extractive.citations
    assert answer.unsupported == (f"{ELSEWHERE}。", f"{WRONG_FIGURE}。")
    assert answer.extra["mode"] == "extractive"
    assert answer.extra["llm_note"].startswith("2 of 3 sentences of the model's answer")
    assert answer.to_dict()["unsupported"] == [f"{ELSEWHERE}。", f"{WRONG_FIGURE}。"]


def test_a_marker_out_of_range_is_removed(open_llm, marker):
    n = marker(RIGHT)
    model, _ = scripted(f"{RIGHT}[{n}][9]。")
    answer = open_llm(model).ask(QUESTION)
    assert answer.answer == f"{RIGHT}。[{n}]"
    assert [c.marker for c in answer.citations] == [n]


def test_a_sentence_citing_only_a_missing_passage_is_unsupported(open_llm, extractive):
    model, _ = scripted(f"{RIGHT}[9]。")
    answer = open_llm(model).ask(QUESTION)
    assert answer.answer == extractive.answer
    assert answer.unsupported == (f"{RIGHT}。",)


def test_an_answer_without_markers_falls_back(open_llm, extractive):
    model, _ = scripted(f"{RIGHT}。")
    answer = open_llm(model).ask(QUESTION)
    assert answer.answer == extractive.answer
    assert answer.unsupported == (f"{RIGHT}。",)
    assert answer.extra["raw"] == f"{RIGHT}。"


def test_a_traditional_quote_is_shown_in_the_question_script(open_llm, marker):
    n = marker(RIGHT)
    model, _ = scripted(f"我國分三次在具備條件的城市支持建設了20個產業轉型升級示范區[{n}]。")
    answer = open_llm(model).ask(QUESTION)
    assert answer.answer == f"{RIGHT}。[{n}]"


def test_a_looping_answer_is_said_once(open_llm, marker):
    n = marker(RIGHT)
    model, _ = scripted(f"{RIGHT}[{n}]。" * 12)
    answer = open_llm(model).ask(QUESTION)
    assert answer.answer == f"{RIGHT}。[{n}]"
    assert answer.unsupported == ()


def test_the_model_finding_nothing_gives_the_extractive_answer(open_llm, extractive):
    model, _ = scripted(NOT_FOUND)
    answer = open_llm(model).ask(QUESTION)
    assert answer.answer == extractive.answer
    assert "found no answer" in answer.extra["llm_note"]


def test_weak_evidence_abstains_without_calling_the_model(open_llm):
    model, recorder = scripted("不该被调用[1]。")
    answer = open_llm(model).ask(UNANSWERABLE)
    assert answer.abstained
    assert answer.answer == NOT_FOUND
    assert recorder.prompts == []


def test_stream_yields_the_text_as_written_then_the_checked_answer(open_llm, marker):
    n = marker(RIGHT)
    # the fake model streams word by word: spaces make several pieces
    model, _ = scripted(f"我国 分三次 支持建设了20个产业转型升级示范区[{n}]。")
    events = list(open_llm(model).stream(QUESTION))
    *pieces, final = events
    # "" first: the model has been asked and is reading the passages
    assert pieces == ["", "我国", "我国 ", "我国 分三次", "我国 分三次 ",
                      f"我国 分三次 支持建设了20个产业转型升级示范区[{n}]。"]
    assert isinstance(final, Answer)
    assert final.answer == f"我国 分三次 支持建设了20个产业转型升级示范区。[{n}]"
    assert final.question == QUESTION
    assert final.latency_ms > 0


def test_the_web_chat_shows_the_answer_as_it_is_written(open_llm, marker):
    from zhice.assistant.web.page import Conversation, conversation_steps
    from zhice.assistant.web.render import answer_html, draft_html, question_html
    from zhice.assistant.web.service import WebService

    n = marker(RIGHT)
    model, _ = scripted(f"我国 分三次 支持建设了20个产业转型升级示范区[{n}]。")
    llm_assistant = open_llm(model)
    service = WebService({"extractive": llm_assistant, "llm": llm_assistant})
    steps = list(conversation_steps(service, QUESTION, Conversation(), 5, "llm"))
    *drafts, (messages, conv) = steps
    asked = {"role": "user", "content": question_html(QUESTION)}
    assert [d for d, done in drafts] == [
        [asked, {"role": "assistant", "content": draft_html(text)}]
        for text in ["", "我国", "我国 ", "我国 分三次", "我国 分三次 ",
                     f"我国 分三次 支持建设了20个产业转型升级示范区[{n}]。"]]
    # before the first token the question is shown with a note that the model is reading
    assert "正在阅读检索到的段落" in drafts[0][0][1]["content"]
    assert "zc-text" not in drafts[0][0][1]["content"]
    assert all(done is None for _, done in drafts)
    (answer,) = conv.answers
    assert answer.answer == f"我国 分三次 支持建设了20个产业转型升级示范区。[{n}]"
    assert messages == [asked, {"role": "assistant", "content": answer_html(answer, 1)}]
    assert f'href="#zc-t1-c{n}"' in messages[1]["content"]  # checked: markers are links now
    assert "正在生成" in draft_html("x") and "zc-cite" not in draft_html("x[1]")


def test_a_failing_model_gives_the_extractive_answer_with_a_note(open_llm, extractive):
    model, _ = scripted()  # no reply left: the call raises
    answer = open_llm(model).ask(QUESTION)
    assert answer.answer == extractive.answer
    assert answer.extra["llm_note"].startswith("the model failed (")
    assert answer.extra["llm_note"].endswith("; showing the extracted sentences")
    assert answer.extra["llm_note_zh"].startswith("模型调用失败（")  # what the page shows


# follow-ups -----------------------------------------------------------------------------


def test_follow_up_is_rewritten_by_the_model_and_shown(open_llm):
    model, recorder = scripted("宜宾在产业转型上有什么做法？", "模型的回答。")
    answer = open_llm(model).ask("那宜宾呢？", history=["株洲在产业转型上有什么做法？"])
    assert answer.searched == "宜宾在产业转型上有什么做法？"
    assert answer.to_dict()["searched_question"] == "宜宾在产业转型上有什么做法？"
    assert answer.question == "那宜宾呢？"
    rewrite_prompt = recorder.prompts[0]
    assert rewrite_prompt[0].content == llm.REWRITE_PROMPT
    assert rewrite_prompt[1].content == ("对话历史：\n用户：株洲在产业转型上有什么做法？\n\n"
                                         "最后一个问题：那宜宾呢？")
    assert "问题：宜宾在产业转型上有什么做法？" in recorder.prompts[1][1].content


def test_a_standalone_question_is_not_sent_to_the_rewriter(open_llm):
    model, recorder = scripted(NOT_FOUND)
    answer = open_llm(model).ask(QUESTION, history=["株洲在产业转型上有什么做法？"])
    assert answer.searched == QUESTION
    assert len(recorder.prompts) == 1  # the answer only


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("宜宾在产业转型上有什么做法？", "宜宾在产业转型上有什么做法？"),
        ("“宜宾在产业转型上有什么做法？”", "宜宾在产业转型上有什么做法？"),
        # a rambling answer is not a question: the rule-based rewrite instead
        ("好的。" + "".join(chr(0x4E00 + i) for i in range(100)), "宜宾在产业转型上有什么做法？"),
        ("", "宜宾在产业转型上有什么做法？"),
    ],
)
def test_rewrite_with_model(reply, expected):
    model, _ = scripted(reply)
    assert rewrite_with_model(model, "那宜宾呢？", ["株洲在产业转型上有什么做法？"]) == expected


def test_rewrite_falls_back_to_the_rule_when_the_model_fails():
    model, _ = scripted()
    assert (rewrite_with_model(model, "那宜宾呢？", ["株洲在产业转型上有什么做法？"])
            == "宜宾在产业转型上有什么做法？")


def test_rewrite_without_history_asks_nothing():
    model, recorder = scripted("不该被调用")
    assert rewrite_with_model(model, "那宜宾呢？", []) == "那宜宾呢？"
    assert recorder.prompts == []


# the OpenAI-compatible endpoint --------------------------------------------------------


def ask_cli(corpus_index, base_url: str, *extra: str) -> list[str]:
    return ["ask", QUESTION, "--index", str(corpus_index), "--mode", "llm",
            "--llm-base-url", base_url, "--llm-api-key", API_KEY, *extra]


def test_cli_against_an_openai_endpoint(corpus_index, marker, capsys):
    import json

    n = marker(RIGHT)
    with FakeOpenAIServer([Reply(f"{RIGHT}[{n}]。{ELSEWHERE}[{n}]。")]) as server:
        code = main(ask_cli(corpus_index, server.base_url, "--llm-model", "qwen", "--json"))
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["answer"] == f"{RIGHT}。[{n}]"
    assert result["unsupported"] == [f"{ELSEWHERE}。"]
    assert [c["marker"] for c in result["citations"]] == [n]
    assert err == ""
    (body,) = server.requests
    assert body["model"] == "qwen"
    assert body["stream"] is True
    assert body["temperature"] == 0.0
    assert body["max_tokens"] == llm.MAX_ANSWER_TOKENS
    assert body["messages"][0] == {"role": "system", "content": llm.SYSTEM_PROMPT}


def test_cli_text_output_lists_dropped_sentences(corpus_index, marker, capsys):
    n = marker(RIGHT)
    with FakeOpenAIServer([Reply(f"{RIGHT}[{n}]。{ELSEWHERE}[{n}]。")]) as server:
        code = main(ask_cli(corpus_index, server.base_url))
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.startswith(f"{RIGHT}。[{n}]\n")
    assert f"已删除没有出处支持的句子：{ELSEWHERE}。" in out


def test_streaming_from_the_endpoint(corpus_index, marker, monkeypatch):
    n = marker(RIGHT)
    with FakeOpenAIServer([Reply(f"{RIGHT}[{n}]。")]) as server:
        config = LlmConfig(base_url=server.base_url, api_key=API_KEY)
        with Assistant.open(corpus_index, mode="llm", llm=config) as assistant:
            *pieces, final = assistant.stream(QUESTION)
    assert pieces[0] == ""  # asked, nothing written yet
    assert len(pieces) > 4  # the server sends four characters an event
    assert pieces[-1] == f"{RIGHT}[{n}]。"
    assert all(b.startswith(a) for a, b in zip(pieces, pieces[1:]))
    assert final.answer == f"{RIGHT}。[{n}]"


def test_a_loop_stops_at_the_length_cap(corpus_index, marker):
    n = marker(RIGHT)
    sentence = f"{RIGHT}[{n}]。"
    with FakeOpenAIServer([Reply(sentence, repeat=True)]) as server:
        config = LlmConfig(base_url=server.base_url, api_key=API_KEY, max_tokens=100)
        with Assistant.open(corpus_index, mode="llm", llm=config) as assistant:
            answer = assistant.ask(QUESTION)
    assert server.requests[0]["max_tokens"] == 100
    assert len(answer.extra["raw"]) == 100
    # said once; the sentence the cap cut off has no marker and is listed
    cut = (sentence * 4)[:100][len(sentence) * (100 // len(sentence)):]
    assert answer.answer == f"{RIGHT}。[{n}]"
    assert answer.unsupported == (cut,)


@pytest.mark.parametrize(
    ("reply", "api_key", "note"),
    [
        (Reply("x"), "wrong-key", "the model endpoint rejected the API key"),
        (Reply(status=429), API_KEY, "the model endpoint is rate-limiting requests"),
        (Reply(status=404), API_KEY, "the model endpoint does not know that model"),
        (Reply(status=500), API_KEY, "the model failed ("),
    ],
)
def test_endpoint_errors_give_the_extractive_answer(corpus_index, extractive, capsys,
                                                    reply, api_key, note):
    with FakeOpenAIServer([reply]) as server:
        argv = ask_cli(corpus_index, server.base_url)
        argv[argv.index(API_KEY)] = api_key
        code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith(extractive.answer + "\n")
    assert err.startswith(f"zhice: {note}")
    assert err.endswith("; showing the extracted sentences\n")
    assert len(server.requests) == 1  # no retries


def test_a_slow_endpoint_times_out(corpus_index, extractive, capsys, monkeypatch):
    monkeypatch.setenv("ZHICE_LLM_TIMEOUT", "0.5")
    with FakeOpenAIServer([Reply("太慢了[1]。", delay=10)]) as server:
        started = time.perf_counter()
        code = main(ask_cli(corpus_index, server.base_url))
        elapsed = time.perf_counter() - started
    out, err = capsys.readouterr()
    assert code == 0
    assert err == "zhice: the model endpoint timed out; showing the extracted sentences\n"
    assert out.startswith(extractive.answer + "\n")
    assert elapsed < 8


def test_an_unreachable_endpoint(corpus_index, extractive, capsys):
    code = main(ask_cli(corpus_index, f"http://127.0.0.1:{free_port()}/v1"))
    out, err = capsys.readouterr()
    assert code == 0
    assert err == ("zhice: the model endpoint could not be reached; "
                   "showing the extracted sentences\n")
    assert out.startswith(extractive.answer + "\n")


# local GGUF files ---------------------------------------------------------------------


def test_a_missing_gguf_file_exits_2_with_the_path(corpus_index, tmp_path, capsys):
    path = tmp_path / "absent.gguf"
    code = main(["ask", QUESTION, "--index", str(corpus_index), "--mode", "llm",
                 "--llm-gguf", str(path)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err == (f"zhice: model file not found: {path}; "
                   "fetch one with: bash scripts/fetch_model.sh\n")


@pytest.fixture
def corrupt_gguf(tmp_path) -> Path:
    path = tmp_path / "corrupt.gguf"
    path.write_bytes(os.urandom(4096))
    return path


def test_a_corrupt_gguf_file_exits_2(corpus_index, corrupt_gguf, capsys):
    pytest.importorskip("llama_cpp")
    code = main(["ask", QUESTION, "--index", str(corpus_index), "--mode", "llm",
                 "--llm-gguf", str(corrupt_gguf)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith(f"zhice: cannot load model file {corrupt_gguf} (")
    assert err.endswith("is it a complete GGUF file?\n")


def test_a_gguf_file_without_the_runtime_names_the_install(corrupt_gguf, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "llama_cpp", None)  # import fails
    with pytest.raises(LlmError, match="needs llama-cpp-python; install it with: "
                                       "bash scripts/fetch_model.sh"):
        LlamaCppChatModel(model_path=str(corrupt_gguf)).load()


def test_a_model_file_failing_at_answer_time_gives_the_extractive_answer(
        corpus_index, corrupt_gguf, extractive, monkeypatch):
    # where the model is optional (not loaded at open), its failure is a note
    if not _has_llama_cpp():
        monkeypatch.setitem(__import__("sys").modules, "llama_cpp", None)
    with Assistant.open(corpus_index) as assistant:
        model = LlamaCppChatModel(model_path=str(corrupt_gguf))
        generator = LlmAnswerer(model, assistant.answerer)
        answer = generator(QUESTION, list(extractive.retrieved[:5]))
    assert answer.answer == extractive.answer
    note = answer.extra["llm_note"]
    assert note.startswith(f"cannot load model file {corrupt_gguf}" if _has_llama_cpp()
                           else "a GGUF model needs llama-cpp-python")
    assert note.endswith("; showing the extracted sentences")


def _has_llama_cpp() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


class FakeLlama:
    """Stands in for llama_cpp.Llama: records the call, answers in llama.cpp's shape."""

    def __init__(self, text: str):
        self.text = text
        self.calls: list[dict] = []

    def create_chat_completion(self, **kwargs):
        self.calls.append(kwargs)
        if kwargs["stream"]:
            return iter([{"choices": [{"delta": {"role": "assistant"}}]}]
                        + [{"choices": [{"delta": {"content": c}}]} for c in self.text])
        return {"choices": [{"message": {"content": self.text}}]}


def test_llamacpp_model_sends_sampling_that_cannot_loop(tmp_path):
    from langchain_core.messages import HumanMessage, SystemMessage

    model = LlamaCppChatModel(model_path=str(tmp_path / "unused.gguf"), max_tokens=64)
    fake = FakeLlama("示范区共有20个[1]。")
    model._llama = fake
    messages = [SystemMessage("系统"), HumanMessage("问题")]
    assert model.invoke(messages).content == "示范区共有20个[1]。"
    assert [c.content for c in model.stream(messages) if c.content] == list("示范区共有20个[1]。")
    call = fake.calls[0]
    assert call["messages"] == [{"role": "system", "content": "系统"},
                                {"role": "user", "content": "问题"}]
    assert call["temperature"] == 0.0
    assert call["repeat_penalty"] == REPEAT_PENALTY > 1
    assert call["max_tokens"] == 64
    assert [c["stream"] for c in fake.calls] == [False, True]


def test_llamacpp_model_answers_in_the_chain(open_llm, marker, tmp_path):
    n = marker(RIGHT)
    model = LlamaCppChatModel(model_path=str(tmp_path / "unused.gguf"))
    model._llama = FakeLlama(f"{RIGHT}[{n}]。")
    answer = open_llm(model).ask(QUESTION)
    assert answer.answer == f"{RIGHT}。[{n}]"


# the real model -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not REAL_GGUF, reason="set ZHICE_LLM_GGUF to a GGUF file "
                                          "(bash scripts/fetch_model.sh)")
def test_real_model_answers_with_supported_citations(corpus_index):
    pytest.importorskip("llama_cpp")
    with Assistant.open(corpus_index, mode="llm", llm=LlmConfig(gguf=REAL_GGUF)) as assistant:
        answer = assistant.ask(QUESTION)
        abstained = assistant.ask(UNANSWERABLE)
    assert not answer.abstained
    assert "20" in answer.answer
    assert answer.citations
    assert "[" in answer.answer
    assert abstained.abstained


def test_extractive_answerer_is_the_fallback(open_llm):
    model, _ = scripted()
    assistant = open_llm(model)
    assert isinstance(assistant.generator, LlmAnswerer)
    assert isinstance(assistant.generator.fallback, ExtractiveAnswerer)
    assert assistant.mode == "llm"
