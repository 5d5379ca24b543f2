"""`zhice serve` on a Milvus Lite index (a real server on 127.0.0.1): the page's `ask`
endpoint, a passage shown in its document, uploads and removals, the OpenAI-compatible
and Dify APIs; each answering as the same chain over the embedded store does (the
bundled corpus, the fake embedder). Last, the `zhice serve` command itself on a
`milvus:` index, in a process of its own."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from zhice.assistant.chain import Assistant
from zhice.assistant.cli import main
from zhice.assistant.web.service import WebService

from ..conftest import ADMIN, CORPUS, MILVUS_KEYS, Server, api_client, free_port

pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

QUESTIONS = ("国家一共支持建设了多少个产业转型升级示范区？", "首批示范区有哪些城市？",
             "新质生产力是什么？", "第三批产业转型升级示范区是哪一年公布的？")


@pytest.fixture(scope="module")
def embedded(pristine: Path):
    """The chain over the embedded store of the same corpus: what to answer alike."""
    with Assistant.open(pristine) as assistant:
        yield assistant


def test_ask_endpoint_answers_as_the_embedded_store(milvus_server: Server, embedded):
    client = api_client(milvus_server.url)
    for q in QUESTIONS:
        r = client.predict(q, api_name="/ask")
        e = embedded.ask(q).to_dict()
        assert (r["answer"], r["abstained"]) == (e["answer"], e["abstained"]), q
        assert [(c["source"], c["start"], c["end"]) for c in r["citations"]] == [
            (c["source"], c["start"], c["end"]) for c in e["citations"]], q
        assert [h["text"] for h in r["retrieved"]] == [h["text"] for h in e["retrieved"]], q


def test_a_cited_passage_opens_in_its_document(milvus_server: Server, embedded):
    """在原文中查看: the document's loaded text, from Milvus, marked as the embedded
    store's page marks it."""
    page = WebService({"extractive": embedded})
    for q in QUESTIONS[:3]:
        for citation in milvus_server.service.ask(q).citations:
            c = citation.hit.chunk
            html = milvus_server.service.document_context(c.source, c.start, c.end,
                                                          citation.quotes)
            assert 'id="zc-ctx-hit"' in html
            assert html == page.document_context(c.source, c.start, c.end, citation.quotes)


def test_upload_and_remove_change_the_milvus_index(milvus_server: Server, tmp_path: Path):
    service, client = milvus_server.service, api_client(milvus_server.url)
    before = [d.source for d in service.documents()]
    f = tmp_path / "panda.txt"
    f.write_text("熊猫基地简介\n\n熊猫基地每年接待游客八十万人次。熊猫基地位于成都北郊。\n",
                 encoding="utf-8")
    summary = service.upload([("panda.txt", f)], ADMIN)
    assert (summary.added, summary.failures) == (1, [])
    assert sorted(before + ["panda.txt"]) == [d.source for d in service.documents()]
    r = client.predict("熊猫基地每年接待多少游客？", api_name="/ask")
    assert "八十万人次" in r["answer"] and r["citations"][0]["source"] == "panda.txt"
    service.remove("panda.txt", ADMIN)
    assert [d.source for d in service.documents()] == before
    r = client.predict("熊猫基地每年接待多少游客？", api_name="/ask")
    assert all(c["source"] != "panda.txt" for c in r["citations"])


def test_chat_completions_and_dify_retrieval_answer_as_the_embedded_store(
        milvus_server: Server, embedded):
    chat = openai.OpenAI(base_url=f"{milvus_server.url}/v1", api_key=MILVUS_KEYS[0],
                         max_retries=0, timeout=60)
    q = QUESTIONS[0]
    message = chat.chat.completions.create(
        model="zhice", messages=[{"role": "user", "content": q}]).choices[0].message
    expected = embedded.ask(q)
    assert message.content.startswith(expected.answer) and "20个" in message.content
    assert [r["source"] for r in message.model_extra["reference"]] == [
        c.hit.chunk.source for c in expected.citations]

    body = {"knowledge_id": "zhice", "query": q,
            "retrieval_setting": {"top_k": 3, "score_threshold": 0.0}}
    response = httpx.post(f"{milvus_server.url}/retrieval", json=body, timeout=60,
                          headers={"Authorization": f"Bearer {MILVUS_KEYS[0]}"})
    assert response.status_code == 200
    records = response.json()["records"]
    assert [(r["content"], r["score"]) for r in records] == [
        (h.chunk.text, round(s, 4)) for h, s in embedded.search(q, 3)]


@pytest.mark.slow
def test_the_serve_command_on_a_milvus_index(tmp_path: Path, capsys):
    """`zhice serve --index milvus:PATH.db` in its own process (Milvus Lite serves one:
    this one ingests, then lets go of the file)."""
    where = f"milvus:{tmp_path / 'serve.db'}"
    assert main(["ingest", str(CORPUS), "--index", where, "--embedder", "fake"]) == 0
    capsys.readouterr()
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, "-m", "zhice.assistant.cli", "serve", "--index",
                             where, "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                if httpx.get(f"{url}/v1/models", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "zhice serve did not start"
            time.sleep(0.5)
        r = api_client(url).predict(QUESTIONS[0], api_name="/ask")
        assert "20个" in r["answer"] and r["citations"]
        # the file is the server's while it runs: another process is told so in one line
        assert main(["list", "--index", where]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "another process has" in err
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert main(["list", "--index", where]) == 0
