"""Named features of a question against the passages retrieved for it: what the answer
model (assistant/answer_model.py) ranks sentences and decides to answer or abstain from.

None needs a word chosen for a question. Each is a share of the question's terms weighed
by their idf in the index (rare terms say what is asked), the type of answer its
question word asks for (question.py: closed classes only), a constraint it names (a
year, a 《》 title, an ordinal) or a score the retrievers gave.

    asked = analyse(question, segmenter, idf)
    rows = sentence_rows(asked, hits, passages, titles)   # one per sentence
    values = evidence_values(asked, hits, passages, titles, rows, logits)
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zhice.index.segment import THOUSANDS_SEP, ChineseSegmenter
from zhice.ingest.normalize import search_key

from .check import unmatched_in
from .question import (
    FILLER,
    QUESTION_FIGURE,
    answer_patterns,
    asked_window,
    constraints,
    question_focus,
    question_kinds,
)
from .types import Hit

# One sentence of a retrieved passage as a candidate answer (sentence_rows), in this order.
SENTENCE_FEATURES = (
    "term_cover",  # idf-weighted share of the question's terms that the sentence holds
    "gram_cover",  # share of the question's character bigrams that it holds
    "context_cover",  # idf-weighted share held only by its passage, heading or title
    "before_cover",  # term_cover of the sentence before it ("（十九）培育新业态。" then the answer)
    "after_cover",  # term_cover of the sentence after it
    "asked_cover",  # idf-weighted share it holds of the terms around the question word
    "rarest",  # it holds the question's rarest term that the index knows
    "focus",  # share it holds of what the question asks for (X的Y是多少: Y)
    "typed",  # the question wants a typed answer (a year, a sum, a count) and it holds one
    "untyped",  # the question wants one and it holds none
    "figure",  # the question asks for a number and it has a figure the question has not
    "anchored",  # ... and that figure stands next to a term around the question word
    "listing",  # the question asks for items and it enumerates (A、B、C)
    "defining",  # the question asks what something is and it defines (X是指)
    "novelty",  # share of its words the question does not have: it says something more
    "length",  # its length, in hundreds of characters (at most 2)
    "rank",  # 1 / its passage's rank
    "retrieval",  # its passage's retrieval score relative to the first passage's
)
# The evidence as a whole (evidence_values), in this order: whether to answer. No feature
# is a cosine: its scale is the embedder's own, so a model fitted with one embedder would
# misjudge an index built with another (a passage's cosine over the best one's, tried
# instead, was never chosen: eval/notes/learned_abstention.md).
EVIDENCE_FEATURES = (
    "best",  # the best sentence's log-odds of holding the answer (the sentence model)
    "margin",  # best less the best of any other passage's sentences
    "coverage",  # term_cover of the best sentence
    # idf share of the question's known terms its passage (heading, title) lacks; 1 when
    # the index knows none of them ("火星基地"): no passage can be about it
    "missing",
    "missing_all",  # idf share of the question's known terms that no passage holds (ditto)
    "unknown",  # idf share of the question's terms that the index does not know at all
    "asked_missing",  # idf share of the terms around the question word its passage lacks
    "asked_unsaid",  # idf share of the terms around the question word the sentence lacks
    "rarest_missing",  # its passage lacks the question's rarest known term (or it has none)
    "figures",  # figures and ordinals of the question its passage lacks (at most 2)
    "unmatched",  # years, 《》 titles and ordinals of the question its passage lacks
    "untyped",  # the question wants a typed answer and its passage holds none
    "unvalued",  # the question asks for a number and the sentence has none it has not
    "unanchored",  # the question asks for a number and none stands by what it asks about
    "focus",  # share of what the question asks for that its passage lacks
    "bm25",  # its passage's BM25 score over the question's summed idf
    "agree",  # its passage is among the top 10 of both the dense and the BM25 search
    "rank",  # 1 / its passage's rank
)

_NOT_LETTER = re.compile(r"[\W_]+")  # keeps what str.isalnum() keeps, CJK included
# Characters whose bigrams say nothing of what is asked: particles, pronouns and question
# words, closed classes of the language.
_STOP_CHARS = frozenset("的了是在和与及或等也都就还而并其之这那有个吗呢吧啊呀么什怎哪几多少谁请问")
_FIGURE = re.compile(r"\d+(?:\.\d+)?|[〇零一二两三四五六七八九十百千万亿]{2,}")
LIST_MARKS = re.compile(r"[、；;]")  # two of them in a sentence: it enumerates (A、B、C)
# How a text defines: a closed set of copular phrases
_DEFINES = re.compile(r"是指|指的是|即|是以|是一种|定义为|界定为")
_ANCHOR = 12  # characters between a figure and the term it quantifies ("总投资283亿元")


@dataclass(frozen=True)
class Sentence:
    start: int  # in the passage text
    end: int
    key: str
    tokens: frozenset[str]
    # its letters, digits and CJK only: a question bigram is one of its bigrams when it
    # is a substring of these, found without building the set
    letters: str


@dataclass(frozen=True)
class Passage:
    sentences: tuple[Sentence, ...]
    tokens: frozenset[str]  # of the whole passage and its heading
    letters: str  # its sentences' and its heading's, one a line: no bigram bridges two


@dataclass(frozen=True)
class Asked:
    """A question as the features read it, analysed once per question."""

    key: str
    weights: dict[str, float]  # its content terms, each with its idf
    grams: frozenset[str]  # its character bigrams, particles and question words left out
    kinds: frozenset[str]  # question.question_kinds
    patterns: tuple[re.Pattern, ...]  # question.answer_patterns
    focus: dict[str, float]  # the terms of what it asks for (question_focus), with idf
    asked: dict[str, float]  # its terms around its question word (question.asked_window)
    terms: dict[str, float]  # its known content terms of two or more characters, with idf
    unknown: float  # idf share of its content terms the index does not know
    rarest: str  # its known term with the highest idf ("" when none)
    figures: tuple[str, ...]  # its figures and ordinals (question.QUESTION_FIGURE)
    question: str


@dataclass(frozen=True)
class Row:
    """One candidate sentence: hits[hit_index].chunk.text[start:end] and its feature
    values (SENTENCE_FEATURES)."""

    hit_index: int
    start: int
    end: int
    values: tuple[float, ...]


def letters(key: str) -> str:
    return _NOT_LETTER.sub("", key)


def bigrams(key: str) -> set[str]:
    chars = letters(key)
    return {a + b for a, b in zip(chars, chars[1:])
            if not (a in _STOP_CHARS and b in _STOP_CHARS)}


def analyse(question: str, segmenter: ChineseSegmenter, idf: Callable[[str], float],
            known: Callable[[str], bool]) -> Asked:
    """The question's terms with their weights, what it asks for and what it names.
    `known(term)`: whether the index holds the term; a word no passage has ("老百姓")
    says how the question is put, not what a passage must hold."""
    key = search_key(question)

    def content(text: str) -> dict[str, float]:
        # the segmenter also gives the words inside a word ("哪一年": 一年, 哪一年): those
        # inside a question word are part of the asking, not of what is asked about
        tokens = set(segmenter(text)) if text else set()
        asking = tokens & FILLER
        return {t: idf(t) for t in tokens
                if t not in FILLER and not any(t in word for word in asking)}

    weights = content(key)
    unknown = _share(weights, lambda t: not known(t))
    terms = {t: w for t, w in weights.items() if len(t) >= 2 and known(t)}
    rarest = max(sorted(terms), key=lambda t: terms[t]) if terms else ""
    return Asked(key, weights, frozenset(bigrams(key)), frozenset(question_kinds(question)),
                 tuple(answer_patterns(question)), content(question_focus(question)),
                 content(asked_window(question)), terms, unknown, rarest,
                 tuple(QUESTION_FIGURE.findall(THOUSANDS_SEP.sub("", key))), question)


def _share(weights: dict[str, float], held: Callable[[str], bool]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if held(t)) / total if total else 0.0


def _lacking(terms: dict[str, float], text: str) -> float:
    """The idf share of `terms` that `text` lacks; all of them when there are none."""
    return _share(terms, lambda t: t not in text) if terms else 1.0


def sentence_rows(asked: Asked, hits: Sequence[Hit], passages: Sequence[Passage],
                  titles: Sequence[Passage]) -> list[Row]:
    """Every sentence of the passages with its features (SENTENCE_FEATURES), in passage
    order; `passages` and `titles` are the hits' analysed texts and document titles."""
    rows = []
    top = hits[0].score if hits and hits[0].score > 0 else 1.0
    weights, total = asked.weights, sum(asked.weights.values()) or 1.0
    grams = asked.grams
    kinds, patterns = asked.kinds, asked.patterns
    for i, (hit, passage, title) in enumerate(zip(hits, passages, titles)):
        elsewhere = {t: w for t, w in weights.items()
                     if t in passage.tokens or t in title.tokens}
        retrieval = max(0.0, hit.score / top)
        covers = [sum(w for t, w in weights.items() if t in s.tokens) / total
                  for s in passage.sentences]
        for n, s in enumerate(passage.sentences):
            context = sum(w for t, w in elsewhere.items() if t not in s.tokens)
            gram_cover = (sum(1 for g in grams if g in s.letters) / len(grams)) if grams else 0.0
            typed = bool(patterns) and any(p.search(s.key) for p in patterns)
            novel = (sum(1 for t in s.tokens if t not in weights) / len(s.tokens)
                     if s.tokens else 0.0)
            rows.append(Row(i, s.start, s.end, (
                covers[n],
                gram_cover,
                context / total,
                covers[n - 1] if n else 0.0,
                covers[n + 1] if n + 1 < len(covers) else 0.0,
                _share(asked.asked, lambda t, s=s: t in s.tokens),
                float(bool(asked.rarest) and asked.rarest in s.tokens),
                _share(asked.focus, lambda t, s=s: t in s.tokens),
                float(typed),
                float(bool(patterns) and not typed),
                float("number" in kinds and _new_figure(s.key, asked.key)),
                float("number" in kinds and _anchored(s.key, asked)),
                float("list" in kinds and len(LIST_MARKS.findall(s.key)) >= 2),
                float("definition" in kinds and bool(_DEFINES.search(s.key))),
                novel,
                min(2.0, len(s.key) / 100),
                1.0 / (i + 1),
                retrieval,
            )))
    return rows


def _new_figure(sentence: str, question: str) -> bool:
    """Whether the sentence states a figure the question does not (its own year is no
    answer to "2023年…多少")."""
    return any(f not in question for f in _FIGURE.findall(sentence))


def _anchored(sentence: str, asked: Asked) -> bool:
    """Whether a figure the question does not state stands within _ANCHOR characters of
    a term around its question word (or of what it asks for): "电价补贴为0.1元", not a
    figure of something else in the same sentence."""
    terms = [t for t in (*asked.asked, *asked.focus) if len(t) >= 2]
    spans = [m.span() for t in terms for m in re.finditer(re.escape(t), sentence)]
    return any(f.group() not in asked.key and any(
        -_ANCHOR <= f.start() - e <= _ANCHOR or -_ANCHOR <= s - f.end() <= _ANCHOR
        for s, e in spans) for f in _FIGURE.finditer(sentence))


def passage_context(hit: Hit) -> str:
    """A passage with its heading and its document's title ("2023年中央一号文件" names the
    year its passages need not repeat), as the segmenter sees text: lower case ("GDP"),
    no thousands separators ("4,000")."""
    c = hit.chunk
    return THOUSANDS_SEP.sub("", "\n".join(
        (c.key, search_key(c.heading), search_key(c.title))).lower())


def evidence_values(asked: Asked, hits: Sequence[Hit], rows: Sequence[Row],
                    logits: Sequence[float]) -> tuple[float, ...]:
    """The features of the evidence (EVIDENCE_FEATURES), about the passage of the best
    sentence by `logits` (the sentence model's, one per row); all lacking when no row."""
    number = "number" in asked.kinds
    if not rows:
        lacking = float(bool(asked.asked))
        return _in_order(
            best=-10.0, margin=0.0, coverage=0.0, missing=1.0, missing_all=1.0,
            unknown=asked.unknown, asked_missing=lacking, asked_unsaid=lacking,
            rarest_missing=1.0, figures=float(min(2, len(asked.figures))),
            unmatched=float(min(2, len(constraints(asked.question)))),
            untyped=float(bool(asked.patterns)), unvalued=float(number),
            unanchored=float(number), focus=float(bool(asked.focus)), bm25=0.0, agree=0.0,
            rank=0.0)
    b = max(range(len(rows)), key=lambda j: (logits[j], -j))
    best = rows[b]
    hit = hits[best.hit_index]
    others = [x for x, r in zip(logits, rows) if r.hit_index != best.hit_index]
    context = passage_context(hit)
    everywhere = "\n".join(passage_context(h) for h in hits)
    sentence = search_key(hit.chunk.text[best.start : best.end]).lower()
    values = dict(zip(SENTENCE_FEATURES, best.values))
    return _in_order(
        best=logits[b],
        margin=logits[b] - max(others) if others else logits[b] + 10.0,
        coverage=values["term_cover"],
        missing=_lacking(asked.terms, context),
        missing_all=_lacking(asked.terms, everywhere),
        unknown=asked.unknown,
        asked_missing=_share(asked.asked, lambda t: t not in context),
        asked_unsaid=_share(asked.asked, lambda t: t not in sentence),
        rarest_missing=float(asked.rarest not in context or not asked.rarest),
        figures=float(min(2, sum(1 for f in asked.figures if f not in context))),
        unmatched=float(min(2, len(unmatched_in(asked.question, [context])))),
        untyped=float(bool(asked.patterns)
                      and not any(p.search(context) for p in asked.patterns)),
        unvalued=float(number and not values["figure"]),
        unanchored=float(number and not values["anchored"]),
        focus=_share(asked.focus, lambda t: t not in context),
        bm25=(hit.bm25_score or 0.0) / (sum(asked.weights.values()) or 1.0),
        agree=float((hit.dense_rank or 99) <= 10 and (hit.bm25_rank or 99) <= 10),
        rank=1.0 / (best.hit_index + 1),
    )


def _in_order(**values: float) -> tuple[float, ...]:
    """The evidence values in EVIDENCE_FEATURES order: every one named, no other."""
    if values.keys() != set(EVIDENCE_FEATURES):
        raise ValueError(f"evidence values {sorted(values)} are not {EVIDENCE_FEATURES}")
    return tuple(float(values[n]) for n in EVIDENCE_FEATURES)
