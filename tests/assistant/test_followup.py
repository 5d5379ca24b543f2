"""Follow-up questions made standalone by rule (the extractive mode's rewrite)."""

import pytest

from zhice.assistant.followup import needs_context, standalone


@pytest.mark.parametrize(
    ("question", "history", "expected"),
    [
        # elliptic: the new subject takes the place of the previous one
        ("那株洲呢？", ["宜宾在产业转型上有什么做法？"], "株洲在产业转型上有什么做法？"),
        ("还有宜宾呢", ["株洲在产业转型上有什么做法？"], "宜宾在产业转型上有什么做法？"),
        ("那么鄂尔多斯怎么样？", ["包头在产业转型上有什么做法？"],
         "鄂尔多斯在产业转型上有什么做法？"),
        ("那湘潭呢？", ["株洲市的做法是什么？"], "湘潭的做法是什么？"),
        ("那2020年呢？", ["2019年示范区有多少个？"], "2020年示范区有多少个？"),
        ("那第二批呢？", ["第一批示范区有哪些城市？"], "第二批示范区有哪些城市？"),
        # a generic word tagged as a place is not a subject to replace
        ("那株洲呢？", ["首批示范区有哪些城市？"], "株洲首批示范区有哪些城市？"),
        # only the newest question counts
        ("那株洲呢？", ["首批示范区有哪些城市？", "宜宾在产业转型上有什么做法？"],
         "株洲在产业转型上有什么做法？"),
        # a reference: the previous question's title, entity or noun phrase
        ("这个规划是哪年出台的？", ["《全国老工业基地调整改造规划》的目标是什么？"],
         "《全国老工业基地调整改造规划》是哪年出台的？"),
        ("该规划的范围包括哪些城市？", ["《全国老工业基地调整改造规划》的目标是什么？"],
         "《全国老工业基地调整改造规划》的范围包括哪些城市？"),
        ("这个政策是哪年出台的？", ["产业转型升级示范区有多少个？"],
         "产业转型升级示范区是哪年出台的？"),
        ("它是什么时候设立的？", ["产业转型升级示范区有多少个？"],
         "产业转型升级示范区是什么时候设立的？"),
        ("它有哪些做法？", ["宜宾在产业转型上有什么做法？"], "宜宾有哪些做法？"),
        # a name replaces the whole list it stands for, and a run of names is one
        ("那宜宾呢？", ["株洲、湘潭和衡阳的做法有哪些？"], "宜宾的做法有哪些？"),
        ("全国呢？", ["2023年株洲的研发投入强度是多少？"], "2023年全国的研发投入强度是多少？"),
        ("那里有多少家企业？", ["湖北黄石有多长的矿冶史？"], "湖北黄石有多少家企业？"),
        # a noun phrase replaces the one with its head; a year inside the follow-up too
        ("那出口额呢？", ["2023年株洲的进口额是多少？"], "2023年株洲的出口额是多少？"),
        ("到2030年呢？", ["规划提出到2025年要达到什么目标？"], "规划提出到2030年要达到什么目标？"),
        ("那钢铁行业呢？", ["规划提出重点改造哪些化工企业？"], "规划提出重点改造哪些钢铁行业？"),
        # a new name with a new topic: both replaced, the question's frame kept
        ("那湘潭的财政收入呢？", ["株洲2023年的地区生产总值是多少？"],
         "湘潭2023年的财政收入是多少？"),
        # a place replaces a place of its own kind, not the first name it meets
        ("那海淀区呢？", ["北京今年新建的学校里，朝阳区有几所？"],
         "北京今年新建的学校里，海淀区有几所？"),
        ("那湖南省呢？", ["株洲2023年的研发投入在湖北省排第几？"],
         "株洲2023年的研发投入在湖南省排第几？"),
        # with no phrase of its head, the phrase the previous question was about (对X)
        ("那乡村教师呢？", ["一号文件对乡村医生提出了什么要求？"],
         "一号文件对乡村教师提出了什么要求？"),
        # no counterpart: asked about the document the previous question named
        ("那南方省份呢？", ["2023年一号文件支持哪些地区开展粮豆轮作？"],
         "2023年一号文件的南方省份呢？"),
        # "那一年": the year the previous question named
        ("那一年全国的增速是多少？", ["2022年株洲的增速是多少？"], "2022年全国的增速是多少？"),
    ],
)
def test_follow_ups_are_rewritten(question, history, expected):
    assert needs_context(question, history)
    assert standalone(question, history) == expected


@pytest.mark.parametrize(
    ("question", "history"),
    [
        ("首批示范区有哪些城市？", ["株洲在产业转型上有什么做法？"]),
        ("新质生产力是什么？", ["首批示范区有哪些城市？"]),
        ("国家一共支持建设了多少个产业转型升级示范区？", ["宜宾在产业转型上有什么做法？"]),
        ("其他城市怎么看待株洲的做法？", ["宜宾在产业转型上有什么做法？"]),
        # "X怎么样？" with a topic of its own is a question, not an ellipsis
        ("株洲的工业遗产保护情况怎么样？", ["宜宾在产业转型上有什么做法？"]),
    ],
)
def test_standalone_questions_are_unchanged(question, history):
    assert not needs_context(question, history)
    assert standalone(question, history) == question


@pytest.mark.parametrize("question",
                         ["那株洲呢？", "这个规划是哪年出台的？", "  首批示范区有哪些？ "])
def test_without_history_the_question_is_only_stripped(question):
    assert not needs_context(question, [])
    assert standalone(question, []) == question.strip()


def test_a_reference_already_resolved_is_left_alone():
    history = ["《全国老工业基地调整改造规划》的目标是什么？"]
    question = "这个规划即《全国老工业基地调整改造规划》是哪年出台的？"
    assert standalone(question, history) == question


@pytest.mark.parametrize(("question", "history", "expected"), [
    ("效果如何？", ["宜宾在产业转型上有什么做法？"], "宜宾的效果如何？"),
    ("那就业目标呢？", ["《规划》提出城镇居民人均可支配收入要达到多少？"],
     "《规划》的就业目标呢？"),
])
def test_a_follow_up_with_no_counterpart_asks_about_the_previous_subject(
        question, history, expected):
    # nothing in the previous question has the follow-up's kind: it is asked about
    # what that question was about, never glued to the whole of it
    assert standalone(question, history) == expected


@pytest.mark.parametrize(("question", "history", "expected"), [
    # naming nothing it is about: asked about what the previous question was about
    ("具体有哪些措施？", ["2023年一号文件对农村宅基地制度改革定的是什么基调？"],
     "2023年一号文件对农村宅基地制度改革具体有哪些措施？"),
    # "对X方面呢？" is "X呢？"
    ("对台湾方面呢？", ["决定对澳门的国际中心地位提出了什么要求？"],
     "决定对台湾的国际中心地位提出了什么要求？"),
    # "它" is what the previous question put in quotes
    ("推广它是为了什么？", ["绍兴推广的“五权下放”是哪类学校的经验？"],
     "推广“五权下放”是为了什么？"),
])
def test_follow_ups_that_lean_on_the_conversation_in_other_ways(question, history, expected):
    assert needs_context(question, history)
    assert standalone(question, history) == expected
