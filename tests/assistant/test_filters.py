"""What each document states about itself travels with its citations, and narrows
what is answered from (--since, --issuer): a real index of documents made here."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from zhice.assistant.api.chat import MODELS, ApiError, message_text, parse_request
from zhice.assistant.chain import Assistant
from zhice.assistant.check import dates_note
from zhice.assistant.cli import main
from zhice.assistant.cli.ask import render
from zhice.assistant.types import Answer, Citation, Hit
from zhice.assistant.web.render import answer_html, sources_html
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files
from zhice.ingest.facts import extract_facts
from zhice.ingest.types import Chunk

OLD = """国务院文件

国发〔2014〕28号

# 国务院关于加快发展现代保险服务业的若干意见

到2020年，保险深度达到5%，保险密度达到3500元/人。

国务院

2014年8月10日
"""
NEW = """# 某省人民政府关于推进保险业高质量发展的意见

到2025年，全省保险深度达到6%，保险密度达到5000元/人。

某省人民政府

2023年3月1日
"""
UNDATED = "# 保险业务简介\n\n保险深度是保费收入与生产总值之比，保险密度是人均保费。\n"
Q = "保险深度要达到多少？"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    docs = tmp_path_factory.mktemp("facts-docs")
    for name, text in (("old.md", OLD), ("new.md", NEW), ("undated.md", UNDATED)):
        (docs / name).write_text(text, encoding="utf-8")
    directory = tmp_path_factory.mktemp("facts") / "index"
    with ZhiceIndex.open(directory, embedder="fake", create=True) as index:
        index_files(index, [docs])
    return directory


@pytest.fixture(scope="module")
def assistant(index_dir: Path):
    with Assistant.open(index_dir) as a:
        yield a


def _cited(answer) -> set[str]:
    return {c.hit.chunk.source for c in answer.citations}


def test_citations_carry_what_their_document_states(assistant):
    answer = assistant.ask(Q, since=2014)
    result = answer.to_dict()
    by_source = {c["source"]: c for c in result["citations"]}
    assert by_source["old.md"]["facts"] == {
        "issuers": ["国务院"], "doc_numbers": ["国发〔2014〕28号"], "date": "2014-08-10"}
    facts = answer.documents["old.md"]
    html = sources_html([answer])
    assert f'<div class="zc-facts">{facts.summary()}</div>' in html
    assert "国发〔2014〕28号 · 国务院 · 2014-08-10" == facts.summary()
    assert "zc-facts" not in answer_html(answer, 1)  # the panel's, not the chat's


@pytest.mark.parametrize(("options", "allowed"), [
    ({"since": 2020}, {"new.md"}),
    ({"issuer": "国务院"}, {"old.md"}),
    ({"issuer": "某省人民政府", "since": 2023}, {"new.md"}),
    ({"since": 2010}, {"old.md", "new.md"}),  # undated.md states no date: never "since"
])
def test_filters_narrow_what_is_retrieved_and_cited(assistant, options, allowed):
    answer = assistant.ask(Q, **options)
    assert answer.retrieved and {h.chunk.source for h in answer.retrieved} <= allowed
    assert _cited(answer) <= allowed


def test_a_filter_no_document_meets_abstains_with_nothing_retrieved(assistant):
    answer = assistant.ask(Q, issuer="财政部")
    assert answer.abstained and answer.retrieved == ()


def test_the_cli_filters_and_shows_the_facts(index_dir: Path, capsys):
    assert main(["ask", Q, "--index", str(index_dir), "--issuer", "国务院"]) == 0
    out = capsys.readouterr().out
    assert "国发〔2014〕28号 · 国务院 · 2014-08-10" in out and "new.md" not in out
    assert main(["ask", Q, "--index", str(index_dir), "--since", "2030"]) == 0
    captured = capsys.readouterr()
    assert "文档中没有找到" in captured.out and "no document in the index" in captured.err
    assert main(["list", "--index", str(index_dir)]) == 0
    assert "(国发〔2014〕28号 · 国务院 · 2014-08-10)" in capsys.readouterr().out
    assert main(["list", "--index", str(index_dir), "--json"]) == 0
    listed = {r["source"]: r["facts"] for r in json.loads(capsys.readouterr().out)}
    assert listed["undated.md"]["date"] is None and listed["new.md"]["date"] == "2023-03-01"


def test_the_api_takes_the_filters_too():
    req = parse_request({"model": "zhice", "since": 2020, "issuer": " 国务院 ",
                         "messages": [{"role": "user", "content": Q}]}, MODELS)
    assert (req.since, req.issuer) == (2020, "国务院")
    with pytest.raises(ApiError, match="'since' must be a year"):
        parse_request({"model": "zhice", "since": "2020年",
                       "messages": [{"role": "user", "content": Q}]}, MODELS)


def test_facts_follow_a_document_updated_and_removed(tmp_path: Path):
    doc = tmp_path / "docs" / "a.md"
    doc.parent.mkdir()
    doc.write_text(OLD, encoding="utf-8")
    with ZhiceIndex.open(tmp_path / "idx", embedder="fake", create=True) as index:
        index_files(index, [doc.parent])
        assert index.store.facts()["a.md"].date == "2014-08-10"
        doc.write_text(NEW, encoding="utf-8")
        index_files(index, [doc.parent])
        assert index.store.facts()["a.md"].date == "2023-03-01"
        with index.writing():
            index.remove("a.md")
        assert index.store.facts() == {}


def test_figures_from_documents_of_different_dates_say_which_is_which():
    def citation(marker: int, source: str, text: str) -> Citation:
        return Citation(marker, Hit(marker, Chunk(source, 0, text, text, "", 0, len(text),
                                                  title=f"{source}的标题"), 1.0))

    old, new = citation(1, "old.md", "保险深度达到5%。"), citation(2, "new.md", "保险深度达到6%。")
    answer = Answer(Q, "保险深度达到5%。[1]保险深度达到6%。[2]", False, (old, new), (),
                    documents={"old.md": extract_facts(OLD), "new.md": extract_facts(NEW)})
    assert answer.to_dict()["sources_by_date"] == [
        {"marker": 2, "source": "new.md", "date": "2023-03-01"},
        {"marker": 1, "source": "old.md", "date": "2014-08-10"}]
    note = ("注意：所引文件的日期不同，数字可能已有调整（新的在前）："
            "[2]《new.md的标题》2023-03-01；[1]《old.md的标题》2014-08-10。")
    assert dates_note(answer) == note
    assert note in answer_html(answer, 1) and note in render(answer)
    assert note in message_text(answer)
    same_day = replace(answer, documents={"old.md": extract_facts(OLD),
                                          "new.md": extract_facts(OLD)})
    assert dates_note(same_day) == "" and "sources_by_date" not in same_day.to_dict()


def test_a_document_whose_period_has_ended_is_marked(tmp_path: Path):
    plan = ("# 某市产业发展规划（2013－2022年）\n\n到2022年，全市产业增加值达到1000亿元。\n\n"
            "某市人民政府\n\n2013年3月1日\n")
    (tmp_path / "plan.md").write_text(plan, encoding="utf-8")
    with ZhiceIndex.open(tmp_path / "idx", embedder="fake", create=True) as index:
        index_files(index, [tmp_path / "plan.md"])
    with Assistant.open(tmp_path / "idx") as a:
        answer = a.ask("产业增加值要达到多少？")
    (citation,) = answer.to_dict()["citations"]
    assert citation["facts"]["period"] == "2013-2022" and citation["facts"]["period_ended"]
    assert "期限 2013-2022（已结束）" in sources_html([answer])
