import math

import pytest

from zhice.eval.dataset import Evidence, Question
from zhice.eval.metrics import (
    BUDGET_CHARS,
    METRIC_FORMATS,
    applies,
    budget_ranks,
    budget_recall,
    by_type,
    check_floors,
    gold_ranks,
    grounded,
    is_gold,
    keywords_found,
    ndcg_at,
    percentile,
    recall_at,
    recall_curve,
    reciprocal_rank,
    summarize,
)

Q = Question("q1", "number", "示范区有多少个？", ("20个",), None,
             (Evidence("a.txt", "设立了20个产业转型升级示范区"),))


def passage(rank: int, text: str, source: str = "a.txt") -> dict:
    return {"rank": rank, "source": source, "text": text, "score": 1.0 / rank}


def result(qid: str, retrieved: list[dict], answer: str = "", abstained: bool = False,
           citations: list[dict] | None = None, latency: float = 10.0) -> dict:
    return {"id": qid, "question": "", "answer": answer, "abstained": abstained,
            "citations": citations or [], "retrieved": retrieved, "latency_ms": latency}


def test_is_gold_needs_the_source_and_the_quote_on_normalised_text():
    assert is_gold(Q, "a.txt", "国家先后 设立了20个产业转型\n升级示范区。")
    assert not is_gold(Q, "b.txt", "先后设立了20个产业转型升级示范区")
    assert not is_gold(Q, "a.txt", "先后设立了12个产业转型升级示范区")
    whole_source = Question("q2", "name", "?", ("x",), None, (Evidence("a.txt"),))
    assert is_gold(whole_source, "a.txt", "anything")
    traditional = Question("q3", "traditional", "?", ("x",), None,
                           (Evidence("a.txt", "新质生产力"),))
    assert is_gold(traditional, "a.txt", "加快形成新質生產力")


def test_a_heading_quoted_is_held_by_the_passages_under_it():
    heading = Question("q4", "name", "第九部分的标题是什么？", ("体制机制创新",), None,
                       (Evidence("a.txt", "九、强化政策保障和体制机制创新"),))
    under = "九、强化政策保障和体制机制创新 > （三十三）推进县域城乡融合发展"
    assert is_gold(heading, "a.txt", "健全城乡融合发展体制机制。", heading=under)
    assert not is_gold(heading, "a.txt", "健全城乡融合发展体制机制。", heading="八、其他")
    run = result("q4", retrieved=[{"rank": 1, "source": "a.txt", "text": "正文。",
                                   "heading": under}])
    assert gold_ranks(heading, run) == [1]


def test_rank_metrics_by_hand():
    ranks = [2, 4]
    assert recall_at(ranks, 1) == 0.0 and recall_at(ranks, 2) == 1.0
    assert reciprocal_rank(ranks) == 0.5
    assert reciprocal_rank([11], 10) == 0.0
    # gains 1/log2(3) + 1/log2(5); ideal 1/log2(2) + 1/log2(3)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at(ranks) == pytest.approx(expected)
    assert ndcg_at([1]) == 1.0 and ndcg_at([]) == 0.0


def test_gold_ranks_reads_the_result_object():
    r = result("q1", [passage(1, "无关"), passage(2, "设立了20个产业转型升级示范区"),
                      passage(3, "设立了20个产业转型升级示范区", "b.txt")])
    assert gold_ranks(Q, r) == [2]


def test_budget_counts_the_best_passages_up_to_1500_characters():
    assert BUDGET_CHARS == 1500
    r = result("q1", [passage(1, "甲" * 600), passage(2, "乙" * 700), passage(3, "丙" * 300)])
    assert budget_ranks(r) == 2  # 600 + 700 fit, + 300 is 1600
    long_first = result("q1", [passage(1, "甲" * 2000), passage(2, "乙" * 10)])
    assert budget_ranks(long_first) == 1  # the first always counts
    spaced = result("q1", [passage(1, "甲 " * 700 + "\n" * 500), passage(2, "乙" * 800)])
    assert budget_ranks(spaced) == 2  # whitespace is not counted: 700 + 800
    assert budget_ranks(result("q1", [passage(1, "短")])) == 1


def test_budget_recall_by_hand():
    gold = "设立了20个产业转型升级示范区" + "。" * 285  # 300 characters
    at_3 = result("q1", [passage(1, "甲" * 600), passage(2, "乙" * 700), passage(3, gold)])
    assert budget_recall(Q, at_3) == 0.0  # rank 3 is past 1,500 characters
    at_2 = result("q1", [passage(1, "甲" * 600), passage(2, gold), passage(3, "乙" * 700)])
    assert budget_recall(Q, at_2) == 1.0
    assert budget_recall(Q, at_3, budget=1600) == 1.0


CITED = {"marker": 1, "source": "a.txt",
         "text": "国家先后设立了20个产业转型升级示范区。示范区建设取得阶段性成果。"}


@pytest.mark.parametrize("answer, expected", [
    ("国家先后设立了20个产业转型升级示范区。[1]", True),  # verbatim
    ("国家先后设立了20个产业转型升级示范区[1]示范区建设取得阶段性成果[1]", True),
    ("先后共设立了20个产业转型升级示范区。[1]", True),  # 15 of 17 bigrams, figure present
    ("先后设立了30个产业转型升级示范区。[1]", False),  # a figure the passage lacks
    ("国家先后设立了20个产业转型升级示范区。", False),  # no marker
    ("国家先后设立了20个产业转型升级示范区。[2]", False),  # marker cites nothing
    ("国家先后设立了20个产业转型升级示范区。[1]示范区经济总量翻了一番。[1]", False),
    ("", False),
])
def test_grounded_by_hand(answer, expected):
    assert grounded(result("q1", [], answer, citations=[CITED])) is expected


def test_grounded_compares_across_scripts():
    cited = {**CITED, "text": "新質生產力是以科技創新為主導的先進生產力。"}
    assert grounded(result("q1", [], "新质生产力是以科技创新为主导的先进生产力。[1]",
                           citations=[cited]))


def test_keywords_found_with_min_match():
    q = Question("q", "list", "?", ("株洲", "湘潭", "衡阳"), 2, (Evidence("a.txt"),))
    assert keywords_found(q, "株洲、湘潭")
    assert not keywords_found(q, "株洲")
    assert keywords_found(Q, "共有 20 个")  # whitespace is ignored


def test_summarize_by_hand():
    questions = [
        Q,
        Question("q2", "name", "首批示范区有哪些？", ("宜宾",), None, (Evidence("a.txt", "宜宾"),)),
        Question("q3", "unanswerable", "火星上有示范区吗？"),
        Question("q4", "unanswerable", "月球呢？"),
    ]
    gold1 = "设立了20个产业转型升级示范区"
    cite1 = {"marker": 1, "source": "a.txt", "text": gold1}
    results = [
        result("q1", [passage(1, gold1), passage(2, "x")], f"{gold1}[1]",
               citations=[cite1], latency=10),
        result("q2", [passage(1, "x"), passage(2, "y"), passage(3, "宜宾")], "x[1]",
               citations=[{"marker": 1, "source": "a.txt", "text": "x"}], latency=20),
        result("q3", [passage(1, "x")], "文档中没有找到", abstained=True, latency=30),
        result("q4", [passage(1, "x")], "x。[1]",
               citations=[{"marker": 1, "source": "a.txt", "text": "x。"}], latency=40),
    ]
    m = summarize(questions, results)
    assert m["questions"] == 4 and m["answerable"] == 2
    assert m["R@1"] == 0.5 and m["R@5"] == 1.0
    assert m["MRR@10"] == pytest.approx((1 + 1 / 3) / 2)
    assert m["budget_recall"] == 1.0
    assert m["keyword_accuracy"] == 0.5
    assert m["citation_support"] == 0.5
    assert m["groundedness"] == 1.0  # q1, q2 and q4 each stand in their cited passage
    assert m["abstention"] == 0.5 and m["false_abstention"] == 0.0
    assert m["latency_p50_ms"] == 25.0
    assert m["latency_p95_ms"] == pytest.approx(percentile([10, 20, 30, 40], 95))
    assert {name for name, _ in METRIC_FORMATS} <= set(m)

    assert recall_curve(questions, results, (1, 2, 3)) == {1: 0.5, 2: 0.5, 3: 1.0}
    per = by_type(questions, results)
    assert list(per) == ["number", "name", "unanswerable"]
    assert per["number"]["R@1"] == 1.0 and per["name"]["R@1"] == 0.0
    assert per["unanswerable"]["abstention"] == 0.5


def test_check_floors_names_the_metric_the_value_and_the_floor():
    metrics = {"R@1": 0.85, "MRR@10": 0.95, "false_abstention": 0.08}
    problems = check_floors(metrics, {"R@1": 0.9, "MRR@10": 0.93, "false_abstention": 0.05,
                                      "nDCG@10": 0.9})
    assert problems == [
        "R@1 = 0.850 is below its floor 0.900",
        "false_abstention = 0.080 is above its ceiling 0.050",
        "nDCG@10: not measured (floor 0.9); known metrics: R@1, MRR@10, false_abstention",
    ]
    assert check_floors(metrics, {"R@1": 0.85, "false_abstention": 0.08}) == []


def test_applies_says_which_metrics_had_questions():
    only_answerable = {"questions": 3, "answerable": 3}
    assert applies("R@1", only_answerable) and not applies("abstention", only_answerable)
    only_unanswerable = {"questions": 2, "answerable": 0}
    assert applies("abstention", only_unanswerable) and not applies("MRR@10", only_unanswerable)
    assert applies("latency_p50_ms", only_unanswerable)
