"""The answer model's file: read back as written, refused when stale or malformed with a
one-line error that says how to refit; the neutral model; the threshold."""

import json
import math

import pytest

from zhice.assistant.answer_model import AnswerModel, Logistic, sigmoid
from zhice.assistant.errors import BadParamsError
from zhice.assistant.features import EVIDENCE_FEATURES, SENTENCE_FEATURES

REFIT = "refit it with: python -m zhice.eval.calibrate"


def model(threshold: float = 0.5, evidence: tuple[str, ...] = ("missing", "bm25")) -> AnswerModel:
    """A small hand-made model: the sentence model counts term_cover only, the evidence
    model `evidence` with weights -2 and +1."""
    n = len(SENTENCE_FEATURES)
    sentence = Logistic(SENTENCE_FEATURES, (0.0,) * n, (1.0,) * n,
                        (1.0,) + (0.0,) * (n - 1), 0.0)
    k = len(evidence)
    return AnswerModel(sentence, Logistic(evidence, (0.5,) * k, (0.25,) * k,
                                          (-2.0, 1.0)[:k], 0.3), threshold, 0.2)


def write(path, params: dict, **extra) -> None:
    path.write_text(json.dumps({"about": "test", **extra, "params": params}), encoding="utf-8")


def test_a_written_model_is_read_back_with_its_data_hash(tmp_path):
    path = tmp_path / "answer_model.json"
    write(path, model().to_dict(), data_sha256="ab" * 32)
    loaded = AnswerModel.load(path)
    assert loaded.to_dict() == model().to_dict()
    assert loaded.data_sha256 == "ab" * 32


def test_the_packaged_model_loads_and_computes_features_this_code_has():
    packaged = AnswerModel.load()
    assert packaged.sentence.features == SENTENCE_FEATURES
    assert set(packaged.evidence.features) <= set(EVIDENCE_FEATURES)
    assert len(packaged.data_sha256) == 64
    assert 0.0 < packaged.threshold < 1.0
    assert 0.0 < packaged.runner_up <= 1.0


@pytest.mark.parametrize(("change", "named"), [
    # fitted on an evidence feature this code dropped: an absolute cosine
    (lambda p: p["evidence"].update(features=["missing", "dense_top"]), "(dense_top)"),
    (lambda p: p["sentence"].update(features=list(SENTENCE_FEATURES[:-1]) + ["old"]),
     "(the sentence features differ)"),
])
def test_a_model_fitted_on_other_features_is_refused(tmp_path, change, named):
    params = model().to_dict()
    change(params)
    path = tmp_path / "answer_model.json"
    write(path, params)
    with pytest.raises(BadParamsError) as e:
        AnswerModel.load(path)
    message = str(e.value)
    assert message.startswith(f"{path}: fitted on features this code does not compute {named}")
    assert REFIT in message and "\n" not in message


@pytest.mark.parametrize(("text", "why"), [
    ("{not json", "JSONDecodeError"),
    ('{"about": "no params"}', "KeyError"),
    (json.dumps({"params": {**model().to_dict(), "threshold": "high"}}), "ValueError"),
])
def test_a_malformed_file_is_a_one_line_error(tmp_path, text, why):
    path = tmp_path / "answer_model.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadParamsError) as e:
        AnswerModel.load(path)
    message = str(e.value)
    assert message.startswith(f"{path}: not an answer model ({why}")
    assert REFIT in message and "\n" not in message


def test_weights_that_do_not_match_their_features_are_refused(tmp_path):
    params = model().to_dict()
    params["evidence"]["weights"] = [1.0]  # two features, one weight
    path = tmp_path / "answer_model.json"
    write(path, params)
    with pytest.raises(BadParamsError, match="differ in length"):
        AnswerModel.load(path)


def test_a_zero_scale_is_refused(tmp_path):
    params = model().to_dict()
    params["evidence"]["scale"] = [0.0, 1.0]
    path = tmp_path / "answer_model.json"
    write(path, params)
    with pytest.raises(BadParamsError, match="a scale is 0"):
        AnswerModel.load(path)


def test_a_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(BadParamsError, match=r"not an answer model \(FileNotFoundError"):
        AnswerModel.load(tmp_path / "none.json")


def test_the_logit_is_the_weighted_sum_of_standardised_values():
    part = Logistic(("a", "b"), (1.0, 0.0), (2.0, 0.5), (1.5, -1.0), 0.25)
    # 0.25 + 1.5 * (3 - 1) / 2 - 1.0 * (1 - 0) / 0.5
    assert part.logit((3.0, 1.0)) == pytest.approx(-0.25)
    assert part.probability((3.0, 1.0)) == pytest.approx(1 / (1 + math.exp(0.25)))


def test_the_evidence_model_reads_its_own_features_out_of_all_the_evidence_values():
    m = model()
    values = [0.0] * len(EVIDENCE_FEATURES)
    values[EVIDENCE_FEATURES.index("missing")] = 1.0  # (1 - 0.5) / 0.25 = 2, weight -2
    values[EVIDENCE_FEATURES.index("bm25")] = 0.75  # (0.75 - 0.5) / 0.25 = 1, weight +1
    assert m.answerable(values) == pytest.approx(sigmoid(0.3 - 4.0 + 1.0))
    # a feature the model was not fitted on changes nothing
    values[EVIDENCE_FEATURES.index("coverage")] = 99.0
    assert m.answerable(values) == pytest.approx(sigmoid(0.3 - 4.0 + 1.0))


def test_it_answers_at_and_above_the_threshold_and_abstains_below():
    m = model(threshold=0.4)
    assert m.answers(0.4) and m.answers(0.9)
    assert not m.answers(0.39)


def test_the_neutral_model_ranks_nothing_and_never_abstains():
    neutral = AnswerModel.neutral()
    assert neutral.sentence.features == SENTENCE_FEATURES
    assert neutral.evidence.features == EVIDENCE_FEATURES
    assert neutral.sentence.logit([5.0] * len(SENTENCE_FEATURES)) == 0.0
    assert neutral.sentence.logit([-5.0] * len(SENTENCE_FEATURES)) == 0.0
    lacking = neutral.answerable([1.0] * len(EVIDENCE_FEATURES))
    assert lacking == 0.5 and neutral.answers(lacking)


@pytest.mark.parametrize("x", [-800.0, -1.0, 0.0, 1.0, 800.0])
def test_sigmoid_is_stable_at_both_ends(x):
    assert 0.0 <= sigmoid(x) <= 1.0
    assert sigmoid(x) + sigmoid(-x) == pytest.approx(1.0)
