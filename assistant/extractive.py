"""The extractive answerer: the sentences of the retrieved passages that answer the
question, each marked with the passage it came from. No model needed, nothing invented.
"""

import math
import re
from collections import OrderedDict
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass

from zhice.index.segment import ChineseSegmenter
from zhice.ingest.normalize import is_traditional, search_key, to_simplified
from zhice.ingest.split import sentence_keys, sentence_spans

from .answer_model import AnswerModel
from .features import (
    LIST_MARKS,
    Asked,
    Passage,
    Row,
    Sentence,
    analyse,
    bigrams,
    evidence_values,
    letters,
    sentence_rows,
)
from .question import FILLER, answer_patterns, question_kinds
from .types import Answer, Citation, Hit

# Which sentences answer and whether to answer at all are the fitted answer model's
# (answer_model.py, over the named features of features.py). The hand-weighted sentence
# score below (score, passage_scores) is only the re-ranker's feature, fitted with it in
# assistant/retrieval.json.

NOT_FOUND = "文档中没有找到能回答这个问题的内容。"

# Sentence features that answer a kind of question (_kind_bonus, the re-ranker's score)
_FIGURE = re.compile(r"\d")
_BOUND = re.compile(r"以上|以下|以内|左右|上下")
_VALUE = re.compile(r"[\d〇零一二两三四五六七八九十百千万亿]")
_DEFINES = re.compile(r"是指|指的是|即|是以|是一种|定义为|界定")
_CONTEXT = 0.5  # weight of a question term found in the passage but not in the sentence
_CACHE_SIZE = 20_000  # analysed passages kept; about 10 kB each
_MAX_QUOTE = 160  # characters of one quoted sentence before it is narrowed to its best clauses
_CLAUSE = re.compile(r"[^，,；;：:]+[，,；;：:]?")


@dataclass(frozen=True)
class _Candidate:
    hit_index: int
    start: int  # in the passage text
    end: int
    score: float
    coverage: float


@dataclass(frozen=True)
class Judgement:
    """What the answer model made of a question and its passages: the candidate
    sentences best first with their log-odds of holding the answer, the evidence
    features and the probability that the passages answer the question."""

    asked: Asked
    rows: tuple[Row, ...]
    logits: tuple[float, ...]
    evidence: tuple[float, ...]
    probability: float


def _credits(weights: dict[str, float], found: Container[str], credit: float) -> dict[str, float]:
    """`credit` x the weight of each term of `weights` that `found` holds."""
    return {t: credit * w for t, w in weights.items() if t in found}


class ExtractiveAnswerer:
    """Picks, trims and orders the answering sentences; abstains on weak evidence.

    Args:
        segmenter: the same word segmenter the BM25 index uses.
        idf: weight of a query term (rarer terms matter more); uniform when None.
        model: which sentences answer and when to abstain (default: the fitted
            assistant/answer_model.json).
        known: whether the index holds a term at all; every term when None.
    """

    def __init__(self, segmenter: ChineseSegmenter,
                 idf: Callable[[str], float] | None = None,
                 model: AnswerModel | None = None, max_sentences: int = 3,
                 max_chars: int = 320, known: Callable[[str], bool] | None = None):
        self.segmenter = segmenter
        self.idf = idf or (lambda term: 1.0)
        self.known = known or (lambda term: True)
        self.model = model or AnswerModel.load()
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        self._cache: OrderedDict[str, Passage] = OrderedDict()
        self._titles: dict[str, Passage] = {}

    def __call__(self, question: str, hits: Sequence[Hit]) -> Answer:
        judged = self.judge(question, hits)
        if not judged.rows or not self.model.answers(judged.probability):
            return Answer(question, NOT_FOUND, True, (), tuple(hits),
                          extra={"evidence": judged.probability})
        return self._compose(question, hits, self._select(judged, hits), judged.probability)

    def judge(self, question: str, hits: Sequence[Hit]) -> Judgement:
        """The answer model's view: candidate sentences ranked, and whether to answer."""
        asked, rows = self.candidates(question, hits)
        logits = [self.model.sentence.logit(r.values) for r in rows]
        evidence = evidence_values(asked, hits, rows, logits)
        order = sorted(range(len(rows)), key=lambda j: (-logits[j], j))
        return Judgement(asked, tuple(rows[j] for j in order), tuple(logits[j] for j in order),
                         evidence, self.model.answerable(evidence))

    def candidates(self, question: str, hits: Sequence[Hit]) -> tuple[Asked, list[Row]]:
        """The question analysed and every sentence of the passages with its features, in
        passage order: what eval/calibrate.py fits the answer model on."""
        asked = analyse(question, self.segmenter, self.idf, self.known)
        passages = [self._analyse(h) for h in hits]
        titles = [self._title(h.chunk.title) for h in hits]
        return asked, sentence_rows(asked, hits, passages, titles)

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
        qgrams = bigrams(qkey)
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

    def _analyse(self, hit: Hit) -> Passage:
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
        sentences = tuple(Sentence(s, e, key, frozenset(tokens), letters(key))
                          for (s, e, key), tokens in zip(keys, lines[1:]))
        # The passage's own words and letters are its sentences' plus its heading's:
        # words or bigrams bridging two sentences mean nothing.
        passage = Passage(sentences, frozenset(lines[0]).union(*(s.tokens for s in sentences)),
                          "\n".join([letters(search_key(chunk.heading)),
                                     *(s.letters for s in sentences)]))
        self._cache[chunk.text] = passage
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return passage

    def _title(self, title: str) -> Passage:
        """A document title's tokens and bigrams, cached like passages."""
        cached = self._titles.get(title)
        if cached is None:
            key = search_key(title)
            cached = self._titles[title] = Passage((), frozenset(self.segmenter(key)),
                                                   letters(key))
        return cached

    def _select(self, judged: Judgement, hits: Sequence[Hit]) -> list[Row]:
        """The best sentence, plus runners-up nearly as likely to be the answer (at least
        the model's `runner_up` share of the best's odds) that add something new."""
        rows, logits = judged.rows, judged.logits
        best = rows[0]
        chosen = [best]
        used = best.end - best.start
        floor = logits[0] + math.log(self.model.runner_up)
        for c, logit in zip(rows[1:], logits[1:]):
            if len(chosen) >= self.max_sentences or logit < floor:
                break
            text = hits[c.hit_index].chunk.text[c.start : c.end]
            if used + len(text) > self.max_chars:
                continue
            grams = bigrams(search_key(text))
            if any(_overlap(grams, hits[o.hit_index].chunk.text[o.start : o.end]) > 0.5
                   for o in chosen):
                continue
            chosen.append(c)
            used += len(text)
        # the best first (an answer that buries it under sentences that do not answer
        # is how a right answer reads wrong), then the rest in reading order
        first = [best]
        # a lead-in ("主要目标是：") says little without the sentence it introduces
        lead = hits[best.hit_index].chunk.text[best.start : best.end]
        if lead.endswith(("：", ":")) or len(lead) < 12:
            following = _next_sentence(hits[best.hit_index].chunk.text, best.end)
            if following:
                first.append(Row(best.hit_index, *following, best.values))
        starts = {(c.hit_index, c.start) for c in first}
        return first + sorted((c for c in chosen[1:] if (c.hit_index, c.start) not in starts),
                              key=lambda c: (c.hit_index, c.start))

    def _compose(self, question: str, hits: Sequence[Hit], chosen: list[Row],
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
    if "list" in kinds and len(LIST_MARKS.findall(key)) >= 2:
        bonus += 0.08
    if "definition" in kinds and _DEFINES.search(key):
        bonus += 0.1
    return bonus


def _overlap(grams: set[str], other: str) -> float:
    o = bigrams(search_key(other))
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
