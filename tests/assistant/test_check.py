"""The citation check: sentence splitting with markers, support, and what is kept."""

from dataclasses import replace

import pytest

from zhice.assistant.check import check_answer, claims, supports
from zhice.assistant.extractive import NOT_FOUND
from zhice.assistant.types import Answer, Citation, Hit
from zhice.ingest.types import Chunk

SHIFAN = "2017年，五部门联合印发通知，支持12座城市建设首批产业转型升级示范区。"
ZHUZHOU = "稍有不同的是，在产业转型的路径上，株洲特别舍得花钱在科技研发。"
TRADITIONAL = "我國分三次在具備條件的城市支持建設了20個產業轉型升級示范區。"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("句子[1]。", [("句子。", [1])]),
        ("句子。[1]", [("句子。", [1])]),
        ("甲。乙[1]", [("甲。", [1]), ("乙", [1])]),
        ("[1][2]", []),
        ("甲[1][2]。乙[3]。", [("甲。", [1, 2]), ("乙。", [3])]),
        ("甲[9]。", [("甲。", [9])]),
        ("甲。乙。", [("甲。", []), ("乙。", [])]),
        ("甲[1]。乙。", [("甲。", [1]), ("乙。", [])]),
        ("甲 [1] 。乙[2]", [("甲。", [1]), ("乙", [2])]),
        ("甲，[1]乙[2]。", [("甲，", [1]), ("乙。", [2])]),
        ("“甲。”[1]", [("“甲。”", [1])]),
        ("", []),
    ],
)
def test_claims_split_sentences_with_their_markers(text, expected):
    assert claims(text) == expected


@pytest.mark.parametrize(
    ("sentence", "passage", "supported"),
    [
        # verbatim, with or without the closing punctuation
        ("支持12座城市建设首批产业转型升级示范区", SHIFAN, True),
        ("支持12座城市建设首批产业转型升级示范区。", SHIFAN, True),
        # a simplified quote of a traditional passage, and the other way round
        ("我国分三次在具备条件的城市支持建设了20个产业转型升级示范区", TRADITIONAL, True),
        ("株洲特別舍得花錢在科技研發", ZHUZHOU, True),
        # full-width digits and spaces are normalised away
        ("支持１２座城市 建设首批产业转型升级示范区", SHIFAN, True),
        # a paraphrase that keeps most bigrams and every figure
        ("我国支持建设了20个产业转型升级示范区", TRADITIONAL, True),
        # the same paraphrase with a figure the passage does not hold
        ("我国支持建设了30个产业转型升级示范区", TRADITIONAL, False),
        ("2018年，五部门联合印发通知，支持12座城市建设首批产业转型升级示范区", SHIFAN, False),
        # a sentence about something else
        ("株洲特别舍得花钱在科技研发", SHIFAN, False),
        # too little overlap, though a few words are shared
        ("示范区是国家重点支持的城市", SHIFAN, False),
        # nothing to check
        ("。", SHIFAN, True),
    ],
)
def test_supports(sentence, passage, supported):
    assert supports(sentence, passage) is supported


def _hit(text: str, ordinal: int = 0) -> Hit:
    chunk = Chunk("doc.txt", ordinal, text, text, "", 0, len(text), title="文档")
    return Hit(ordinal, chunk, 1.0)


def _answer(text: str, *passages: str) -> Answer:
    hits = tuple(_hit(p, i) for i, p in enumerate(passages))
    citations = tuple(Citation(n, h) for n, h in enumerate(hits, 1))
    return Answer("问题？", text, False, citations, hits)


def test_check_keeps_supported_sentences_unchanged():
    answer = _answer("支持12座城市建设首批产业转型升级示范区[1]。株洲特别舍得花钱在科技研发[2]。",
                     SHIFAN, ZHUZHOU)
    checked = check_answer(answer, NOT_FOUND)
    assert checked.answer == ("支持12座城市建设首批产业转型升级示范区。[1]"
                              "株洲特别舍得花钱在科技研发。[2]")
    assert [c.marker for c in checked.citations] == [1, 2]
    assert checked.unsupported == ()
    assert not checked.abstained


def test_check_drops_a_sentence_its_passage_does_not_hold():
    # the second sentence cites [1], which is about something else
    answer = _answer("支持12座城市建设首批产业转型升级示范区[1]。株洲特别舍得花钱在科技研发[1]。",
                     SHIFAN, ZHUZHOU)
    checked = check_answer(answer, NOT_FOUND)
    assert checked.answer == "支持12座城市建设首批产业转型升级示范区。[1]"
    assert checked.unsupported == ("株洲特别舍得花钱在科技研发。",)
    assert [c.marker for c in checked.citations] == [1]  # [2] is no longer used


def test_check_removes_a_marker_that_points_at_no_passage():
    answer = _answer("支持12座城市建设首批产业转型升级示范区[1][7]。", SHIFAN)
    checked = check_answer(answer, NOT_FOUND)
    assert checked.answer == "支持12座城市建设首批产业转型升级示范区。[1]"
    assert checked.unsupported == ()


def test_check_flags_a_sentence_that_cites_only_a_missing_passage():
    answer = _answer("支持12座城市建设首批产业转型升级示范区[1]。株洲特别舍得花钱在科技研发[7]。",
                     SHIFAN, ZHUZHOU)
    checked = check_answer(answer, NOT_FOUND)
    assert checked.answer == "支持12座城市建设首批产业转型升级示范区。[1]"
    assert checked.unsupported == ("株洲特别舍得花钱在科技研发。",)


def test_check_any_one_of_several_markers_may_support():
    answer = _answer("株洲特别舍得花钱在科技研发[1][2]。", SHIFAN, ZHUZHOU)
    checked = check_answer(answer, NOT_FOUND)
    assert checked.answer == "株洲特别舍得花钱在科技研发。[1][2]"
    assert checked.unsupported == ()


def test_check_abstains_when_nothing_is_supported():
    answer = _answer("示范区共有30个[1]。没有出处的句子。", SHIFAN)
    checked = check_answer(answer, NOT_FOUND)
    assert checked.abstained
    assert checked.answer == NOT_FOUND
    assert checked.citations == ()
    assert checked.unsupported == ("示范区共有30个。", "没有出处的句子。")


def test_check_leaves_an_abstention_alone():
    answer = Answer("问题？", NOT_FOUND, True, (), ())
    assert check_answer(answer, NOT_FOUND) is answer


def test_check_keeps_unsupported_sentences_reported_earlier():
    answer = Answer("问题？", "支持12座城市建设首批产业转型升级示范区[1]。", False,
                    (Citation(1, _hit(SHIFAN)),), (_hit(SHIFAN),), unsupported=("早先的句子。",))
    assert check_answer(answer, NOT_FOUND).unsupported == ("早先的句子。",)


# --- constraints the cited passages do not hold -------------------------------------------

GDP_2023 = "2023年，株洲全社会研发投入强度3.27%，连续5年稳居全省第一。"


def _about(question: str, passage: str, title: str = "文档", heading: str = "") -> Answer:
    chunk = Chunk("doc.txt", 0, passage, passage, heading, 0, len(passage), title=title)
    hit = Hit(0, chunk, 1.0)
    return Answer(question, passage + "[1]", False, (Citation(1, hit),), (hit,))


@pytest.mark.parametrize(("question", "title", "unmatched"), [
    ("2023年株洲研发投入强度是多少？", "文档", ()),
    # another year: the figure is cited properly and answers a different question
    ("2019年株洲研发投入强度是多少？", "文档", ("2019",)),
    ("2019至2023年株洲研发投入强度是多少？", "文档", ("2019",)),
    # the year, batch or document may stand in the document's title
    ("2024年的报告说研发投入强度是多少？", "2024年株洲市政府工作报告", ()),
    ("第三批示范区的研发投入强度是多少？", "文档", ("第三批",)),
    # a named document counts as held when its title names it, other quotes and all
    ("《株洲市政府工作报告》说研发投入强度是多少？", "2024年株洲市政府工作报告", ()),
    ("《全国老工业基地调整改造规划》说研发投入强度是多少？", "2024年株洲市政府工作报告",
     ("全国老工业基地调整改造规划",)),
])
def test_check_names_the_constraints_no_cited_passage_holds(question, title, unmatched):
    checked = check_answer(_about(question, GDP_2023, title), NOT_FOUND)
    assert not checked.abstained
    assert checked.unmatched == unmatched
    assert ("unmatched" in checked.to_dict()) is bool(unmatched)


def test_a_follow_up_is_checked_as_it_was_searched():
    answer = replace(_about("那2019年呢？", GDP_2023), searched="2019年株洲研发投入强度是多少？")
    assert check_answer(answer, NOT_FOUND).unmatched == ("2019",)


@pytest.mark.parametrize(("question", "unmatched"), [
    ("民办高等学校的总会计师由谁委派？", ("民办高等学校",)),
    ("公办高等学校的总会计师由谁委派？", ()),
    # the place of a name swapped in a longer name: 滨海 for 公办 before 高等学校
    ("推进滨海高等学校建设有哪些举措？", ("滨海高等学校",)),
    # a verb before the noun, said in other words: no constraint
    ("总会计师是不是由政府统一委派？", ()),
])
def test_check_names_a_modifier_the_cited_passage_holds_another_word_in_place_of(
        question, unmatched):
    checked = check_answer(_about(question, "公办高等学校总会计师由政府委派。"), NOT_FOUND)
    assert not checked.abstained
    assert checked.unmatched == unmatched


def test_a_word_glued_to_a_year_is_no_modifier():
    # jieba reads 年老 (old) in "2017年老工业基地": the 年 is the year's
    checked = check_answer(_about("到2017年老工业基地的比重要达到多少？",
                                  "到2017年，全国工业基地的比重达到20%。"), NOT_FOUND)
    assert checked.unmatched == ()
