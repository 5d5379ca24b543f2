"""Dify's external knowledge API: requests and records (api/dify.py)."""

import pytest

from zhice.assistant.api.dify import KNOWLEDGE_ID, DifyError, parse_request, records
from zhice.assistant.types import Hit
from zhice.ingest.types import Chunk


def req(**setting) -> dict:
    return {"knowledge_id": KNOWLEDGE_ID, "query": "示范区有多少个？",
            "retrieval_setting": {"top_k": 5, "score_threshold": 0.5, **setting}}


def test_a_request_as_dify_sends_it():
    r = parse_request(req())
    assert (r.query, r.top_k, r.score_threshold) == ("示范区有多少个？", 5, 0.5)
    assert parse_request(req(score_threshold=0)).score_threshold == 0.0


@pytest.mark.parametrize(("body", "status", "code"), [
    ({**req(), "knowledge_id": "other"}, 404, 2001),
    ({**req(), "query": ""}, 400, 400),
    ({**req(), "query": "问" * 501}, 413, 413),
    ({k: v for k, v in req().items() if k != "retrieval_setting"}, 400, 400),
    (req(top_k=0), 400, 400), (req(top_k=51), 400, 400), (req(top_k="5"), 400, 400),
    (req(top_k=True), 400, 400), (req(score_threshold=1.5), 400, 400),
    (req(score_threshold=float("nan")), 400, 400), ("[]", 400, 400),
])
def test_bad_requests_are_refused_in_difys_error_shape(body, status, code):
    with pytest.raises(DifyError) as raised:
        parse_request(body)
    assert (raised.value.status, raised.value.code) == (status, code)
    assert set(raised.value.body()) == {"error_code", "error_msg"}


def test_records_hold_content_score_title_and_an_object_of_metadata():
    chunks = [Chunk("a.txt", i, f"段落{i}", f"段落{i}", "", 0, 3, title="" if i else "标题")
              for i in range(3)]
    hits = [Hit(i, c, 1.0) for i, c in enumerate(chunks)]
    out = records(hits, [1.3, 0.4, -0.1], threshold=0.3)
    assert [r["content"] for r in out["records"]] == ["段落0", "段落1"]
    assert [r["score"] for r in out["records"]] == [1.0, 0.4]  # clamped to 0..1
    assert [r["title"] for r in out["records"]] == ["标题", "a.txt"]  # no title: the file
    assert all(set(r) == {"content", "score", "title", "metadata"} and
               isinstance(r["metadata"], dict) for r in out["records"])
    assert records(hits, [0.1, 0.1, 0.1], threshold=0.5) == {"records": []}
