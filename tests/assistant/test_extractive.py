"""The extractive answerer on hand-written passages: which sentence answers a question,
how it is cited, and when the answerer abstains (by the fitted answer model,
assistant/answer_model.py, unless a test gives it another).

Every answerer here weighs all question terms alike (idf None) unless a test says
otherwise. The features the model reads are tested in test_features.py.
"""

import re
from dataclasses import replace

import pytest

from zhice.assistant.answer_model import AnswerModel
from zhice.assistant.check import check_answer, claims
from zhice.assistant.extractive import NOT_FOUND, ExtractiveAnswerer, direct_value
from zhice.assistant.types import Hit
from zhice.index.segment import ChineseSegmenter
from zhice.ingest.normalize import search_key
from zhice.ingest.types import Chunk

FITTED = AnswerModel.load()
LIST = "黄石有矿冶峡谷、铜绿山古铜矿遗址、华新水泥厂旧址等特色工业旅游景点。"
HUANGSHI = "黄石是一座矿冶城市，特色工业旅游资源丰富。" + LIST + "这些景点每年吸引大量游客。"
ZHUZHOU = (
    "株洲是湖南省的老工业基地，地区生产总值稳步增长。"
    "2024年株洲地区生产总值达到4068亿元，同比增长6.1%。"
    "全市规模以上工业企业有1800家。"
)
HERITAGE = (
    "工业遗产保护利用是城市更新的重要内容。"
    "工业遗产是指具有历史价值、技术价值、社会意义的工业文化遗存。"
    "各地应当加强保护。"
)
GDP_2024 = "2024年株洲地区生产总值达到4068亿元，同比增长6.1%。"
DEFINITION = "工业遗产是指具有历史价值、技术价值、社会意义的工业文化遗存。"


@pytest.fixture(scope="module")
def segmenter() -> ChineseSegmenter:
    return ChineseSegmenter().load()


@pytest.fixture
def answerer(segmenter) -> ExtractiveAnswerer:
    return ExtractiveAnswerer(segmenter)


def hit(rank: int, text: str, source: str, heading: str = "") -> Hit:
    chunk = Chunk(source, rank, text, search_key(text), heading, 0, len(text))
    return Hit(rank, chunk, 1.0 / rank)


def corpus() -> list[Hit]:
    """Three passages; the one about 株洲 is retrieved second."""
    return [
        hit(1, HUANGSHI, "huangshi.txt"),
        hit(2, ZHUZHOU, "zhuzhou.txt"),
        hit(3, HERITAGE, "heritage.txt"),
    ]


def parts(answer: str) -> list[tuple[str, int]]:
    """The answer's sentences with the marker each carries."""
    found = [(text, int(n)) for text, n in re.findall(r"(.+?)\[(\d+)\]", answer)]
    assert "".join(f"{text}[{n}]" for text, n in found) == answer
    return found


# ---- which sentence answers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "sentence", "value"),
    [
        # 多少 of a total: 4068亿元 and 6.1% are both figures, neither the one type asked
        ("株洲2024年的地区生产总值是多少？", GDP_2024, ""),
        # 几家 asks for a count of 家: the count leads the answer
        ("株洲规模以上工业企业有几家？", "全市规模以上工业企业有1800家。", "1800家。"),
    ],
)
def test_a_figure_question_is_answered_by_the_sentence_with_the_figure(
    answerer, question, sentence, value
):
    hits = corpus()
    answer = answerer(question, hits)
    assert not answer.abstained
    assert answer.answer == value + sentence + "[1]"
    # marker 1 is the passage the sentence came from, though it was retrieved second
    [citation] = answer.citations
    assert citation.marker == 1
    assert citation.hit is hits[1]
    assert citation.quotes == (sentence,)
    assert answer.retrieved == tuple(hits)
    assert answer.extra["evidence"] == answerer.judge(question, hits).probability


def test_the_figure_bonus_beats_a_sentence_that_covers_more_of_the_question(segmenter):
    text = "株洲规模以上工业企业数量持续增加。全市规模以上工业企业有1800家。"
    hits = [hit(1, text, "zhuzhou.txt")]
    question = "株洲规模以上工业企业有几家？"
    answerer = ExtractiveAnswerer(segmenter, max_sentences=1)
    best, runner_up = answerer.score(question, hits)
    assert text[best.start : best.end] == "全市规模以上工业企业有1800家。"
    assert text[runner_up.start : runner_up.end] == "株洲规模以上工业企业数量持续增加。"
    assert best.coverage < runner_up.coverage
    assert answerer(question, hits).answer == "1800家。全市规模以上工业企业有1800家。[1]"


def test_an_answer_of_the_type_asked_for_beats_any_figure(segmenter):
    # both sentences hold a figure; only the second a count of 套, what 多少套 asks for
    text = "保障房投资超过2000亿元。规划累计建设680万套。"
    hits = [hit(1, text, "plan.txt")]
    question = "规划要建多少套保障房？"
    best, runner_up = ExtractiveAnswerer(segmenter).score(question, hits)
    assert text[best.start : best.end] == "规划累计建设680万套。"
    assert best.coverage < runner_up.coverage
    assert best.score - best.coverage == pytest.approx(0.12 + 0.1 + 0.04)  # figure, type, rank


def test_a_list_question_is_answered_by_the_list_sentence(answerer):
    hits = corpus()
    answer = answerer("黄石有哪些特色工业旅游景点？", hits)
    assert answer.answer == LIST + "[1]"
    assert [(c.marker, c.hit.chunk.source) for c in answer.citations] == [(1, "huangshi.txt")]


@pytest.mark.parametrize("question", ["什么是工业遗产？", "工业遗产是指什么？"])
def test_a_definition_question_is_answered_by_the_defining_sentence(segmenter, question):
    # the first two sentences of HERITAGE both name 工业遗产 (for 什么是工业遗产 they cover
    # the question alike, 0.9 each): the definition bonus decides
    hits = corpus()
    answerer = ExtractiveAnswerer(segmenter, max_sentences=1)
    assert answerer(question, hits).answer == DEFINITION + "[1]"


def test_runners_up_join_the_best_after_it_in_reading_order_under_one_marker(segmenter):
    hits = [hit(1, HERITAGE, "heritage.txt")]
    first, *rest = [s + "。" for s in HERITAGE.split("。") if s]
    # runners-up at any odds join: the defining sentence first, the others in order
    joining = ExtractiveAnswerer(segmenter, model=replace(FITTED, runner_up=1e-9))
    answer = joining("什么是工业遗产？", hits)
    assert answer.answer == f"{DEFINITION}[1]{first}[1]{rest[1]}[1]"
    [citation] = answer.citations
    assert citation.quotes == (DEFINITION, first, rest[1])
    # only a tie joins at a share of 1
    alone = ExtractiveAnswerer(segmenter, model=replace(FITTED, runner_up=1.0))
    assert alone("什么是工业遗产？", hits).answer == f"{DEFINITION}[1]"


# ---- citations ---------------------------------------------------------------------


def test_citations_are_numbered_by_first_use_in_the_answer_not_by_score(answerer):
    hits = [
        hit(1, "宜宾培育了动力电池产业集群，电池产量占全国的比重达到15%。", "yibin.txt"),
        hit(2, "黄石有矿冶峡谷、铜绿山古铜矿遗址等工业旅游景点。", "huangshi.txt"),
        hit(3, "株洲有中车株洲电力机车厂、清水塘工业遗址等工业旅游景点。", "zhuzhou.txt"),
    ]
    question = "黄石和株洲有哪些工业旅游景点？"
    # the sentence about 株洲 scores best, yet the passage about 黄石 comes first
    assert answerer.score(question, hits)[0].hit_index == 2
    answer = answerer(question, hits)
    assert answer.answer == (
        "黄石有矿冶峡谷、铜绿山古铜矿遗址等工业旅游景点。[1]"
        "株洲有中车株洲电力机车厂、清水塘工业遗址等工业旅游景点。[2]"
    )
    assert [(c.marker, c.hit.chunk.source) for c in answer.citations] == [
        (1, "huangshi.txt"),
        (2, "zhuzhou.txt"),
    ]
    assert answer.retrieved == tuple(hits)


@pytest.mark.parametrize(
    "question",
    [
        "株洲2024年的地区生产总值是多少？",
        "黄石有哪些特色工业旅游景点？",
        "什么是工业遗产？",
        "黄石和株洲的工业有什么特点？",
        "工业遗产和工业旅游景点有哪些？",
    ],
)
def test_every_answer_sentence_is_a_quote_of_the_passage_it_cites(answerer, question):
    hits = corpus()
    answer = answerer(question, hits)
    assert not answer.abstained
    by_marker = {c.marker: c for c in answer.citations}
    assert sorted(by_marker) == list(range(1, len(by_marker) + 1))
    used = [n for _, n in parts(answer.answer)]
    assert list(dict.fromkeys(used)) == sorted(by_marker)  # numbered by first use
    quoted: dict[int, list[str]] = {}
    for text, n in parts(answer.answer):
        quoted.setdefault(n, []).append(text)
        assert text in by_marker[n].hit.chunk.text
    assert {n: tuple(q) for n, q in quoted.items()} == {n: c.quotes for n, c in by_marker.items()}


def test_a_long_sentence_is_cut_to_a_run_of_its_clauses_ending_as_a_sentence(answerer):
    text = (
        "为推动老工业城市转型，国家先后出台了多项支持政策，涵盖财政、金融、土地、人才等多个方面，"
        "各地结合实际制定了配套措施，积极培育新兴产业，加快传统产业改造升级，推进城市更新和生态修复，"
        "其中株洲培育了轨道交通装备产业集群，产值超过1500亿元，成为全国重要的轨道交通装备制造基地，"
        "同时还注重保护工业遗产，发展工业旅游，推动文化和旅游深度融合发展。"
    )
    answer = answerer("株洲培育的轨道交通装备产业集群产值是多少？", [hit(1, text, "zhuzhou.txt")])
    # the earliest run of whole clauses, 160 characters at most, holding the most question
    # terms: from the sentence's start to the last clause that names one
    quote = text[: text.index("同时")]
    assert len(quote) == 137
    assert answer.citations[0].quotes == (quote,)
    # the quote ends at a comma; the answer ends it with a full stop, nothing else changed
    assert answer.answer == quote[:-1] + "。[1]"


# ---- abstention --------------------------------------------------------------------


def test_a_question_about_nothing_in_the_passages_abstains_with_the_hits_attached(answerer):
    hits = corpus()
    question = "火星探测器什么时候发射？"
    judged = answerer.judge(question, hits)
    assert judged.probability < FITTED.threshold
    answer = answerer(question, hits)
    assert answer.abstained
    assert answer.answer == NOT_FOUND
    assert answer.citations == ()
    assert answer.retrieved == tuple(hits)
    assert answer.extra["evidence"] == judged.probability


def test_no_hits_abstains(answerer):
    assert answerer.judge("株洲的地区生产总值是多少？", []).rows == ()
    answer = answerer("株洲的地区生产总值是多少？", [])
    assert answer.abstained
    assert answer.answer == NOT_FOUND
    assert answer.citations == ()
    assert answer.retrieved == ()


def test_the_judgement_ranks_every_sentence_best_first(answerer):
    hits = corpus()
    judged = answerer.judge("株洲规模以上工业企业有几家？", hits)
    assert len(judged.rows) == sum(len(re.findall("。", h.chunk.text)) for h in hits)
    assert list(judged.logits) == sorted(judged.logits, reverse=True)
    best = judged.rows[0]
    best_text = hits[best.hit_index].chunk.text[best.start : best.end]
    assert best_text == "全市规模以上工业企业有1800家。"
    assert judged.probability == FITTED.answerable(judged.evidence)


def test_the_answerer_abstains_by_the_fitted_model_unless_given_another(segmenter):
    hits = corpus()
    question = "株洲2023年的地区生产总值是多少？"  # the passage lacks the year asked about
    assert ExtractiveAnswerer(segmenter).model == FITTED
    never = replace(FITTED, threshold=0.0)
    assert not ExtractiveAnswerer(segmenter, model=never)(question, hits).abstained
    always = replace(FITTED, threshold=1.01)
    assert ExtractiveAnswerer(segmenter, model=always)(GDP_2024, hits).abstained


def test_the_neutral_model_answers_with_the_first_sentence(segmenter):
    # every sentence scores alike: the first sentence of the first passage, whatever it says
    answerer = ExtractiveAnswerer(segmenter, model=AnswerModel.neutral(), max_sentences=1)
    answer = answerer("株洲规模以上工业企业有几家？", corpus())
    assert not answer.abstained
    assert answer.answer == "黄石是一座矿冶城市，特色工业旅游资源丰富。[1]"


# ---- script ------------------------------------------------------------------------

TRADITIONAL = "株洲是湖南省的老工業基地。2024年株洲地區生產總值達到4068億元，同比增長6.1%。"
TRADITIONAL_QUOTE = "2024年株洲地區生產總值達到4068億元，同比增長6.1%。"


def test_a_simplified_question_gets_a_simplified_answer_from_a_traditional_passage(answerer):
    answer = answerer("株洲2024年的地区生产总值是多少？", [hit(1, TRADITIONAL, "t.txt")])
    assert answer.answer == GDP_2024 + "[1]"
    assert answer.citations[0].quotes == (TRADITIONAL_QUOTE,)


def test_a_traditional_question_keeps_the_traditional_script(answerer):
    answer = answerer("株洲2024年的地區生產總值是多少？", [hit(1, TRADITIONAL, "t.txt")])
    assert answer.answer == TRADITIONAL_QUOTE + "[1]"
    assert answer.citations[0].quotes == (TRADITIONAL_QUOTE,)


# ---- terms as the segmenter sees them ---------------------------------------------------


def test_two_texts_with_one_search_key_are_quoted_from_their_own_text(answerer):
    simplified = hit(1, "厂房面积为500㎡。2024年株洲地区生产总值达到4068亿元。", "a.txt")
    other = hit(1, "厂房面积为500m2。2024年株洲地区生产总值达到4068亿元。", "b.txt")
    question = "2024年株洲地区生产总值是多少？"
    assert answerer(question, [simplified]).answer == "2024年株洲地区生产总值达到4068亿元。[1]"
    assert answerer(question, [other]).answer == "2024年株洲地区生产总值达到4068亿元。[1]"


# --- the document title in the re-ranker's sentence score --------------------------


def titled_hit(rank: int, text: str, title: str) -> Hit:
    return Hit(rank, Chunk("plan.txt", rank, text, search_key(text), "", 0, len(text),
                           title=title), 1.0 / rank)


def test_a_title_credit_ranks_the_answer_above_passages_that_repeat_the_documents_name(answerer):
    title = "国家中长期教育规划纲要"
    question = "教育规划纲要确定的工作方针包括哪几条？"
    naming = titled_hit(1, "本规划纲要是我国第一个中长期教育规划纲要，任务重、要求高。", title)
    answering = titled_hit(2, "工作方针：优先发展，育人为本，改革创新，促进公平，提高质量。", title)
    plain, credited = (answerer.passage_scores(question, [naming, answering], title_credit=c)
                       for c in (0.0, 1.0))
    assert plain[0] > plain[1]  # the passage that names the document wins without it
    assert credited[1] > credited[0]
    # a credit no higher than the passage context's changes nothing
    assert answerer.passage_scores(question, [naming, answering], title_credit=0.5) == plain


# ---- tokens kept at ingest ------------------------------------------------------------


class CountingSegmenter(ChineseSegmenter):
    """jieba, counting the texts it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __call__(self, text: str) -> list[str]:
        self.calls += 1
        return super().__call__(text)


def test_a_passage_segmented_at_ingest_is_not_segmented_again(segmenter):
    question = "株洲2024年的地区生产总值是多少？"
    plain = corpus()
    kept = [replace(h, lines=tuple(map(tuple, segmenter.passage(h.chunk.heading, h.chunk.text))))
            for h in plain]
    counting = CountingSegmenter().load()
    with_lines = ExtractiveAnswerer(counting).score(question, kept)
    assert counting.calls == 1  # the question only
    assert with_lines == ExtractiveAnswerer(segmenter).score(question, plain)


def test_tokens_that_do_not_fit_the_passage_are_not_trusted(segmenter):
    # one line too few (a sentence splitter changed since ingest): segmented afresh
    [h] = [hit(1, ZHUZHOU, "zhuzhou.txt")]
    stale = replace(h, lines=((), ("株洲",)))
    question = "株洲规模以上工业企业有几家？"
    assert (ExtractiveAnswerer(segmenter).score(question, [stale])
            == ExtractiveAnswerer(segmenter).score(question, [h]))


# ---- the value asked for, first -------------------------------------------------------


@pytest.mark.parametrize(("question", "quotes", "value"), [
    ("株洲2024年的地区生产总值是多少亿元？", [GDP_2024], "4068亿元"),
    ("株洲地区生产总值同比增长的比重是多少？", [GDP_2024], "6.1%"),
    ("首批示范区是哪一年设立的？", ["2017年，国家设立首批示范区。"], "2017年"),
    # with its ordinal mark and its bound: what the text says, not a part of it
    ("它是我国第几个中长期规划？", ["本纲要是我国第一个中长期规划。"], "第一个"),
    ("技能人才的比例要达到多少？", ["技能人才占就业人员的比例达到30%以上。"], "30%以上"),
    ("二〇二九年前要完成什么？", ["到二〇二九年完成本决定提出的改革任务。"], None),  # no type asked
    # two values of the type: the sentences answer in their own words
    ("示范区是哪一年设立的？", ["2017年设立首批，2022年设立第二批。"], None),
    # "春" answers 什么时候, but is no value to lead with
    ("活动什么时候举行？", ["活动于春季举行。"], None),
])
def test_direct_value_is_the_one_value_of_the_type_asked(question, quotes, value):
    assert direct_value(question, quotes) == value


def test_the_value_leads_the_answer_and_is_cited_with_its_sentence(answerer):
    hits = corpus()
    answer = check_answer(answerer("株洲2024年的地区生产总值是多少亿元？", hits), NOT_FOUND)
    assert answer.answer.startswith("4068亿元。")
    assert [m for _, m in claims(answer.answer)] == [[1], [1]]
    assert answer.unsupported == ()
