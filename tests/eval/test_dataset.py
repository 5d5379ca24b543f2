import json
from pathlib import Path

import pytest

from zhice.eval.dataset import (
    BUNDLED_DATASET,
    QUESTION_TYPES,
    DatasetError,
    Evidence,
    Question,
    check_evidence,
    load_dataset,
)
from zhice.ingest.errors import ZhiceError
from zhice.ingest.loaders import load
from zhice.ingest.normalize import is_traditional

CORPUS = Path(__file__).parents[2] / "corpus"

GOOD = {
    "id": "q1",
    "type": "number",
    "question": "国家一共支持建设了多少个产业转型升级示范区？",
    "keywords": ["20个"],
    "evidence": [{"source": "a.txt", "quote": "先后设立了20个产业转型升级示范区"}],
}


def line(**changes) -> str:
    """GOOD with fields changed (a value of None drops the field), as one JSON line."""
    obj = {**GOOD, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not None}, ensure_ascii=False)


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    return str(info.value)


# -- the bundled dataset ---------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> list[Question]:
    return load_dataset(BUNDLED_DATASET)


def test_bundled_dataset_size_and_types(bundled):
    assert len(bundled) >= 80
    assert sum(q.type == "unanswerable" for q in bundled) >= 10
    assert {q.type for q in bundled} == set(QUESTION_TYPES)
    assert [q.line for q in bundled] == list(range(1, len(bundled) + 1))


def test_bundled_dataset_covers_every_corpus_document(bundled):
    sources = {ev.source for q in bundled for ev in q.evidence}
    assert sources == {p.name for p in CORPUS.glob("*.txt")}


def test_bundled_unanswerable_questions_have_no_keywords_or_evidence(bundled):
    for q in bundled:
        if q.type == "unanswerable":
            assert (q.keywords, q.evidence, q.min_match) == ((), (), 0)
        else:
            assert q.keywords and q.evidence and 1 <= q.min_match <= len(q.keywords)


def test_bundled_traditional_and_multi_doc_evidence(bundled):
    for q in bundled:
        sources = {ev.source for ev in q.evidence}
        if q.type == "traditional":
            # traditional script in the question, the passage (004 is the corpus's
            # document in traditional script) or both: the tests of script normalisation
            traditional_source = sources == {"004_7e91f5c9a91c3b3b.txt"}
            assert is_traditional(q.question) or traditional_source, q.id
        if q.type == "multi_doc":
            assert len(sources) >= 2, q.id


def test_every_bundled_quote_is_found_in_its_source(bundled):
    texts = {p.name: p.read_text(encoding="utf-8") for p in CORPUS.glob("*.txt")}
    check_evidence(bundled, texts, BUNDLED_DATASET.name)


# -- loading ---------------------------------------------------------------------------


def test_load_parses_fields_defaults_and_skips_blank_lines(tmp_path):
    path = write(
        tmp_path,
        line(),
        "",
        "   ",
        line(
            id="q2",
            type="list",
            keywords=["甲", "乙", "丙"],
            min_match=2,
            evidence=[{"source": "b.txt"}],
        ),
        line(id="q3", type="unanswerable", keywords=[], evidence=[]),
    )
    assert load_dataset(path) == [
        Question(
            "q1",
            "number",
            GOOD["question"],
            ("20个",),
            1,
            (Evidence("a.txt", "先后设立了20个产业转型升级示范区"),),
            1,
        ),
        Question("q2", "list", GOOD["question"], ("甲", "乙", "丙"), 2, (Evidence("b.txt"),), 4),
        Question("q3", "unanswerable", GOOD["question"], (), 0, (), 5),
    ]


def test_min_match_defaults_to_all_keywords():
    assert Question("q1", "list", "?", ("a", "b", "c")).min_match == 3


def test_missing_file(tmp_path):
    path = tmp_path / "nope.jsonl"
    assert error_of(path) == f"{path}: does not exist; pass the path of a JSON Lines dataset file"


def test_folder_instead_of_file(tmp_path):
    assert error_of(tmp_path) == (
        f"{tmp_path}: is not a file; pass the path of a JSON Lines dataset file"
    )


def test_lines_are_cut_at_newlines_only(tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text(line(question="甲\u2028乙") + "\r\n" + line(id="q2") + "\r\n", encoding="utf-8")
    assert [(q.id, q.question, q.line) for q in load_dataset(path)] == [
        ("q1", "甲\u2028乙", 1),
        ("q2", GOOD["question"], 2),
    ]


def test_dataset_error_is_a_zhice_error():
    assert issubclass(DatasetError, ZhiceError)


def test_bad_json_line(tmp_path):
    path = write(tmp_path, line(), line(id="q2"), '{"id": "q3" "type": "name"}')
    assert error_of(path) == (
        "questions.jsonl:3: not valid JSON (Expecting ',' delimiter); "
        "each line must be one JSON object"
    )


def test_line_that_is_not_an_object(tmp_path):
    path = write(tmp_path, '["q1", "number"]')
    assert error_of(path) == (
        "questions.jsonl:1: expected a JSON object, got list; each line must be one JSON object"
    )


def test_missing_field(tmp_path):
    path = write(tmp_path, line(), "", line(id="q2", question=None))
    assert error_of(path) == (
        "questions.jsonl:3: missing field 'question'; "
        "every line needs id, type, question, keywords, evidence"
    )


def test_any_type_label_is_accepted(tmp_path):
    """`type` is a free label (INTERFACES.md): a user's or a SQuAD-style set's own labels."""
    path = write(tmp_path, line(id="a", type="fact"), line(id="b", type="多文档"),
                 line(id="c", type="who"))
    assert [q.type for q in load_dataset(path)] == ["fact", "多文档", "who"]


def test_min_match_without_keywords_is_ignored(tmp_path):
    path = write(tmp_path, line(type="unanswerable", keywords=[], evidence=[], min_match=1))
    (q,) = load_dataset(path)
    assert (q.keywords, q.min_match) == ((), 0)


def test_duplicate_id(tmp_path):
    path = write(tmp_path, line(id="q1"), line(id="q2"), line(id="q3"), line(id="q2"))
    assert error_of(path) == (
        "questions.jsonl:4: duplicate id 'q2' (first on line 2); ids must be unique"
    )


MIN_MATCH_RANGE = "min_match must be an integer from 1 to 1 (the number of keywords)"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": ""}, "id must be a non-empty string, got ''"),
        ({"keywords": "20个"}, "keywords must be a JSON array, got '20个'"),
        ({"keywords": ["20个", 20]}, "keywords item must be a non-empty string, got 20"),
        ({"min_match": 2}, f"{MIN_MATCH_RANGE}, got 2"),
        ({"min_match": True}, f"{MIN_MATCH_RANGE}, got True"),
        (
            {"evidence": ["a.txt"]},
            'each evidence entry must be an object like {"source": "file.txt", "quote": "..."}, '
            'got "a.txt"',
        ),
        (
            {"evidence": [{"source": "a.txt", "quote": ""}]},
            "evidence quote must be a non-empty string, got ''",
        ),
        (
            {"type": "unanswerable"},
            "an 'unanswerable' question must have empty keywords and evidence",
        ),
        (
            {"keywords": [], "evidence": []},
            "keywords and evidence are both empty; give at least one, or use type 'unanswerable'",
        ),
        ({"type": ""}, "type must be a non-empty string, got ''"),
        ({"type": 3}, "type must be a non-empty string, got 3"),
    ],
)
def test_bad_field_values(tmp_path, changes, message):
    path = write(tmp_path, line(**changes))
    assert error_of(path) == f"questions.jsonl:1: {message}"


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_bytes((line() + "\n").encode() + "问题".encode("gbk") + b"\n")
    assert error_of(path) == "questions.jsonl:2: not UTF-8 text; save the file as UTF-8"


def test_empty_file(tmp_path):
    path = write(tmp_path, "", "")
    assert error_of(path) == "questions.jsonl: no questions; each line must be one JSON object"


# -- evidence against the sources --------------------------------------------------------

TEXTS = {
    "a.txt": "党的十八大以来,先后设 立了20个产业转型升级示范区和\n20个县城产业转型升级示范园区。",
    "b.txt": "推動產業轉型升級示范區高質量發展",
}


def check(tmp_path: Path, *lines: str) -> str | None:
    questions = load_dataset(write(tmp_path, *lines))
    try:
        check_evidence(questions, TEXTS, "questions.jsonl")
    except DatasetError as e:
        return str(e)
    return None


def test_quotes_match_across_whitespace_and_script(tmp_path):
    assert (
        check(
            tmp_path,
            line(
                evidence=[
                    {"source": "a.txt", "quote": "先后设立了20个产业转型升级示范区和20个县城"}
                ]
            ),
            line(id="q2", evidence=[{"source": "b.txt", "quote": "推动产业转型升级示范区"}]),
            line(id="q3", evidence=[{"source": "b.txt"}]),
        )
        is None
    )


def test_a_quote_across_table_cells_is_found_as_the_document_shows_it(tmp_path):
    page = tmp_path / "plan.html"
    page.write_text("<html><body><div><p>一、总体要求。这是规划的正文，其后是指标表。</p>"
                    "<table><tr><td>指标</td><td>2020年</td><td>2025年</td></tr>"
                    "<tr><td>城乡教育共同体数量（个）</td><td>102</td><td>120</td></tr>"
                    "<tr><td>省一级幼儿园比例（%）</td><td>11.5</td><td>14</td></tr>"
                    "</table></div></body></html>", encoding="utf-8")
    text = load(page).text
    assert "城乡教育共同体数量（个） | 102 | 120" in text  # the loaders' cell separator
    for quote in ("城乡教育共同体数量（个） 102 120", "城乡教育共同体数量（个）102120"):
        questions = load_dataset(write(tmp_path, line(
            evidence=[{"source": "plan.html", "quote": quote}])))
        check_evidence(questions, {"plan.html": text}, "questions.jsonl")
    questions = load_dataset(write(tmp_path, line(
        evidence=[{"source": "plan.html", "quote": "城乡教育共同体数量（个） 120"}])))
    with pytest.raises(DatasetError, match="not found in source plan.html"):
        check_evidence(questions, {"plan.html": text}, "questions.jsonl")


def test_quote_not_in_source(tmp_path):
    message = check(
        tmp_path,
        line(),
        line(id="q2", evidence=[{"source": "a.txt", "quote": "设立了30个产业转型升级示范区"}]),
    )
    assert message == (
        "questions.jsonl:2: quote '设立了30个产业转型升级示范区' not found in source a.txt; "
        "a quote must be an exact phrase of the source "
        "(compared without whitespace, in simplified script)"
    )


def test_unknown_source(tmp_path):
    message = check(tmp_path, "", line(evidence=[{"source": "x.txt", "quote": "20个"}]))
    assert message == (
        "questions.jsonl:2: source 'x.txt' is not in the index; expected one of: a.txt, b.txt"
    )


def test_unknown_source_with_empty_index(tmp_path):
    questions = load_dataset(write(tmp_path, line()))
    with pytest.raises(DatasetError) as info:
        check_evidence(questions, {}, "questions.jsonl")
    assert str(info.value) == (
        "questions.jsonl:1: source 'a.txt' is not in the index; "
        "expected one of: (none, the index is empty)"
    )
