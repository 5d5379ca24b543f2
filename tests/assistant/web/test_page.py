"""`zhice serve`: a real Gradio server on 127.0.0.1, driven by gradio_client and by
headless Chromium (Debian's /usr/bin/chromium through Python playwright).

One server per kind (management on, management off, password-gated) for the whole
session, over an index of the bundled corpus built with the fake embedder. Browser
tests save screenshots under artifacts/.
"""

import importlib.util
import json
import os
import threading
from pathlib import Path

import pytest

from zhice.assistant.cli import main

from ..conftest import ADMIN, PASSWORD, ROOT, Server, api_client

# gradio's queue trips pandas 3 deprecations on every event: not ours to fix
pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

ARTIFACTS = ROOT / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--no-first-run", "--disable-component-update",
                 "--disable-sync"]
Q_COUNT = "国家一共支持建设了多少个产业转型升级示范区？"
Q_NONE = "第三批产业转型升级示范区是哪一年公布的？"  # the corpus does not say
SCRIPT_DOC = ("# 熊猫基地简介\n\n<script>window.__pwned = 1</script>"
              '<img src=x onerror="window.__pwned = 2">熊猫基地每年接待游客八十万人次。'
              "熊猫基地位于成都北郊。\n")


# the ask endpoint -----------------------------------------------------------------------
def test_ask_endpoint_returns_the_result_object(server: Server):
    r = api_client(server.url).predict(Q_COUNT, api_name="/ask")
    assert set(r) >= {"id", "question", "answer", "abstained", "citations", "retrieved",
                      "latency_ms"}
    assert r["question"] == Q_COUNT and r["abstained"] is False and "20个" in r["answer"]
    assert isinstance(r["latency_ms"], float) and r["latency_ms"] > 0
    for c in r["citations"]:
        assert set(c) >= {"marker", "source", "title", "text", "start", "end"}
        assert f"[{c['marker']}]" in r["answer"]
        assert isinstance(c["start"], int) and c["start"] < c["end"]
    assert len(r["retrieved"]) >= 10
    assert [h["rank"] for h in r["retrieved"]] == list(range(1, len(r["retrieved"]) + 1))
    assert all(set(h) >= {"rank", "source", "text", "score"} for h in r["retrieved"])


def test_ask_endpoint_answers_like_the_cli(server: Server, capsys: pytest.CaptureFixture):
    r = api_client(server.url).predict("首批示范区有哪些城市？", api_name="/ask")
    assert main(["ask", "首批示范区有哪些城市？", "--index", str(server.index_dir), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert r["answer"] == cli["answer"]
    assert [c["source"] for c in r["citations"]] == [c["source"] for c in cli["citations"]]


def test_ask_endpoint_takes_k(server: Server):
    from gradio_client.exceptions import AppError

    client = api_client(server.url)
    r = client.predict("首批示范区有哪些城市？", 1, api_name="/ask")
    assert {c["marker"] for c in r["citations"]} == {1}
    with pytest.raises(AppError, match="k must be between 1 and 50"):
        client.predict("首批示范区有哪些城市？", 0, api_name="/ask")


def test_ask_endpoint_abstains_with_closest_passages(server: Server):
    r = api_client(server.url).predict(Q_NONE, api_name="/ask")
    assert r["abstained"] is True and r["citations"] == [] and r["retrieved"]


@pytest.mark.parametrize("question, message", [
    ("", "the question is empty"),
    ("   \n ", "the question is empty"),
    ("政" * 3_600_000, "the limit is 500"),  # a 10 MB paste
])
def test_ask_endpoint_refuses_bad_questions(server: Server, question: str, message: str):
    from gradio_client.exceptions import AppError

    client = api_client(server.url)
    with pytest.raises(AppError, match=message):
        client.predict(question, api_name="/ask")
    assert not client.predict(Q_COUNT, api_name="/ask")["abstained"]  # still serving


def test_ask_endpoint_serves_clients_at_once(server: Server):
    questions = [Q_COUNT, "什么是新质生产力？", "首批示范区有哪些城市？", Q_NONE]
    results, errors = [], []

    def user():
        client = api_client(server.url)
        try:
            for q in questions:
                results.append((q, client.predict(q, api_name="/ask")))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=user) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 24
    assert all(r["question"] == q for q, r in results)


def test_password_gate(locked_server: Server):
    with pytest.raises(Exception):  # noqa: B017 - gradio_client's error type varies
        api_client(locked_server.url).predict(Q_COUNT, api_name="/ask")
    r = api_client(locked_server.url, auth=("anyone", PASSWORD)).predict(Q_COUNT,
                                                                         api_name="/ask")
    assert "20个" in r["answer"]


def test_serve_command_is_registered(capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--admin-password" in out and "ZHICE_ADMIN_PASSWORD" in out and "--port" in out
    assert main(["serve", "--port", "0"]) == 2
    assert "--port must be between" in capsys.readouterr().err


# the page -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    missing = ("the Python package playwright" if importlib.util.find_spec("playwright") is None
               else "Debian's chromium (apt-get install chromium fonts-noto-cjk)"
               if not CHROMIUM.exists() else None)
    if missing:  # CI must run the browser tests: a missing install step fails there
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"{missing} is not installed")
    from playwright import sync_api as playwright
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 950})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


def _open(page, url: str, tab: str | None = None):
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#zc-question textarea")
    if tab:
        page.get_by_role("tab", name=tab).click()
    return page


def _ask(page, question: str) -> str:
    """Type a question, press Enter, wait for its answer; the answer's text."""
    n = page.locator("#zc-chat .zc-answer").count()
    page.fill("#zc-question textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelectorAll('#zc-chat .zc-answer').length > {n}")
    return page.locator("#zc-chat .zc-answer").nth(n).inner_text()


def _toasts(page) -> str:
    page.wait_for_selector(".toast-body")
    return "\n".join(page.locator(".toast-body").all_inner_texts())


@pytest.mark.slow
def test_page_answers_with_clickable_sources(page, server: Server):
    ARTIFACTS.mkdir(exist_ok=True)
    _open(page, server.url)
    assert page.locator("#zc-chat button", has_text="什么是新质生产力？").count() == 1
    page.screenshot(path=str(ARTIFACTS / "web_empty.png"))
    answer = _ask(page, Q_COUNT)
    assert "20个" in answer and "[1]" in answer
    first = page.locator("#zc-t1-c1")
    assert first.is_visible()
    assert first.locator("mark").count() >= 1  # the answering sentence highlighted
    assert first.locator(".zc-title").inner_text()
    # another question, then a marker of the first answer brings its source back
    _ask(page, "首批示范区有哪些城市？")
    assert not first.is_visible()
    page.locator("#zc-chat a.zc-cite").first.click()
    page.wait_for_selector("#zc-t1-c1.zc-flash")
    assert first.is_visible() and not page.locator("#zc-turn-2").is_visible()
    # the passage in its document, scrolled to
    first.locator(".zc-open").click()
    hit = page.wait_for_selector("#zc-ctx-hit")
    page.wait_for_timeout(300)
    assert hit.is_visible() and hit.inner_text().strip()
    page.screenshot(path=str(ARTIFACTS / "web_document.png"))
    page.keyboard.press("Escape")
    page.locator("#zc-chat a.zc-cite").first.click()
    page.wait_for_timeout(400)
    page.screenshot(path=str(ARTIFACTS / "web_answer.png"))


@pytest.mark.slow
def test_page_follow_up_and_abstention(page, server: Server):
    _open(page, server.url)
    _ask(page, "宜宾在产业转型上有什么做法？")
    follow_up = _ask(page, "那株洲呢？")
    assert "检索：株洲在产业转型上有什么做法？" in follow_up
    nothing = _ask(page, Q_NONE)
    assert "没有找到" in nothing and "[1]" not in nothing
    panel = page.locator("#zc-turn-3")
    assert "最接近的段落" in panel.inner_text()
    assert panel.locator(".zc-src").count() >= 3
    page.screenshot(path=str(ARTIFACTS / "web_abstain.png"))


@pytest.mark.slow
def test_page_warns_on_bad_questions(page, server: Server):
    _open(page, server.url)
    page.click("#zc-ask")
    assert "问题是空的" in _toasts(page)
    page.evaluate("""() => {  // a 10 MB paste
        const t = document.querySelector('#zc-question textarea');
        t.value = '政'.repeat(3600000);
        t.dispatchEvent(new Event('input', {bubbles: true}));
    }""")
    page.click("#zc-ask")
    _wait_toast(page, "500 字的上限")
    assert page.locator("#zc-chat .zc-answer").count() == 0


@pytest.mark.slow
def test_page_upload_and_delete_need_the_admin_password(page, server: Server, tmp_path: Path,
                                                        upload_folder: Path):
    doc = tmp_path / "熊猫基地.md"
    doc.write_text("# 熊猫基地简介\n\n熊猫基地每年接待游客八十万人次。熊猫基地位于成都北郊。\n",
                   encoding="utf-8")
    _open(page, server.url, tab="文档管理")
    page.wait_for_selector("#zc-docs table")
    page.set_input_files("#zc-upload input[type=file]", [str(doc)])
    page.wait_for_selector("#zc-upload :text('熊猫基地.md')")
    page.click("#zc-upload-btn")
    assert "管理密码不对" in _toasts(page)
    assert "熊猫基地.md" not in page.inner_text("#zc-docs")
    assert "熊猫基地.md" not in [f.source for f in server.service.documents()]

    page.fill("#zc-admin-password input", ADMIN)
    page.click("#zc-upload-btn")
    page.wait_for_function(
        "document.querySelector('#zc-manage-status').innerText.includes('新增 1')")
    page.wait_for_selector("#zc-docs :text('熊猫基地.md')")
    assert not list(upload_folder.rglob("熊猫基地.md"))  # indexed: no longer waiting
    row = page.locator("#zc-docs tr", has_text="熊猫基地.md").inner_text()
    assert "熊猫基地简介" in row and "1" in row.split()
    page.screenshot(path=str(ARTIFACTS / "web_manage.png"))
    page.get_by_role("tab", name="问答").click()
    assert "八十万" in _ask(page, "熊猫基地每年接待多少游客？")

    page.get_by_role("tab", name="文档管理").click()
    page.fill("#zc-admin-password input", "wrong")
    _remove(page, "熊猫基地.md")
    assert "管理密码不对" in _toasts(page)
    assert "熊猫基地.md" in [f.source for f in server.service.documents()]
    page.fill("#zc-admin-password input", ADMIN)
    _remove(page, "熊猫基地.md")
    page.wait_for_function("!document.querySelector('#zc-docs').innerText.includes('熊猫基地.md')")
    assert "熊猫基地.md" not in [f.source for f in server.service.documents()]


def _remove(page, source: str) -> None:
    page.click("#zc-remove-choice input")
    page.get_by_role("option", name=source).click()
    page.click("#zc-remove-btn")


@pytest.mark.slow
def test_page_refuses_unsupported_big_and_corrupt_uploads(page, server: Server, tmp_path: Path):
    (tmp_path / "notes.exe").write_bytes(b"MZ\x90\x00")
    (tmp_path / "big.txt").write_bytes(b"a" * (21 * 1024 * 1024))  # the limit is 20 MB
    (tmp_path / "坏.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    before = server.service.documents()
    upload = "#zc-upload input[type=file]"
    _open(page, server.url, tab="文档管理")
    page.set_input_files(upload, [str(tmp_path / "notes.exe")])  # refused by the page
    _wait_toast(page, "Invalid file type: notes.exe")
    _open(page, server.url, tab="文档管理")
    page.set_input_files(upload, [str(tmp_path / "big.txt")])  # refused by the server
    _wait_toast(page, "maximum allowed size of 20.0 Mb")
    _open(page, server.url, tab="文档管理")
    page.fill("#zc-admin-password input", ADMIN)
    page.set_input_files(upload, [str(tmp_path / "坏.pdf")])  # taken, but cannot be read
    page.wait_for_selector("#zc-upload :text('.pdf')")
    page.click("#zc-upload-btn")
    page.wait_for_function("document.querySelector('#zc-manage-status').innerText.includes('失败')")
    status = page.inner_text("#zc-manage-status")
    assert "失败 1" in status and "坏.pdf: cannot read this PDF file" in status
    assert server.service.documents() == before


def _wait_toast(page, text: str) -> None:
    page.wait_for_function(
        f"[...document.querySelectorAll('.toast-body')].some(t => t.innerText.includes({text!r}))")


@pytest.mark.slow
def test_page_shows_a_script_document_as_text(page, server: Server, tmp_path: Path):
    doc = tmp_path / "panda.md"
    doc.write_text(SCRIPT_DOC, encoding="utf-8")
    summary = server.service.upload([("panda.md", doc)], ADMIN)
    assert summary.added == 1
    try:
        _open(page, server.url)
        answer = _ask(page, "熊猫基地每年接待多少游客？")
        assert "八十万" in answer
        page.locator("#zc-t1-c1 .zc-open").click()
        page.wait_for_selector("#zc-ctx-hit")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("script", has_text="__pwned").count() == 0
        assert page.locator("img[src=x]").count() == 0
        assert "<script>window.__pwned = 1</script>" in page.inner_text("#zc-t1-c1 .zc-passage")
        assert "<script>" in page.inner_text("#zc-ctx-hit")
    finally:
        server.service.remove("panda.md", ADMIN)


@pytest.mark.slow
def test_page_without_admin_password_says_how_to_manage(page, plain_server: Server):
    _open(page, plain_server.url, tab="文档管理")
    text = page.inner_text(".zc-off")
    assert "文档管理未开启" in text and "ZHICE_ADMIN_PASSWORD" in text
    assert page.locator("#zc-upload").count() == 0
    page.wait_for_selector("#zc-docs table")
    assert "000_1f01759c0709e46e.txt" in page.inner_text("#zc-docs")


@pytest.mark.slow
def test_page_behind_a_password_asks_for_it(page, locked_server: Server):
    page.goto(locked_server.url, wait_until="domcontentloaded")
    page.wait_for_selector("input[type=password]")
    assert page.locator("#zc-question").count() == 0
    page.locator("input").first.fill("anyone")
    page.fill("input[type=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("#zc-question textarea")
    assert "20个" in _ask(page, Q_COUNT)


@pytest.mark.slow
def test_page_shows_the_scanned_page_of_a_passage_ocr_read(page, server: Server,
                                                           tmp_path: Path):
    """A scan uploaded through the page (its upload copy deleted once indexed): the
    citation of its page offers the scanned page, which opens as an image inside the
    page; text passages offer none; an image the index does not keep is said so."""
    from zhice.assistant.web.render import SCAN_MISSING
    from zhice.eval.scans import QUESTIONS, scan_pages, scan_pdf

    question, expected, _ = QUESTIONS[1]
    name = "临江数字政府方案.pdf"
    scan = tmp_path / name
    scan.write_bytes(scan_pdf([scan_pages()[2].image]))  # the plan's page with the answer
    _open(page, server.url, tab="文档管理")
    page.fill("#zc-admin-password input", ADMIN)
    page.set_input_files("#zc-upload input[type=file]", [str(scan)])
    page.wait_for_selector("#zc-upload :text('.pdf')")  # a long name is cut short there
    page.click("#zc-upload-btn")
    try:
        page.wait_for_function(
            "document.querySelector('#zc-manage-status').innerText.includes('新增 1')",
            timeout=120_000)  # OCR of one page, on a shared machine
        page.get_by_role("tab", name="问答").click()
        assert expected in _ask(page, question)
        buttons = page.locator("#zc-turn-1 .zc-scan")
        assert buttons.count() >= 1
        assert {buttons.nth(i).get_attribute("data-source")
                for i in range(buttons.count())} == {name}
        assert page.locator("#zc-turn-1 .zc-src").count() > buttons.count()  # text ones
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web_scan_sources.png"))
        page.locator("#zc-t1-c1 .zc-scan").click()
        page.wait_for_function("(() => { const img = document.querySelector("
                               "'#zc-viewer:not([hidden]) img.zc-scan-img');"
                               " return img && img.complete && img.naturalWidth > 0; })()")
        size = page.evaluate("(() => { const img = document.querySelector('img.zc-scan-img');"
                             " return [img.naturalWidth, img.naturalHeight]; })()")
        assert size[1] == 1200 and 800 < size[0] < 900
        assert "第1页 · 扫描原页" in page.inner_text(".zc-viewer-body")
        for close in page.locator(".toast-close").all():  # the upload's toast, over the view
            close.click()
        page.wait_for_selector(".toast-body", state="detached")
        page.screenshot(path="/tmp/page_view.png")
        page.screenshot(path=str(ARTIFACTS / "web_scan.png"))

        index = server.assistant.index  # an index made before images were kept has none
        index.pages.drop(index.file_hashes()[name])
        page.keyboard.press("Escape")
        page.locator("#zc-t1-c1 .zc-scan").click()
        page.wait_for_selector(".zc-scan-missing")
        assert page.inner_text(".zc-viewer-body").strip().endswith(SCAN_MISSING)
        assert page.locator("#zc-viewer img.zc-scan-img").count() == 0
    finally:
        server.service.remove(name, ADMIN)
