"""`index_files(workers=2)`: worker processes prepare and embed, one writer writes; the
index comes out as a one-process ingest makes it."""

import sqlite3
from pathlib import Path

import pytest

from tests.index.test_index import policy_text, share_segmenter
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files


@pytest.fixture(autouse=True)
def _fast_segmenter(monkeypatch: pytest.MonkeyPatch) -> None:
    share_segmenter(monkeypatch)


def rows(directory: Path) -> list[tuple]:
    db = sqlite3.connect(directory / "zhice.sqlite3")
    try:
        return db.execute("SELECT id, source, ordinal, text, tokens, vector FROM chunks "
                          "ORDER BY id").fetchall()
    finally:
        db.close()


@pytest.mark.slow
def test_workers_make_the_index_one_process_makes(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(6):
        (docs / f"{i}.txt").write_text(policy_text(i, paragraphs=3 + i), encoding="utf-8")
    (docs / "broken.pdf").write_bytes(b"not a pdf")
    seen = []
    with ZhiceIndex.open(tmp_path / "one", embedder="fake", create=True) as index:
        one = index_files(index, [docs])
    with ZhiceIndex.open(tmp_path / "two", embedder="fake", create=True) as index:
        two = index_files(index, [docs], lambda s, r: seen.append(s), workers=2)
        again = index_files(index, [docs], workers=2)
    assert two.line().split(" in ")[0] == one.line().split(" in ")[0]
    assert [f.path for f in two.failures] == [f.path for f in one.failures] != []
    assert seen == sorted(seen) and len(seen) == 7  # in the order named, one call a file
    assert rows(tmp_path / "one") == rows(tmp_path / "two")
    assert (again.unchanged, again.added) == (6, 0)
