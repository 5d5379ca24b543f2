"""Exact and near-duplicate detection on search keys.

Inside a document, a paragraph that nearly repeats another (the plan's preface
appears twice, once garbled) is folded before splitting, keeping the cleaner copy.
Across files only exact repeats are folded (index/index.py), by chunk id.
"""

import re
from collections import defaultdict
from dataclasses import dataclass

SHINGLE = 3
# Paragraphs: the smaller one's shingles mostly inside the larger one, and a real share
# of both in common. Measured on the demo corpus: the garbled preface paragraphs score
# containment 0.58-0.79 / Jaccard 0.24-0.60 against their clean copies; the closest
# unrelated pair (a list item inside its paragraph) 0.51 / 0.07.
PARAGRAPH_CONTAINMENT = 0.55
PARAGRAPH_JACCARD = 0.2
MIN_PARAGRAPH = 30

_NOISE = re.compile(r"\s+")
_PUNCT = re.compile(r"[，。、；：？！“”‘’（）《》【】,.;:?!\"'()\[\]<>—…·-]")


def shingles(key: str) -> frozenset[str]:
    """Character trigrams of a search key, whitespace ignored."""
    k = _NOISE.sub("", key)
    if len(k) < SHINGLE:
        return frozenset([k]) if k else frozenset()
    return frozenset(k[i : i + SHINGLE] for i in range(len(k) - SHINGLE + 1))


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
