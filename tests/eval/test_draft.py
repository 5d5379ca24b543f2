from pathlib import Path

import pytest

from zhice.assistant.cli import main
from zhice.eval.dataset import QUESTION_TYPES, check_evidence, load_dataset
from zhice.eval.draft import _definition, _listing, _number, draft_questions
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files
from zhice.ingest.normalize import match_key

CORPUS = Path(__file__).parents[2] / "corpus"


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory) -> Path:
    """The bundled corpus with the fake embedder: real documents, no model."""
    directory = tmp_path_factory.mktemp("draft") / "index"
    with ZhiceIndex.open(directory, embedder="fake", create=True) as index:
        index_files(index, [CORPUS])
    return directory


def test_number_question_asks_for_the_figure():
    d = _number("我国目前登记在名录中的国家级工业遗产数总计648处。", "a.txt")
    assert d.type == "number" and d.keywords == ("648处",)
    assert d.question == "我国目前登记在名录中的国家级工业遗产数总计多少处？"
    assert d.quote == "我国目前登记在名录中的国家级工业遗产数总计648处"
    assert _number("新质生产力是当代先进生产力(周文、许凌云,2023)。", "a.txt") is None
    assert _number("2024年是关键之年。", "a.txt") is None


def test_definition_and_list_questions():
    d = _definition("新质生产力是以科技创新为主导、实现关键性颠覆性技术突破的生产力。", "a.txt")
    assert d.question == "什么是新质生产力？" and d.keywords == ("科技创新为主导",)
    assert d.quote == "新质生产力是以科技创新为主导"
    assert _definition("这是指过去的做法。", "a.txt") is None
    d = _listing("首批示范区包括株洲、湘潭、衡阳和宜宾等城市。", "a.txt")
    assert d.question == "首批示范区包括哪些？"
    assert d.keywords == ("株洲", "湘潭", "衡阳") and d.min_match == 2


def test_drafts_load_as_a_dataset_and_every_quote_is_in_its_source(corpus_index, tmp_path):
    out = tmp_path / "draft.jsonl"
    assert main(["eval", "--draft", "15", "--index", str(corpus_index),
                 "--output", str(out)]) == 0
    questions = load_dataset(out)
    assert len(questions) == 15
    assert len({q.id for q in questions}) == 15
    assert all(q.type in QUESTION_TYPES for q in questions)
    assert {q.type for q in questions} >= {"number", "list"}
    assert len({q.evidence[0].source for q in questions}) == 5  # spread over the documents
    with ZhiceIndex.open(corpus_index) as index:
        texts = {f.source: index.store.file_text(f.source) for f in index.files()}
    check_evidence(questions, texts, out.name)  # raises if a quote is not in its source
    for q in questions:
        assert all(match_key(k) in match_key(q.evidence[0].quote) for k in q.keywords)
        assert q.question.endswith("？")


def test_draft_to_stdout_is_json_lines(corpus_index, capsys):
    assert main(["eval", "--draft", "3", "--index", str(corpus_index)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.startswith('{"id": "draft') for line in lines)


def test_draft_asks_for_at_least_one(corpus_index, capsys):
    assert main(["eval", "--draft", "0", "--index", str(corpus_index)]) == 2
    assert "at least 1" in capsys.readouterr().err
    with ZhiceIndex.open(corpus_index) as index:
        with pytest.raises(ValueError, match="n must be at least 1"):
            draft_questions(index, 0)
