"""Follow-up questions made standalone by rule, so retrieval searches what was meant.

"那株洲呢？" after "宜宾在产业转型上有什么做法？" is searched as
"株洲在产业转型上有什么做法？"; "这个规划是哪年出台的？" after a question about
《全国老工业基地调整改造规划》 names that plan. The LLM mode rewrites with the model
instead; this is the extractive mode's carry-over of the previous question's subject.
"""

import re
from functools import cache

# "那株洲呢？", "还有宜宾呢", "那么鄂尔多斯怎么样？"
_ELLIPTIC = re.compile(
    r"^(?:那么?|还有|另外|再说说)?\s*(.{1,16}?)\s*(?:呢|怎么样|如何|又如何|怎样)[？?。]?$")
# "这个规划", "该政策", "它", "这些城市": a reference to what was asked before
_REFERENCE = re.compile(
    r"(?:这个|这项|这一|这些|该|此|上述|前面说的)(?:政策|规划|文件|意见|方案|城市|地区|示范区|做法|"
    r"措施|工程|项目|文章|会议|活动|企业|产业)?|(?<![\u4e00-\u9fff])[它其](?=[是的在有])"
)
_TITLE = re.compile(r"《[^》]{2,60}》")
# entity parts of speech in jieba: place, organisation, other proper noun, person
_ENTITY_TAGS = ("ns", "nt", "nz", "nr")
# words jieba tags as places that name no place: "那株洲呢？" after "首批示范区有哪些城市？"
# must not make "首批示范区有哪些株洲？"
_GENERIC_PLACES = frozenset(
    "城市 地区 全国 各地 地方 省份 区域 城镇 农村 国内 国外 当地 本地".split())
# a year or an ordinal: "那2020年呢？" after "2019年……" swaps the year
_ORDINAL = re.compile(r"\d{4}年|第[一二三四五六七八九十百\d]+[届批次期轮]")
# a first word that is the subject ("包头在……", "包头的……") even when jieba does not
# know it as a place
_LEADING_SUBJECT = re.compile(r"^([\u4e00-\u9fff]{2,6}?)(?:市|省)?(?=在|的)")


@cache
def _posseg():
    # jieba.posseg loads its own dictionary: only when a follow-up needs it
    import logging

    import jieba.posseg

    logging.getLogger("jieba").setLevel(logging.WARNING)
    return jieba.posseg


def _entities(text: str) -> list[str]:
    """Proper nouns of a question, in order (places, organisations, names)."""
    return [w.word for w in _posseg().cut(text)
            if w.flag in _ENTITY_TAGS and len(w.word) >= 2 and w.word not in _GENERIC_PLACES]


def _subject(previous: str) -> str | None:
    """What the previous question was about: a document title, else its first entity,
    else its first run of nouns ("产业转型升级示范区")."""
    title = _TITLE.search(previous)
    if title:
        return title.group(0)
    entities = _entities(previous)
    if entities:
        return entities[0]
    run: list[str] = []
    for w in _posseg().cut(previous):
        if w.flag.startswith("n") or w.flag == "vn":
            run.append(w.word)
        elif run:
            break
    phrase = "".join(run)
    return phrase if len(phrase) >= 2 else None


def needs_context(question: str, history: list[str]) -> bool:
    """Whether a question leans on the conversation: elliptic or referring back."""
    q = question.strip()
    return bool(history) and bool(
        (_ELLIPTIC.match(q) and len(q) <= 20) or _REFERENCE.search(q))


def standalone(question: str, history: list[str]) -> str:
    """The question as it should be searched, given the earlier questions (newest last).

    A question that needs no context comes back unchanged.
    """
    q = question.strip()
    if not history:
        return q
    previous = history[-1]
    elliptic = _ELLIPTIC.match(q)
    if elliptic and len(q) <= 20:
        new = elliptic.group(1)
        if _ORDINAL.fullmatch(new):
            same = [m for m in _ORDINAL.findall(previous) if m[-1] == new[-1]]
            if same:
                return previous.replace(same[0], new, 1)
        old = _entities(previous)
        if not old:
            leading = _LEADING_SUBJECT.match(previous)
            old = [leading.group(1)] if leading else []
        if old and old[0] != new:
            return previous.replace(old[0], new, 1)
        return f"{new}{previous}" if new not in previous else previous
    reference = _REFERENCE.search(q)
    if reference:
        subject = _subject(previous)
        if subject and subject not in q:
            return q[: reference.start()] + subject + q[reference.end() :]
    return q
