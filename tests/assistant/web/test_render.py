"""The web UI's pieces without a server: HTML rendering, upload names, the lock, and
`WebService` over a tiny index (uploads, the admin password, the size limit)."""

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from tests.index.test_index import share_segmenter
from zhice.assistant.chain import Assistant
from zhice.assistant.types import Answer, Citation, Hit
from zhice.assistant.web.render import (
    SCAN_MISSING,
    answer_html,
    context_html,
    documents_html,
    passage_html,
    scan_html,
    sources_html,
)
from zhice.assistant.web.service import AdminError, UploadError, WebService, upload_name
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files
from zhice.ingest.chunker import chunk_document
from zhice.ingest.errors import ZhiceError
from zhice.ingest.facts import DocumentFacts
from zhice.ingest.types import Chunk, LoadedDocument, PageImage, content_hash

EVIL = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def hit(i: int, text: str, source: str = "a.txt", title: str = "标题") -> Hit:
    chunk = Chunk(source, i, text, text, "一、总则 > （二）目标", 10 * i, 10 * i + len(text),
                  title=title)
    return Hit(i, chunk, 1.0 / i)


def answer(text: str, citations=(), retrieved=(), abstained=False, searched="") -> Answer:
    return Answer("问题<b>？", text, abstained, tuple(citations), tuple(retrieved),
                  searched=searched)


# rendering ----------------------------------------------------------------------------
def test_passage_is_escaped_and_quotes_marked():
    html = passage_html(f"前言。{EVIL}示范区有20个。后记", ("示范区有20个。",))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "<mark>示范区有20个。</mark>" in html


def test_overlapping_quotes_are_one_mark():
    assert passage_html("甲乙丙丁", ("甲乙丙", "乙丙丁")) == "<mark>甲乙丙丁</mark>"


def test_answer_links_known_markers_only():
    h = hit(1, "示范区有20个。")
    html = answer_html(answer("共20个[1]，另见[7]", [Citation(1, h, ("示范区有20个。",))], [h]),
                       turn=3)
    assert 'href="#zc-t3-c1"' in html
    assert "[7]" in html and "#zc-t3-c7" not in html


def test_answer_from_a_script_document_is_text():
    h = hit(1, EVIL)
    html = answer_html(answer(f"{EVIL}[1]", [Citation(1, h, (EVIL,))], [h]), turn=1)
    assert "<script" not in html and "<img" not in html


def test_searched_question_shown_when_it_differs():
    html = answer_html(answer("做法[1]", [Citation(1, hit(1, "做法"))], [hit(1, "做法")],
                              searched="株洲在产业转型上有什么做法？"), 1)
    assert "检索：株洲在产业转型上有什么做法？" in html


def test_constraints_the_passages_lack_are_named_as_text():
    h = hit(1, "2023年投入强度3.27%。")
    shown = replace(answer("2023年投入强度3.27%。[1]", [Citation(1, h)], [h]),
                    unmatched=("2019", EVIL))
    html = answer_html(shown, 1)
    assert "所引段落没有提到“2019”、" in html and "未必回答了所问" in html
    assert "<script" not in html


def test_why_the_model_was_not_used_is_said_in_chinese():
    h = hit(1, "示范区有20个。")
    shown = replace(answer("示范区有20个。[1]", [Citation(1, h)], [h]),
                    extra={"llm_note": "the model endpoint timed out; showing the extracted "
                           "sentences", "llm_note_zh": "模型服务超时，以下是摘录的原文句子"})
    html = answer_html(shown, 1)
    assert "模型服务超时" in html and "timed out" not in html


def test_abstention_says_so_and_panel_shows_closest():
    hits = [hit(i, f"段落{i}") for i in range(1, 6)]
    a = answer("文档中没有找到能回答这个问题的内容。", [], hits, abstained=True)
    assert "zc-abstain" in answer_html(a, 1) and "zc-cite" not in answer_html(a, 1)
    panel = sources_html([a])
    assert "最接近的段落" in panel
    assert panel.index("段落3") < panel.index("<details")  # top 3 shown, the rest folded
    assert panel.index("段落4") > panel.index("<details")


def test_sources_panel_shows_newest_turn_and_uncited_folded():
    h1, h2, h3 = hit(1, "甲"), hit(2, "乙"), hit(3, "丙")
    first = answer("甲[1]", [Citation(1, h1)], [h1, h2])
    second = answer("丙[1]", [Citation(1, h3)], [h3, h1, h2])
    panel = sources_html([first, second], first_turn=4)
    assert 'id="zc-turn-4" data-turn="4" hidden' in panel
    assert 'id="zc-turn-5" data-turn="5">' in panel
    assert 'id="zc-t5-c1"' in panel and "其余检索到的段落（2，未引用）" in panel
    assert "问题&lt;b&gt;？" in panel


def test_context_marks_the_passage_in_its_document():
    text = "第一段。\n" + EVIL + "\n第三段。"
    html = context_html("标题", "a.txt", text, 5, 5 + len(EVIL), ("window.__pwned=1",))
    assert 'class="zc-ctx-hit">&lt;script&gt;<mark class="zc-q">window.__pwned=1</mark>' in html
    assert "<script" not in html and "第三段。" in html
    assert 'id="zc-ctx-hit"' in context_html("t", "a.txt", "短", 50, 99)  # offsets clamped


def test_passages_of_pages_ocr_read_offer_the_scanned_page_and_no_others():
    scanned = replace(hit(1, "计算资源不少于12000核。", source=f"扫描{EVIL}.pdf").chunk, page=2)
    typed = replace(hit(2, "计算资源不少于12000核。", source=f"扫描{EVIL}.pdf").chunk, page=1)
    hits = [Hit(1, scanned, 1.0), Hit(2, typed, 0.5)]
    shown = replace(answer("不少于12000核。[1]", [Citation(1, hits[0])], hits),
                    documents={scanned.source: DocumentFacts(ocr_pages=(2,))})
    panel = sources_html([shown])
    assert panel.count('class="zc-scan"') == 1 and panel.count('class="zc-open"') == 2
    button = panel[panel.index('<button type="button" class="zc-scan"'):]
    assert button.startswith(
        '<button type="button" class="zc-scan" data-source="扫描&lt;script&gt;')
    assert 'data-page="2">查看扫描原页</button>' in button
    assert "<script" not in panel


def test_a_scanned_page_is_shown_as_its_image_or_says_none_is_kept():
    import base64

    html = scan_html("通知", f"扫描{EVIL}.pdf", 3, b"\xff\xd8 jpeg bytes")
    assert "第3页" in html and "<script" not in html and "扫描&lt;script&gt;" in html
    data = html.split('src="data:image/jpeg;base64,')[1].split('"')[0]
    assert base64.b64decode(data) == b"\xff\xd8 jpeg bytes"
    missing = scan_html("通知", "扫描.pdf", 3, None)
    assert SCAN_MISSING in missing and "<img" not in missing
    assert SCAN_MISSING == "这一页的扫描图像未保存；重新导入该文件即可查看"


def test_documents_table_escapes_names():
    from zhice.index.store import FileRecord

    html = documents_html([FileRecord("<b>x</b>.txt", "/p", "0", EVIL, 3, 0, "2025-01-01")])
    assert "&lt;b&gt;x&lt;/b&gt;.txt" in html and "<script" not in html
    assert "1 个文档，共 3 个段落" in html


# upload names -------------------------------------------------------------------------
@pytest.mark.parametrize("name, source", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\规划.txt", "规划.txt"),
    ("/abs/path/a.md", "a.md"),
    (".hidden.txt", "hidden.txt"),
    ("a\x00b.txt", "ab.txt"),
])
def test_upload_name_keeps_the_base_name_only(name, source):
    assert upload_name(name) == source


@pytest.mark.parametrize("name", ["", "..", "a/", "../"])
def test_upload_name_refuses_names_without_a_file(name):
    with pytest.raises(UploadError):
        upload_name(name)


def test_upload_name_keeps_the_suffix_of_a_long_name():
    assert upload_name("长" * 300 + ".docx").endswith(".docx")


# the service ----------------------------------------------------------------------------
@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WebService:
    share_segmenter(monkeypatch)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "zones.txt").write_text(
        "产业转型升级示范区\n\n国家一共支持建设了20个产业转型升级示范区。首批示范区有12个。\n",
        encoding="utf-8")
    with ZhiceIndex.open(tmp_path / "idx", embedder="fake", create=True) as index:
        index_files(index, [docs])
    assistant = Assistant.open(tmp_path / "idx")
    yield WebService({"extractive": assistant}, admin_password="s3cret", max_upload_mb=0.01)
    assistant.close()


def test_service_answers_through_the_chain(service: WebService):
    a = service.ask("国家一共支持建设了多少个产业转型升级示范区？")
    direct = service.assistants["extractive"].ask("国家一共支持建设了多少个产业转型升级示范区？")
    assert a.answer == direct.answer and "20个" in a.answer


def test_service_upload_needs_the_admin_password(service: WebService, tmp_path: Path):
    f = tmp_path / "new.txt"
    f.write_text("熊猫基地\n\n熊猫基地每年接待游客八十万人次。", encoding="utf-8")
    for wrong in (None, "", "S3CRET"):
        with pytest.raises(AdminError, match="管理密码"):
            service.upload([("new.txt", f)], wrong)
    assert [d.source for d in service.documents()] == ["zones.txt"]
    summary = service.upload([("new.txt", f)], "s3cret")
    assert summary.added == 1
    assert [d.source for d in service.documents()] == ["new.txt", "zones.txt"]
    with pytest.raises(AdminError):
        service.remove("new.txt", "nope")
    service.remove("new.txt", "s3cret")
    assert [d.source for d in service.documents()] == ["zones.txt"]


def test_service_management_off_without_a_password(service: WebService, tmp_path: Path):
    off = WebService(service.assistants)
    f = tmp_path / "new.txt"
    f.write_text("内容。", encoding="utf-8")
    with pytest.raises(AdminError, match="ZHICE_ADMIN_PASSWORD"):
        off.upload([("new.txt", f)], "anything")


def test_service_refuses_bad_uploads_and_leaves_the_index(service: WebService, tmp_path: Path):
    before = service.documents()
    big = tmp_path / "big.txt"
    big.write_text("大" * 20_000, encoding="utf-8")  # 60 kB > the fixture's 0.01 MB
    with pytest.raises(UploadError, match="MB"):
        service.upload([("big.txt", big)], "s3cret")
    evil = tmp_path / "upload.bin"
    evil.write_text("root:x:0:0", encoding="utf-8")
    summary = service.upload([("../../etc/passwd", evil)], "s3cret")
    assert [f.path for f in summary.failures] and "passwd" in summary.failures[0].reason
    corrupt = tmp_path / "c.pdf"
    corrupt.write_bytes(b"%PDF-1.4 not really")
    summary = service.upload([("c.pdf", corrupt)], "s3cret")
    assert "corrupt" in summary.failures[0].reason
    with pytest.raises(UploadError):
        service.upload([], "s3cret")
    assert service.documents() == before


def test_service_context_of_a_passage(service: WebService):
    a = service.ask("首批示范区有多少个？")
    c = a.retrieved[0].chunk
    html = service.document_context(c.source, c.start, c.end)
    assert 'id="zc-ctx-hit"' in html and "产业转型升级示范区" in html


def test_service_shows_a_scanned_page_by_name_and_page_only(service: WebService):
    text = "临江市数字政府建设实施方案\n\n政务云平台计算资源不少于12000核。"
    doc = chunk_document(LoadedDocument("扫描件.pdf", text, page_starts=(0,), ocr_pages=(1,),
                                        page_images=(PageImage(1, b"\xff\xd8 page one"),)))
    with service.index.writing():
        service.index.add(doc, content_hash(text), "web upload: 扫描件.pdf")
    assert "cGFnZSBvbmU" in service.page_image("扫描件.pdf", 1)  # base64 of "page one"
    assert service.page_image("扫描件.pdf", "1") == service.page_image("扫描件.pdf", 1.0)
    for page in (2, 0, -1):
        assert SCAN_MISSING in service.page_image("扫描件.pdf", page)
    assert SCAN_MISSING in service.page_image("zones.txt", 1)  # a text file: no scan
    for source, page, message in [("没有的.pdf", 1, "不在索引里"),
                                  ("../../etc/passwd", 1, "不在索引里"),
                                  ("扫描件.pdf", "1/../2", "page 应是整数"),
                                  ("扫描件.pdf", None, "page 应是整数")]:
        with pytest.raises(ZhiceError, match=message):
            service.page_image(source, page)


def test_asks_run_while_an_upload_waits_its_turn(service: WebService, tmp_path: Path):
    f = tmp_path / "more.txt"
    f.write_text("补充材料\n\n株洲特别舍得花钱在科技研发。", encoding="utf-8")
    errors, answers = [], []

    def ask():
        try:
            for _ in range(5):
                answers.append(service.ask("首批示范区有多少个？"))
        except Exception as e:  # noqa: BLE001 - the test reports any failure
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    service.upload([("more.txt", f)], "s3cret")
    for t in threads:
        t.join(30)
    assert not errors and len(answers) == 20
    assert "more.txt" in [d.source for d in service.documents()]


def test_other_modes_are_routed_and_share_the_index(service: WebService, tmp_path: Path):
    """A second answer mode (the LLM one) is an assistant over the same open index:
    questions in that mode go to it, and it sees what an upload added at once."""

    class Other:
        def __init__(self, index):
            self.index = index
            self.asked = []

        def ask(self, question, k=5, history=None, since=None, issuer=None):
            self.asked.append(question)
            return self.index.files()

    other = Other(service.index)
    both = WebService({"extractive": service.assistants["extractive"], "llm": other},
                      admin_password="s3cret")
    assert len(both.ask("示范区？", mode="llm")) == 1 and other.asked == ["示范区？"]
    with pytest.raises(Exception, match="unknown answer mode"):
        both.ask("示范区？", mode="oracle")
    f = tmp_path / "new.txt"
    f.write_text("熊猫基地\n\n熊猫基地每年接待游客八十万人次。", encoding="utf-8")
    both.upload([("new.txt", f)], "s3cret")
    assert [d.source for d in both.ask("示范区？", mode="llm")] == ["new.txt", "zones.txt"]
    both.remove("new.txt", "s3cret")


def test_assistants_over_different_indexes_are_refused(service: WebService, tmp_path: Path):
    class Other:
        index = object()

    with pytest.raises(ValueError, match="share one open index"):
        WebService({"extractive": service.assistants["extractive"], "llm": Other()})


def test_questions_are_answered_while_an_upload_is_embedding(
        service: WebService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The upload holds no lock while it embeds: a question asked meanwhile returns
    before the upload does."""
    started, release = threading.Event(), threading.Event()
    embed = service.index.embedder.embed_documents

    def slow_embed(texts):
        started.set()
        release.wait(10)
        return embed(texts)

    monkeypatch.setattr(service.index.embedder, "embed_documents", slow_embed)
    f = tmp_path / "more.txt"
    f.write_text("补充材料\n\n株洲特别舍得花钱在科技研发。", encoding="utf-8")
    upload = threading.Thread(target=service.upload, args=([("more.txt", f)], "s3cret"))
    upload.start()
    try:
        assert started.wait(10)
        answer = service.ask("首批示范区有多少个？")  # would deadlock if the upload held a lock
        assert not answer.abstained and upload.is_alive()
    finally:
        release.set()
        upload.join(30)
    assert "more.txt" in [d.source for d in service.documents()]
