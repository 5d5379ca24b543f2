"""Questions about a document itself (文号, issuer, date) find and quote the line that
states it: a real index of long documents made here, whose 落款 shares no word with
the questions."""

from pathlib import Path

import pytest

from zhice.assistant.chain import Assistant
from zhice.assistant.facts_search import FactsSearch, asked_facts, title_core, written_forms
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files
from zhice.ingest.facts import DocumentFacts
from zhice.ingest.normalize import search_key

_WORDS = ("农业", "交通", "能源", "教育", "医疗", "养老", "住房", "环保", "科技", "金融", "文化",
          "旅游", "水利", "电力", "通信", "物流", "商贸", "税收", "就业", "社保")
# forty sections that differ (near-duplicate paragraphs would be folded into one)
BODY = "".join(f"## {n}. {a}与{b}\n\n推进{a}和{b}协同发展，第{n}年度安排{a}专项资金{n * 7}亿元，"
               f"新建{b}项目{n * 3}个，由{c}部门牵头落实。\n\n"
               for n, (a, b, c) in enumerate(zip(_WORDS * 2, _WORDS[7:] + _WORDS * 2,
                                                 _WORDS[3:] + _WORDS * 2), 1) if n <= 40)
NOTICE = ("国务院文件\n\n国发〔2014〕28号\n\n# 国务院关于加快发展现代保险服务业的若干意见\n\n"
          "各省、自治区、直辖市人民政府：\n\n" + BODY + "国务院\n\n二〇一四年八月十日\n")
PLAN = ("# 某省人民政府关于推进制造业高质量发展的意见\n\n" + BODY.replace("推进", "促进")
        + "某省人民政府\n\n2023年3月1日\n")


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    docs = tmp_path_factory.mktemp("facts-search-docs")
    (docs / "notice.md").write_text(NOTICE, encoding="utf-8")
    (docs / "plan.md").write_text(PLAN, encoding="utf-8")
    directory = tmp_path_factory.mktemp("facts-search") / "index"
    with ZhiceIndex.open(directory, embedder="fake", create=True) as index:
        index_files(index, [docs], size=120, overlap=0)
    return directory


@pytest.fixture(scope="module")
def assistant(index_dir: Path):
    with Assistant.open(index_dir) as a:
        yield a


@pytest.mark.parametrize(("question", "line"), [
    ("国务院关于加快发展现代保险服务业的若干意见是什么时候印发的？", "二〇一四年八月十日"),
    ("《国务院关于加快发展现代保险服务业的若干意见》的文号是多少？", "国发〔2014〕28号"),
    ("某省人民政府关于推进制造业高质量发展的意见是哪个部门印发的？", "某省人民政府"),
    ("某省人民政府关于推进制造业高质量发展的意见是哪一天印发的？", "2023年3月1日"),
])
def test_the_line_stating_the_fact_is_the_cited_answer(assistant, question, line):
    answer = assistant.ask(question)
    assert not answer.abstained
    assert answer.answer == f"{line}[1]"
    assert line in answer.citations[0].hit.chunk.text
    # the signature block stands far from the title: it is found, not the opening
    assert answer.citations[0].hit.chunk.ordinal > 0 or "文号" in question


def test_a_question_about_another_year_is_not_answered_with_this_documents_date(assistant):
    answer = assistant.ask("国务院关于加快发展现代保险服务业的若干意见2020年版是什么时候印发的？")
    # abstained, or the closest evidence shown as such: its passages never say 2020, and
    # the CLI and the page say so under the answer (check.unmatched)
    assert answer.abstained or answer.unmatched == ("2020",)


def test_content_questions_get_no_facts_list(index_dir):
    with ZhiceIndex.open(index_dir) as index:
        search = FactsSearch(index)
        assert search(search_key("各地要加强哪些工作？"), 10) == []
        assert search(search_key("某省引进了哪些机构？"), 10) == []  # no issuing verb
        found = search(search_key("这份保险服务业的意见是什么时候印发的？"), 10)
        texts = [c.chunk.text for c in index.chunks([cid for cid, _ in found]).values()]
        assert any("二〇一四年八月十日" in t for t in texts)


def test_what_is_asked_and_how_a_date_can_be_written():
    assert asked_facts(search_key("这份文件的文号是多少？")) == ["doc_numbers"]
    assert asked_facts(search_key("它是哪一天发布的？")) == ["published", "date"]
    assert asked_facts(search_key("它是哪一天印发的？")) == ["date", "published"]
    assert asked_facts(search_key("由谁制定？")) == ["issuers"]
    assert asked_facts(search_key("示范区有多少个？")) == []
    forms = written_forms(DocumentFacts(date="2014-08-10"), "date")
    assert {"2014年8月10日", "2014年08月10日", "二〇一四年八月十日"} <= set(forms)
    assert written_forms(DocumentFacts(date="2013-03"), "date")[-1] == "二〇一三年三月"


def test_a_title_is_named_without_what_stands_in_its_brackets():
    assert title_core("全国老工业基地调整改造规划 (2013-2022 年)") == "全国老工业基地调整改造规划"
    assert title_core("《某规划纲要（2010-2020年）（公开征求意见稿）》") == "某规划纲要"
