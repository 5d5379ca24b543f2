"""Follow-up questions made standalone by rule, so retrieval searches what was meant.

"那株洲呢？" after "宜宾在产业转型上有什么做法？" is searched as
"株洲在产业转型上有什么做法？"; "这个规划是哪年出台的？" after a question about
《全国老工业基地调整改造规划》 names that plan. The LLM mode rewrites with the model
instead; this is the extractive mode's carry-over of the previous question's subject.
"""

import re

from .question import tagger
from .rerank import naming_phrase

# "那株洲呢？", "还有宜宾呢", "那么鄂尔多斯怎么样？"
_ELLIPTIC = re.compile(
    r"^(?:那么?|还有|另外|再说说)?\s*(.{1,16}?)\s*(?:呢|怎么样|如何|又如何|怎样)[？?。]?$")
# "这个规划", "该政策", "它", "这些城市": a reference to what was asked before
_REFERENCE = re.compile(
    r"(?:这个|这项|这一|这些|该|此|上述|前面说的)(?:政策|规划|文件|意见|方案|城市|地区|示范区|做法|"
    r"措施|工程|项目|文章|会议|活动|企业|产业)?|(?<!其)它们?|(?<![\u4e00-\u9fff])其(?=[是的在有])|"
    r"那里|当地"
)
_PRONOUNS = ("它", "它们", "其")
# "那一年", "当年": the year of the previous question (pronouns are a closed class)
_SAME_YEAR = re.compile(r"那一?年|当年|同年")
_YEAR = re.compile(r"\d{4}年")
_CONNECTIVE = re.compile(r"^(?:那么?|还有|另外|再说说)\s*")
# function characters around what remains of an elliptic follow-up ("的财政收入", "到")
_PHRASE_EDGE = re.compile(r"^[的在到和与及了又也还]+|[的了]+$")
_TITLE = re.compile(r"《[^》]{2,60}》")
_QUOTED = re.compile(r"[“\"「]([^”\"」]{2,16})[”\"」]")
# "对台湾方面呢？" is "台湾呢？": a preposition of aboutness before, the light noun 方面
# after (closed classes)
_ASPECT = re.compile(r"^(?:对于|对|关于|针对|在)|方面$")
# entity parts of speech in jieba: place, organisation, other proper noun, person
_ENTITY_TAGS = ("ns", "nt", "nz", "nr")
# what an elliptic follow-up's name replaces: not "nz", which jieba also gives to terms
# ("二氧化硫")
_REPLACED_TAGS = ("ns", "nt", "nr")
# words jieba tags as places that name no place: "那株洲呢？" after "首批示范区有哪些城市？"
# must not make "首批示范区有哪些株洲？"
_GENERIC_PLACES = frozenset(
    "城市 地区 全国 各地 地方 省份 区域 城镇 农村 国内 国外 当地 本地".split())
# a year or an ordinal: "那2020年呢？" after "2019年……" swaps the year
_ORDINAL = re.compile(r"\d{4}年|第[一二三四五六七八九十百\d]+[届批次期轮]")
# the suffixes that say what kind of place a name is: a 区 replaces a 区, a 省 a 省
_PLACE_KINDS = "省市区县州镇乡村"
# prepositions that introduce what a question is about ("对乡村医生提出了什么要求"):
# a closed class
_ABOUT = ("对", "针对", "关于", "对于")
# a first word that is the subject ("包头在……", "包头的……") even when jieba does not
# know it as a place
_LEADING_SUBJECT = re.compile(r"^([\u4e00-\u9fff]{2,6}?)(?:市|省)?(?=在|的)")


def _runs(text: str, keep) -> list[str]:
    """The maximal runs of the words of `text` that `keep(word)` keeps, each joined, in
    order (jieba's words, with their parts of speech)."""
    out, run = [], []
    for w in [*tagger().cut(text), None]:
        if w is not None and keep(w):
            run.append(w.word)
        elif run:
            out.append("".join(run))
            run = []
    return out


def _entities(text: str, tags: tuple[str, ...] = _ENTITY_TAGS,
              generic: bool = False) -> list[str]:
    """Proper nouns of a question, in order (places, organisations, names); a run of
    them is one ("湖北黄石"). `generic`: words like 全国 count as places too, whatever
    jieba tags them."""
    return _runs(text, lambda w: len(w.word) >= 2 and (
        (w.flag in tags and w.word not in _GENERIC_PLACES)
        or (generic and w.word in _GENERIC_PLACES)))


def _subject(previous: str) -> str | None:
    """What the previous question was about: a document title, else its first entity
    (a run of them: "湖北黄石"), else its first run of nouns ("产业转型升级示范区")."""
    title = _TITLE.search(previous)
    if title:
        return title.group(0)
    named = naming_phrase(previous)  # "2023年一号文件…": the document, not its last noun
    if named:
        return named
    entities = _entities(previous)
    if entities:
        return entities[0]
    nouns = _runs(previous, lambda w: w.flag.startswith("n") or w.flag == "vn")
    return nouns[0] if nouns and len(nouns[0]) >= 2 else None


def needs_context(question: str, history: list[str]) -> bool:
    """Whether a question leans on the conversation: elliptic, referring back or
    naming nothing it is about ("具体有哪些措施？")."""
    q = question.strip()
    return bool(history) and bool(
        _elliptic(q) or _REFERENCE.search(q) or _SAME_YEAR.search(q) or _vague(q))


def _vague(question: str) -> bool:
    """Whether a question names nothing to be about: no title, quote, year or proper
    noun, and no noun but one short word ("具体有哪些措施？", not "新质生产力是什么？")."""
    if _TITLE.search(question) or _QUOTED.search(question) or _YEAR.search(question):
        return False
    words = [w for w in tagger().cut(question) if w.flag[0] in "nb" or w.flag == "vn"]
    return not any(w.flag in _ENTITY_TAGS for w in words) and (
        not words or (len(words) == 1 and len(words[0].word) <= 2))


def _elliptic(question: str) -> str | None:
    """X of "那X呢？"; of "X怎么样？" only when X is a bare name ("那么鄂尔多斯怎么样？"):
    "东北地区资源型城市的人口情况怎么样？" is a question of its own. "对X方面呢？" is
    "X呢？"."""
    m = _ELLIPTIC.match(question)
    if not m or len(question) > 20:
        return None
    if question.rstrip("？?。").endswith("呢") or len(m.group(1)) <= 4:
        return _ASPECT.sub("", m.group(1)) or m.group(1)
    return None


def standalone(question: str, history: list[str]) -> str:
    """The question as it should be searched, given the earlier questions (newest last).

    A question that needs no context comes back unchanged. An elliptic one ("那X呢？")
    puts X in the place of what X replaces in the previous question: a year or ordinal
    of the same unit, a proper noun, a noun phrase with the same head; a reference
    ("这个规划", "它", "那一年") is replaced by what the previous question was about.
    Two questions are never glued together.
    """
    q = question.strip()
    if not history:
        return q
    previous = history[-1]  # as it was searched: callers keep the rewritten questions
    elliptic = _elliptic(q)
    if elliptic:
        replaced = _replace_constituents(elliptic, previous)
        if replaced:
            return replaced
        # nothing of its kind to replace: asked about what the previous question was
        # about ("效果如何？" -> "宜宾的效果如何？"), not glued to that question
        subject = _subject(previous)
        if subject and subject not in elliptic:
            return subject + "的" + _CONNECTIVE.sub("", q)
        return q
    out = q
    year = _SAME_YEAR.search(out)
    if year:
        years = _YEAR.findall(previous)
        if years:
            out = out[: year.start()] + years[0] + out[year.end() :]
    reference = _REFERENCE.search(out)
    if reference:
        # "它" is the thing the previous question put in quotes, if any ("五权下放")
        quoted = _QUOTED.search(previous) if reference.group(0) in _PRONOUNS else None
        subject = quoted.group(0) if quoted else _subject(previous)
        if subject and subject not in out:
            out = out[: reference.start()] + subject + out[reference.end() :]
    elif not year and _vague(q):
        # what the previous question asked about ("2023年一号文件对宅基地制度改革"),
        # then this question about it
        about = _about(previous)
        if about:
            return previous[: previous.index(about) + len(about)] + _CONNECTIVE.sub("", q)
        subject = _subject(previous)
        return subject + "的" + _CONNECTIVE.sub("", q) if subject else q
    return out


def _replace_constituents(new: str, previous: str) -> str | None:
    """`previous` with the parts of `new` in the place of their counterparts; None when
    a part has none."""
    out = previous
    rest = new
    shifted = False  # a name replaced: what follows it is a new topic ("那湘潭的财政收入呢？")
    # years and ordinals: "到2030年" after "到2025年……", "第二批" after "第一批……"
    for m in _ORDINAL.finditer(new):
        same = [o for o in _ORDINAL.findall(out) if o[-1] == m.group(0)[-1]]
        if same:
            out = out.replace(same[0], m.group(0), 1)
            rest = rest.replace(m.group(0), " ", 1)
    # places, organisations, people: in the place of the previous question's first, or
    # of its leading subject ("全国" may replace a place, never be replaced)
    for entity in _entities(rest, _REPLACED_TAGS, generic=True):
        entity = _with_kind(entity, rest)
        old = [_with_kind(o, out) for o in _entities(out)]
        if not old:
            leading = _LEADING_SUBJECT.match(out)
            old = [leading.group(1)] if leading else []
        # a place of the same kind first ("柯桥区" replaces "越城区", not "绍兴")
        same = [o for o in old if entity[-1] in _PLACE_KINDS and o[-1] == entity[-1]]
        old = same + [o for o in old if o not in same]
        if old and old[0] != entity:
            # "株洲、湘潭和衡阳" is one subject: the whole list gives way
            listed = re.search(re.escape(old[0]) + r"(?:[、，,和与及]+(?:"
                               + "|".join(map(re.escape, old[1:] or ["(?!)"])) + "))*", out)
            out = out[: listed.start()] + entity + out[listed.end() :]
            shifted = True
        elif entity not in out:
            out = entity + out  # a subject the previous question had none of: it leads
        rest = rest.replace(entity, " ", 1)
    # what remains, a noun phrase ("服务业增加值", "的财政收入"): in the place of the
    # previous question's noun phrase with the same head word, or the same head
    # character, or of the phrase it ends on ("…重点发展专用数控机床？"); with none of
    # these, None rather than a guess
    phrase = _PHRASE_EDGE.sub("", rest.strip())
    if len(phrase) >= 2 and phrase not in out:
        runs = _noun_runs(out)
        head = _noun_runs(phrase)
        if not head or not runs:
            return None
        last = head[-1]
        last_word = _last_word(last)
        ending = runs[-1] if shifted or out.rstrip("？?。").endswith(runs[-1]) else None
        target = (next((r for r in runs if r.endswith(last_word)), None)
                  or next((r for r in runs if r[-1] == last[-1]), None)
                  or _about(out) or ending)
        if target is None:
            return None
        out = out.replace(target, phrase, 1)
    return out


def _with_kind(name: str, text: str) -> str:
    """A place name with the kind suffix that follows it in `text` ("柯桥" + "区": jieba
    splits off the suffix of a name it does not know)."""
    i = text.find(name)
    after = text[i + len(name): i + len(name) + 1] if i >= 0 else ""
    return name + after if after and after in _PLACE_KINDS and name[-1] not in _PLACE_KINDS \
        else name


def _about(question: str) -> str | None:
    """What a question is about: the words after 对/关于 up to its verb or question word
    ("…对乡村医生提出了什么要求" -> "乡村医生"); None without such a phrase."""
    words = list(tagger().cut(question))
    for i, w in enumerate(words):
        if w.word in _ABOUT and w.flag.startswith("p"):
            phrase = []
            for x in words[i + 1:]:
                if (x.flag.startswith("v") and x.flag != "vn") or x.flag.startswith(("r", "u")) \
                        or not x.word.strip("？?，,。"):
                    break
                phrase.append(x.word)
            text = "".join(phrase)
            return text if len(text) >= 2 else None
    return None


def _noun_runs(text: str) -> list[str]:
    """Maximal runs of nouns (and the attributes jieba tags with them) in a text."""
    return [r for r in _runs(text, lambda w: w.flag[0] in "nb" or w.flag == "vn")
            if len(r) >= 2]


def _last_word(phrase: str) -> str:
    words = [w.word for w in tagger().cut(phrase)]
    return words[-1] if words else phrase
