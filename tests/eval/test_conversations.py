"""Multi-turn evaluation: conversations files are checked like datasets, every turn is
asked with the conversation so far, and follow-ups are reported as asked and standalone."""

import json

import pytest

from zhice.assistant.chain import Assistant
from zhice.eval import conversations
from zhice.eval.conversations import evaluate, load_conversations, run_conversations
from zhice.eval.dataset import DatasetError

ZONES = {"source": "zones.txt", "quote": "国家先后设立了20个产业转型升级示范区"}
CONVERSATIONS = [
    {"id": "c1", "turns": [
        {"question": "国家设立了多少个产业转型升级示范区？", "type": "number",
         "keywords": ["20个"], "evidence": [ZONES]},
        {"question": "那首批包括哪些城市？", "standalone": "首批产业转型升级示范区包括哪些城市？",
         "type": "list", "keywords": ["株洲", "宜宾"],
         "evidence": [{"source": "zones.txt",
                       "quote": "首批示范区包括株洲、湘潭、衡阳和宜宾等城市"}]},
        {"question": "那火星呢？", "standalone": "火星上设立了多少个产业转型升级示范区？",
         "type": "unanswerable", "keywords": [], "evidence": []},
    ]},
    {"id": "c2", "turns": [
        {"question": "国家级工业遗产一共有多少处？", "type": "number", "keywords": ["648处"],
         "evidence": [{"source": "heritage.txt", "quote": "国家级工业遗产数总计648处"}]},
    ]},
]


def write(tmp_path, lines) -> str:
    path = tmp_path / "conversations.jsonl"
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False))
                            + "\n" for x in lines), encoding="utf-8")
    return path


def test_turns_are_read_as_questions_with_ids_by_position(tmp_path):
    convs = load_conversations(write(tmp_path, CONVERSATIONS))
    assert [c.id for c in convs] == ["c1", "c2"]
    assert [t.question.id for t in convs[0].turns] == ["c1/1", "c1/2", "c1/3"]
    assert convs[0].turns[1].standalone == "首批产业转型升级示范区包括哪些城市？"
    assert convs[0].turns[0].standalone is None
    assert convs[0].turns[2].question.type == "unanswerable"


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", r"conversations.jsonl:1: not valid JSON"),
    ({"turns": CONVERSATIONS[0]["turns"]}, r':1: a conversation needs an "id"'),
    ({"id": "x", "turns": []}, r'"turns" must be a non-empty list'),
    ({"id": "x", "turns": [{"question": "多少？", "type": "number", "keywords": []}]},
     r":1: turn 1: missing field 'evidence'"),
    ({"id": "x", "turns": [{**CONVERSATIONS[1]["turns"][0], "standalone": ""}]},
     r'turn 1: "standalone" must be a non-empty string'),
])
def test_a_bad_conversation_is_named_by_line_and_turn(tmp_path, line, message):
    with pytest.raises(DatasetError, match=message):
        load_conversations(write(tmp_path, [line]))


def test_a_repeated_conversation_id_is_refused(tmp_path):
    with pytest.raises(DatasetError, match=r":2: duplicate conversation id 'c2'"):
        load_conversations(write(tmp_path, [CONVERSATIONS[1], CONVERSATIONS[1]]))


def test_each_turn_is_asked_with_the_questions_searched_before_it(tiny_index, tmp_path):
    convs = load_conversations(write(tmp_path, CONVERSATIONS))
    with Assistant.open(tiny_index) as assistant:
        results = run_conversations(assistant, convs)
        alone = assistant.ask("那火星呢？").to_dict()
    assert [r["id"] for r in results] == ["c1/1", "c1/2", "c1/3", "c2/1"]
    # "那火星呢？" means nothing alone: in its conversation it was rewritten from before
    assert results[2]["searched_question"] != "那火星呢？"
    assert "searched_question" not in alone
    # the next conversation starts afresh
    assert "searched_question" not in results[3]


def test_follow_ups_are_reported_as_asked_and_standalone(tiny_index, tmp_path):
    convs = load_conversations(write(tmp_path, CONVERSATIONS))
    with Assistant.open(tiny_index) as assistant:
        summaries = evaluate(assistant, convs)
    assert list(summaries) == ["first turns", "follow-ups", "follow-ups asked standalone"]
    first, follow, alone = summaries.values()
    assert (first["questions"], first["answerable"]) == (2, 2)
    assert (follow["questions"], follow["answerable"]) == (2, 1)
    assert alone["questions"] == 2
    assert first["keyword_accuracy"] == 1.0


def test_the_command_prints_a_table_per_file_and_names_a_missing_source(
        tiny_index, tmp_path, capsys):
    path = write(tmp_path, CONVERSATIONS)
    assert conversations.main(["--index", str(tiny_index), str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("conversations.jsonl: first turns: 2 (0 unanswerable), "
                          "follow-ups: 2 (1 unanswerable)")
    assert "follow-ups asked standalone" in out and "keyword_accuracy" in out
    wrong = [{"id": "w", "turns": [{**CONVERSATIONS[1]["turns"][0],
                                    "evidence": [{"source": "nope.txt"}]}]}]
    assert conversations.main(["--index", str(tiny_index), str(write(tmp_path, wrong))]) == 2
    assert "source 'nope.txt' is not in the index" in capsys.readouterr().out
