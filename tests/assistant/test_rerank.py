import pytest

from zhice.assistant.rerank import (
    CoverageReranker,
    _lists,
    within_documents,
    without_document_name,
)
from zhice.assistant.types import Hit
from zhice.ingest.normalize import search_key
from zhice.ingest.types import Chunk


def hit(i: int, text: str, fused: float, bm25: float | None) -> Hit:
    return Hit(i, Chunk("a.txt", i, text, search_key(text), "", 0, len(text)), fused,
               bm25_score=bm25)


def flat(question, hits):
    return [0.5] * len(hits)  # every passage's best sentence covers the question alike


def test_the_stronger_bm25_match_wins_when_coverage_ties():
    hits = [hit(1, "甲", 0.033, 2.0), hit(2, "乙", 0.032, 20.0)]
    ranked = CoverageReranker(flat)("问题", hits)
    assert [h.id for h in ranked] == [2, 1]
    # score = 0.5 + 0.7 * fused / top fused + 0.3 * bm25 / top bm25
    assert ranked[0].score == pytest.approx(0.5 + 0.7 * 0.032 / 0.033 + 0.3 * 1.0)
    without = CoverageReranker(flat, bm25_weight=0.0)("问题", hits)
    assert [h.id for h in without] == [1, 2]


def test_a_passage_enumerating_what_is_asked_for_gets_the_list_bonus():
    question = "示范区加快形成新质生产力存在哪些现实堵点？"
    vague = hit(1, "示范区加快形成新质生产力存在一些亟待解决的现实堵点。", 0.033, 10.0)
    listing = hit(2, "针对体制机制障碍、现代产业基础薄弱以及城市功能不足等现实堵点，应当改革。",
                  0.033, 10.0)
    ranked = CoverageReranker(flat)(question, [vague, listing])
    assert [h.id for h in ranked] == [2, 1]
    assert ranked[0].score - ranked[1].score == pytest.approx(0.1)


def test_lists_reads_the_kind_asked_for():
    assert _lists("示范区有什么特点？") is None
    found = _lists("黄石有哪些特色工业旅游景点？")
    assert found("有矿冶峡谷、铜绿山古铜矿遗址等特色工业旅游景点")
    assert not found("黄石是一座工业城市")


def test_depth_limits_what_is_reranked():
    hits = [hit(i, str(i), 0.03 - i * 0.001, float(i)) for i in range(1, 6)]
    ranked = CoverageReranker(flat, depth=3)("问题", hits)
    assert [h.id for h in ranked][3:] == [4, 5]
    assert [h.id for h in ranked][:3] == [3, 2, 1]


@pytest.mark.parametrize(("question", "about"), [
    ("三中全会决定中，进一步全面深化改革的总目标是什么？", "，进一步全面深化改革的总目标是什么？"),
    ("2023年中央一号文件提出要建设什么样的乡村？", "提出要建设什么样的乡村？"),
    ("农村彩礼太高，2023年的中央一号文件对此怎么说？", "农村彩礼太高，对此怎么说？"),
    ("这份意见所说的高技能人才指什么？", "高技能人才指什么？"),
    ("初中还能分快慢班吗？教育规划纲要的态度是什么？", "初中还能分快慢班吗？的态度是什么？"),
    # the phrase ends at its first type of document, with those right after it
    ("老工业基地调整改造规划的规划范围具体指什么？", "的规划范围具体指什么？"),
    ("按照2010年的国家中长期教育规划纲要，继续教育参与率要达到多少？",
     "，继续教育参与率要达到多少？"),
    ("示范区有多少个？", "示范区有多少个？"),
])
def test_the_phrase_naming_the_document_is_found(question, about):
    assert without_document_name(question) == about


def test_within_documents_each_document_keeps_its_places_in_the_other_order():
    # places 0, 2 and 4 are a's; the other ranking puts a's in the order 4, 2, 0
    sources = ["a", "b", "a", "c", "a"]
    assert within_documents(sources, [4, 1, 2, 0, 3]) == [4, 1, 2, 3, 0]
    assert within_documents(sources, [0, 1, 2, 3, 4]) == [0, 1, 2, 3, 4]
