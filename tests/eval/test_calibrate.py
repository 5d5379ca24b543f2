"""Fitting the answer model: the choices calibrate makes on hand-made scores, its options,
and the whole command on a tiny index, whose model file AnswerModel.load reads back."""

import hashlib
import json
import re

import numpy as np
import pytest

from zhice.assistant.answer_model import AnswerModel
from zhice.assistant.features import SENTENCE_FEATURES
from zhice.eval import calibrate
from zhice.eval.calibrate import Item, _kind_weights, auc_by_kind, choose_threshold, main
from zhice.eval.examples import Example

# Ten answerable and five unanswerable questions on the tiny corpus (tests/eval/conftest.py)
ANSWERABLE = [
    ("国家设立了多少个产业转型升级示范区？", ["20个"], "zones.txt", "设立了20个产业转型升级示范区"),
    ("国家级工业遗产一共有多少处？", ["648处"], "heritage.txt", "国家级工业遗产数总计648处"),
    ("哪座城市培育了千亿动力电池产业群？", ["宜宾"], "energy.txt", "动力电池产业群"),
    ("首批示范区包括哪些城市？", ["株洲", "湘潭"], "zones.txt", "首批示范区包括株洲"),
    ("什么是示范区？", ["老工业城市"], "zones.txt", "所谓示范区是指"),
    ("已公布几批国家工业遗产名单？", ["五批"], "heritage.txt", "已公布五批国家工业遗产名单"),
    ("电池产量占全国的比重是多少？", ["15%"], "energy.txt", "比重达到15%"),
    ("老厂房改造成了什么？", ["文化创意园区"], "heritage.txt", "文化创意园区"),
    ("宜宾还发展什么光伏产业？", ["晶硅光伏"], "energy.txt", "晶硅光伏产业"),
    ("工业遗产是什么的见证？", ["工业文明"], "heritage.txt", "工业遗产是工业文明的见证"),
]
UNANSWERABLE = ["火星基地什么时候建成？", "示范区每年能获得多少中央财政补助资金？",
                "工业遗产门票多少钱？", "动力电池的出口额是多少亿元？",
                "湘潭的地区生产总值是多少？"]


@pytest.fixture(scope="module")
def tuning(tmp_path_factory):
    path = tmp_path_factory.mktemp("tuning") / "tuning.jsonl"
    lines = [{"id": f"a{n}", "type": "fact", "question": q, "keywords": kw,
              "evidence": [{"source": src, "quote": quote}]}
             for n, (q, kw, src, quote) in enumerate(ANSWERABLE, 1)]
    lines += [{"id": f"u{n}", "type": "unanswerable", "question": q, "keywords": [],
               "evidence": []} for n, q in enumerate(UNANSWERABLE, 1)]
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines),
                    encoding="utf-8")
    return path


def item(name: str, kind: str, n: int, budget: float = 0.05) -> Item:
    """An example reduced to what the choices read: its set, kind and budget."""
    return Item(Example(name, f"{name}{n}", kind, "", ()), None, (), (), 0,
                np.zeros((0, len(SENTENCE_FEATURES))), budget)


# ---- the choices, on hand-made probabilities --------------------------------------


def test_the_threshold_keeps_each_sets_false_abstention_within_its_budget():
    # set a: 4 answerable, budget 0.25 (one may be lost); set b: 2 answerable, budget 0
    items = [item("a", "answerable", n, 0.25) for n in range(4)]
    items += [item("b", "answerable", n, 0.0) for n in range(2)]
    items += [item("a", "removed", 9)]
    oof = np.array([0.1, 0.5, 0.7, 0.9, 0.6, 0.8, 0.2])
    # a's 0.1 may go; b's 0.6 may not: the threshold keeps 0.5 (and everything above)...
    t = choose_threshold(items, oof)
    # ...halfway down to the next lower probability of any example, the removed 0.2
    assert t == pytest.approx((0.5 + 0.2) / 2)
    assert [p >= t for p in oof] == [False, True, True, True, True, True, False]


def test_the_threshold_loses_nothing_when_no_loss_is_allowed():
    items = [item("a", "answerable", n, 0.0) for n in range(3)] + [item("a", "unanswerable", 9)]
    oof = np.array([0.4, 0.6, 0.8, 0.1])
    assert choose_threshold(items, oof) == pytest.approx(0.25)  # between 0.1 and 0.4
    # the unanswerable question above an answerable one stays answered
    assert choose_threshold(items, np.array([0.4, 0.6, 0.8, 0.5])) == pytest.approx(0.4)


def test_missed_questions_count_against_the_budget_as_the_eval_counts_them():
    # a missed question (gold not retrieved) is answerable as asked: losing it is a false
    # abstention, though it trains nothing
    items = [item("a", "answerable", 0, 0.0), item("a", "missed", 1, 0.0)]
    assert choose_threshold(items, np.array([0.8, 0.3])) == pytest.approx(0.3)


def test_auc_is_per_set_and_kind_of_unanswerable_example():
    items = [item("a", "answerable", n) for n in range(2)]
    items += [item("a", "removed", 2), item("a", "swapped", 3), item("b", "answerable", 4),
              item("b", "unanswerable", 5)]
    oof = np.array([0.9, 0.5, 0.1, 0.7, 0.4, 0.4])
    assert auc_by_kind(items, oof) == {
        ("a", "removed"): 1.0,  # both answerable above it
        ("a", "swapped"): 0.5,  # one of two
        ("b", "unanswerable"): 0.5,  # a tie counts half
    }


def test_every_set_and_every_kind_within_a_set_weighs_the_same():
    items = [item("big", "answerable", n) for n in range(6)]
    items += [item("big", "removed", n) for n in range(3)] + [item("big", "unanswerable", 9)]
    items += [item("small", "answerable", 0), item("small", "removed", 1),
              item("small", "missed", 2)]
    w = _kind_weights(items)
    sums: dict[tuple[str, str], float] = {}
    for it, x in zip(items, w):
        key = (it.example.set, it.example.kind)
        sums[key] = sums.get(key, 0.0) + x
    assert sums[("big", "answerable")] == pytest.approx(1 / 3)  # three kinds in big
    assert sums[("big", "removed")] == sums[("big", "unanswerable")] == pytest.approx(1 / 3)
    assert sums[("small", "answerable")] == sums[("small", "removed")] == pytest.approx(1 / 2)
    assert sums[("small", "missed")] == 0.0  # not a training example


# ---- the command -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-false", "-0.1"], "--max-false is a share of the answerable questions, "
                                  "from 0 to 1; got -0.1"),
        (["--max-false-benchmark", "2"], "--max-false-benchmark is a share of the answerable "
                                         "questions, from 0 to 1; got 2.0"),
        (["-k", "0"], "-k is how many passages a question is answered from, at least 1; got 0"),
    ],
)
def test_bad_options_are_one_line_errors(tiny_index, tuning, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(["--set", f"{tiny_index}={tuning}", *args])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: {message}")


@pytest.mark.parametrize("held", ["dev_heldout.jsonl", "cmrc2018_dev.json", "DRCD_dev.json"])
def test_a_held_out_set_is_never_fitted_on(tiny_index, tmp_path, capsys, held):
    with pytest.raises(SystemExit) as e:
        main(["--set", f"{tiny_index}={tmp_path / held}"])
    assert e.value.code == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.endswith(f"error: {tmp_path / held} is held out (eval/README.md): give it with "
                        "--heldout, never --set")


def test_a_set_must_name_its_index(tuning, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--set", str(tuning)])
    assert e.value.code == 2
    assert "--set needs INDEX_DIR=DATASET.jsonl" in capsys.readouterr().err


def test_two_sets_of_one_name_are_refused(tiny_index, tuning, capsys):
    with pytest.raises(SystemExit):
        main(["--set", f"{tiny_index}={tuning}", "--set", f"{tiny_index}={tuning}"])
    assert "each --set needs a dataset of its own name" in capsys.readouterr().err


def test_a_missing_index_is_a_one_line_error(tmp_path, tuning):
    with pytest.raises(SystemExit) as e:
        main(["--set", f"{tmp_path / 'none'}={tuning}"])
    assert str(e.value) == (f"calibrate: no index at {tmp_path / 'none'}; build one with: "
                            f"zhice ingest PATH --index {tmp_path / 'none'}")


def test_a_set_without_answerable_examples_is_refused(tiny_index, tmp_path):
    only = tmp_path / "only.jsonl"
    only.write_text("".join(json.dumps({"id": f"u{n}", "type": "unanswerable", "question": q,
                                        "keywords": [], "evidence": []}, ensure_ascii=False)
                            + "\n" for n, q in enumerate(UNANSWERABLE)), encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main(["--set", f"{tiny_index}={only}"])
    assert str(e.value) == ("calibrate: fitting needs answerable and unanswerable examples; "
                            "the sets give 0 answerable and 5 unanswerable")


@pytest.mark.slow
def test_write_stores_a_model_that_loads_with_its_data_hash(tiny_index, tuning, tiny_dataset,
                                                            capsys, monkeypatch, tmp_path):
    """The whole fit on the tiny index (about 10 s): the report, the held-out line, and
    the file AnswerModel.load reads back."""
    # the packaged file stays as it is: the command writes beside a copy of this module
    fake_eval = tmp_path / "zhice" / "eval"
    fake_eval.mkdir(parents=True)
    (tmp_path / "zhice" / "assistant").mkdir()
    monkeypatch.setattr(calibrate, "__file__", str(fake_eval / "calibrate.py"))
    main(["--set", f"{tiny_index}={tuning}", "--heldout", f"{tiny_index}={tiny_dataset}",
          "--write"])
    out = capsys.readouterr().out
    written = tmp_path / "zhice" / "assistant" / "answer_model.json"
    assert out.endswith(f"wrote {written}\n")
    lines = out.splitlines()
    assert re.fullmatch(r"tuning: 10 answerable, 5 unanswerable, \d+ removed(, \d+ swapped)?",
                        lines[0])
    assert lines[1].startswith("sentence model (L2 ")
    # every sentence feature is weighed; the evidence model names the features it chose
    assert [w.split()[0] for w in lines[1].split(": ", 1)[1].split(", ")] == list(
        SENTENCE_FEATURES)
    cv = next(line for line in lines if line.startswith("  tuning: "))
    for metric in ("keyword_accuracy", "citation_support", "groundedness", "abstention",
                   "false_abstention", "AUC (removed)", "best sentence holds the answer"):
        assert f"{metric} " in cv
    held = next(line for line in lines
                if line.startswith("held out, questions.jsonl (4 questions): "))
    for metric in ("R@1", "MRR@10", "budget_recall", "keyword_accuracy", "abstention",
                   "false_abstention"):
        assert f" {metric} " in held
    assert "latency" not in held
    digest = re.search(r"examples sha256 ([0-9a-f]{64})", out).group(1)

    model = AnswerModel.load(written)
    assert model.data_sha256 == digest
    assert model.sentence.features == SENTENCE_FEATURES
    assert 0.0 <= model.threshold <= 1.0
    data = json.loads(written.read_text(encoding="utf-8"))
    [fitted_on] = data["fitted_on"]
    assert fitted_on["dataset"] == "tuning.jsonl"
    assert fitted_on["sha256"] == hashlib.sha256(tuning.read_bytes()).hexdigest()
    assert fitted_on["examples"]["answerable"] == 10
    assert data["cross_validated"]["tuning"]["keyword_accuracy"] >= 0.0
    # the held-out set is measured, never fitted on
    assert [d["dataset"] for d in data["fitted_on"]] == ["tuning.jsonl"]
