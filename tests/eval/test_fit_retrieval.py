"""Fitting the re-ranker's weights: exact scores on hand-made candidates, the written file."""

import json
import math

import pytest

from zhice.assistant.params import RetrievalParams
from zhice.eval import fit_retrieval
from zhice.eval.fit_retrieval import fit, mean, score

# one set, two questions; features are (sentence score, fused, bm25, list)
GOLD_BY_BM25 = [((0.5, 1.0, 0.2, 0.0), False), ((0.4, 0.9, 1.0, 0.0), True)]
GOLD_BY_SENTENCE = [((0.9, 0.5, 0.1, 0.0), True), ((0.3, 1.0, 0.9, 0.0), False)]
CREDITS = fit_retrieval.credits(RetrievalParams())


def same_features(questions: list) -> dict[float, list]:
    """A set whose features do not depend on the title credit."""
    return dict.fromkeys(CREDITS, questions)


def test_score_is_mean_mrr_and_r1_of_the_reranked_candidates():
    sets = [same_features([GOLD_BY_BM25, GOLD_BY_SENTENCE])]
    assert score(sets, (0.0, 0.0, 0.0, 0.0)) == [(0.75, 0.5, 1.0)]  # sentence score alone
    assert score(sets, (0.0, 0.0, 0.5, 0.0)) == [(1.0, 1.0, 1.0)]  # the BM25 term lifts the first
    assert score(sets, (0.0, 0.0, 2.0, 0.0)) == [(0.75, 0.5, 1.0)]  # too much sinks the second


def test_sets_count_equally_whatever_their_size():
    per_set = score([same_features([GOLD_BY_BM25] * 9), same_features([GOLD_BY_SENTENCE])],
                    (0.0, 0.0, 0.0, 0.0))
    assert per_set == [(0.5, 0.0, 1.0), (1.0, 1.0, 1.0)] and mean(per_set) == (0.75, 0.5)


def test_fit_puts_the_best_first_and_the_setting_in_use_first_among_equals():
    current = RetrievalParams(fused_weight=0.7, bm25_weight=0.3, list_bonus=0.1)
    ranked = fit([same_features([GOLD_BY_BM25, GOLD_BY_SENTENCE])], current)
    assert ranked[0][0] == [(1.0, 1.0, 1.0)]
    assert ranked[0][1] == (0.0, 0.7, 0.3, 0.1)  # scores 1.0 too: kept rather than changed


def test_fit_takes_the_title_credit_under_which_the_gold_passage_wins():
    # with no title credit a passage that repeats the document's name wins; with a
    # credit the one that answers does
    named = [((0.8, 0.0, 0.0, 0.0), False), ((0.6, 0.0, 0.0, 0.0), True)]
    credited = [((0.8, 0.0, 0.0, 0.0), False), ((0.9, 0.0, 0.0, 0.0), True)]
    sets = [{0.0: [named], 0.75: [credited], 1.0: [credited]}]
    ranked = fit(sets, RetrievalParams(fused_weight=0.0, bm25_weight=0.0, list_bonus=0.0))
    assert ranked[0][0] == [(1.0, 1.0, 1.0)] and ranked[0][1][0] == 0.75


def test_fit_prefers_no_set_worse_over_a_better_mean_that_trades_one_set_away():
    # set one: the gold passage first while the BM25 weight stays below 0.3; set two:
    # third without BM25, first once its weight passes 0.45
    one = [[((0.9, 0.0, 0.0, 0.0), True), ((0.6, 0.0, 1.0, 0.0), False)]] * 3
    two = [[((0.3, 0.0, 1.0, 0.0), True), ((0.75, 0.0, 0.0, 0.0), False),
            ((0.7, 0.0, 0.0, 0.0), False)]] * 9
    current = RetrievalParams(fused_weight=0.0, bm25_weight=0.0, list_bonus=0.0)
    ranked = fit([same_features(one), same_features(two)], current)
    trade = next(per_set for per_set, g in ranked if g == (0.0, 0.0, 0.5, 0.0))
    assert [m[0] for m in trade] == [0.5, 1.0]  # mean 0.75, above the current's 0.667
    assert [m[0] for m in ranked[0][0]] == [1.0, pytest.approx(1 / 3)]
    assert ranked[0][1] == (0.0, 0.0, 0.0, 0.0)  # no setting lifts set two without losing one


def test_a_malformed_set_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        fit_retrieval.main(["--set", "no-equals-sign"])
    assert info.value.code == 2
    assert "--set needs INDEX_DIR=DATASET.jsonl" in capsys.readouterr().err


def test_the_packaged_parameters_load_and_say_how_to_refit():
    data = json.loads((fit_retrieval.Path(fit_retrieval.__file__).parents[1] / "assistant"
                       / "retrieval.json").read_text(encoding="utf-8"))
    assert "fit_retrieval" in data["about"]
    assert RetrievalParams.load().to_dict() == data["params"]


def test_a_damaged_parameter_file_is_one_clear_error(tmp_path):
    from zhice.assistant.errors import BadParamsError

    bad = tmp_path / "retrieval.json"
    bad.write_text('{"params": {"fused_weight": 0.7}}', encoding="utf-8")
    with pytest.raises(BadParamsError, match="refit it with: python -m zhice.eval.fit_retrieval"):
        RetrievalParams.load(bad)


def test_fit_keeps_every_sets_r5_while_it_raises_mrr():
    # BM25 lifts the first question's gold passage to the top and pushes the second's
    # from 5th to 6th: a better MRR@10 that costs a passage the reader sees is a loss
    lifted = [((0.6, 0.0, 0.0, 0.0), False), ((0.5, 0.0, 1.0, 0.0), True)]
    pushed = ([((0.6, 0.0, 0.0, 0.0), False)] * 4 + [((0.5, 0.0, 0.0, 0.0), True)]
              + [((0.4, 0.0, 1.0, 0.0), False)])
    current = RetrievalParams(fused_weight=0.0, bm25_weight=0.0, list_bonus=0.0)
    ranked = fit([same_features([lifted, pushed])], current)
    trade = next(per_set for per_set, g in ranked if g == (0.0, 0.0, 0.3, 0.0))
    assert trade == [(pytest.approx((1 + 1 / 6) / 2), 0.5, 0.5)]  # MRR@10 up, R@5 down
    assert ranked[0][0] == [(pytest.approx((0.5 + 0.2) / 2), 0.0, 1.0)]


def test_cross_validation_reranks_each_question_by_the_setting_fitted_without_it():
    # four questions whose gold passage BM25 lifts, and one (the fifth, fold 4) that any
    # BM25 weight above 0.1 sinks: fitted on the others, its fold takes BM25 and loses it
    needs_bm25 = [((0.5, 1.0, 0.2, 0.0), False, 100), ((0.4, 0.9, 1.0, 0.0), True, 100)]
    sunk = [((0.5, 0.0, 0.0, 0.0), True, 100), ((0.4, 0.0, 1.0, 0.0), False, 100)]
    current = RetrievalParams(fused_weight=0.0, bm25_weight=0.0, list_bonus=0.0)
    [cv] = fit_retrieval.cross_validated([same_features([needs_bm25] * 4 + [sunk])], current)
    assert cv["R@1"] == pytest.approx(4 / 5)
    assert cv["MRR@10"] == pytest.approx((4 + 0.5) / 5)
    assert cv["R@5"] == cv["R@10"] == cv["budget_recall"] == 1.0


def test_cross_validated_budget_recall_counts_the_characters_of_the_passages_above_gold():
    # the gold passage second, behind a passage longer than the budget: R@5, not budget recall
    long_first = [((0.9, 0.0, 0.0, 0.0), False, 1600), ((0.5, 0.0, 0.0, 0.0), True, 100)]
    current = RetrievalParams(fused_weight=0.0, bm25_weight=0.0, list_bonus=0.0)
    [cv] = fit_retrieval.cross_validated([same_features([long_first] * 5)], current)
    assert (cv["R@1"], cv["R@5"], cv["budget_recall"]) == (0.0, 1.0, 0.0)
    assert cv["nDCG@10"] == pytest.approx(1 / math.log2(3))
