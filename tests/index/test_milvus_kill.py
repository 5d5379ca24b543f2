"""An ingest into Milvus Lite killed with SIGKILL at random points, while it replaces
every file: each file is fully old or fully new after each kill, and the next ingest
finishes the job with no row of an old version left."""

import random
import re
import shutil
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("milvus_lite")

from tests.index.slow_ingest import start_ingest  # noqa: E402
from tests.index.test_index import policy_text  # noqa: E402
from zhice.index.milvus_store import View  # noqa: E402
from zhice.index.segment import ChineseSegmenter  # noqa: E402
from zhice.index.stores import open_index  # noqa: E402
from zhice.ingest.chunker import chunk_document  # noqa: E402
from zhice.ingest.loaders import load  # noqa: E402

N_FILES = 16
KILLS = 4


def write_version(docs: Path, version: int, vocabulary: set[str]) -> dict[str, list[str]]:
    """Every file's text for `version`; the chunk texts an ingest makes of each. The
    chunks' BM25 tokens go into `vocabulary`."""
    docs.mkdir(exist_ok=True)
    segmenter = ChineseSegmenter().load()
    expected = {}
    for i in range(N_FILES):
        path = docs / f"{i:02d}_规划.txt"
        path.write_text(policy_text(1000 * version + i, paragraphs=3 + i % 3)
                        + f"第{version}版。\n", encoding="utf-8")
        chunks = chunk_document(load(path)).chunks
        expected[path.name] = [c.text for c in chunks]
        vocabulary.update(t for c in chunks for line in segmenter.passage(c.heading, c.text)
                          for t in line)
    return expected


def ingest(docs: Path, where: str):
    """A slowed `zhice ingest` that commits every 3 files: kills land in every step of
    a batch (milvus.py), several batches a run."""
    return start_ingest(docs, where, delay=0.08,
                        preload="jieba, pymilvus, milvus_lite, zhice.index.milvus",
                        setup="zhice.index.milvus.BATCH_FILES = 3")


def visible(where: str, vocabulary: set[str]) -> dict[str, list[str]]:
    """Per file as a question sees it: its chunk texts in order; and checks that the
    file row, its text and its chunks are of one version, and that the df of every
    word of `vocabulary` counts the chunks a question sees."""
    with open_index(where) as index:
        files = {f.source: f for f in index.files()}
        out = {source: [s.chunk.text for s in index.document_chunks(source)]
               for source in files}
        assert len(index) == sum(map(len, out.values()))
        # no chunk of a file the files do not show
        m = index.milvus
        shown = m.client.query(m.chunks_name, filter=View.of(m.get_meta("state")).expr(),
                               output_fields=["source"])
        assert {r["source"] for r in shown} == set(files)
        for source, texts in out.items():
            assert files[source].chunks == len(texts)
            text = index.file_text(source)
            assert all(t in text for t in texts)
        df = Counter(t for source in files for s in index.document_chunks(source)
                     for t in {t for line in s.lines for t in line})
        assert {t: index.df(t) for t in vocabulary} == {t: df[t] for t in vocabulary}
        return out


@pytest.mark.slow
def test_ingest_killed_while_replacing_files_leaves_each_old_or_new(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    where = f"milvus:{tmp_path / 'k.db'}"
    words: set[str] = set()
    old = write_version(docs, 1, words)
    proc = ingest(docs, where)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert visible(where, words) == old
    before, states = old, []
    rng = random.Random(18)
    for kill in range(KILLS):  # each kill in an ingest that replaces every file
        new = write_version(docs, 2 + kill, words)
        if kill == 0:  # a clean run of such an ingest, on a copy: the kills' range is
            # its ingest, after the start-up (opening the index is most of a run)
            shutil.copytree(tmp_path / "k.db", tmp_path / "timing.db")
            proc = ingest(docs, f"milvus:{tmp_path / 'timing.db'}")
            started = time.perf_counter()
            out, _ = proc.communicate(timeout=120)
            duration = time.perf_counter() - started
            ingest_s = float(re.search(r" in ([\d.]+) s$", out.strip()).group(1))
        delay = rng.uniform(duration - ingest_s, duration)
        proc = ingest(docs, where)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode in (-signal.SIGKILL, 0), proc.returncode
        have = visible(where, words)
        assert sorted(have) == sorted(old), f"kill {kill} after {delay:.2f} s"
        for source, texts in have.items():
            assert texts in (before[source], new[source]), (kill, source)
        states.append(sum(have[s] == new[s] for s in have))
        before = have

    proc = ingest(docs, where)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert visible(where, words) == new
    with open_index(where) as index:
        m = index.milvus
        state = m.get_meta("state")
        assert (state["hidden"], state["open"]) == ([], None)
        assert m.client.query(m.df_name, filter=f"batch > {state['through']}",
                              output_fields=["bucket"]) == []
        files = m.client.query(m.files_name, filter="", output_fields=["version"])
        chunks = m.client.query(m.chunks_name, filter="", output_fields=["version"])
        texts = m.client.query(m.texts_name, filter="", output_fields=["version"])
        versions = {r["version"] for r in files}
        assert len(files) == N_FILES  # no file row of an old version
        assert {r["version"] for r in chunks} == {r["version"] for r in texts} == versions
        assert len(chunks) == sum(len(v) for v in new.values())
    print(f"run {duration:.2f} s, ingest {ingest_s:.2f} s; files new after each kill: {states}")
