import pytest

pytest.importorskip("matplotlib")

from zhice.eval import report  # noqa: E402
from zhice.eval.dataset import Evidence, Question  # noqa: E402
from zhice.eval.report import LATENCY_PNG, RECALL_PNG, REPORT_FILE, TYPES_PNG, write_report  # noqa: E402

QUESTIONS = [
    Question("q1", "number", "示范区有多少个？", ("20个",), None,
             (Evidence("a.txt", "20个示范区"),)),
    Question("q2", "name", "首批有哪座城市？", ("宜宾",), None, (Evidence("b.txt", "宜宾"),)),
    Question("q3", "unanswerable", "火星上有示范区吗？"),
]
GOLD1, GOLD2 = "国家设立了20个示范区。", "首批示范区有宜宾。"


def result(qid, texts, answer, abstained=False, latency=12.0):
    retrieved = [{"rank": i, "source": s, "text": t, "score": 1.0}
                 for i, (s, t) in enumerate(texts, 1)]
    citations = [] if abstained else [{"marker": 1, "source": texts[0][0], "text": texts[0][1]}]
    return {"id": qid, "question": "", "answer": answer, "abstained": abstained,
            "citations": citations, "retrieved": retrieved, "latency_ms": latency}


RUNS = {
    "zhice": [
        result("q1", [("a.txt", GOLD1), ("b.txt", GOLD2)], "国家设立了20个示范区。[1]"),
        result("q2", [("a.txt", GOLD1), ("b.txt", GOLD2)], "国家设立了20个示范区。[1]", latency=30),
        result("q3", [("a.txt", GOLD1)], "文档中没有找到能回答这个问题的内容。", abstained=True),
    ],
    "bm25": [
        result("q1", [("b.txt", GOLD2), ("a.txt", GOLD1)], "首批示范区有宜宾。[1]", latency=2),
        result("q2", [("b.txt", GOLD2)], "首批示范区有宜宾。[1]", latency=3),
        result("q3", [("a.txt", GOLD1)], "国家设立了20个示范区。[1]", latency=1),
    ],
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    directory = tmp_path_factory.mktemp("report")
    path = write_report(directory, "tiny.jsonl", QUESTIONS, RUNS, notes=["a note"])
    return directory, path.read_text(encoding="utf-8")


def test_report_files_exist_and_plots_are_pngs(written):
    directory, _ = written
    assert (directory / REPORT_FILE).is_file()
    for name in (RECALL_PNG, LATENCY_PNG, TYPES_PNG):
        data = (directory / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000, name
    assert (directory / "results_zhice.jsonl").read_text().count("\n") == 3
    assert (directory / "results_bm25.jsonl").is_file()


def test_report_tables_hold_the_metrics(written):
    _, text = written
    assert "# zhice eval: tiny.jsonl" in text and "- a note" in text
    assert "| metric | zhice | BM25 only |" in text
    assert "| R@1 | 0.500 | 0.500 |" in text
    assert "| MRR@10 | 0.750 | 0.750 |" in text
    assert "| abstention | 1.000 | 0.000 |" in text
    assert "| latency_p50_ms | 12.0 | 2.0 |" in text
    # per type: R@1 of each system, abstention for the unanswerable ones
    assert "| number | 1 | 1.00 | 0.00 | 1.00 | 1.00 | 1.00 |" in text
    assert "| name | 1 | 0.00 | 1.00 | 0.50 | 0.00 | 0.00 |" in text
    assert "| unanswerable | 1 | abstained 1.00 | abstained 0.00 |" in text
    assert "| zhice | 0.500 | 1.000 | 1.000 | 1.000 | 1.000 |" in text
    assert "- R@1: zhice 0.500, +0.000 against the best baseline (BM25 only 0.500)" in text
    for name in (RECALL_PNG, LATENCY_PNG, TYPES_PNG):
        assert f"]({name})" in text


def test_report_lists_failed_questions_with_what_was_retrieved(written):
    _, text = written
    assert "## Failed questions (zhice): 1" in text
    failed = text.split("## Failed questions")[1]
    assert "### q2 (name) 首批有哪座城市？" in failed
    assert "first gold passage at rank 2" in failed
    assert "answer lacks the keywords (宜宾)" in failed
    assert "- gold: b.txt 「宜宾」" in failed
    assert "1. a.txt: 国家设立了20个示范区。" in failed
    assert "2. b.txt (gold): 首批示范区有宜宾。" in failed
    assert "### q1" not in failed and "### q3" not in failed


def test_report_without_a_cjk_font_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "find_cjk_font", lambda: None)
    text = write_report(tmp_path, "tiny.jsonl", QUESTIONS, RUNS).read_text(encoding="utf-8")
    assert "No CJK font was found" in text and "fonts-noto-cjk" in text
    assert (tmp_path / RECALL_PNG).stat().st_size > 5000


def test_find_cjk_font_names_an_installed_family_or_none():
    font = report.find_cjk_font()
    if font is not None:
        from matplotlib import font_manager

        assert font in {f.name for f in font_manager.fontManager.ttflist}
