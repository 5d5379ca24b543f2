"""The answer model's named features on hand-written questions and passages: what each
says about a sentence or about the evidence, worked out by hand.

Every term weighs 1 (idf None) unless a test says otherwise.
"""

from dataclasses import replace

import pytest

from zhice.assistant.answer_model import AnswerModel
from zhice.assistant.extractive import ExtractiveAnswerer
from zhice.assistant.features import (
    EVIDENCE_FEATURES,
    SENTENCE_FEATURES,
    evidence_values,
)
from zhice.assistant.types import Hit
from zhice.index.segment import ChineseSegmenter
from zhice.ingest.normalize import search_key
from zhice.ingest.types import Chunk

SUBSIDY = "韶关数据中心集群的电价补贴是多少？"
# the first sentence states a figure, far from 电价补贴; the second the figure next to it
RACKS = ("韶关数据中心集群已建成标准机架5万个，成为粤港澳大湾区算力枢纽的重要组成部分，"
         "享受电价补贴政策。")
RATE = "电价补贴为每千瓦时0.1元。"


@pytest.fixture(scope="module")
def segmenter() -> ChineseSegmenter:
    return ChineseSegmenter().load()


def answerer(segmenter, idf=None, known=None) -> ExtractiveAnswerer:
    return ExtractiveAnswerer(segmenter, idf=idf, model=AnswerModel.neutral(), known=known)


def hit(rank: int, text: str, title: str = "", dense: float | None = None) -> Hit:
    chunk = Chunk(f"doc{rank}.txt", rank, text, search_key(text), "", 0, len(text), title=title)
    return Hit(rank, chunk, 1.0 / rank, dense_rank=rank if dense is not None else None,
               dense_score=dense)


def sentences(a: ExtractiveAnswerer, question: str, hits) -> list[dict[str, float]]:
    """Each candidate sentence's features by name, in passage order."""
    _, rows = a.candidates(question, hits)
    return [dict(zip(SENTENCE_FEATURES, r.values)) for r in rows]


def evidence(a: ExtractiveAnswerer, question: str, hits, best: int = 0) -> dict[str, float]:
    """The evidence features by name, with row `best` the best sentence."""
    asked, rows = a.candidates(question, hits)
    logits = [1.0 if j == best else 0.0 for j in range(len(rows))]
    return dict(zip(EVIDENCE_FEATURES, evidence_values(asked, hits, rows, logits)))


def test_every_sentence_of_the_passages_is_a_row_in_passage_order(segmenter):
    a = answerer(segmenter)
    hits = [hit(1, RACKS + RATE), hit(2, "株洲是老工业基地。")]
    asked, rows = a.candidates(SUBSIDY, hits)
    assert [(r.hit_index, hits[r.hit_index].chunk.text[r.start : r.end]) for r in rows] == [
        (0, RACKS), (0, RATE), (1, "株洲是老工业基地。")]
    assert all(len(r.values) == len(SENTENCE_FEATURES) for r in rows)
    by_name = [dict(zip(SENTENCE_FEATURES, r.values)) for r in rows]
    assert [f["rank"] for f in by_name] == [1.0, 1.0, 0.5]
    assert [f["retrieval"] for f in by_name] == [1.0, 1.0, 0.5]  # its score over the first's
    # the sentence after RACKS covers what RACKS covers of the question; RATE comes before none
    assert by_name[0]["after_cover"] == by_name[1]["term_cover"]
    assert by_name[1]["before_cover"] == by_name[0]["term_cover"]


def test_the_figure_next_to_the_asked_term_is_anchored(segmenter):
    racks, rate = sentences(answerer(segmenter), SUBSIDY, [hit(1, RACKS + RATE)])
    # both state a figure the question has not; only in RATE does it quantify 电价补贴
    assert (racks["figure"], racks["anchored"]) == (1.0, 0.0)
    assert (rate["figure"], rate["anchored"]) == (1.0, 1.0)
    # what the question asks for (X的Y是多少: 电价补贴) both hold
    assert racks["focus"] == rate["focus"] == 1.0


def test_the_evidence_of_a_sentence_without_the_anchored_figure_is_unanchored(segmenter):
    a = answerer(segmenter)
    hits = [hit(1, RACKS + RATE)]
    assert evidence(a, SUBSIDY, hits, best=0)["unanchored"] == 1.0
    assert evidence(a, SUBSIDY, hits, best=1)["unanchored"] == 0.0
    # a question that asks for no number has no figure to anchor
    assert evidence(a, "韶关数据中心集群享受什么政策？", hits, best=0)["unanchored"] == 0.0


def test_a_year_the_question_names_is_no_new_figure(segmenter):
    [row] = sentences(answerer(segmenter), "2024年株洲地区生产总值是多少？",
                      [hit(1, "2024年株洲召开经济工作会议。")])
    assert row["figure"] == 0.0  # 2024 is the question's own
    assert row["typed"] == 0.0  # 多少 of a total wants no type
    [row] = sentences(answerer(segmenter), "株洲规模以上工业企业有几家？",
                      [hit(1, "全市规模以上工业企业有1800家。")])
    assert (row["figure"], row["typed"], row["untyped"]) == (1.0, 1.0, 0.0)


def test_a_list_and_a_definition_are_told_by_their_shape(segmenter):
    text = "黄石有矿冶峡谷、铜绿山古铜矿遗址、华新水泥厂旧址等景点。工业遗产是指工业文化遗存。"
    listing, defining = sentences(answerer(segmenter), "黄石有哪些工业旅游景点？", [hit(1, text)])
    assert (listing["listing"], defining["listing"]) == (1.0, 0.0)
    listing, defining = sentences(answerer(segmenter), "什么是工业遗产？", [hit(1, text)])
    assert (listing["defining"], defining["defining"]) == (0.0, 1.0)


def test_a_question_term_no_passage_has_counts_in_unknown_not_missing(segmenter):
    question = "老百姓能拿到多少电价补贴？"
    hits = [hit(1, RATE)]
    # the index knows the passage's words only: 老百姓, 百姓 and 拿到 say how the question
    # is put, not what a passage must hold
    vocabulary = {t for h in hits for t in segmenter(h.chunk.key)}
    knowing = evidence(answerer(segmenter, known=vocabulary.__contains__), question, hits)
    # the content terms: 老百姓 百姓 拿到 电价 补贴 (能 and 多少 are filler); 3 of 5 unknown
    assert knowing["unknown"] == pytest.approx(3 / 5)
    assert knowing["missing"] == 0.0 and knowing["rarest_missing"] == 0.0
    # counted as known, the same words are missing from the passage
    naive = evidence(answerer(segmenter), question, hits)
    assert naive["unknown"] == 0.0
    assert naive["missing"] == pytest.approx(3 / 5)


def test_missing_terms_are_weighed_by_idf(segmenter):
    idf = {"2023": 3.0, "2023年": 3.0}
    a = answerer(segmenter, idf=lambda t: idf.get(t, 1.0))
    values = evidence(a, "株洲2023年的地区生产总值是多少？",
                      [hit(1, "2024年株洲地区生产总值达到4068亿元。")])
    # known terms of two characters or more: 株洲 地区 生产 总值 生产总值 (1 each), 2023 and
    # 2023年 (3 each); the passage lacks the two years
    assert values["missing"] == pytest.approx(6 / 11)
    assert values["figures"] == 1.0  # 2023, a figure of the question, is not in the passage
    assert values["unmatched"] == 1.0  # nor is the year it pins the answer to


def test_what_the_document_title_names_the_passage_need_not_repeat(segmenter):
    a = answerer(segmenter)
    text = "全市地区生产总值达到4068亿元，同比增长6.1%。"
    question = "株洲2023年的地区生产总值是多少？"
    titled = evidence(a, question, [hit(1, text, title="2023年株洲市政府工作报告")])
    assert (titled["missing"], titled["figures"], titled["unmatched"]) == (0.0, 0.0, 0.0)
    other = evidence(a, question, [hit(1, text, title="2022年株洲市政府工作报告")])
    assert (other["figures"], other["unmatched"]) == (1.0, 1.0)


def test_a_latin_term_in_capitals_is_found_in_the_passage(segmenter):
    values = evidence(answerer(segmenter), "株洲2024年的GDP是多少？",
                      [hit(1, "2024年株洲GDP达到4068亿元，同比增长6.1%。")])
    assert (values["missing"], values["focus"]) == (0.0, 0.0)


def test_a_figure_with_thousands_separators_is_found_in_the_passage(segmenter):
    values = evidence(answerer(segmenter), "株洲地区生产总值突破4000亿元是哪一年？",
                      [hit(1, "2024年株洲地区生产总值突破4,000亿元。")])
    assert (values["missing"], values["figures"]) == (0.0, 0.0)


def test_a_typed_question_whose_passage_holds_no_such_answer_is_untyped(segmenter):
    a = answerer(segmenter)
    question = "大宝山矿的生态修复一共投入了多少亿元？"
    lacking = [hit(1, "大宝山矿实施生态修复，昔日矿山重新变绿。")]
    holding = [hit(1, "大宝山矿实施生态修复，投入资金2.1亿元。")]
    assert evidence(a, question, lacking)["untyped"] == 1.0
    assert evidence(a, question, holding)["untyped"] == 0.0


def test_the_evidence_is_the_same_whatever_the_embedders_cosines(segmenter):
    # a model fitted with one embedder must judge an index built with another alike:
    # the cosines of the passages, on another scale, change no feature
    a = answerer(segmenter)
    high = [hit(1, RACKS + RATE, dense=0.9), hit(2, "株洲是老工业基地。", dense=0.6)]
    for best in (0, 1, 2):
        values = evidence(a, SUBSIDY, high, best=best)
        for scale in (1 / 3, -0.5):
            other = [replace(h, dense_score=h.dense_score * scale) for h in high]
            assert evidence(a, SUBSIDY, other, best=best) == values


def test_no_passages_is_evidence_that_lacks_everything(segmenter):
    a = answerer(segmenter)
    asked, rows = a.candidates(SUBSIDY, [])
    assert rows == []
    values = dict(zip(EVIDENCE_FEATURES, evidence_values(asked, [], rows, [])))
    assert (values["missing"], values["missing_all"], values["asked_missing"]) == (1.0, 1.0, 1.0)
    assert values["unanchored"] == 1.0  # it asks for a number (多少)
    assert values["best"] < values["margin"] == 0.0
    assert (values["bm25"], values["agree"], values["rank"]) == (0.0, 0.0, 0.0)


def test_the_margin_is_over_the_best_sentence_of_any_other_passage(segmenter):
    a = answerer(segmenter)
    hits = [hit(1, RACKS + RATE), hit(2, "株洲是老工业基地。")]
    asked, rows = a.candidates(SUBSIDY, hits)
    values = dict(zip(EVIDENCE_FEATURES, evidence_values(asked, hits, rows, [0.5, 2.0, -1.0])))
    assert (values["best"], values["margin"], values["rank"]) == (2.0, 3.0, 1.0)
    values = dict(zip(EVIDENCE_FEATURES, evidence_values(asked, hits, rows, [0.5, 0.0, 1.5])))
    assert (values["best"], values["margin"], values["rank"]) == (1.5, 1.0, 0.5)

