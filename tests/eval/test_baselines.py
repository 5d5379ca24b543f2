import json

import pytest

from zhice.assistant.chain import Assistant
from zhice.assistant.cli import main
from zhice.eval.baselines import (
    BASELINES,
    CHATCHAT_CHUNK_SIZE,
    BaselineError,
    LangChainBaseline,
    baseline_systems,
)
from zhice.eval.dataset import load_dataset
from zhice.eval.metrics import gold_ranks, summarize
from zhice.eval.run import run_systems

pytest.importorskip("langchain_community")
pytest.importorskip("langchain_text_splitters")


def test_every_baseline_answers_every_question(tiny_index, tiny_dataset):
    questions = load_dataset(tiny_dataset)
    with Assistant.open(tiny_index) as assistant:
        runs = run_systems(assistant, questions, baselines=BASELINES)
    assert list(runs) == ["zhice", *BASELINES]
    for name, results in runs.items():
        assert [r["id"] for r in results] == [q.id for q in questions], name
        for q, r in zip(questions, results):
            # BM25 finds nothing for a question none of whose words is in the corpus
            assert r["retrieved"] or q.type == "unanswerable"
            assert [p["rank"] for p in r["retrieved"]] == list(range(1, len(r["retrieved"]) + 1))
            assert r["latency_ms"] > 0
            assert r["abstained"] or r["citations"]
        summary = summarize(questions, results)
        assert 0.0 <= summary["R@1"] <= 1.0


def test_bm25_baseline_finds_exact_figures_first(tiny_index, tiny_dataset):
    questions = {q.id: q for q in load_dataset(tiny_dataset)}
    with Assistant.open(tiny_index) as assistant:
        bm25 = baseline_systems(assistant, ("bm25",))["bm25"]
        r = bm25.ask(questions["t2"].question, id="t2").to_dict()
        assert bm25.retriever.weights["dense"] == 0.0 and bm25.retriever.reranker is None
    assert gold_ranks(questions["t2"], r)[0] == 1
    assert r["retrieved"][0]["source"] == "heritage.txt"


def test_langchain_baseline_splits_like_chatchat(tiny_index, tiny_dataset):
    questions = {q.id: q for q in load_dataset(tiny_dataset)}
    with Assistant.open(tiny_index) as assistant:
        baseline = baseline_systems(assistant, ("langchain",))["langchain"]
        assert isinstance(baseline, LangChainBaseline)
        assert baseline.chunk_size == CHATCHAT_CHUNK_SIZE == 750 and baseline.chunk_overlap == 150
        assert len(baseline) == 3  # each tiny document fits in one 750-character chunk
        hits = baseline.retrieve("宜宾的动力电池产业", 10)
        assert len(hits) == 3 and hits[0].score >= hits[-1].score
        answer = baseline.ask(questions["t1"].question, id="t1")
    r = answer.to_dict()
    assert r["id"] == "t1" and len(r["retrieved"]) == 3
    # the passage text is the document as loaded, offsets into it
    first = r["retrieved"][0]
    assert first["start"] >= 0 and first["end"] - first["start"] == len(first["text"])


def test_langchain_baseline_chunks_long_documents():
    class Answerer:
        pass

    from zhice.index.embedders.fake import FakeEmbedder

    text = "。".join(f"第{i}条规定了示范区建设的第{i}项任务" for i in range(200))
    baseline = LangChainBaseline(FakeEmbedder(), Answerer()).build({"long.txt": ("", text)})
    chunks = list(baseline._chunks.values())
    assert len(chunks) > 3
    assert all(len(c.text) <= 750 for c in chunks)
    for c in chunks:
        assert text[c.start : c.end] == c.text


def test_unknown_baseline_is_an_error(tiny_index):
    with Assistant.open(tiny_index) as assistant:
        with pytest.raises(BaselineError, match="unknown baseline 'bm99'; use one of: bm25"):
            baseline_systems(assistant, ("bm99",))


def test_cli_baselines_and_report(tiny_index, tiny_dataset, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out" / "results.jsonl"
    report = tmp_path / "report"
    code = main(["eval", "--index", str(tiny_index), "--dataset", str(tiny_dataset),
                 "--baselines", "--results", str(out), "--report", str(report)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "questions.jsonl: 4 questions" in printed.out
    assert "BM25 only" in printed.out and "LangChain (Chatchat defaults)" in printed.out
    assert "budget_recall" in printed.out and "groundedness" in printed.out
    assert len(out.read_text().splitlines()) == 4
    for name in BASELINES:
        assert (out.parent / f"results.{name}.jsonl").is_file()
    assert (report / "report.md").is_file() and (report / "recall_at_k.png").stat().st_size


def test_cli_json_without_baselines_prints_one_summary(tiny_index, tiny_dataset, capsys):
    assert main(["eval", "--index", str(tiny_index), "--dataset", str(tiny_dataset),
                 "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["questions"] == 4 and "R@1" in metrics
