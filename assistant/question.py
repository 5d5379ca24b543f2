"""What a question asks: its kinds, its focus, the types of answer it wants, and the
words that only say how it is asked. Read by the answer model's features
(features.py) and the re-ranker's sentence score (extractive.py).

Every word list here is a closed class of the language: question words, particles,
pronouns, adverbs and prepositions of asking, measure words and units. Nothing is a
word of one question or one domain: what a question is about is weighed from the index
(idf), never listed.
"""

import re
from collections.abc import Sequence
from functools import cache

from zhice.ingest.normalize import search_key

# What a question asks for, by its question word (a closed class); the features reward
# the sentence feature that answers each (a figure, a list, a definition).
_KINDS = (
    ("number", re.compile(r"多少|几[个项年座家次批类条届种倍成]|几+$|多[大高长久远重]|"
                          r"百分之几|哪一?年|何年|何时|什么时候|什么时间")),
    ("list", re.compile(r"哪些|哪几|有什么|都有")),
    ("definition", re.compile(r"什么是|是什么|指的是|是指|何谓|怎么理解|怎样理解")),
    ("who", re.compile(r"谁|哪位|哪个人|什么人")),
    ("where", re.compile(r"哪里|哪儿|什么地方|在哪|何处|何地")),
)
# Figures and ordinals a question names: an answer must be about the same ones.
QUESTION_FIGURE = re.compile(r"\d+(?:\.\d+)?|第[一二三四五六七八九十百\d]+[届批次期轮]")
# What a question pins its answer to: a year ("2023年", "2016至2020年"), a named document
# (《…》), an ordinal (第三批). A passage that names none of one is about another year,
# batch or document: its figure, cited properly, answers a different question.
_PINNED = re.compile(r"《([^》]{2,60})》|\d{4}(?=\s*(?:年|—|–|-|~|～|至|到))|"
                     r"第[一二三四五六七八九十百\d]+[届批次期轮]")
# "X的Y是多少？", "X的Y有哪些？": Y is what is asked for. Passages about X that never
# name Y are how a question the documents do not answer looks answered. Read off the
# question words and the adverbs before them.
_FOCUS = re.compile(r"的([^的，,、：:；;]{2,8}?)(?:一共|总共|合计|大约|具体)?"
                    r"(?:是多少|有多少|是哪些|有哪些|包括哪些|是什么|有什么|是谁|是哪\w{0,2})[？?。]?$")
# What a question wants as its answer, and what an answer of that kind looks like: the
# expected answer type of classic question answering, keyed on question words and on the
# unit or measure word the question names.
_NUMBER = r"(?:\d[\d.,]*|[一二三四五六七八九十百千万两]+)"
# measure words of counted things (a closed class)
_MEASURES = "个家项处人座套件名条批所次届种类户位台辆栋间"
# units of measure: money, area, weight, length (a closed class)
_UNITS = "元|美元|欧元|英镑|平方公里|平方千米|平方米|公顷|亩|吨|公斤|千克|公里|千米|米"
_DATE = r"\d+\s*[年月日]|[元一二三四五六七八九十〇零]+\s*[年月日]"  # 2021年11月, 光海君七年
# the time expressions that answer "什么时候" besides a date: seasons, eras, and the
# localisers of time (之前, 初期, 当年), a closed class
_TIME = (r"|[春夏秋冬]|世纪|年代|时期|期间|之[前后初际]|以[前后]|当[时年天日]|[前中后初末]期|"
         r"纪|[早晚]年|[初末]|[上下]午|早晨|晚上|夜间|凌晨|节")
_ANSWER_TYPES = (
    (re.compile(r"哪一?年|何年|哪个月|几月|哪天|几号"),
     re.compile(_DATE + r"|\d{4}\s*[-/.]\s*\d")),
    # "什么时候" is answered by a date, a season, an era or another event: only the
    # plainly timeless passage counts as lacking it
    (re.compile(r"何时|什么时候|什么时间"), re.compile(_DATE + _TIME)),
    # a share: asked with the question words of a share, or as an amount of one of the
    # three nouns that name a share ("比重是多少"), not as a method ("比重如何制定")
    (re.compile(r"百分之几|几成|占多[少大]|^(?=.*(?:多少|多大|几))(?=.*(?:比例|比重|占比))"),
     re.compile(r"\d+(?:\.\d+)?\s*%|百分之|\d+\s*成|一半|[一二三四五六七八九十]+分之")),
    (re.compile(r"几倍|多少倍"), re.compile(r"倍")),
    (re.compile(r"多少钱"),
     re.compile(_NUMBER + r"\s*(?:多|余)?\s*[万亿千]*\s*(?:元|美元|欧元|英镑)")),
)
# "多少家/几座" asks for a count of things: a figure with that measure word, or with any
# ("个" is the generic one), or a figure in 万/亿 that is no sum of money ("人口3.9亿").
# "哪几类" and "这几座" are not counts.
_COUNT_QUESTION = re.compile(r"(?<![哪这那])(?:多少|几)\s*([" + _MEASURES + "])")
# "多少亿元", "多少平方公里": the unit the question names is the unit of its answer
_UNIT_QUESTION = re.compile(r"(?:多少|几)\s*([万亿千百]*)\s*(" + _UNITS + ")")
# The question words (a closed class) and the window around one that says what is asked
QUESTION_WORD = re.compile(r"哪一[年个天位次]|多少|几[个项年座家次批类条届种倍成月号]?|什么|"
                            r"哪[个些里儿位座家项类年天]?|谁|如何|怎么|怎样|为什么|为何|"
                            r"何[时地处年]|是否|是不是|有没有|啥|咋")
_CLAUSE_ENDS = "，,；;：:？?。！!"
_WINDOW = 6  # characters each side: a noun phrase and its verb
# Words that say how a question is asked, not what it is about: question words,
# pronouns, particles, auxiliaries and adverbs of asking, prepositions, measure words.
# All closed classes; the open-class words of asking ("文件里提到…") weigh little anyway,
# by their idf.
FILLER = frozenset(
    # question words
    "什么 多少 怎么 怎样 如何 为什么 是否 是不是 哪 哪些 哪里 哪儿 谁 几 啥 咋 哪一年 哪年 "
    "哪座 哪个 哪位 哪家 哪项 哪类 什么样 多大 有没有 能不能 几批 几类 几位 几项 几种 占多大 "
    # pronouns and demonstratives
    "我 我们 你 您 他们 她们 它们 那个 这个 这种 那种 那边 这边 那座 这座 一些 "
    # particles
    "吗 呢 呀 啊 吧 了 的 么 "
    # request formulas, auxiliaries and copulas
    "请问 请 问 一下 是 有 能 会 要 得 可以 被 叫 叫做 称为 所谓 "
    # adverbs of degree, scope and time of asking
    "都 就 还 很 挺 到底 究竟 已经 一共 总共 合计 大约 大概 分别 目前 现在 "
    # prepositions
    "根据 按照 关于 给 "
    # measure words
    "个 些 样".split()
)


def answer_patterns(question: str) -> list[re.Pattern]:
    """What an answer to the question must hold, one pattern per type it may want
    ("哪一年" wants a year): empty when any answer will do."""
    q = search_key(question)
    patterns = [answer for asks, answer in _ANSWER_TYPES if asks.search(q)]
    m = _COUNT_QUESTION.search(q)
    if m:
        measure = _MEASURES if m.group(1) == "个" else m.group(1)
        patterns.append(re.compile(_NUMBER + r"\s*(?:多|余|来)?\s*(?:[万亿千百]*\s*[" + measure
                                   + r"]|[万亿](?![元美欧英]))"))
    m = _UNIT_QUESTION.search(q)
    if m:
        patterns.append(re.compile(_NUMBER + r"\s*(?:多|余)?\s*[万亿千百]*\s*"
                                   + re.escape(m.group(2))))
    return patterns


def asked_window(question: str) -> str:
    """The words around the question's question word, within its clause: what it asks
    about the thing it names ("韶关数据中心集群的电价补贴是多少" -> "的电价补贴是", "2019年
    接待了多少游客" -> "2019年接待了游客"). A passage about the thing that never says
    these is how a question the documents do not answer looks answered. "" when the
    question has no question word."""
    q = search_key(question)
    m = QUESTION_WORD.search(q)
    if not m:
        return ""
    clause_start = max(q.rfind(c, 0, m.start()) for c in _CLAUSE_ENDS) + 1
    clause_end = min([i for i in (q.find(c, m.end()) for c in _CLAUSE_ENDS) if i >= 0]
                     or [len(q)])
    return (q[max(clause_start, m.start() - _WINDOW) : m.start()]
            + q[m.end() : min(clause_end, m.end() + _WINDOW)])


def question_focus(question: str) -> str:
    """What a question of the form "X的Y是多少/有哪些/是什么" asks for: Y; else ""."""
    m = _FOCUS.search(search_key(question))
    return m.group(1) if m else ""


def question_kinds(question: str) -> set[str]:
    """What the question asks for: number, list, definition, who, where."""
    q = search_key(question)
    return {name for name, pattern in _KINDS if pattern.search(q)}


def constraints(question: str) -> list[str]:
    """The years, named documents and ordinals a question pins its answer to (_PINNED),
    in order, each once; a document by its name inside 《》."""
    found = [m.group(1) or m.group(0) for m in _PINNED.finditer(search_key(question))]
    return list(dict.fromkeys(found))


@cache
def tagger():
    """jieba's part-of-speech tagger, its dictionary loaded (about a second): by
    Assistant.open, so that no question waits for it."""
    import logging

    import jieba.posseg

    logging.getLogger("jieba").setLevel(logging.WARNING)
    jieba.posseg.dt.initialize()
    return jieba.posseg


def search_words(text: str) -> list[str]:
    """jieba's words of `text` and the words inside them ("滨海新区": 滨海, 新区,
    滨海新区), with the tagger's dictionary."""
    return list(tagger().dt.tokenizer.cut_for_search(text))


def tagged_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, part of speech) of each word of `text`, by jieba's tagger."""
    spans, at = [], 0
    for w in tagger().cut(text):
        spans.append((at, at + len(w.word), w.flag))
        at += len(w.word)
    return spans


# jieba's parts of speech (a closed set) of a modifier and of the noun it modifies:
# nouns of every kind, attributes (省级, 民办), abbreviations and set phrases
NOUNS = ("n", "b", "j", "l")


def modifier_slots(key: str, words: Sequence[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each of `words` (the question's) that modifies a noun in the question `key`, with
    the words of that noun that follow it: ("滨海", ("新区",)) in "推进滨海新区建设",
    ("省级", ("财政",)) in "省级财政"; a verb, pronoun or number and what follows it is no
    such pair."""
    tagged = tagged_spans(key)

    def nominal(start: int, end: int) -> bool:
        return any(s <= start and end <= e and flag.startswith(NOUNS) for s, e, flag in tagged)

    out = []
    for t in sorted(set(words)):
        # not glued to a figure: "2017年老工业基地" holds 年老, a word of jieba's, not
        # a modifier of the question
        ends = [m.end() for m in re.finditer(re.escape(t), key)
                if nominal(m.start(), m.end())
                and not (m.start() and key[m.start() - 1].isdigit())]
        after = tuple(w for w in words if w != t and any(
            key.startswith(w, e) and nominal(e, e + len(w)) for e in ends))
        if after:
            out.append((t, after))
    return tuple(out)
