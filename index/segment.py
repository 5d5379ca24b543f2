"""Chinese word segmentation for BM25: jieba search mode, figures kept whole, no noise tokens.

Texts and queries come in as search keys (`ingest.normalize.search_key`: NFKC, simplified),
so the segmenter never has to fold scripts or full-width forms itself.

    seg = ChineseSegmenter()
    seg.load()
    seg("2024年国内生产总值达到17.71万亿元")
    # ['2024', '年', '国内', '生产', '总值', '生产总值', '达到', '17.71', '万亿', '亿元',
    #  '万亿元', '2024年', '17.71万亿元']
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from zhice.ingest.normalize import search_key
from zhice.ingest.split import sentence_keys

if TYPE_CHECKING:
    import jieba

# Function words and question words: they match almost every passage and would let a
# question's phrasing outweigh its content.
STOPWORDS: frozenset[str] = frozenset(
    "的 了 和 与 及 在 是 为 对 等 也 而 并 或 之 其 中 把 被 从 以 于 将 这 那 有 个 啊 呢 吗 吧 "
    "什么 哪些 多少 如何 怎么 怎样 为什么 是否 哪 几".split()
)

# Units that make a number a figure worth matching as a whole ("2035年", "17.71万亿元").
# Longer alternatives first: the regex takes the first that matches.
FIGURE_UNITS: tuple[str, ...] = tuple(
    "平方公里 公里 千米 美元 元 个 家 年 月 日 座 项 人 户 所 条 件 吨 亩 倍".split()
)
_MAGNITUDES = "万亿|亿|万"
_UNITS = "|".join(FIGURE_UNITS)
_FIGURE = re.compile(rf"(\d+(?:\.\d+)?)(?:%|(?:{_MAGNITUDES})(?:{_UNITS})?|(?:{_UNITS}))")
# "1,234.5亿元": jieba splits at the comma, so thousands separators go before segmenting.
THOUSANDS_SEP = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# A token is kept only if it has a letter or digit: drops whitespace, punctuation, symbols.
_WORDLIKE = re.compile(r"[^\W_]")


class ChineseSegmenter:
    """Callable text -> tokens for `Bm25Index`; jieba loads in `load()` or on first call."""

    def __init__(self) -> None:
        self._tokenizer: jieba.Tokenizer | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """True once the jieba dictionary is in memory."""
        return self._tokenizer is not None

    def load(self) -> ChineseSegmenter:
        """Load jieba's dictionary (about half a second); later calls do nothing."""
        with self._lock:
            if self._tokenizer is None:
                import jieba

                # jieba logs "Building prefix dict..." at DEBUG to stderr on every load.
                logging.getLogger("jieba").setLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                self._tokenizer = tokenizer
        return self

    def __call__(self, text: str) -> list[str]:
        """Segment one search key into lowercase BM25 tokens."""
        if self._tokenizer is None:
            self.load()
        assert self._tokenizer is not None
        text = THOUSANDS_SEP.sub("", text)
        # tokenize(mode="search") is cut_for_search with offsets, which the figure pass needs.
        spans = list(self._tokenizer.tokenize(text, mode="search"))
        seen = {(start, end) for _, start, end in spans}
        for m in _FIGURE.finditer(text):
            # Ensure both the bare number and the whole figure are tokens, once each:
            # jieba gives "17.71" but not "17.71万亿元", and "5.2%" but not "5.2".
            for start, end in ((m.start(), m.end()), m.span(1)):
                if (start, end) not in seen:
                    seen.add((start, end))
                    spans.append((text[start:end], start, end))
        tokens = []
        for word, _, _ in spans:
            word = word.lower()
            if word not in STOPWORDS and _WORDLIKE.search(word):
                tokens.append(word)
        return tokens

    def segment_many(self, texts: Iterable[str]) -> list[list[str]]:
        """Segment several texts."""
        return [self(text) for text in texts]

    def passage(self, heading: str, text: str) -> list[list[str]]:
        """A passage's tokens by line: its heading's, then each sentence's
        (`ingest.split.sentence_keys`). Together they are its BM25 tokens; apart, the
        re-ranker reads which sentence holds which word without segmenting again (jieba
        was most of a query's time). Words do not bridge sentences: jieba cuts at
        punctuation anyway."""
        return [self(search_key(heading)), *(self(key) for _, _, key in sentence_keys(text))]


def flat_tokens(lines: list[list[str]]) -> list[str]:
    """A passage's tokens by line (`ChineseSegmenter.passage`) as one BM25 document."""
    return [t for line in lines for t in line]


# Runs of letters, digits and CJK: a bigram never spans punctuation or a space.
_RUN = re.compile(r"[^\W_]+")


def char_bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of a search key, for a BM25 that needs no
    dictionary: the words jieba cuts wrongly (names, new terms) still match. A run of one
    character is its own token."""
    tokens = []
    for run in _RUN.findall(text.lower()):
        tokens += [run[i:i + 2] for i in range(len(run) - 1)] or [run]
    return tokens
