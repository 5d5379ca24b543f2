"""Shingles and near-duplicate paragraph folding."""

import pytest

from zhice.ingest.dedup import (
    MIN_PARAGRAPH,
    Fold,
    near_duplicate_paragraphs,
    shingles,
)
from zhice.ingest.normalize import search_key

# 002's preface, first sentence of each copy: the garbled first copy (half-width
# comma, "三五", "老工业基地") and the clean second one ("三线", "、", "工业基地").
GARBLED = (
    "本规划所称老工业基地是指“一五”、“二五”和“三五”建设时期国家布局建设,"
    "以重工业骨干企业为依托聚集形成的老工业基地。"
)
CLEAN = (
    "本规划所称老工业基地是指“一五”、“二五”和“三线”建设时期国家布局建设、"
    "以重工业骨干企业为依托聚集形成的工业基地。"
)
UNRELATED = "本规划是指导今后一个时期老工业基地调整改造的行动纲领。规划期为2013-2022年。"


def spans_of(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line of text."""
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


# --- shingles -------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("重构产业", {"重构产", "构产业"}),
        ("重 构\n产业", {"重构产", "构产业"}),  # whitespace is ignored
        ("产业产业产业", {"产业产", "业产业"}),
        ("产业", {"产业"}),  # shorter than a shingle: itself
        ("", set()),
        (" \n", set()),
    ],
)
def test_shingles_are_character_trigrams(key, expected):
    assert shingles(key) == frozenset(expected)


# --- paragraph folding ----------------------------------------------------------


def test_exact_duplicate_paragraph_is_folded_into_the_first():
    text = "\n".join([UNRELATED, CLEAN, UNRELATED])
    first, _, third = spans_of(text)
    assert near_duplicate_paragraphs(text) == [Fold(duplicate=third, kept=first)]


@pytest.mark.parametrize("garbled_first", [True, False])
def test_garbled_copy_is_folded_and_the_clean_one_kept(garbled_first):
    lines = [GARBLED, UNRELATED, CLEAN] if garbled_first else [CLEAN, UNRELATED, GARBLED]
    text = "\n".join(lines)
    first, _, third = spans_of(text)
    garbled, clean = (first, third) if garbled_first else (third, first)
    assert near_duplicate_paragraphs(text) == [Fold(duplicate=garbled, kept=clean)]


def test_unrelated_paragraphs_are_not_folded():
    text = "\n".join(
        [
            CLEAN,
            UNRELATED,
            "老工业基地为我国形成独立完整的工业体系和国民经济体系，为改革开放和现代化建设作出了历史性重大贡献。",
            "钢铁工业：鞍山、攀枝花、嘉峪关等重点发展高速铁路用钢、船用钢板、高强度工模具钢。",
        ]
    )
    assert near_duplicate_paragraphs(text) == []


def test_paragraphs_shorter_than_the_minimum_are_never_folded():
    short = "推动产业转型升级示范区高质量发展。"
    assert len(short) < MIN_PARAGRAPH
    assert near_duplicate_paragraphs(f"{short}\n{short}") == []


def test_every_copy_folds_into_the_one_kept():
    text = "\n".join([CLEAN, UNRELATED, CLEAN, GARBLED])
    first, _, third, fourth = spans_of(text)
    assert near_duplicate_paragraphs(text) == [
        Fold(duplicate=third, kept=first),
        Fold(duplicate=fourth, kept=first),
    ]


def test_keys_let_a_traditional_copy_match_a_simplified_one():
    traditional = (
        "以加快形成新質生產力推動產業轉型升級示范區高質量發展"
        "是確保該類地區同步實現現代化的關鍵舉措。"
    )
    text = f"{traditional}\n{search_key(traditional)}"
    assert near_duplicate_paragraphs(text) == []  # raw text: too few trigrams in common
    keys = [search_key(line) for line in text.split("\n")]
    first, second = spans_of(text)
    assert near_duplicate_paragraphs(text, keys) == [Fold(duplicate=second, kept=first)]


def test_empty_text_has_no_folds():
    assert near_duplicate_paragraphs("") == []
