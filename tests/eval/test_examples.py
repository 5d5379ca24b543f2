"""Training examples of the answer model: the kinds built from a tuning set on its index,
and the swapped question on hand-written passages. No unanswerable example may hold the
answer it was made from."""

import pytest

from zhice.assistant.answer_model import AnswerModel
from zhice.assistant.chain import Assistant
from zhice.assistant.types import Hit
from zhice.eval.dataset import Evidence, Question, load_dataset
from zhice.eval.examples import KINDS, examples, foreign, sha256, swap
from zhice.ingest.normalize import match_key, search_key
from zhice.ingest.types import Chunk

NAMES = ("株洲", "湘潭", "衡阳", "宜宾")


def tagger(text: str) -> list[tuple[str, str]]:
    """A fake part-of-speech tagger: the four city names are places (ns), as jieba's
    tags them; nothing else is tagged."""
    return [(w, "ns") for w in NAMES if w in text]


def hit(rank: int, source: str, text: str) -> Hit:
    return Hit(rank, Chunk(source, rank, text, search_key(text), "", 0, len(text)), 1.0 / rank)


def question(text: str, keywords=("12个",), source: str = "gold.txt", quote=None) -> Question:
    return Question("q1", "number", text, tuple(keywords), 1, (Evidence(source, quote),))


GOLD = hit(1, "gold.txt", "2017年国家在株洲设立首批示范区12个，第一批名单同时公布。")
OTHER = hit(2, "other.txt", "2022年国家在湘潭设立第二批示范区，第三批名单2024年公布。")


@pytest.mark.parametrize(("asked", "swapped", "replacements"), [
    # a year: one other documents name and the gold one does not
    ("2017年设立的首批示范区有多少个？", "{}年设立的首批示范区有多少个？", ("2022", "2024")),
    # an ordinal
    ("第一批示范区有多少个？", "{}示范区有多少个？", ("第二批", "第三批")),
    # a place, by the tagger
    ("株洲设立的首批示范区有多少个？", "{}设立的首批示范区有多少个？", ("湘潭",)),
])
def test_a_swapped_question_names_what_other_documents_name_and_the_gold_one_does_not(
        asked, swapped, replacements):
    out = swap(question(asked), [GOLD, OTHER], [True, False], tagger)
    # as the question's search key (NFKC: "？" is "?")
    assert out in [search_key(swapped.format(w)) for w in replacements]
    assert not any(w in out for w in ("2017", "第一批", "株洲"))


def test_the_choice_among_replacements_is_fixed_by_the_question_id():
    asked = question("2017年设立的首批示范区有多少个？")
    first = swap(asked, [GOLD, OTHER], [True, False], tagger)
    assert all(swap(asked, [GOLD, OTHER], [True, False], tagger) == first for _ in range(3))


def test_nothing_to_swap_gives_no_question():
    # the question names no year, ordinal, figure or place
    assert swap(question("示范区的目标是什么？"), [GOLD, OTHER], [True, False], tagger) is None
    # the year it names has no replacement: no other document is retrieved
    assert swap(question("2017年设立的首批示范区有多少个？"), [GOLD], [True], tagger) is None


def test_a_replacement_the_gold_document_names_is_not_taken():
    gold = hit(1, "gold.txt", "2017年设立首批示范区12个，2022年设立第二批。")
    other = hit(2, "other.txt", "2022年国家在湘潭设立第二批示范区。")
    # 2022 is in the gold passage: answered there, no tempting unanswerable question
    out = swap(question("2017年设立的首批示范区有多少个？"), [gold, other], [True, False], tagger)
    assert out is None or "2022" not in out


@pytest.fixture(scope="module")
def assistant(_tiny_index):
    """An assistant on the tiny index, opened once: nothing here writes to it."""
    with Assistant.open(_tiny_index, answer_model=AnswerModel.neutral()) as opened:
        yield opened


@pytest.fixture(scope="module")
def built(assistant, tiny_dataset):
    questions = load_dataset(tiny_dataset)
    return questions, examples(assistant, questions, "tiny", tagger, k=3)


def test_every_kind_is_made_as_its_definition_says(built):
    questions, found = built
    by_id = {q.id: q for q in questions}
    assert {e.kind for e in found} <= set(KINDS)
    assert {e.set for e in found} == {"tiny"}
    assert all(len(e.hits) <= 3 for e in found)
    natural = [e for e in found if e.natural]
    # each dataset question once as asked, in order
    assert [e.group for e in natural] == [q.id for q in questions]
    for e in found:
        q = by_id[e.group]
        if e.kind == "unanswerable":
            assert q.type == "unanswerable" and e.answers == ()
        elif e.kind == "answerable":
            assert e.answers == q.keywords and e.evidence == q.evidence
            assert e.question == q.question
            assert any(h.chunk.source == q.evidence[0].source for h in e.hits)
        elif e.kind == "removed":
            assert e.question == q.question and e.answers == ()
    kinds = {(e.group, e.kind) for e in found}
    assert ("t4", "unanswerable") in kinds
    assert ("t1", "answerable") in kinds and ("t1", "removed") in kinds


def test_removed_and_swapped_examples_never_hold_the_answer(built):
    questions, found = built
    by_id = {q.id: q for q in questions}
    made = [e for e in found if e.kind in ("removed", "swapped")]
    assert made
    for e in made:
        q = by_id[e.group]
        if e.kind == "removed":
            assert all(not any(match_key(kw) in match_key(h.chunk.text) for kw in q.keywords)
                       for h in e.hits)
            assert all(h.chunk.source != q.evidence[0].source for h in e.hits)
        else:
            assert e.question != search_key(q.question)
        assert not e.answerable and not e.natural and e.trains


def test_no_removed_example_when_a_passage_left_holds_the_answer(built):
    _, found = built
    # t3's answer, 宜宾, is also in zones.txt ("首批示范区包括株洲、湘潭、衡阳和宜宾等城市")
    assert ("t3", "answerable") in {(e.group, e.kind) for e in found}
    assert ("t3", "removed") not in {(e.group, e.kind) for e in found}


def test_the_examples_hash_changes_with_the_examples_and_their_values(built):
    _, found = built
    rows = [[0.5, 1.0]] * len(found)
    digest = sha256(found, rows)
    assert len(digest) == 64 and digest == sha256(found, rows)
    assert sha256(found[:-1], rows) != digest
    assert sha256(found, [[0.5, 1.0]] * (len(found) - 1) + [[0.5, 0.9]]) != digest


def test_foreign_questions_are_off_topic_examples_that_never_hold_their_answer(assistant):
    # written for another corpus: one the tiny corpus cannot answer, one whose answer
    # (宜宾) it happens to hold, and one its writer marked unanswerable
    theirs = [
        Question("c1", "fact", "欧冠决赛在哪里举行？", ("伊斯坦布尔",), 1, (Evidence("x.txt"),)),
        Question("c2", "fact", "哪座城市的动力电池产业最大？", ("宜宾",), 1, (Evidence("x.txt"),)),
        Question("c3", "unanswerable", "火星基地什么时候建成？"),
    ]
    found = foreign(assistant, theirs, "tiny", "cmrc", k=3)
    [e] = found
    assert (e.set, e.group, e.kind, e.origin) == ("tiny", "c1", "foreign", "cmrc")
    assert e.question == "欧冠决赛在哪里举行？" and e.answers == ()
    assert 0 < len(e.hits) <= 3
    assert not e.answerable and not e.natural and e.trains
    # it shares a fold with the question it was made from, in its own set
    assert e.key == "cmrc/c1"
