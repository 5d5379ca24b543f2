"""The OpenAI-compatible and Dify endpoints on a real `zhice serve` server, driven by
the official `openai` package, LangChain's ChatOpenAI and plain HTTP."""

import socket
import threading
from collections import Counter
from pathlib import Path

import httpx
import openai
import pytest

from zhice.assistant.api.http import RateLimit
from zhice.assistant.cli import main
from zhice.assistant.extractive import NOT_FOUND

from ..conftest import Server, start, stop

pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

KEYS = ("key-one", "key-two")
Q_COUNT = "国家一共支持建设了多少个产业转型升级示范区？"
Q_NONE = "第三批产业转型升级示范区是哪一年公布的？"  # the corpus does not say
TURNS = [Q_COUNT, "老工业基地调整改造规划提出到2017年城镇居民人均可支配收入要达到多少？",
         "城镇累计新增就业人数的目标呢？"]


@pytest.fixture(scope="module")
def api_server(pristine: Path):
    s = start(pristine, api_keys=KEYS)
    yield s
    stop(s)


def client(server: Server, key: str = KEYS[1]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=60)


def ask(c: openai.OpenAI, *questions: str, **options):
    messages = []
    for q in questions:
        messages += [{"role": "user", "content": q}, {"role": "assistant", "content": "好的"}]
    return c.chat.completions.create(model="zhice", messages=messages[:-1], **options)


# completions ------------------------------------------------------------------------------
def test_models_lists_the_answer_modes(api_server: Server):
    assert [m.id for m in client(api_server).models.list().data] == ["zhice"]


def test_a_completion_answers_with_checked_citations(api_server: Server):
    message = ask(client(api_server), Q_COUNT).choices[0].message
    expected = api_server.assistant.ask(Q_COUNT)
    assert message.content.startswith(expected.answer) and "\n\n来源：\n[1] 《" in message.content
    extra = message.model_extra
    assert extra["zhice"]["abstained"] is False
    assert [r["marker"] for r in extra["reference"]] == [c.marker for c in expected.citations]
    for ref in extra["reference"]:
        assert ref["quotes"] and all(q in ref["content"] for q in ref["quotes"])


def test_a_streamed_completion_is_the_same_answer(api_server: Server):
    c = client(api_server)
    whole = ask(c, Q_COUNT).choices[0].message
    chunks = list(ask(c, Q_COUNT, stream=True))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == whole.content
    last = chunks[-1].choices[0]
    assert last.finish_reason == "stop"
    assert last.delta.model_extra["reference"] == whole.model_extra["reference"]


def test_a_follow_up_is_answered_as_the_page_answers_it(api_server: Server):
    history, page = [], None
    for q in TURNS:  # what the page does: each turn with the questions searched before
        page = api_server.assistant.ask(q, history=list(history))
        history.append(page.searched or page.question)
    message = ask(client(api_server), *TURNS).choices[0].message
    assert message.model_extra["zhice"]["searched_question"] == page.searched != TURNS[-1]
    assert message.content.startswith(page.answer)


def test_an_unanswerable_question_abstains_without_inventing(api_server: Server):
    message = ask(client(api_server), Q_NONE).choices[0].message
    assert message.content == NOT_FOUND
    assert message.model_extra["zhice"]["abstained"] is True
    assert message.model_extra["reference"] == []


@pytest.mark.parametrize(("messages", "error", "status"), [
    ([{"role": "user", "content": ""}], openai.BadRequestError, 400),
    ([{"role": "user", "content": "问" * 600}], openai.APIStatusError, 413),
    ([{"role": "user", "content": "？？？"}], openai.BadRequestError, 400),
])
def test_bad_questions_are_openai_errors(api_server: Server, messages, error, status):
    with pytest.raises(error) as raised:
        client(api_server).chat.completions.create(model="zhice", messages=messages)
    assert raised.value.status_code == status
    assert raised.value.body["message"]


def test_an_unknown_model_is_a_404(api_server: Server):
    with pytest.raises(openai.NotFoundError) as raised:
        client(api_server).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": Q_COUNT}])
    assert raised.value.body["code"] == "model_not_found"


def test_keys_are_checked_and_guessing_them_is_slowed(pristine: Path):
    s = start(pristine, api_keys=KEYS)
    try:
        assert client(s, KEYS[0]).models.list().data  # any of the keys
        bare = httpx.get(f"{s.url}/v1/models")  # no Authorization header
        assert bare.status_code == 401 and bare.json()["error"]["code"] == "invalid_api_key"
        for _ in range(4):  # three typos are free, the fourth earns a wait
            with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
                client(s, "guess").models.list()
        with pytest.raises(openai.RateLimitError, match="too many wrong API keys"):
            client(s, KEYS[0]).models.list()
    finally:
        stop(s)


def test_rate_limit_counts_requests_per_minute():
    now = [0.0]
    rate = RateLimit(per_minute=2, clock=lambda: now[0])
    assert [rate.allow("k"), rate.allow("k"), rate.allow("k"), rate.allow("other")] == \
        [True, True, False, True]
    now[0] = 60.0
    assert rate.allow("k")


def test_langchain_chat_openai_invokes_and_streams(api_server: Server):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=f"{api_server.url}/v1", api_key=KEYS[0], model="zhice",
                     max_retries=0)
    expected = api_server.assistant.ask(Q_COUNT).answer
    assert llm.invoke(Q_COUNT).content.startswith(expected)
    assert "".join(part.content for part in llm.stream(Q_COUNT)).startswith(expected)


def test_ten_clients_at_once_are_all_answered(api_server: Server):
    questions = [Q_COUNT, Q_NONE, TURNS[1]]
    # what one client gets, one question at a time
    alone = [ask(client(api_server), q).choices[0].message.content for q in questions]
    results, errors = [], []

    def user():
        c = client(api_server)
        try:
            results.extend(ask(c, q).choices[0].message.content for q in questions)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=user) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 30
    # every client got the answers one client gets: no answer mixed up with another's
    assert Counter(results) == Counter(alone * 10)
    assert NOT_FOUND in alone  # Q_NONE: the corpus does not say


# without keys -----------------------------------------------------------------------------
def _lan_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent: picks the outgoing address
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_without_keys_the_api_answers_this_machine_only(pristine: Path):
    address = _lan_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    s = start(pristine, host="0.0.0.0")
    try:
        port = s.url.rsplit(":", 1)[1]
        local = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x",
                              max_retries=0)
        assert local.models.list().data
        remote = openai.OpenAI(base_url=f"http://{address}:{port}/v1", api_key="x",
                               max_retries=0)
        with pytest.raises(openai.PermissionDeniedError, match="no API key"):
            remote.models.list()
    finally:
        stop(s)


def test_serve_on_the_network_without_a_key_refuses_to_start(
        pristine: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ZHICE_API_KEY", raising=False)
    assert main(["serve", "--index", str(pristine), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "has no key; set $ZHICE_API_KEY" in err and "\n" == err[-1] and err.count("\n") == 1


# Dify ---------------------------------------------------------------------------------------
def _retrieval(server: Server, body: dict, key: str | None = KEYS[0]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.url}/retrieval", json=body, headers=headers, timeout=60)


def test_dify_retrieval_returns_records_in_its_schema(api_server: Server):
    body = {"knowledge_id": "zhice", "query": Q_COUNT,
            "retrieval_setting": {"top_k": 3, "score_threshold": 0.0}}
    response = _retrieval(api_server, body)
    assert response.status_code == 200
    out = response.json()
    assert set(out) == {"records"} and len(out["records"]) == 3
    for r in out["records"]:
        assert set(r) == {"content", "score", "title", "metadata"}
        assert isinstance(r["content"], str) and isinstance(r["title"], str)
        assert 0.0 <= r["score"] <= 1.0 and isinstance(r["metadata"], dict)
    found = [h.chunk.text for h, _ in api_server.assistant.search(Q_COUNT, 3)]
    assert [r["content"] for r in out["records"]] == found
    strict = _retrieval(api_server, {**body, "retrieval_setting": {"top_k": 3,
                                                                   "score_threshold": 1.0}})
    assert all(r["score"] == 1.0 for r in strict.json()["records"])


@pytest.mark.parametrize(("key", "setting", "status", "code"), [
    ("wrong", {"top_k": 3, "score_threshold": 0.5}, 403, 1002),
    (None, {"top_k": 3, "score_threshold": 0.5}, 403, 1001),
    (KEYS[0], {"top_k": 0, "score_threshold": 0.5}, 400, 400),
    (KEYS[0], {"top_k": 100, "score_threshold": 0.5}, 400, 400),
])
def test_dify_errors(api_server: Server, key, setting, status, code):
    response = _retrieval(api_server, {"knowledge_id": "zhice", "query": Q_COUNT,
                                       "retrieval_setting": setting}, key)
    assert response.status_code == status and response.json()["error_code"] == code


# with a chat model -------------------------------------------------------------------------
def test_zhice_llm_streams_only_what_the_check_kept(pristine: Path):
    """A model sentence its passage does not hold is dropped by the check; a stream
    must not have sent it first."""
    from zhice.assistant.chain import Assistant
    from zhice.assistant.llm import LlmConfig
    from zhice.assistant.web.page import build_app, launch
    from zhice.ingest.normalize import match_key

    from ..conftest import free_port
    from ..fake_openai import API_KEY, FakeOpenAIServer, Reply

    right = "我国分三次在具备条件的城市支持建设了20个产业转型升级示范区"
    elsewhere = "株洲特别舍得花钱在科技研发"  # in the corpus, not in these passages
    with Assistant.open(pristine) as extractive:
        hits = extractive.ask(Q_COUNT).retrieved[:5]
        n = next(i for i, h in enumerate(hits, 1) if match_key(right) in match_key(h.chunk.text))
        with FakeOpenAIServer([Reply(f"{right}[{n}]。{elsewhere}[{n}]。")]) as model:
            llm = Assistant.open(extractive.index, mode="llm",
                                 llm=LlmConfig(base_url=model.base_url, api_key=API_KEY))
            app = build_app(extractive, assistants={"llm": llm}, default_mode="llm")
            _, url, _ = launch(app, "127.0.0.1", free_port(), block=False, quiet=True,
                               api_keys=KEYS)
            try:
                c = openai.OpenAI(base_url=f"{url.rstrip('/')}/v1", api_key=KEYS[0],
                                  max_retries=0)
                assert [m.id for m in c.models.list().data] == ["zhice", "zhice-llm"]
                chunks = list(c.chat.completions.create(
                    model="zhice-llm", stream=True,
                    messages=[{"role": "user", "content": Q_COUNT}]))
            finally:
                app.close()
                llm.close()
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks)
    details = chunks[-1].choices[0].delta.model_extra["zhice"]
    assert text.startswith(f"{right}。[{n}]") and elsewhere not in text
    assert details["mode"] == "llm" and details["unsupported"] == [f"{elsewhere}。"]
