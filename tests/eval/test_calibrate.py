"""Calibration of the abstention rule: the fit on hand-made feature rows, and the command
on the tiny index."""

import hashlib
import json
import re

import pytest

from zhice.assistant.extractive import EvidenceFeatures
from zhice.assistant.params import AbstentionParams
from zhice.eval import calibrate
from zhice.eval.calibrate import cross_validate, fit, main


def rows(answerable: list[float], unanswerable: list[float]):
    """Rows told apart by coverage alone: every weight setting scores them alike."""
    return [(EvidenceFeatures(c, 0.0, 0), False) for c in answerable] + [
        (EvidenceFeatures(c, 0.0, 0), True) for c in unanswerable
    ]


def test_the_threshold_lies_halfway_between_two_neighbouring_scores():
    abst, false, weights, threshold = fit(rows([0.5, 0.7, 0.9], [0.1, 0.3]), max_false=0.0)
    assert (abst, false, threshold) == (1.0, 0.0, 0.4)  # between 0.3 and 0.5
    # every setting ties: the first of MISSING_WEIGHTS x FIGURE_PENALTIES x FOCUS_WEIGHTS
    # x TYPE_PENALTIES
    assert weights == (0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("max_false", "expected"),
    [
        (0.0, (1 / 3, 0.0, 0.15)),  # only below the answerable 0.2
        (0.24, (1 / 3, 0.0, 0.15)),  # one false abstention of four is 0.25: still too many
        (0.25, (1.0, 0.25, 0.55)),  # between the unanswerable 0.5 and the answerable 0.6
        (0.5, (1.0, 0.25, 0.55)),  # all are caught already: no more false abstentions
    ],
)
def test_false_abstention_stays_within_the_budget(max_false, expected):
    abst, false, _, threshold = fit(rows([0.2, 0.6, 0.8, 0.9], [0.1, 0.3, 0.5]), max_false)
    assert (abst, false, threshold) == expected


@pytest.mark.parametrize(
    ("unanswerable", "weights"),
    [
        (EvidenceFeatures(0.6, 0.0, 1), (0.0, 1.0, 0.0, 0.0)),  # a figure it lacks
        (EvidenceFeatures(0.6, 0.0, 0, 1.0), (0.0, 0.0, 1.0, 0.0)),  # what it asks for, lacking
        (EvidenceFeatures(0.6, 0.0, 0, 0.0, 1), (0.0, 0.0, 0.0, 1.0)),  # an answer of its type
    ],
)
def test_the_weight_that_gives_the_unanswerable_question_away_is_chosen(unanswerable, weights):
    answerable = [(EvidenceFeatures(0.3, 0.0, 0), False), (EvidenceFeatures(0.9, 0.0, 0), False)]
    # the largest weight pushes it lowest: (0.6 - 1.0 + 0.3) / 2
    assert fit(answerable + [(unanswerable, True)], max_false=0.5) == (1.0, 0.0, weights, -0.05)


def test_equal_abstention_goes_to_the_lowest_threshold():
    answerable = [(EvidenceFeatures(0.3, 0.0, 0), False), (EvidenceFeatures(0.9, 0.0, 0), False)]
    unanswerable = [(EvidenceFeatures(0.6, 1.0, 0), True)]
    # Without weights the unanswerable 0.6 is caught at 0.75 with half the answerable
    # questions lost, within a budget of 0.5; every missing weight from 0.4 up catches it
    # with none lost, and of those the largest gives the lowest threshold, (0.6 - 3.0 + 0.3) / 2.
    assert fit(answerable + unanswerable, max_false=0.5) == (1.0, 0.0, (3.0, 0.0, 0.0, 0.0), -1.05)


def test_fewer_false_abstentions_win_over_a_lower_threshold():
    data = [
        (EvidenceFeatures(0.9, 1.0, 0), False),
        (EvidenceFeatures(0.8, 0.0, 0), False),
        (EvidenceFeatures(0.5, 0.5, 0), True),
    ]
    # From a missing weight of 1.0 up the answerable first row sinks below the unanswerable
    # one: at 3.0 (-2.1, -1.0, 0.8) all unanswerable are caught at -0.1 with half the
    # answerable lost. At 0.6 (0.3, 0.8, 0.2) none is lost, at the higher threshold 0.25.
    assert fit(data, max_false=0.5) == (1.0, 0.0, (0.6, 0.0, 0.0, 0.0), 0.25)


def test_when_no_threshold_fits_the_budget_it_never_abstains():
    # the unanswerable question sits between two answerable ones
    abst, false, _, threshold = fit(rows([0.1, 0.9], [0.5]), max_false=0.0)
    assert (abst, false) == (0.0, 0.0)
    assert threshold < 0.1


@pytest.mark.parametrize(
    ("answerable", "unanswerable", "counts"),
    [([0.5, 0.7], [], "2 answerable and 0 unanswerable"),
     ([], [0.1], "0 answerable and 1 unanswerable")],
)
def test_a_dataset_without_both_kinds_is_refused(answerable, unanswerable, counts):
    with pytest.raises(ValueError) as e:
        fit(rows(answerable, unanswerable), max_false=0.05)
    assert str(e.value) == (
        f"calibrating needs answerable and unanswerable questions; the dataset has {counts}"
    )


def test_cross_validation_scores_each_fold_with_weights_fitted_on_the_others():
    # rows alternate answerable (i even) and unanswerable: with 5 folds, each fold holds
    # both kinds. The unanswerable 0.95 scores above every answerable question: no fit
    # catches it, and the fits without it still catch the other four.
    data = rows([0.5, 0.6, 0.7, 0.8, 0.9], [])
    unanswerable = rows([], [0.1, 0.15, 0.2, 0.25, 0.95])
    alternated = [r for pair in zip(data, unanswerable) for r in pair]
    assert cross_validate(alternated, max_false=0.0) == (0.8, 0.0)
    # the fit on all rows is the same: four caught, none lost
    assert fit(alternated, max_false=0.0)[:2] == (0.8, 0.0)


def test_cross_validation_folds_hold_both_kinds_however_the_rows_are_ordered():
    # every fifth row unanswerable: folds by position would leave one fold's training
    # rows without any unanswerable question, and its fit would refuse them
    data = [(EvidenceFeatures(0.1 if i % 5 == 0 else 0.5 + 0.01 * i, 0.0, 0), i % 5 == 0)
            for i in range(30)]
    assert cross_validate(data, max_false=0.0) == (1.0, 0.0)


def test_main_prints_the_fitted_constants_and_the_table(tiny_index, tiny_dataset, capsys):
    main(["--index", str(tiny_index), "--dataset", str(tiny_dataset)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "questions.jsonl: 4 questions, 1 unanswerable; false abstention budget 0.05"
    )
    fitted = re.fullmatch(
        r"fitted: threshold = (-?\d+\.\d{1,4}), missing_weight = 3\.0, "
        r"figure_penalty = 0\.0, focus_weight = 0\.0, type_penalty = 1\.0",
        lines[1],
    )
    assert fitted, lines[1]
    assert lines[2] == "  abstention on unanswerable 1.000, false abstention 0.000"
    # too few questions of a kind for 5 folds: no cross-validated line
    assert lines[3] == "evidence  coverage  missing  figures  focus  untyped  unanswerable  id"
    # one row per question, lowest evidence first: the unanswerable one, found in no
    # passage, and asking when (什么时候) of passages that name no time
    assert len(lines) == 8
    assert lines[4] == (
        "  -4.000     0.000    1.000        0  0.000        1  yes           "
        "t4 火星基地什么时候建成？"
    )
    assert [line.split()[-2] for line in lines[4:]] == ["t4", "t3", "t2", "t1"]
    # the threshold is halfway between the two lowest scores (printed to 3 decimals)
    lowest, next_lowest = (float(line.split()[0]) for line in lines[4:6])
    assert float(fitted.group(1)) == pytest.approx((lowest + next_lowest) / 2, abs=1e-3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-false", "-0.1"], "--max-false is a share of the answerable questions, "
                                  "from 0 to 1; got -0.1"),
        (["-k", "0"], "-k is how many passages a question is answered from, at least 1; got 0"),
    ],
)
def test_bad_options_are_one_line_errors(tiny_index, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(["--index", str(tiny_index), *args])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: {message}")


def test_a_missing_index_is_a_one_line_error(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["--index", str(tmp_path / "none")])
    assert str(e.value) == (f"calibrate: no index at {tmp_path / 'none'}; build one with: "
                            f"zhice ingest PATH --index {tmp_path / 'none'}")


def test_main_reports_the_fitted_rule_on_each_held_out_set(tiny_index, tiny_dataset, capsys,
                                                          tmp_path):
    # the held-out set: its unanswerable question only, so abstention is all that counts
    held = tmp_path / "held.jsonl"
    held.write_text(tiny_dataset.read_text(encoding="utf-8").splitlines()[-1] + "\n",
                    encoding="utf-8")
    main(["--index", str(tiny_index), "--dataset", str(tiny_dataset),
          "--heldout", f"{tiny_index}={held}"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[3] == "  held out, held.jsonl: abstention 1.000, false abstention 0.000"


def test_a_held_out_set_must_name_its_index(tiny_index, tiny_dataset, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--index", str(tiny_index), "--heldout", str(tiny_dataset)])
    assert exit_.value.code == 2
    assert "--heldout needs INDEX_DIR=DATASET.jsonl" in capsys.readouterr().err


def test_write_stores_the_fitted_rule_with_the_dataset_hash(tiny_index, tiny_dataset, capsys,
                                                            monkeypatch, tmp_path):
    # the packaged file stays as it is: the command writes beside a copy of this module
    fake_eval = tmp_path / "zhice" / "eval"
    fake_eval.mkdir(parents=True)
    (tmp_path / "zhice" / "assistant").mkdir()
    monkeypatch.setattr(calibrate, "__file__", str(fake_eval / "calibrate.py"))
    main(["--index", str(tiny_index), "--dataset", str(tiny_dataset), "--write"])
    written = tmp_path / "zhice" / "assistant" / "abstention.json"
    assert capsys.readouterr().out.endswith(f"wrote {written}\n")
    params = AbstentionParams.load(written)
    assert (params.missing_weight, params.type_penalty) == (3.0, 1.0)
    data = json.loads(written.read_text(encoding="utf-8"))
    assert data["fitted_on"] == [{"dataset": "questions.jsonl", "questions": 4, "sha256":
                                  hashlib.sha256(tiny_dataset.read_bytes()).hexdigest()}]
