"""Training examples for the answer model (assistant/answer_model.py), built from tuning
sets by retrieval, in quantity: each is a question, the passages it is answered from,
whether they answer it and what the answer is.

    with Assistant.open(index) as assistant:
        found = examples(assistant, questions, "dev_tune", posseg, k=5)

Kinds (Example.kind):
- "answerable": a question whose gold passage is among the top k retrieved, as retrieved;
- "removed": the same question with its gold passages taken out of what was retrieved (the
  SQuAD 2.0 way), kept only when no passage left holds its answer;
- "swapped": the question with one year, number, place or organisation replaced by
  another of the same kind that the passages retrieved for it name but its gold
  document does not (the tempting unanswerable question), asked again;
- "unanswerable": a question the dataset marks unanswerable, as retrieved;
- "foreign": an answerable question of another tuning set, on another corpus, asked of
  this set's index (off-topic: "欧冠决赛在哪里举行" of policy documents, whose words the
  index may not know at all), kept only when no passage retrieved holds its answer;
- "missed": an answerable question whose gold passage was not retrieved: not a training
  example of either kind, but counted where rates are measured as the eval measures
  them (Example.natural).
"""

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zhice.assistant.types import Hit
from zhice.ingest.normalize import match_key, search_key

from .dataset import UNANSWERABLE, Evidence, Question
from .metrics import is_gold

DEPTH = 15  # passages retrieved, so that k are left once the gold ones are taken out
KINDS = ("answerable", "removed", "swapped", "unanswerable", "foreign", "missed")
# What may be swapped, by kind: a year, a figure with its unit or an ordinal, and the
# places (ns), organisations (nt) and other proper names (nz) of jieba's tagger.
_YEAR = re.compile(r"(?<!\d)(?:1[5-9]|20)\d\d(?=年)")
_FIGURE = re.compile(r"(?<![\d.])\d+(?:\.\d+)?"
                     r"(?=[%万亿千百个家项人座套件名条批所次届种户位台元倍])")
_ORDINAL = re.compile(r"第[一二三四五六七八九十\d]+(?=[届批次期轮])")
_NAME_FLAGS = ("ns", "nt", "nz")
_POOL = 8  # passages of other documents that replacements are taken from

# (question text -> [(word, flag)]): jieba's part-of-speech tagger, loaded by the caller
Tagger = Callable[[str], list[tuple[str, str]]]


@dataclass(frozen=True)
class Example:
    """One question with its passages; `answers` are what a correct answer holds
    (`min_match` of them), empty when the passages do not answer it."""

    set: str
    group: str  # the dataset question it comes from: its variants share a fold
    kind: str
    question: str
    hits: tuple[Hit, ...]
    answers: tuple[str, ...] = ()
    min_match: int = 1
    evidence: tuple[Evidence, ...] = ()  # the dataset question's, as it is asked: its gold
    origin: str = ""  # the set a foreign question was written for

    @property
    def key(self) -> str:
        """The question it comes from, across sets: its variants share a fold."""
        return f"{self.origin or self.set}/{self.group}"

    def as_question(self) -> Question:
        """The example as a dataset question, for the eval's metrics."""
        return Question(self.group, "" if self.answerable else UNANSWERABLE, self.question,
                        self.answers, self.min_match, self.evidence)

    @property
    def answerable(self) -> bool:
        return self.kind in ("answerable", "missed")

    @property
    def natural(self) -> bool:
        """Asked as the dataset asks it: what the eval's rates count."""
        return self.kind in ("answerable", "unanswerable", "missed")

    @property
    def trains(self) -> bool:
        """A training example: its passages answer it, or plainly do not."""
        return self.kind != "missed"


def examples(assistant, questions: Sequence[Question], name: str, tagger: Tagger | None,
             k: int) -> list[Example]:
    """Every kind of example (the module's docstring) from one tuning set on its index;
    no swapped examples without a `tagger`."""
    out = []
    for q in questions:
        hits = assistant.retriever.retrieve(q.question, DEPTH)
        if q.type == UNANSWERABLE:
            out.append(Example(name, q.id, "unanswerable", q.question, tuple(hits[:k])))
            continue
        answers, need = tuple(q.keywords), q.min_match or 1
        gold = [is_gold(q, h.chunk.source, h.chunk.text) for h in hits]
        kind = "answerable" if any(gold[:k]) else "missed"
        out.append(Example(name, q.id, kind, q.question, tuple(hits[:k]), answers, need,
                           q.evidence))
        if kind == "missed":
            continue
        rest = tuple(h for h, g in zip(hits, gold) if not g)[:k]
        if not any(_holds(h, answers, need) for h in rest):
            out.append(Example(name, q.id, "removed", q.question, rest))
        swapped = swap(q, hits, gold, tagger) if tagger else None
        if swapped:
            found = assistant.retriever.retrieve(swapped, k)
            out.append(Example(name, q.id, "swapped", swapped, tuple(found)))
    return out


def foreign(assistant, questions: Sequence[Question], name: str, origin: str,
            k: int) -> list[Example]:
    """The answerable `questions` of set `origin`, written for another corpus, asked of
    this set's index (named `name`): off-topic examples, each kept only when no passage
    retrieved holds its answer."""
    out = []
    for q in questions:
        if q.type == UNANSWERABLE:
            continue
        hits = tuple(assistant.retriever.retrieve(q.question, k))
        if not any(_holds(h, q.keywords, q.min_match or 1) for h in hits):
            out.append(Example(name, q.id, "foreign", q.question, hits, origin=origin))
    return out


def _holds(hit: Hit, answers: Sequence[str], need: int) -> bool:
    text = match_key(hit.chunk.text)
    return sum(1 for a in answers if match_key(a) in text) >= need


def swap(question: Question, hits: Sequence[Hit], gold: Sequence[bool],
         tagger: Tagger) -> str | None:
    """The question with its first year, ordinal, figure or proper name replaced by one
    of the same kind that passages of other documents retrieved for it name and its gold
    passages do not: what the corpus could tempt an answerer with. None when nothing can
    be swapped. The choice among candidates is fixed by the question's id."""
    key = search_key(question.question)
    gold_sources = {h.chunk.source for h, g in zip(hits, gold) if g}
    gold_text = "\n".join(_context(h) for h, g in zip(hits, gold) if g)
    other_text = "\n".join([_context(h) for h in hits
                            if h.chunk.source not in gold_sources][:_POOL])
    tagged = None  # the tagger is the slow part: once a question, and only if needed
    for kind in ("year", "ordinal", "figure", *_NAME_FLAGS):
        if kind in _NAME_FLAGS:
            if tagged is None:
                names = [(w, f) for w, f in tagger(key) if f in _NAME_FLAGS and len(w) >= 2]
                tagged = (names, tagger(other_text) if names else [])
            mine = [w for w, f in tagged[0] if f == kind]
            pool = {w for w, f in tagged[1] if f == kind and len(w) >= 2}
        else:
            pattern = {"year": _YEAR, "ordinal": _ORDINAL, "figure": _FIGURE}[kind]
            mine = pattern.findall(key)
            pool = set(pattern.findall(other_text))
        for old in mine:
            # a year inside the question's other figures ("2016至2020年") is left alone
            choices = sorted(w for w in pool if w != old and w not in gold_text
                             and w not in key and old not in w and w not in old)
            if choices:
                pick = int(hashlib.sha256(question.id.encode()).hexdigest(), 16) % len(choices)
                return key.replace(old, choices[pick], 1)
    return None


def _context(hit: Hit) -> str:
    c = hit.chunk
    return "\n".join((c.key, search_key(c.heading), search_key(c.title)))


def sha256(examples_: Sequence[Example], rows: Sequence[Sequence[float]]) -> str:
    """The SHA-256 of what a model is fitted on: every example's set, kind, question,
    passages (by content id) and answers, with its feature values, so a refit on other
    data or other features shows."""
    digest = hashlib.sha256()
    for e, row in zip(examples_, rows):
        digest.update(json.dumps([e.set, e.kind, e.question, [h.chunk.id for h in e.hits],
                                  list(e.answers), [round(float(x), 6) for x in row]],
                                 ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()
