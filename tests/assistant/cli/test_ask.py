"""`zhice ask`: the answer with [n] markers and numbered sources, `--json`'s one result
object, `-k`, and exit code 2 with a one-line reason for every bad input."""

import json
import sqlite3
from pathlib import Path

import pytest

from tests.assistant.test_chain import DOCS, GOAL, PLAN, RESULT_KEYS, TITLE
from tests.assistant.test_retrieve import build_index
from zhice.assistant.chain import MAX_QUESTION, Assistant
from zhice.assistant.cli import main
from zhice.assistant.cli.ask import render
from zhice.assistant.extractive import NOT_FOUND
from zhice.assistant.types import Answer, Citation, Hit
from zhice.ingest.types import Chunk

ENERGY = "宜宾培育了产值千亿的动力电池产业群，电池产量占全国的比重达到15%。"
ZONES = "国家先后设立了20个产业转型升级示范区。首批示范区包括株洲、湘潭、衡阳和宜宾等城市。"
TWO_PART = "首批示范区包括哪些城市？老工业城市新增多少就业岗位？"
GOAL_AT = f"plan.md:{PLAN.index(GOAL)}-{PLAN.index(GOAL) + len(GOAL)}"
PLAN_SOURCE = f"[1] {TITLE} > 一、总体要求 > （二）主要目标"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/docs holds the documents, root/index their index (fake embedder)."""
    root = tmp_path_factory.mktemp("cli-ask")
    build_index(root, DOCS)
    return root


@pytest.fixture(scope="module")
def index_dir(root: Path) -> Path:
    return root / "index"


def ask(capsys: pytest.CaptureFixture, *argv: str | Path) -> tuple[int, str, str]:
    code = main(["ask", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return code, out, err


# --- terminal output -----------------------------------------------------------------------
def test_the_answer_with_markers_then_the_numbered_sources(capsys, index_dir):
    code, out, err = ask(capsys, "宜宾动力电池产量占全国比重多少？", "--index", index_dir)
    assert (code, err) == (0, "")
    assert out == (
        f"15%。[1]{ENERGY}[1]\n"
        "\n"
        "来源：\n"
        "[1] 新能源产业\n"
        "    energy.txt:9-43\n"
        f"    【{ENERGY}】\n"
    )
    assert DOCS["energy.txt"][9:43] == ENERGY


def test_two_sources_are_numbered_in_answer_order(capsys, index_dir):
    code, out, err = ask(capsys, TWO_PART, "--index", index_dir)
    assert (code, err) == (0, "")
    # each part's sentence and its source block; which part leads is the answer model's
    # choice, and the sources follow the answer's order
    zones = "首批示范区包括株洲、湘潭、衡阳和宜宾等城市。"
    blocks = {
        GOAL: (f"{TITLE} > 一、总体要求 > （二）主要目标\n    {GOAL_AT}\n"
               f"    【{GOAL}】\n"),
        zones: ("产业转型升级示范区\n    zones.txt:13-55\n"
                f"    国家先后设立了20个产业转型升级示范区。【{zones}】\n"),
    }
    first, second = sorted(blocks, key=out.index)
    assert out == (f"{first}[1]{second}[2]\n\n来源：\n"
                   f"[1] {blocks[first]}[2] {blocks[second]}")


def test_k_limits_the_sources(capsys, index_dir):
    code, out, err = ask(capsys, TWO_PART, "--index", index_dir, "-k", "1")
    assert (code, err) == (0, "")
    assert out == f"{GOAL}[1]\n\n来源：\n{PLAN_SOURCE}\n    {GOAL_AT}\n    【{GOAL}】\n"


def test_an_abstention_shows_the_three_closest_passages(capsys, index_dir):
    question = "特斯拉的股价是多少？"  # no word of it is in any passage
    code, out, err = ask(capsys, question, "--index", index_dir)
    assert (code, err) == (0, "")
    _, printed, _ = ask(capsys, question, "--index", index_dir, "--json")
    closest = json.loads(printed)["retrieved"][:3]
    expected = [NOT_FOUND, "", "最接近的段落（不足以回答）："]
    for r in closest:
        heading = f" · {r['heading']}" if r["heading"] else ""
        expected += [f"  {r['rank']}. {r['title']} · {r['source']}{heading}", f"     {r['text']}"]
    assert out == "\n".join(expected) + "\n"


def test_the_index_defaults_to_zhice_index(capsys, monkeypatch, index_dir):
    monkeypatch.setenv("ZHICE_INDEX", str(index_dir))
    code, out, err = ask(capsys, "宜宾动力电池产量占全国比重多少？")
    assert (code, err) == (0, "")
    assert out.startswith(f"15%。[1]{ENERGY}[1]\n")


# --- --json --------------------------------------------------------------------------------
def test_json_prints_one_result_object_the_chain_made(capsys, index_dir):
    code, out, err = ask(capsys, TWO_PART, "--index", index_dir, "--json")
    assert (code, err) == (0, "")
    assert out.endswith("\n")
    assert out.count("\n") == 1  # one line: one object
    result = json.loads(out)
    assert set(result) == RESULT_KEYS
    assert result["id"] is None
    assert result["question"] == TWO_PART
    assert result["abstained"] is False
    assert sorted((c["source"], c["title"]) for c in result["citations"]) == [
        ("plan.md", TITLE), ("zones.txt", "产业转型升级示范区")]
    assert [c["marker"] for c in result["citations"]] == [1, 2]
    zones = next(c for c in result["citations"] if c["source"] == "zones.txt")
    assert zones["text"] == ZONES
    assert (zones["start"], zones["end"]) == (13, 55)
    assert len(result["retrieved"]) == 10
    assert isinstance(result["latency_ms"], float)
    with Assistant.open(index_dir) as assistant:
        same = assistant.ask(TWO_PART).to_dict()
    assert {**result, "latency_ms": 0} == {**same, "latency_ms": 0}


def test_json_with_k_limits_the_citations_not_the_retrieved(capsys, index_dir):
    code, out, err = ask(capsys, TWO_PART, "--index", index_dir, "--json", "-k", "1")
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert [c["source"] for c in result["citations"]] == ["plan.md"]
    assert result["answer"] == GOAL + "[1]"
    assert len(result["retrieved"]) == 10


def test_the_recorded_embedder_may_be_named(capsys, index_dir):
    code, out, err = ask(
        capsys, "宜宾动力电池产量占全国比重多少？", "--index", index_dir, "--embedder", "fake"
    )
    assert (code, err) == (0, "")
    assert out.startswith(f"15%。[1]{ENERGY}[1]\n")


def test_a_question_of_exactly_the_limit_is_taken(capsys, index_dir):
    code, out, err = ask(capsys, "问" * MAX_QUESTION, "--index", index_dir)
    assert (code, err) == (0, "")
    assert out.startswith(NOT_FOUND + "\n")


# --- bad input: exit code 2 and one line on stderr -------------------------------------
@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "the question is empty; ask something, e.g. 示范区有多少个？"),
        ("  \t\u3000 ", "the question is empty; ask something, e.g. 示范区有多少个？"),
        (
            "问" * (MAX_QUESTION + 1),
            "the question is 501 characters long; the limit is 500. Ask about one thing at a time",
        ),
        (
            " " + "问" * (MAX_QUESTION + 20) + " ",
            "the question is 520 characters long; the limit is 500. Ask about one thing at a time",
        ),
    ],
)
def test_bad_questions(capsys, index_dir, question, message):
    assert ask(capsys, question, "--index", index_dir) == (2, "", f"zhice: {message}\n")


@pytest.mark.parametrize("k", ["0", "51"])
def test_k_out_of_range(capsys, index_dir, k):
    code, out, err = ask(capsys, "宜宾动力电池产量占全国比重多少？", "--index", index_dir, "-k", k)
    assert (code, out, err) == (2, "", f"zhice: k must be between 1 and 50; got {k}\n")


def test_a_missing_index_directory(capsys, tmp_path):
    missing = tmp_path / "nowhere"
    assert ask(capsys, "示范区有多少个？", "--index", missing) == (
        2,
        "",
        f"zhice: no index at {missing}; build one with: zhice ingest PATH --index {missing}\n",
    )
    assert not missing.exists()  # asking creates nothing


def test_a_directory_that_is_not_an_index(capsys, root):
    docs = root / "docs"  # the documents themselves, not their index
    before = sorted(p.name for p in docs.iterdir())
    assert ask(capsys, "示范区有多少个？", "--index", docs) == (
        2,
        "",
        f"zhice: no index at {docs}; build one with: zhice ingest PATH --index {docs}\n",
    )
    assert sorted(p.name for p in docs.iterdir()) == before


def test_a_file_given_as_the_index(capsys, root):
    file = root / "docs" / "plan.md"
    assert ask(capsys, "示范区有多少个？", "--index", file) == (
        2,
        "",
        f"zhice: {file} is a file, not an index folder; use another --index DIR\n",
    )


def test_a_directory_whose_database_is_not_sqlite(capsys, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "zhice.sqlite3").write_text("not a database", encoding="utf-8")
    code, out, err = ask(capsys, "示范区有多少个？", "--index", broken)
    assert (code, out) == (2, "")
    assert err == (f"zhice: {broken / 'zhice.sqlite3'} is not a zhice index database (file is "
                   "not a database); move it away or use another --index DIR\n")


def test_a_database_of_another_program_is_not_touched(capsys, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    db = sqlite3.connect(other / "zhice.sqlite3")
    db.execute("CREATE TABLE notes(x)")
    db.commit()
    db.close()
    before = (other / "zhice.sqlite3").read_bytes()
    code, out, err = ask(capsys, "示范区有多少个？", "--index", other)
    assert (code, out) == (2, "")
    assert err == f"zhice: no index at {other}; build one with: zhice ingest PATH --index {other}\n"
    assert (other / "zhice.sqlite3").read_bytes() == before
    assert sorted(p.name for p in other.iterdir()) == ["zhice.sqlite3"]


def test_an_index_built_with_another_embedder(capsys, index_dir):
    code, out, err = ask(capsys, "示范区有多少个？", "--index", index_dir, "--embedder", "fake:32")
    assert (code, out) == (2, "")
    assert err == (
        f"zhice: index at {index_dir} was built with embedder 'fake-64', not 'fake-32'; "
        "leave out --embedder to use 'fake-64', or use a new --index DIR\n"
    )


def test_constraints_the_sources_lack_are_noted_before_them():
    chunk = Chunk("r.txt", 0, "2023年投入强度3.27%。", "2023年投入强度3.27%。", "", 0, 13,
                  title="报告")
    hit = Hit(0, chunk, 1.0)
    out = render(Answer("2019年投入强度是多少？", "2023年投入强度3.27%。[1]", False,
                        (Citation(1, hit),), (hit,), unmatched=("2019",)))
    assert out.splitlines()[:4] == ["2023年投入强度3.27%。[1]", "",
                                    "注意：所引段落没有提到“2019”，以上是最接近的内容，未必回答了所问。",
                                    ""]
    assert out.splitlines()[4] == "来源："
