"""The CI gate: the public eval set must hold every floor recorded in eval/floors.json.

Floors are raised when the product improves and never lowered silently: a change that
makes a metric fall fails here, naming the metric, its value and its floor.
"""

import json
from pathlib import Path

import pytest

from zhice.assistant.chain import Assistant
from zhice.assistant.cli import main
from zhice.eval.dataset import load_dataset
from zhice.eval.metrics import LOWER_IS_BETTER, METRIC_FORMATS, check_floors, load_floors, summarize
from zhice.eval.run import check_against_index, run_questions
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files
from zhice.ingest.loaders import SUPPORTED_SUFFIXES

ROOT = Path(__file__).parents[2]
FLOORS = ROOT / "eval" / "floors.json"
# The gate that counts: the dev set's held-out half, on documents nothing was tuned on.
HELD_OUT_FLOORS = ROOT / "eval" / "floors_heldout.json"


@pytest.mark.parametrize("floors_file", [HELD_OUT_FLOORS, FLOORS], ids=["held-out", "public"])
def test_floors_file_names_known_metrics_with_sane_values(floors_file):
    data = json.loads(floors_file.read_text(encoding="utf-8"))
    assert (ROOT / data["dataset"]).is_file() and data["corpus"]
    floors = load_floors(floors_file)
    known = {name for name, _ in METRIC_FORMATS}
    assert set(floors) <= known, set(floors) - known
    assert {"R@1", "MRR@10", "budget_recall", "keyword_accuracy", "citation_support",
            "groundedness", "abstention", "false_abstention"} <= set(floors)
    for name, value in floors.items():
        assert 0.0 <= value <= 1.0, name
    assert not set(floors) & {"latency_p50_ms", "latency_p95_ms"}  # machine-dependent
    assert "false_abstention" in LOWER_IS_BETTER


def test_load_floors_rejects_a_file_without_floors(tmp_path):
    from zhice.eval.dataset import DatasetError

    bad = tmp_path / "floors.json"
    bad.write_text('{"R@1": 0.9}', encoding="utf-8")
    with pytest.raises(DatasetError, match='expected JSON like {"floors"'):
        load_floors(bad)


def test_cli_floors_fail_with_a_message_naming_metric_value_and_floor(
        tiny_index, tiny_dataset, tmp_path, capsys):
    strict = tmp_path / "floors.json"
    strict.write_text(json.dumps({"floors": {"R@1": 1.01, "false_abstention": -0.01}}))
    assert main(["eval", "--index", str(tiny_index), "--dataset", str(tiny_dataset),
                 "--floors", str(strict)]) == 1
    err = capsys.readouterr().err
    assert "R@1 = " in err and "is below its floor 1.010" in err
    assert "false_abstention = " in err and "is above its ceiling -0.010" in err
    lenient = tmp_path / "lenient.json"
    lenient.write_text(json.dumps({"floors": {"R@1": 0.0, "false_abstention": 1.0}}))
    assert main(["eval", "--index", str(tiny_index), "--dataset", str(tiny_dataset),
                 "--floors", str(lenient)]) == 0


@pytest.mark.slow
@pytest.mark.parametrize("floors_file", [HELD_OUT_FLOORS, FLOORS], ids=["held-out", "public"])
def test_eval_set_holds_its_floors(tmp_path, floors_file):
    """Index the set's documents with the default embedder (30-90 s), run its questions
    through zhice, compare every metric to its floor."""
    data = json.loads(floors_file.read_text(encoding="utf-8"))
    corpus = (ROOT / data["corpus"]).resolve()
    if not corpus.is_dir():
        pytest.skip(f"{corpus} is not here (../shared/ beside the project)")
    files = sorted(p for p in corpus.iterdir() if p.name not in data.get("exclude", ())
                   and p.suffix.lower() in SUPPORTED_SUFFIXES)  # as a folder ingest takes
    directory = tmp_path / "index"
    with ZhiceIndex.open(directory, embedder=data["embedder"], create=True) as index:
        summary = index_files(index, files)
    assert not summary.failures
    questions = load_dataset(ROOT / data["dataset"])
    with Assistant.open(directory) as assistant:
        check_against_index(assistant, questions, data["dataset"])
        results = run_questions(assistant, questions, k=data["k"])
    metrics = summarize(questions, results)
    problems = check_floors(metrics, load_floors(floors_file))
    assert not problems, (
        f"{data['dataset']} fell past its recorded floors ({floors_file.name}):\n  "
        + "\n  ".join(problems)
        + "\nFix the regression; lower a floor only on purpose, saying why in the commit."
    )
