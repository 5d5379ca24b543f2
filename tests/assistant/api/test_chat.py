"""OpenAI chat-completion requests to questions, answers to completions (api/chat.py)."""

import pytest

from zhice.assistant.api.chat import (
    MODELS,
    ApiError,
    completion,
    message_text,
    models_list,
    parse_request,
    stream_chunks,
)
from zhice.assistant.followup import standalone
from zhice.assistant.types import Answer, Citation, Hit
from zhice.ingest.types import Chunk


def body(*questions: str, **extra) -> dict:
    messages = [{"role": "system", "content": "你是助手"}]
    for q in questions:
        messages += [{"role": "user", "content": q}, {"role": "assistant", "content": "……"}]
    return {"model": "zhice", "messages": messages[:-1], **extra}


def test_the_last_user_message_is_the_question_and_the_rest_the_conversation():
    req = parse_request(body("宜宾在产业转型上有什么做法？", "那株洲呢？", "效果如何？",
                             temperature=0.2, max_tokens=99, top_p=1), MODELS)
    assert req.question == "效果如何？" and req.mode == "extractive" and not req.stream
    first = "宜宾在产业转型上有什么做法？"
    # each earlier follow-up as the page would have searched it
    assert req.history == (first, standalone("那株洲呢？", [first]))
    assert "株洲" in req.history[1] and req.history[1] != "那株洲呢？"


def test_content_given_as_parts_is_read_as_text():
    req = parse_request({"model": "zhice", "stream": True, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "示范区"},
                                     {"type": "image_url", "image_url": {"url": "x"}},
                                     {"type": "text", "text": "有多少个？"}]}]}, MODELS)
    assert req.question == "示范区有多少个？" and req.stream


@pytest.mark.parametrize(("request_body", "status", "match"), [
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "问"}]}, 404,
     "The model 'gpt-4o' does not exist"),
    ({"messages": [{"role": "user", "content": "问"}]}, 400, "'model' is required"),
    ({"model": "zhice", "messages": []}, 400, "non-empty list"),
    ({"model": "zhice", "messages": [{"role": "system", "content": "x"}]}, 400,
     "no user message"),
    ({"model": "zhice", "messages": [{"role": "user", "content": "  "}]}, 400,
     "the question is empty"),
    ({"model": "zhice", "messages": [{"role": "user", "content": "问" * 501}]}, 413,
     "the limit is 500"),
    ({"model": "zhice", "k": 0, "messages": [{"role": "user", "content": "问"}]}, 400, "'k'"),
    ([1, 2], 400, "JSON object"),
])
def test_bad_requests_get_openai_errors_with_their_status(request_body, status, match):
    with pytest.raises(ApiError, match=match) as raised:
        parse_request(request_body, MODELS)
    assert raised.value.status == status
    error = raised.value.body()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if status == 404:
        assert error["code"] == "model_not_found"


def test_a_model_the_server_does_not_run_is_unknown():
    with pytest.raises(ApiError) as raised:
        parse_request({"model": "zhice-llm", "messages": [{"role": "user", "content": "问"}]},
                      {"zhice": "extractive"})
    assert raised.value.status == 404
    assert [m["id"] for m in models_list({"zhice": "extractive"})["data"]] == ["zhice"]


def _answer(abstained: bool = False) -> Answer:
    chunk = Chunk("a.txt", 0, "示范区共有20个。还有园区。", "示范区共有20个。还有园区。",
                  "一、总则", 10, 24, title="示范区方案")
    hit = Hit(7, chunk, 1.0)
    if abstained:
        return Answer("问？", "文档中没有找到能回答这个问题的内容。", True, (), (hit,))
    return Answer("问？", "示范区共有20个。[1]另有园区。[1]", False,
                  (Citation(1, hit, ("示范区共有20个。",)),), (hit,), searched="检索的问？")


def test_the_message_keeps_markers_and_lists_its_sources():
    text = message_text(_answer())
    assert text.startswith("示范区共有20个。[1]另有园区。[1]\n\n来源：")
    assert "[1] 《示范区方案》（a.txt）：一、总则" in text
    assert message_text(_answer(abstained=True)) == "文档中没有找到能回答这个问题的内容。"


def test_a_completion_carries_the_checked_citations_and_the_details():
    out = completion(_answer(), "zhice")
    assert out["object"] == "chat.completion" and out["model"] == "zhice"
    message = out["choices"][0]["message"]
    (ref,) = message["reference"]
    assert ref["marker"] == 1 and ref["source"] == ref["document_name"] == "a.txt"
    assert ref["content"] == ref["text"] and ref["quotes"] == ["示范区共有20个。"]
    assert (ref["start"], ref["end"]) == (10, 24)
    assert message["zhice"]["abstained"] is False
    assert message["zhice"]["searched_question"] == "检索的问？"


def test_a_stream_is_the_same_text_then_the_citations():
    answer = _answer()
    chunks = list(stream_chunks(answer, "zhice"))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == message_text(answer)
    assert len(chunks) > 3  # sentence by sentence
    last = chunks[-1]["choices"][0]
    assert last["finish_reason"] == "stop" and last["delta"]["reference"][0]["marker"] == 1
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert len({c["id"] for c in chunks}) == 1
