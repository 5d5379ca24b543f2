import pytest

from zhice.assistant.rerank import CoverageReranker, _lists, without_document_name
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
    ("示范区有多少个？", "示范区有多少个？"),
])
def test_the_phrase_naming_the_document_is_found(question, about):
    assert without_document_name(question) == about


def test_inside_a_document_the_words_naming_it_do_not_rank_its_passages():
    question = "规划纲要中，学前教育的目标是什么？"

    def scorer(q, hits):  # the hub repeats the document's name; passage 3 answers
        named = "规划纲要" in q
        return [{1: 1.0 if named else 0.2, 2: 0.7, 3: 0.3 if named else 0.6}[h.id] for h in hits]

    hub = hit(1, "本规划纲要是第一个中长期教育规划纲要，必须认真实施。", 0.033, 10.0)
    other = Hit(2, Chunk("b.txt", 0, "某市学前教育。", search_key("某市学前教育。"), "", 0, 7),
                0.033, bm25_score=10.0)
    answer = hit(3, "学前教育的目标是普及学前三年教育。", 0.033, 10.0)
    ranked = CoverageReranker(scorer)(question, [hub, other, answer])
    # a.txt keeps the first and third places; the passage that answers takes the first
    assert [h.id for h in ranked] == [3, 2, 1]
    # a question that names no document is ranked as before
    assert [h.id for h in CoverageReranker(scorer)("学前教育", [hub, other, answer])] == [2, 3, 1]
