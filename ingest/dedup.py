"""Exact and near-duplicate detection on search keys.

Two places use it. Inside a document, a paragraph that nearly repeats another (the
plan's preface appears twice, once garbled) is folded before splitting, keeping the
cleaner copy. Across the index, a chunk that repeats an indexed one is recorded as a
duplicate instead of being indexed again (index/store.py, with `minhash_bands`).
"""

import re
import zlib
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

SHINGLE = 3
# Paragraphs: the smaller one's shingles mostly inside the larger one, and a real share
# of both in common. Measured on the demo corpus: the garbled preface paragraphs score
# containment 0.58-0.79 / Jaccard 0.24-0.60 against their clean copies; the closest
# unrelated pair (a list item inside its paragraph) 0.51 / 0.07.
PARAGRAPH_CONTAINMENT = 0.55
PARAGRAPH_JACCARD = 0.2
MIN_PARAGRAPH = 30
# Chunks across documents: the same passage in two files (a PDF and a DOCX of one
# policy) aligns into nearly the same chunks.
CHUNK_JACCARD = 0.7

_NOISE = re.compile(r"\s+")
_PUNCT = re.compile(r"[，。、；：？！“”‘’（）《》【】,.;:?!\"'()\[\]<>—…·-]")


def shingles(key: str) -> frozenset[str]:
    """Character trigrams of a search key, whitespace ignored."""
    k = _NOISE.sub("", key)
    if len(k) < SHINGLE:
        return frozenset([k]) if k else frozenset()
    return frozenset(k[i : i + SHINGLE] for i in range(len(k) - SHINGLE + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b|; 0 for two empty sets."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _quality(text: str) -> float:
    """Share of full-width punctuation: PDF-garbled Chinese text has half-width commas."""
    marks = _PUNCT.findall(text)
    if not marks:
        return 1.0
    return sum(1 for m in marks if ord(m) > 0x2000) / len(marks)


@dataclass(frozen=True)
class Fold:
    """A paragraph folded into another: both as (start, end) offsets in the text."""

    duplicate: tuple[int, int]
    kept: tuple[int, int]


def near_duplicate_paragraphs(text: str, keys: list[str] | None = None) -> list[Fold]:
    """Paragraphs (lines) of `text` that nearly repeat another, with the one kept.

    The copy with cleaner punctuation is kept (then the longer, then the first).
    `keys` are the paragraphs' search keys, one per line, when the caller has them.
    """
    spans, pos = [], 0
    for line in text.split("\n"):
        spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    keys = keys or [text[s:e] for s, e in spans]
    sets = [
        shingles(k) if e - s >= MIN_PARAGRAPH else frozenset()
        for k, (s, e) in zip(keys, spans, strict=True)
    ]

    postings: dict[str, list[int]] = defaultdict(list)
    for i, sh in enumerate(sets):
        for g in sh:
            postings[g].append(i)
    folded: dict[int, int] = {}
    for i, sh in enumerate(sets):
        if not sh or i in folded:
            continue
        counts: dict[int, int] = defaultdict(int)
        for g in sh:
            for j in postings[g]:
                if j > i:
                    counts[j] += 1
        for j, inter in counts.items():
            if j in folded:
                continue
            other = sets[j]
            containment = inter / min(len(sh), len(other))
            if containment < PARAGRAPH_CONTAINMENT:
                continue
            if inter / (len(sh) + len(other) - inter) < PARAGRAPH_JACCARD:
                continue
            a, b = (text[slice(*spans[i])], text[slice(*spans[j])])
            keep_i = (_quality(a), len(a), 1) >= (_quality(b), len(b), 0)
            loser, winner = (j, i) if keep_i else (i, j)
            folded[loser] = winner
            if loser == i:
                break
    return [Fold(spans[d], spans[k]) for d, k in sorted(folded.items())]


_BANDS, _ROWS = 16, 4
_PRIME = (1 << 61) - 1
_rng = np.random.default_rng(20240601)  # fixed: signatures are stored in the index
_A = _rng.integers(1, _PRIME, size=_BANDS * _ROWS, dtype=np.uint64)
_B = _rng.integers(0, _PRIME, size=_BANDS * _ROWS, dtype=np.uint64)


def minhash_bands(sh: frozenset[str]) -> list[int]:
    """LSH band keys of a shingle set: two sets with Jaccard >= 0.7 share a band with
    probability 0.99 (16 bands of 4 rows), so candidates are found without a scan."""
    if not sh:
        return []
    x = np.fromiter((zlib.crc32(g.encode("utf-8")) for g in sh), dtype=np.uint64, count=len(sh))
    # (a*x + b) mod p, in uint64 with wrap-around: a fixed hash family is all LSH needs
    sig = ((np.outer(_A, x) + _B[:, None]) % np.uint64(_PRIME)).min(axis=1)
    bands = sig.reshape(_BANDS, _ROWS)
    out = []
    for band, row in enumerate(bands):
        h = zlib.crc32(row.tobytes(), band) & 0x7FFFFFFF
        out.append(band << 32 | h)
    return out
