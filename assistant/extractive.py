"""The extractive answerer: the sentences of the retrieved passages that answer the
question, each marked with the passage it came from. No model needed, nothing invented.
"""

import re
from collections import OrderedDict
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass

from zhice.index.segment import THOUSANDS_SEP, ChineseSegmenter
from zhice.ingest.normalize import is_traditional, search_key, to_simplified
from zhice.ingest.split import sentence_keys, sentence_spans

from .params import AbstentionParams
from .question import (
    ANSWER_NOUNS,
    FILLER,
    QUESTION_FIGURE,
    answer_patterns,
    question_focus,
    question_kinds,
)
from .types import Answer, Citation, Hit

# Evidence = coverage of the question by the best sentence, less `missing_weight` times
# the share of question terms that the best sentence's passage lacks, less
# `figure_penalty` for each figure or ordinal of the question ("2024年", "第七届") it
# lacks, less `focus_weight` times the share it lacks of what the question asks for
# (question_focus), less `type_penalty` when the question wants a typed answer (a year,
# a sum of money, a share, a count of things: answer_patterns) and the passage holds
# nothing of that type. The question side of each is in question.py. Below `threshold`
# the assistant abstains. The five are fitted by eval/calibrate.py and stored in
# assistant/abstention.json (params.AbstentionParams).

NOT_FOUND = "文档中没有找到能回答这个问题的内容。"

# Sentence features that answer a kind of question (_kind_bonus)
_FIGURE = re.compile(r"\d")
_BOUND = re.compile(r"以上|以下|以内|左右|上下")
_VALUE = re.compile(r"[\d〇零一二两三四五六七八九十百千万亿]")
_LIST = re.compile(r"[、；;]")
_DEFINES = re.compile(r"是指|指的是|即|是以|是一种|定义为|界定")
_CONTEXT = 0.5  # weight of a question term found in the passage but not in the sentence
_NOT_LETTER = re.compile(r"[\W_]+")  # keeps what str.isalnum() keeps, CJK included
_STOP_CHARS = frozenset("的了是在和与及或等也都就还而并其之这那有个吗呢吧啊呀么什怎哪几多少谁请问")
_CACHE_SIZE = 20_000  # analysed passages kept; about 10 kB each
_MAX_QUOTE = 160  # characters of one quoted sentence before it is narrowed to its best clauses
_CLAUSE = re.compile(r"[^，,；;：:]+[，,；;：:]?")


@dataclass(frozen=True)
class _Sentence:
    start: int  # in the passage text
    end: int
    key: str
    tokens: frozenset[str]
    # its letters, digits and CJK only: a question bigram (_bigrams) is one of its
    # bigrams when it is a substring of these, found without building the set
    letters: str


@dataclass(frozen=True)
class _Passage:
    sentences: tuple[_Sentence, ...]
    tokens: frozenset[str]  # of the whole passage and its heading
    letters: str  # its sentences' and its heading's, one a line: no bigram bridges two


@dataclass(frozen=True)
class _Candidate:
    hit_index: int
    start: int  # in the passage text
    end: int
    score: float
    coverage: float


@dataclass(frozen=True)
class EvidenceFeatures:
    """What the evidence score is made of, all about the passage of the best sentence.
    coverage: of the question by the best sentence (0-1); missing: idf-weighted share of
    question terms the passage lacks (0-1); figures: question figures it lacks; focus:
    weighted share it lacks of the terms naming what the question asks for (0-1)."""

    coverage: float
    missing: float
    figures: int
    focus: float = 0.0
    untyped: int = 0  # 1 when the question wants a typed answer the passage does not hold


def evidence_score(f: EvidenceFeatures, missing_weight: float, figure_penalty: float,
                   focus_weight: float, type_penalty: float) -> float:
    """Coverage less the weighted penalties (AbstentionParams.weights, in that order)."""
    return (f.coverage - missing_weight * f.missing - figure_penalty * f.figures
            - focus_weight * f.focus - type_penalty * f.untyped)


def _letters(key: str) -> str:
    return _NOT_LETTER.sub("", key)


def _bigrams(key: str) -> set[str]:
    chars = _letters(key)
    return {a + b for a, b in zip(chars, chars[1:]) if not (a in _STOP_CHARS and b in _STOP_CHARS)}


def _credits(weights: dict[str, float], found: Container[str], credit: float) -> dict[str, float]:
    """`credit` x the weight of each term of `weights` that `found` holds."""
    return {t: credit * w for t, w in weights.items() if t in found}


class ExtractiveAnswerer:
    """Picks, trims and orders the answering sentences; abstains on weak evidence.

    Args:
        segmenter: the same word segmenter the BM25 index uses.
        idf: weight of a query term (rarer terms matter more); uniform when None.
        abstention: when to abstain (default: the fitted assistant/abstention.json).
    """

    def __init__(self, segmenter: ChineseSegmenter,
                 idf: Callable[[str], float] | None = None,
                 abstention: AbstentionParams | None = None, max_sentences: int = 3,
                 max_chars: int = 320):
        self.segmenter = segmenter
        self.idf = idf or (lambda term: 1.0)
        self.abstention = abstention or AbstentionParams.load()
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        self._cache: OrderedDict[str, _Passage] = OrderedDict()
        self._titles: dict[str, _Passage] = {}

    def __call__(self, question: str, hits: Sequence[Hit]) -> Answer:
        candidates = self.score(question, hits)
        evidence = self.evidence(question, hits, candidates)
        if evidence < self.abstention.threshold:
            return Answer(question, NOT_FOUND, True, (), tuple(hits),
                          extra={"evidence": evidence})
        chosen = self._select(candidates, hits)
        return self._compose(question, hits, chosen, evidence)

    def evidence(self, question: str, hits: Sequence[Hit],
                 candidates: list["_Candidate"] | None = None) -> float:
        """How well the passages answer the question: the best sentence's coverage, less
        penalties for question terms and figures that no passage holds."""
        return evidence_score(self.features(question, hits, candidates),
                              *self.abstention.weights)

    def features(self, question: str, hits: Sequence[Hit],
                 candidates: list["_Candidate"] | None = None) -> "EvidenceFeatures":
        """The parts of the evidence score, kept apart so eval/calibrate.py can fit them."""
        if candidates is None:
            candidates = self.score(question, hits)
        if not candidates:
            return EvidenceFeatures(0.0, 1.0, 0)
        qkey = search_key(question)
        # the passage of the best sentence must hold what the question names: terms
        # spread over several passages are how an unanswerable question looks answered
        best = hits[candidates[0].hit_index].chunk
        # with its heading and its document's title ("2023年中央一号文件" names the year
        # its passages need not repeat); as the segmenter sees it: lower case ("GDP"),
        # no thousands separators ("4,000")
        context = THOUSANDS_SEP.sub("", "\n".join(
            (best.key, search_key(best.heading), search_key(best.title))).lower())
        figures = sum(1 for f in QUESTION_FIGURE.findall(THOUSANDS_SEP.sub("", qkey))
                      if f not in context)
        patterns = answer_patterns(question)
        untyped = int(bool(patterns) and not any(p.search(context) for p in patterns))
        return EvidenceFeatures(candidates[0].coverage, self._lacking(qkey, context), figures,
                                self._lacking(question_focus(question), context,
                                              ANSWER_NOUNS), untyped)

    def _lacking(self, text: str, context: str, ignore: frozenset[str] = frozenset()) -> float:
        """The idf-weighted share of the content terms of `text` that `context` lacks."""
        terms = {t for t in self.segmenter(text)
                 if t not in FILLER and t not in ignore and len(t) >= 2}
        weights = {t: self.idf(t) for t in terms}
        total = sum(weights.values())
        return sum(w for t, w in weights.items() if t not in context) / total if total else 0.0

    def score(self, question: str, hits: Sequence[Hit], rank_prior: bool = True,
              title_credit: float = 0.0) -> list[_Candidate]:
        """Every sentence of the passages, scored against the question, best first.

        Coverage mixes question terms (weighted by idf) and character bigrams found in
        the sentence; those found only elsewhere in its passage or heading count half,
        those in its document's title `title_credit` (when that is more).
        """
        qkey = search_key(question)
        terms = {t for t in self.segmenter(qkey) if t not in FILLER}
        weights = {t: self.idf(t) for t in terms}
        total = sum(weights.values()) or 1.0
        qgrams = _bigrams(qkey)
        gram_weights = dict.fromkeys(qgrams, 1.0)
        kinds = question_kinds(question)
        patterns = answer_patterns(question)
        out = []
        for i, hit in enumerate(hits):
            passage = self._analyse(hit)
            # a term or bigram outside the sentence: credit for its passage, or its title
            term_credit = _credits(weights, passage.tokens, _CONTEXT)
            gram_credit = _credits(gram_weights, passage.letters, _CONTEXT)
            if title_credit > _CONTEXT:
                title = self._title(hit.chunk.title)
                term_credit.update(_credits(weights, title.tokens, title_credit))
                gram_credit.update(_credits(gram_weights, title.letters, title_credit))
            prior = 0.04 / (i + 1) if rank_prior else 0.0
            for sent in passage.sentences:
                term_cov = sum(w if t in sent.tokens else term_credit.get(t, 0.0)
                               for t, w in weights.items()) / total
                gram_cov = (sum(1.0 if g in sent.letters else gram_credit.get(g, 0.0)
                                for g in qgrams) / len(qgrams)) if qgrams else 0.0
                coverage = 0.6 * term_cov + 0.4 * gram_cov
                bonus = _kind_bonus(kinds, patterns, sent.key) + prior
                out.append(_Candidate(i, sent.start, sent.end, coverage + bonus, coverage))
        out.sort(key=lambda c: (-c.score, c.hit_index, c.start))
        return out

    def passage_scores(self, question: str, hits: Sequence[Hit],
                       title_credit: float = 0.0) -> list[float]:
        """Each passage's best sentence score: what the coverage reranker sorts by.

        `title_credit`: what a question term found in the passage's document title (not
        in the sentence) counts for. A question names its document ("教育规划纲要确定的
        工作方针") as the title does; every passage of that document is about it, not
        only those that repeat its name (fitted: assistant/retrieval.json).
        """
        best = [0.0] * len(hits)
        for c in self.score(question, hits, rank_prior=False, title_credit=title_credit):
            best[c.hit_index] = max(best[c.hit_index], c.score)
        return best

    def _analyse(self, hit: Hit) -> "_Passage":
        """A passage's sentences with their tokens and bigrams; cached by content, since
        the same passages come back for question after question."""
        # keyed by the text, not the id: two texts with one search key (one in
        # traditional script) have their sentences at different offsets
        chunk = hit.chunk
        cached = self._cache.get(chunk.text)
        if cached is not None:
            self._cache.move_to_end(chunk.text)
            return cached
        keys = sentence_keys(chunk.text)
        # the tokens ingest kept by line (heading, then each sentence) spare segmenting
        # at query time, most of a query's cost; an older index has none
        lines = hit.lines
        if lines is None or len(lines) != len(keys) + 1:
            lines = self.segmenter.passage(chunk.heading, chunk.text)
        sentences = tuple(_Sentence(s, e, key, frozenset(tokens), _letters(key))
                          for (s, e, key), tokens in zip(keys, lines[1:]))
        # The passage's own words and letters are its sentences' plus its heading's:
        # words or bigrams bridging two sentences mean nothing.
        passage = _Passage(sentences, frozenset(lines[0]).union(*(s.tokens for s in sentences)),
                           "\n".join([_letters(search_key(chunk.heading)),
                                      *(s.letters for s in sentences)]))
        self._cache[chunk.text] = passage
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return passage

    def _title(self, title: str) -> "_Passage":
        """A document title's tokens and bigrams, cached like passages."""
        cached = self._titles.get(title)
        if cached is None:
            key = search_key(title)
            cached = self._titles[title] = _Passage((), frozenset(self.segmenter(key)),
                                                    _letters(key))
        return cached

    def _select(self, candidates: list[_Candidate], hits: Sequence[Hit]) -> list[_Candidate]:
        """The best sentence, plus close runners-up that add something new."""
        best = candidates[0]
        chosen = [best]
        used = len(hits[best.hit_index].chunk.text[best.start : best.end])
        for c in candidates[1:]:
            if len(chosen) >= self.max_sentences or c.score < 0.8 * best.score:
                break
            text = hits[c.hit_index].chunk.text[c.start : c.end]
            if c.coverage < self.abstention.threshold or used + len(text) > self.max_chars:
                continue
            grams = _bigrams(search_key(text))
            if any(_overlap(grams, hits[o.hit_index].chunk.text[o.start : o.end]) > 0.5
                   for o in chosen):
                continue
            chosen.append(c)
            used += len(text)
        # a lead-in ("主要目标是：") says little without the sentence it introduces
        lead = hits[best.hit_index].chunk.text[best.start : best.end]
        if lead.endswith(("：", ":")) or len(lead) < 12:
            following = _next_sentence(hits[best.hit_index].chunk.text, best.end)
            if following and following[0] not in {c.start for c in chosen}:
                chosen.append(_Candidate(best.hit_index, *following, best.score, best.coverage))
        return sorted(chosen, key=lambda c: (c.hit_index, c.start))

    def _compose(self, question: str, hits: Sequence[Hit], chosen: list[_Candidate],
                 evidence: float) -> Answer:
        """The answer text with [n] markers; citations numbered by first use."""
        simplify = not is_traditional(question)
        markers: dict[int, int] = {}
        quotes: dict[int, list[str]] = {}
        parts, shown_quotes = [], []
        for c in chosen:
            text = hits[c.hit_index].chunk.text
            s, e = _narrow(text, c.start, c.end, self.segmenter, question)
            quote = text[s:e]
            n = markers.setdefault(c.hit_index, len(markers) + 1)
            quotes.setdefault(c.hit_index, []).append(quote)
            shown = to_simplified(quote) if simplify else quote
            # a quote narrowed to its best clauses ends at a comma: end it as a sentence
            if shown.endswith(("，", ",", "、", "；", ";", "：", ":")):
                shown = shown[:-1] + "。"
            parts.append(f"{shown}[{n}]")
            shown_quotes.append(shown)
        citations = tuple(Citation(n, hits[i], tuple(quotes[i])) for i, n in markers.items())
        # the value asked for first, as the quotes say it: "4068亿元。2024年……[1]" (the
        # marker after the quote cites the value too, and the check checks it)
        value = direct_value(question, shown_quotes)
        if value:
            parts.insert(0, value + "。")
        return Answer(question, "".join(parts), False, citations, tuple(hits),
                      extra={"evidence": evidence})


def direct_value(question: str, quotes: Sequence[str]) -> str | None:
    """The one value of the type the question asks for ("多少亿元" a sum, "哪一年" a year,
    "几个" a count) that the quotes hold; None when they hold none, or several: the
    sentences then answer, in their own words."""
    found = {_whole_value(q, m.start(), m.end()) for p in answer_patterns(question)
             for q in quotes for m in p.finditer(q)}
    # a value has a figure in it: "春", "初" or "时期" answer "什么时候" but are no value
    values = {v for v in found if len(v) >= 2 and _VALUE.search(v)}
    return values.pop() if len(values) == 1 else None


def _whole_value(text: str, start: int, end: int) -> str:
    """A matched value with the ordinal mark before it and the bound after it that make
    it what the text says: "第2位", not "2位"; "60%以上", not "60%"."""
    if start and text[start - 1] == "第":
        start -= 1
    bound = _BOUND.match(text, end)
    return text[start : bound.end() if bound else end].strip()


def _kind_bonus(kinds: set[str], patterns: list[re.Pattern], key: str) -> float:
    bonus = 0.0
    if "number" in kinds and _FIGURE.search(key):
        bonus += 0.12
    # "多少套" is answered by "680万套" more surely than by any figure (measured on the
    # public eval set: budget recall 0.977 -> 0.984, nothing else lost; 0.05-0.1 alike)
    if any(p.search(key) for p in patterns):
        bonus += 0.1
    if "list" in kinds and len(_LIST.findall(key)) >= 2:
        bonus += 0.08
    if "definition" in kinds and _DEFINES.search(key):
        bonus += 0.1
    return bonus


def _overlap(grams: set[str], other: str) -> float:
    o = _bigrams(search_key(other))
    return len(grams & o) / (min(len(grams), len(o)) or 1)


def _next_sentence(text: str, end: int) -> tuple[int, int] | None:
    """The sentence right after `end` in the same paragraph, if any."""
    line_end = text.find("\n", end)
    line_end = len(text) if line_end == -1 else line_end
    for s, e in sentence_spans(text[end:line_end]):
        return end + s, end + e
    return None


def _narrow(text: str, start: int, end: int, segmenter, question: str) -> tuple[int, int]:
    """A long sentence cut down to its run of clauses that best covers the question,
    so the answer stays readable; still a contiguous quote of the passage."""
    if end - start <= _MAX_QUOTE:
        return start, end
    terms = {t for t in segmenter(search_key(question)) if t not in FILLER}
    clauses = [(start + m.start(), start + m.end()) for m in _CLAUSE.finditer(text[start:end])]
    hits = [len(terms & set(segmenter(search_key(text[s:e])))) for s, e in clauses]
    best, best_span = -1, (start, start + _MAX_QUOTE)
    for i in range(len(clauses)):
        total = 0
        for j in range(i, len(clauses)):
            if clauses[j][1] - clauses[i][0] > _MAX_QUOTE:
                break
            total += hits[j]
            if total > best:
                best, best_span = total, (clauses[i][0], clauses[j][1])
    s, e = best_span
    return s, e
