"""Every command on a `milvus:` index (Milvus Lite), answering as the embedded store
does; `--store`, `migrate`, `--workers`; a Milvus that cannot be reached is one line
and exit 2."""

import json
from pathlib import Path

import pytest

pytest.importorskip("milvus_lite")

from tests.eval.conftest import DOCS, QUESTIONS  # noqa: E402
from zhice.assistant.cli import main  # noqa: E402


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    for name, text in DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_update_remove_list_ask_and_eval(capsys, tmp_path, docs):
    lite = f"milvus:{tmp_path / 'zhice.db'}"
    code, out, err = run(capsys, "ingest", docs, "--index", lite, "--embedder", "fake")
    assert (code, err) == (0, "")
    assert out.startswith(f"ingested into {lite}: 3 files: 3 added,")

    code, out, _ = run(capsys, "list", "--index", lite)
    assert code == 0 and out.splitlines()[-1].startswith("3 documents,")
    listed = json.loads(run(capsys, "list", "--index", lite, "--json")[1])
    assert sorted(d["source"] for d in listed) == sorted(DOCS)

    # the same question on the embedded store: the same answer
    embedded = tmp_path / "emb"
    assert run(capsys, "ingest", docs, "--index", embedded, "--embedder", "fake")[0] == 0
    question = "国家设立了多少个产业转型升级示范区？"
    a = json.loads(run(capsys, "ask", question, "--index", lite, "--json")[1])
    b = json.loads(run(capsys, "ask", question, "--index", embedded, "--json")[1])
    assert a["answer"] == b["answer"] and "20个" in a["answer"]
    assert [(r["source"], r["start"]) for r in a["retrieved"]] == [
        (r["source"], r["start"]) for r in b["retrieved"]]

    (docs / "energy.txt").write_text(DOCS["energy.txt"].replace("15%", "18%"), encoding="utf-8")
    code, out, _ = run(capsys, "ingest", docs, "--index", lite)
    assert code == 0 and "0 added, 1 updated, 2 unchanged" in out
    code, out, _ = run(capsys, "ask", "电池产量占全国的比重是多少？", "--index", lite)
    assert code == 0 and "18%" in out and "15%" not in out

    dataset = tmp_path / "questions.jsonl"
    dataset.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS
                               if q["id"] != "t3"), encoding="utf-8")
    code, out, err = run(capsys, "eval", "--index", lite, "--dataset", dataset)
    assert code == 0, err
    assert "R@5" in out or "r_at_5" in out or "recall" in out.lower()

    code, out, _ = run(capsys, "remove", "energy.txt", "nope.txt", "--index", lite)
    assert code == 2 and out == "removed energy.txt\n"
    code, out, _ = run(capsys, "list", "--index", lite)
    assert "energy.txt" not in out and out.splitlines()[-1].startswith("2 documents,")


def _metrics(out: str) -> dict:
    """`zhice eval --json`'s metrics, without the timings (they differ run to run)."""
    runs = json.loads(out)
    runs = runs.get("runs", runs)
    if "R@1" in runs:
        runs = {"zhice": runs}
    return {name: {k: v for k, v in m.items() if "latency" not in k} for name, m in runs.items()}


@pytest.mark.slow
def test_eval_runs_on_milvus_as_on_the_embedded_store(capsys, tmp_path, docs):
    """zhice eval's every task on a milvus: index: a dataset with the baselines (the
    LangChain one reads every document's text from the index), --draft (its questions
    from the indexed chunks) and --benchmark (a SQuAD file into a new Milvus index)."""
    from tests.eval.test_squad import squad

    lite, embedded = f"milvus:{tmp_path / 'e.db'}", tmp_path / "emb"
    for where in (lite, embedded):
        assert run(capsys, "ingest", docs, "--index", where, "--embedder", "fake")[0] == 0
    dataset = tmp_path / "questions.jsonl"
    dataset.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS),
                       encoding="utf-8")
    got = {}
    for name, where in (("lite", lite), ("embedded", embedded)):
        code, out, err = run(capsys, "eval", "--index", where, "--dataset", dataset,
                             "--baselines", "--json", "--results", tmp_path / f"{name}.jsonl")
        assert code == 0, err
        got[name] = _metrics(out)
        code, out, err = run(capsys, "eval", "--draft", "6", "--index", where)
        assert code == 0, err
        got[f"{name} drafts"] = out
    assert set(got["lite"]) == {"zhice", "bm25", "dense", "langchain"}
    assert got["lite"] == got["embedded"]
    assert got["lite drafts"] == got["embedded drafts"] and got["lite drafts"].count("\n") > 3

    bench = tmp_path / "tiny_squad.json"
    bench.write_text(json.dumps(squad(), ensure_ascii=False), encoding="utf-8")
    for name, where in (("lite", f"milvus:{tmp_path / 'b.db'}"), ("embedded", tmp_path / "b")):
        code, out, err = run(capsys, "eval", "--benchmark", bench, "--index", where,
                             "--embedder", "fake", "--json")
        assert code == 0, err
        got[f"{name} bench"] = _metrics(out)
    assert got["lite bench"] == got["embedded bench"] and got["lite bench"]["tiny_squad"]
    code, _, err = run(capsys, "eval", "--benchmark", bench, "--index", lite)
    assert code == 2 and err.count("\n") == 1 and f"the index at {lite} holds documents" in err


def test_store_recorded_in_the_folder_then_found_by_every_command(capsys, tmp_path, docs):
    folder = tmp_path / "idx"
    store = f"milvus:{tmp_path / 'kept.db'}"
    code, out, err = run(capsys, "ingest", docs, "--index", folder, "--store", store,
                         "--embedder", "fake")
    assert (code, err) == (0, "")
    assert json.loads((folder / "store.json").read_text()) == {"store": store}
    code, out, _ = run(capsys, "ask", "国家级工业遗产一共有多少处？", "--index", folder)
    assert code == 0 and "648处" in out
    code, _, err = run(capsys, "ingest", docs, "--index", folder, "--store", "milvus:o.db")
    assert code == 2 and err.count("\n") == 1 and "leave out --store" in err
    code, _, err = run(capsys, "ingest", docs, "--index", tmp_path / "x", "--store", "mongo")
    assert code == 2 and "unknown store 'mongo'; choose one of: embedded" in err


def test_migrate_copies_without_embedding(capsys, tmp_path, docs, monkeypatch):
    embedded = tmp_path / "emb"
    assert run(capsys, "ingest", docs, "--index", embedded, "--embedder", "fake")[0] == 0
    from zhice.index.embedders.fake import FakeEmbedder

    def refuse(self, texts):
        raise AssertionError("migrate embedded a passage")

    monkeypatch.setattr(FakeEmbedder, "embed_documents", refuse)
    target = f"milvus:{tmp_path / 'm.db'}"
    code, out, err = run(capsys, "migrate", "--index", embedded, "--to", target)
    assert (code, err) == (0, "")
    assert f"into {target}: 3 files" in out
    for q in QUESTIONS:
        a = json.loads(run(capsys, "ask", q["question"], "--index", target, "--json")[1])
        b = json.loads(run(capsys, "ask", q["question"], "--index", embedded, "--json")[1])
        assert a["answer"] == b["answer"]
        assert [r["source"] for r in a["retrieved"]] == [r["source"] for r in b["retrieved"]]
    code, _, err = run(capsys, "migrate", "--index", embedded, "--to", target)
    assert code == 2 and "already holds an index" in err


def test_an_unreachable_server_is_one_line_naming_it(capsys, tmp_path):
    for argv in (["list"], ["ask", "示范区有多少个？"], ["remove", "a.txt"]):
        code, out, err = run(capsys, *argv, "--index", "milvus://127.0.0.1:9")
        assert (code, out) == (2, "")
        assert err.count("\n") == 1 and "milvus://127.0.0.1:9" in err, err
    code, _, err = run(capsys, "list", "--index", f"milvus:{tmp_path / 'no' / 'x.db'}")
    assert code == 2 and err.count("\n") == 1 and "no index at milvus:" in err


@pytest.mark.slow
def test_workers_ingest_as_one_process_does(capsys, tmp_path, docs):
    one, two = f"milvus:{tmp_path / 'one.db'}", f"milvus:{tmp_path / 'two.db'}"
    assert run(capsys, "ingest", docs, "--index", one, "--embedder", "fake")[0] == 0
    code, out, err = run(capsys, "ingest", docs, "--index", two, "--embedder", "fake",
                         "--workers", "2")
    assert (code, err) == (0, "")
    assert "3 files: 3 added, 0 updated, 0 unchanged, 0 failed" in out
    a = json.loads(run(capsys, "list", "--index", one, "--json")[1])
    b = json.loads(run(capsys, "list", "--index", two, "--json")[1])
    strip = [{k: v for k, v in d.items() if k != "ingested_at"} for d in a]
    assert strip == [{k: v for k, v in d.items() if k != "ingested_at"} for d in b]
    for q in QUESTIONS:
        x = json.loads(run(capsys, "ask", q["question"], "--index", one, "--json")[1])
        y = json.loads(run(capsys, "ask", q["question"], "--index", two, "--json")[1])
        assert x["answer"] == y["answer"]
    code, out, _ = run(capsys, "ingest", docs, "--index", two, "--workers", "2")
    assert "0 added, 0 updated, 3 unchanged" in out
