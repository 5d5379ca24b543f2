import json
from pathlib import Path

import pytest

from zhice.assistant.chain import Assistant
from zhice.assistant.cli import main
from zhice.eval.metrics import summarize
from zhice.eval.run import run_questions
from zhice.eval.squad import (
    BENCHMARKS,
    BenchmarkError,
    Paragraph,
    benchmarks_dir,
    check_benchmark_index,
    ingest_paragraphs,
    load_benchmark,
    read_squad,
    spread,
    with_folded_gold,
)
from zhice.index.index import ZhiceIndex

PARAGRAPHS = [
    ("P1", "示范区", "国家先后设立了20个产业转型升级示范区，首批包括株洲和宜宾。", [
        ("P1_Q0", "国家设立了多少个产业转型升级示范区？", [("20个", 11)]),
        # an alternate answer with a broken offset: found by text
        ("P1_Q1", "首批示范区包括哪座湖南城市？", [("株洲", -1), ("株洲", 99)]),
    ]),
    ("P2", "工业遗产", "我国国家级工业遗产数总计648处，老厂房改造成为文化创意园区。", [
        ("P2_Q0", "国家级工业遗产共有多少处？", [("648处", 12)]),
        ("P2_Q1", "", [("x", 0)]),  # an empty question is skipped
        ("P2_Q2", "老厂房改造成了什么？", [("不在段落里的答案", 0)]),  # answer not in paragraph
    ]),
    ("P3", "电池", "宜宾培育了产值千亿的动力电池产业群。", [
        ("P3_Q0", "哪里培育了千亿动力电池产业群？", [("宜宾", 0)]),
    ]),
]


def squad(paragraphs=PARAGRAPHS) -> dict:
    return {"version": "v1", "data": [
        {"title": title, "id": pid, "paragraphs": [{"id": pid, "context": context, "qas": [
            {"id": qid, "question": q, "answers": [{"text": t, "answer_start": s} for t, s in a]}
            for qid, q, a in qas]}]}
        for pid, title, context, qas in paragraphs]}


@pytest.fixture
def squad_file(tmp_path) -> Path:
    path = tmp_path / "tiny_squad.json"
    path.write_text(json.dumps(squad(), ensure_ascii=False), encoding="utf-8")
    return path


def test_read_squad_paragraphs_and_questions(squad_file):
    paragraphs, questions = read_squad(squad_file)
    assert [p.id for p in paragraphs] == ["P1", "P2", "P3"]
    assert paragraphs[0] == Paragraph("P1", "示范区", PARAGRAPHS[0][2], "tiny_squad.json")
    assert [qa["id"] for _, qa in questions] == ["P1_Q0", "P1_Q1", "P2_Q0", "P2_Q2", "P3_Q0"]


def test_benchmark_from_a_squad_file(squad_file):
    bench = load_benchmark(str(squad_file), questions=0)
    assert bench.name == "tiny_squad" and len(bench.paragraphs) == 3
    (run,) = bench.runs
    assert [q.id for q in run.questions] == ["P1_Q0", "P1_Q1", "P2_Q0", "P3_Q0"]
    q = run.questions[1]
    assert q.keywords == ("株洲",) and q.min_match == 1
    assert [(e.source, e.quote) for e in q.evidence] == [("P1", None)]
    assert "1 questions left out: none of their answers is in their paragraph" in bench.notes


def test_spread_samples_evenly():
    assert spread(list(range(10)), 5) == [0, 2, 4, 6, 8]
    assert spread(list(range(3)), 0) == [0, 1, 2]
    assert spread(list(range(3)), 7) == [0, 1, 2]


def test_named_benchmark_drcd_asks_in_simplified_too(tmp_path, monkeypatch):
    traditional = [("D1", "產業", "國家先後設立了20個產業轉型升級示範區。", [
        ("D1_Q0", "國家設立了多少個產業轉型升級示範區？", [("20個", 9)])])]
    (tmp_path / "drcd").mkdir()
    (tmp_path / "drcd" / "DRCD_dev.json").write_text(
        json.dumps(squad(traditional), ensure_ascii=False), encoding="utf-8")
    bench = load_benchmark("drcd", tmp_path)
    assert [r.name for r in bench.runs] == ["drcd", "drcd-simplified"]
    original, simplified = bench.runs[0].questions[0], bench.runs[1].questions[0]
    assert original.question == "國家設立了多少個產業轉型升級示範區？"
    assert simplified.question == "国家设立了多少个产业转型升级示范区？"
    assert simplified.id == "D1_Q0-s" and simplified.evidence == original.evidence
    monkeypatch.setenv("ZHICE_BENCHMARKS", str(tmp_path))
    assert benchmarks_dir() == tmp_path


def test_benchmarks_dir_is_beside_the_project(monkeypatch):
    monkeypatch.delenv("ZHICE_BENCHMARKS", raising=False)
    root = Path(__file__).resolve().parents[2]
    assert benchmarks_dir() == root.parent / "shared" / "benchmarks"
    assert set(BENCHMARKS) == {"cmrc", "drcd"}


@pytest.mark.parametrize("name, message", [
    ("squad9", "unknown benchmark 'squad9'; use one of: cmrc, drcd, or the path"),
    ("missing.json", "missing.json: no such file"),
])
def test_benchmark_errors_say_what_is_allowed(name, message):
    with pytest.raises(BenchmarkError, match=message):
        load_benchmark(name)


def test_named_benchmark_missing_files_names_the_option(tmp_path):
    with pytest.raises(BenchmarkError, match="--benchmarks-dir"):
        load_benchmark("cmrc", tmp_path)


def test_not_squad_format(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"rows": []}', encoding="utf-8")
    with pytest.raises(BenchmarkError, match="not SQuAD format"):
        read_squad(path)


def test_ingest_and_run_score_on_the_paragraph_id(squad_file, tmp_path):
    bench = load_benchmark(str(squad_file), questions=0)
    directory = tmp_path / "bench-index"
    with ZhiceIndex.open(directory, embedder="fake", create=True) as index:
        assert ingest_paragraphs(index, bench.paragraphs) == 3
        assert ingest_paragraphs(index, bench.paragraphs) == 0  # unchanged: skipped
        assert sorted(f.source for f in index.files()) == ["P1", "P2", "P3"]
        check_benchmark_index(index, bench.paragraphs)
        questions = with_folded_gold(index, bench.runs[0].questions)
    with Assistant.open(directory) as assistant:
        results = run_questions(assistant, questions)
    metrics = summarize(questions, results)
    assert metrics["R@1"] == 1.0 and metrics["MRR@10"] == 1.0
    with ZhiceIndex.open(directory) as index:
        with pytest.raises(BenchmarkError, match="holds documents that are not"):
            check_benchmark_index(index, bench.paragraphs[:2])


def test_identical_paragraphs_are_both_gold(tmp_path):
    same = "国家先后设立了20个产业转型升级示范区，首批包括株洲和宜宾。"
    paragraphs = [("A", "", same, [("A_Q0", "设立了多少个示范区？", [("20个", 11)])]),
                  ("B", "", same, [])]
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(squad(paragraphs), ensure_ascii=False), encoding="utf-8")
    bench = load_benchmark(str(path), questions=0)
    with ZhiceIndex.open(tmp_path / "idx", embedder="fake", create=True) as index:
        ingest_paragraphs(index, bench.paragraphs)
        (q,) = with_folded_gold(index, bench.runs[0].questions)
    assert sorted(e.source for e in q.evidence) == ["A", "B"]


def test_cli_benchmark_on_a_squad_file(squad_file, tmp_path, capsys):
    code = main(["eval", "--benchmark", str(squad_file), "--embedder", "fake",
                 "--questions", "0", "--results", str(tmp_path / "r.jsonl")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "tiny_squad.json (SQuAD format)" in out.out
    assert "4 of 4 questions" not in out.out and "4 of 5 questions" in out.out
    assert "R@1" in out.out and "MRR@10" in out.out and "ingest: 3 paragraphs" in out.out
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 4


def test_cli_benchmark_refuses_a_foreign_index(squad_file, tiny_index, capsys):
    code = main(["eval", "--benchmark", str(squad_file), "--index", str(tiny_index)])
    assert code == 2
    assert "holds documents that are not this benchmark's paragraphs" in capsys.readouterr().err


def test_cli_unknown_benchmark_exits_2(capsys):
    assert main(["eval", "--benchmark", "nope"]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
