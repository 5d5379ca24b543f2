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
