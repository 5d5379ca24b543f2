import subprocess
import sys
import time

import pytest

from zhice.index.bm25 import Bm25Index
from zhice.index.segment import STOPWORDS, ChineseSegmenter, char_bigrams, flat_tokens
from zhice.ingest.normalize import search_key


@pytest.fixture(scope="module")
def seg() -> ChineseSegmenter:
    return ChineseSegmenter().load()


def test_constructing_is_cheap_and_loads_nothing():
    start = time.perf_counter()
    fresh = ChineseSegmenter()
    assert time.perf_counter() - start < 0.05
    assert fresh._tokenizer is None and not fresh.loaded


def test_import_does_not_load_jieba():
    code = "import sys, index.segment; print('jieba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_first_call_loads_lazily_and_quietly(capfd):
    fresh = ChineseSegmenter()
    assert "生产力" in fresh("新质生产力")
    assert fresh.loaded
    assert capfd.readouterr().err == ""


def test_search_mode_yields_sub_words(seg):
    tokens = seg("发展新质生产力")
    assert {"新质", "生产", "生产力"} <= set(tokens)


def test_plain_text_is_cut_for_search_minus_noise(seg):
    text = "支持资源型城市转型，培育接续替代产业。"
    expected = [
        t for t in seg._tokenizer.cut_for_search(text) if t not in STOPWORDS and t not in "，。"
    ]
    assert seg(text) == expected


def test_stopwords_punctuation_and_space_are_dropped(seg):
    tokens = seg("什么是新质生产力？  城市的转型、发展和改革！ (GDP)")
    assert not set(tokens) & STOPWORDS
    assert all(any(ch.isalnum() for ch in t) for t in tokens)
    assert "gdp" in tokens  # Latin is lowercased


@pytest.mark.parametrize(
    "text,figure",
    [
        ("2024年国内生产总值达到17.71万亿元，增长5.2%。", "17.71万亿元"),
        ("到2035年基本实现社会主义现代化", "2035年"),
        ("全年投资1,234.5亿元", "1234.5亿元"),
    ],
)
def test_figures_stay_matchable_tokens(seg, text, figure):
    tokens = seg(search_key(text))
    assert figure in tokens
    number = figure.rstrip("万亿元年")
    assert number in tokens  # the bare number matches too


def test_percent_yields_number_too(seg):
    tokens = seg("增长5.2%")
    assert "5.2%" in tokens and "5.2" in tokens
    assert tokens.count("5.2") == 1


def test_figure_query_finds_the_right_passage(seg):
    index = Bm25Index(seg)
    index.add(
        [1, 2, 3],
        [
            search_key("全市地区生产总值17.71万亿元，比上年增长5.2%。"),
            search_key("全市地区生产总值15.3万亿元，人口17.71万人。"),
            search_key("到2035年基本实现社会主义现代化。"),
        ],
    )
    assert index.search(search_key("生产总值17.71万亿元"), 3)[0][0] == 1
    assert index.search(search_key("2035年目标"), 3)[0][0] == 3


def test_simplified_query_finds_traditional_document(seg):
    index = Bm25Index(seg)
    index.add(
        [1, 2, 3],
        [
            search_key("加快發展新質生產力，推動高品質發展。"),
            search_key("支持資源型城市轉型，培育接續替代產業。"),
            search_key("深入實施區域協調發展戰略。"),
        ],
    )
    assert index.search(search_key("什么是新质生产力？"), 3)[0][0] == 1
    assert index.search(search_key("资源型城市如何转型"), 3)[0][0] == 2


def test_segment_many(seg):
    assert seg.segment_many(["城市转型", "新质生产力"]) == [seg("城市转型"), seg("新质生产力")]


def test_char_bigrams_stay_inside_runs_of_letters_digits_and_cjk():
    assert char_bigrams("新质生产力，AI 5%") == ["新质", "质生", "生产", "产力", "ai", "5"]
    assert char_bigrams("") == []


def test_bigram_bm25_finds_a_name_the_dictionary_does_not_know():
    bm = Bm25Index(char_bigrams)
    bm.add([1, 2], [search_key("阿尔伯特码头位于利物浦"), search_key("码头工人在港口工作")])
    assert [i for i, _ in bm.search(search_key("阿尔伯特码头"), 2)] == [1, 2]


def test_a_passage_is_segmented_by_line_into_the_same_tokens_as_a_whole(seg):
    text = "2024年株洲地區生產總值達到4,068億元。\n全市規模以上工業企業有1800家；增長6.1%。"
    lines = seg.passage("二、經濟發展", text)
    assert lines == [seg("二、经济发展"), seg("2024年株洲地区生产总值达到4068亿元。"),
                     seg("全市规模以上工业企业有1800家;"), seg("增长6.1%。")]
    # jieba cuts at punctuation anyway: kept apart, the sentences lose no BM25 token
    assert sorted(flat_tokens(lines)) == sorted(seg(search_key("二、經濟發展\n" + text)))
