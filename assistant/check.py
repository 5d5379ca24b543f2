"""Citation check: every answer sentence must stand in the passage its marker names.

The last step of every chain, whatever wrote the answer. A marker that points at no
passage is removed; a sentence that its cited passage does not support is dropped and
reported in `Answer.unsupported`; an answer left with nothing supported abstains.
"""

import re
from dataclasses import replace

from zhice.ingest.normalize import match_key

from .question import FILLER, QUESTION_WORD, constraints, modifier_slots, search_words
from .types import Answer

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Lexical support for a sentence that is not a verbatim quote: this share of its
# character bigrams must occur in the cited passage, and every figure in it too.
SUPPORT_OVERLAP = 0.6
DOCUMENT_OVERLAP = 0.8  # of a named document's bigrams, for it to count as named


_MARKER_GROUP = re.compile(r"((?:\s*\[\d+\])+)")
_SENTENCE = re.compile(r"[^。！？；!?;]+(?:[。！？；!?;]+[”’」』）)]*|$)")
_LEADING_PUNCTUATION = re.compile(r"^[\s。！？；!?;，,、：:”’」』）)]+")


def claims(text: str) -> list[tuple[str, list[int]]]:
    """An answer split into sentences, each with the markers that close it. Markers
    close every sentence since the previous marker group ("甲。乙[1]" cites [1] for
    both); punctuation right after a marker stays with its sentence ("句子[1]。")."""
    out: list[tuple[str, list[int]]] = []
    parts = _MARKER_GROUP.split(text)
    for i in range(0, len(parts), 2):
        segment = parts[i]
        markers = [int(m) for m in re.findall(r"\d+", parts[i + 1])] if i + 1 < len(parts) else []
        lead = _LEADING_PUNCTUATION.match(segment)
        if lead and out:
            out[-1] = (out[-1][0] + lead.group(0).strip(), out[-1][1])
            segment = segment[lead.end():]
        if not segment.strip():
            if out:
                out[-1][1].extend(markers)
            continue
        for sentence in _SENTENCE.findall(segment):
            if sentence.strip():
                out.append((sentence.strip(), list(markers)))
    return out


def supports(sentence: str, passage: str) -> bool:
    """True when the passage holds the sentence: verbatim (after normalising script,
    width and whitespace), or by bigram overlap with every figure present."""
    s, p = match_key(sentence).strip("。，,；;：:！？!?"), match_key(passage)
    if not s:
        return True
    if s in p:
        return True
    grams = {s[i : i + 2] for i in range(len(s) - 1)}
    if not grams:
        return False
    overlap = sum(1 for g in grams if g in p) / len(grams)
    return overlap >= SUPPORT_OVERLAP and all(n in p for n in _NUMBER.findall(s))


def unmatched(question: str, citations) -> tuple[str, ...]:
    """The question's constraints (question.constraints: years, named documents,
    ordinals) that no cited passage holds, with its heading and its document's title;
    then the phrases whose modifier the passages hold another word in the place of
    ("滨海新区" asked, "雄安新区" cited)."""
    texts = [x for c in citations for x in (c.hit.chunk.text, c.hit.chunk.heading,
                                             c.hit.chunk.title)]
    return unmatched_in(question, texts) + swapped_in(question, texts)


def swapped_in(question: str, texts) -> tuple[str, ...]:
    """The question's modifier + noun phrases (question.modifier_slots) of which `texts`
    hold the noun after another word of the modifier's kind, and never the modifier."""
    key = match_key(question)
    slots = modifier_slots(key, [w for w in search_words(key) if len(w) >= 2
                                 and w not in FILLER and not QUESTION_WORD.search(w)])
    if not slots:
        return ()
    context = "\n".join(match_key(x) for x in texts)
    words = set(search_words(context))
    phrases = []
    for modifier, nouns in slots:
        if modifier in context:
            continue
        # the longest noun first: "民办高等学校", not "民办高等"
        noun = next((n for n in sorted(nouns, key=len, reverse=True)
                     for m in re.finditer(re.escape(n), context)
                     if _same_kind(modifier, context[max(0, m.start() - len(modifier)):m.start()],
                                   words)), None)
        if noun:
            phrases.append(modifier + noun)
    return tuple(p for p in phrases if not any(o != p and o in p for o in phrases))


def _same_kind(term: str, other: str, words) -> bool:
    """Whether `other`, a word of the text (one of `words`), could stand where `term`
    stands: as long, letters only, CJK where the term is, digits where the term has them,
    and not the term: the question swapped one constituent for another of its kind
    ("滨海新区" asked, "推进雄安新区建设" cited), not a text saying it in other words."""
    return (len(other) == len(term) and other != term and other.isalnum() and other in words
            and any(c.isdigit() for c in other) == any(c.isdigit() for c in term)
            and all(("\u4e00" <= a <= "\u9fff") == ("\u4e00" <= b <= "\u9fff")
                    for a, b in zip(term, other)))


def unmatched_in(question: str, texts) -> tuple[str, ...]:
    """The question's constraints that none of `texts` holds. A document's name counts
    as held when most of its bigrams are: titles quote it with other marks or a word
    more."""
    context = "\n".join(match_key(x) for x in texts)
    out = []
    for constraint in constraints(question):
        key = match_key(constraint)
        grams = {key[i : i + 2] for i in range(len(key) - 1)}
        if key in context or (len(key) > 4 and grams and sum(g in context for g in grams)
                              >= DOCUMENT_OVERLAP * len(grams)):
            continue
        out.append(constraint)
    return tuple(out)


def unmatched_note(items: tuple[str, ...]) -> str:
    """What the CLI and the page say of unmatched constraints."""
    return ("注意：所引段落没有提到" + "、".join(f"“{x}”" for x in items)
            + "，以上是最接近的内容，未必回答了所问。")


def dates_note(answer: Answer) -> str:
    """What the CLI and the page say when the cited documents are of different dates."""
    dated = answer.sources_by_date()
    if not dated:
        return ""
    titles = {c.marker: c.hit.chunk.title or c.hit.chunk.source for c in answer.citations}
    return ("注意：所引文件的日期不同，数字可能已有调整（新的在前）："
            + "；".join(f"[{m}]《{titles[m]}》{d}" for m, _, d in dated) + "。")


def check_answer(answer: Answer, not_found: str = "") -> Answer:
    """The answer with unsupported sentences and dangling markers removed, and the
    question's constraints its passages do not hold named (`Answer.unmatched`)."""
    if answer.abstained:
        return answer
    by_marker = {c.marker: c for c in answer.citations}
    kept, unsupported, used = [], [], set()
    for sentence, markers in claims(answer.answer):
        valid = [m for m in markers if m in by_marker]
        if valid and any(supports(sentence, by_marker[m].hit.chunk.text) for m in valid):
            kept.append(sentence + "".join(f"[{m}]" for m in valid))
            used.update(valid)
        elif sentence.strip():
            unsupported.append(sentence.strip())
    if not kept:
        return replace(answer, answer=not_found or answer.answer, abstained=True, citations=(),
                       unsupported=tuple(unsupported))
    cited = tuple(c for c in answer.citations if c.marker in used)
    return replace(answer, answer="".join(kept), citations=cited,
                   unsupported=answer.unsupported + tuple(unsupported),
                   unmatched=unmatched(answer.searched or answer.question, cited))
