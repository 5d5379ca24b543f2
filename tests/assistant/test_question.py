"""Question analysis: what a question asks for (its kinds), the Y of "X的Y是什么", the
words around its question word, the constraints it names and the types of answer it
wants, on hand-written questions and answers. Every type is keyed on a closed class (a
question word, a measure word, a unit): an open-class noun (资金, 游客, 面积) asks for no type."""

import pytest

from zhice.assistant.question import (
    answer_patterns,
    asked_window,
    constraints,
    question_focus,
    question_kinds,
)
from zhice.ingest.normalize import search_key


@pytest.mark.parametrize(
    ("question", "focus"),
    [
        ("株洲2024年的地区生产总值是多少？", "地区生产总值"),
        ("黄石有哪些特色工业旅游景点？", ""),  # no 的-phrase before the question word
        ("黄石的特色工业旅游景点有哪些？", "特色工业旅游景点"),
        ("示范区的数量一共是多少？", "数量"),
        ("工业遗产的定义是什么", "定义"),
        ("首批示范区的牵头部门是哪个？", "牵头部门"),
        ("示范区的牵头单位是谁？", "牵头单位"),
        ("株洲的地區生產總值是多少？", "地区生产总值"),  # read on the simplified key
        ("国家设立了多少个示范区？", ""),
        ("株洲的轨道交通装备产业链有哪些？", ""),  # 9 characters: longer than 8
        ("示范区的投资，具体有多少？", ""),  # a comma breaks the phrase
    ],
)
def test_question_focus(question, focus):
    assert question_focus(question) == focus


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("株洲2024年的地区生产总值是多少？", {"number"}),
        ("株洲规模以上工业企业有几家？", {"number"}),
        ("电池产量占全国的比重是多少？", {"number"}),
        ("示范区是哪一年设立的？", {"number"}),
        ("黄石有哪些特色工业旅游景点？", {"list"}),
        ("什么是工业遗产？", {"definition"}),
        ("什麼是工業遺產？", {"definition"}),
        ("示范区由谁负责？", {"who"}),
        ("首批示范区在哪里？", {"where"}),
        ("哪些城市入选了首批示范区？", {"list"}),  # 城市 is no question word
        ("产业园区在何处？", {"where"}),
        ("示范区的面积有多大？", {"number"}),
        ("工业遗产保护利用的意义", set()),
    ],
)
def test_question_kinds(question, kinds):
    assert question_kinds(question) == kinds


@pytest.mark.parametrize(
    ("question", "answers", "non_answers"),
    [
        ("示范区是哪一年设立的？", ["2017年", "光海君七年", "2021-11"], ["三个示范区"]),
        ("试点什么时候开始？", ["2019年3月", "晚春", "白垩纪中期", "改革之后"], ["在株洲"]),
        ("大宝山矿一共投入了多少亿元？", ["12亿元", "2.1 亿元"], ["12个亿", "300万美元"]),
        ("电价补贴是多少钱？", ["0.1元"], ["1.3倍"]),
        ("林业城市占多大比例？", ["18%", "百分之十八", "一半", "三分之一"], ["18个"]),
        ("能耗是全国平均的几倍？", ["1.3倍"], ["1.3"]),
        ("浈江片区占地多少平方公里？", ["3.5平方公里"], ["200亩", "3.5公里"]),
        ("大学城有几公顷？", ["12公顷"], ["12亩"]),
        ("文件印发的日期是哪天？", ["2021年11月"], ["十一个部门"]),
        ("2019年接待了多少人次？", ["1200万人次", "300 人"], ["1200万元"]),
        ("有多少家创意企业？", ["8500家", "3 家", "300多家", "1.2万"], ["8500个"]),
        # 个 is the measure word of anything
        ("创下了多少个第一？", ["340多项", "12个"], ["340"]),
        ("要建多少套保障房？", ["680 万套"], ["680", "2000亿元"]),
    ],
)
def test_a_typed_question_is_answered_only_by_its_type(question, answers, non_answers):
    patterns = answer_patterns(question)
    holds = lambda text: any(p.search(search_key(text)) for p in patterns)  # noqa: E731
    assert [a for a in answers if not holds(a)] == []
    assert [a for a in non_answers if holds(a)] == []


@pytest.mark.parametrize(
    "question",
    [
        "株洲的特色产业有哪些？",
        "新材料产业重点发展哪几类材料？",  # 哪几类 asks for items, not a count
        "这几座城市发展什么药品？",
        "港汇指数的加权比重如何制定？",  # a share asked as a method
        "投资金额为什么不能是购楼款？",
        "耕地面积减少的原因是什么？",  # an area as the topic, not the answer
        "统计年份的口径有什么变化？",
        # open-class nouns name what is counted: the answer model learns that a figure
        # answers them (features.py: figure, anchored), no list of nouns says so
        "大宝山矿一共投入了多少资金？",
        "2019年接待了多少游客？",
        "浈江片区占地面积有多大？",
    ],
)
def test_an_untyped_question_wants_no_type(question):
    assert answer_patterns(question) == []


@pytest.mark.parametrize(
    ("question", "window"),
    [
        ("韶关数据中心集群的电价补贴是多少？", "的电价补贴是"),
        ("2019年接待了多少游客？", "19年接待了游客"),  # six characters each side
        ("示范区的投资，具体有多少？", "具体有"),  # within its clause
        ("株洲到底都能造些啥？", "到底都能造些"),  # 啥 is a question word too
        ("工业遗产保护利用的意义", ""),  # no question word
    ],
)
def test_the_window_around_the_question_word(question, window):
    assert asked_window(question) == window


def test_constraints_are_the_years_documents_and_ordinals_named_once_each():
    question = "按照《国家中长期教育规划纲要》，2023年第三批试点有哪些？2023年呢？"
    assert constraints(question) == ["国家中长期教育规划纲要", "2023", "第三批"]
    assert constraints("2016至2020年新增了多少就业？") == ["2016", "2020"]
    assert constraints("示范区有哪些？") == []
