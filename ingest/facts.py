"""A policy document's own facts, read from where official documents state them.

    facts = extract_facts(doc.text, doc.title)
    facts.doc_numbers     # ("国发〔2014〕28号",)  its own 文号, not those it cites
    facts.issuers         # ("国家发展改革委", "科技部")
    facts.date            # "2016-09-26"   成文/印发/通过 date, as precise as stated
    facts.period          # "2010-2020"    规划期 / 有效期 / 自…起施行

Chinese official documents put these in fixed places (GB/T 9704, 党政机关公文格式):
the 发文机关标志 ("国务院文件") and the 发文字号 on its own line above the title; the
issuers named in the title ("中共中央 国务院关于…的意见"); the signature and the
成文日期 in the last lines, often in Chinese numerals (二〇一三年三月二日); a
resolution's "（2024年7月18日…全体会议通过）" under its title; a web page's
"发布日期：" line. Only those places are read, so a 文号, body or date the content
merely mentions is never taken for the document's own, and a fact the text does not
state stays empty.
"""

import re
from dataclasses import asdict, dataclass, replace

from .normalize import search_key, to_simplified

# how far from either end the places above lie: lines, and characters of a line
HEAD_LINES, TAIL_LINES = 16, 10
SHORT_LINE = 40

_BRACKETS = "〔〕[]［］（）()【】"
# 国发〔2014〕28号, 发改地区〔2023〕729号, 国办函[2011]10号, 浙教基（2012）107号
# (spaced: 云川办发 〔2021〕 7号); a 令 or 公告 by its number (自然资源部令 第12号,
# 财政部 税务总局公告2023年第5号); Taiwan's 院臺教字第1120012345號. Matched on simplified text.
DOC_NUMBER = re.compile(
    r"[\u4e00-\u9fff]{1,12}\s*[〔\[［（(【]\s*(?:19|20)\d{2}\s*[〕\]］）)】]\s*(?:第\s*)?\d{1,5}\s*号"
    r"|[\u4e00-\u9fff][\u4e00-\u9fff ]{1,30}?(?:令|公告)\s*(?:(?:19|20)\d{2}\s*年\s*)?"
    r"第\s*\d{1,5}\s*号"
    r"|[\u4e00-\u9fff]{1,10}字第\s*\d{6,12}\s*号")
_CN_DIGITS = {"〇": 0, "○": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_CN_NUM = "〇○零一二三四五六七八九十"
DATE = re.compile(
    rf"((?:19|20)\d{{2}}|[{_CN_NUM}]{{4}})\s*年\s*(?:(\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*月"
    rf"(?:\s*(\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*日)?)?")
# Taiwan's calendar: 中華民國112年 is 2023 (year 1 is 1912)
_MINGUO = re.compile(r"(?:中华民国|中華民國|民国|民國)\s*(\d{2,3})\s*年")
_ISO_DATE = re.compile(r"((?:19|20)\d{2})[-./](\d{1,2})(?:[-./](\d{1,2}))?")
# matched on the simplified line, so a traditional page's 發布時間 counts too
_LABELLED_DATE = re.compile(r"(?:成文日期|印发日期|发文日期|发布日期|发布时间|公布日期|更新时间|"
                            r"(?<![成印发文布公])日期)\s*[:：]\s*")
# a draft's status after its title, not part of it: "…纲要（公开征求意见稿）"
_DRAFT = re.compile(r"\s*[（(](?:公开)?(?:征求意见稿|送审稿|讨论稿)[）)]$")
# characters at least in the first line of a title broken over two ("院长　林文德" above a
# title is a signature, not its first half)
_BROKEN_TITLE = 8
# the closed class of document types (文种) a title ends with, GB/T 9704 and plans, and
# the 行政规则 (原则, 要点, 须知)
_DOC_TYPE = re.compile(r"(?:决定|决议|意见|通知|通报|报告|请示|批复|函|纪要|公报|规划|纲要|方案|"
                       r"办法|条例|规定|细则|规则|指南|计划|公告|通告|命令|议案|说明|原则|要点|"
                       r"须知)[）)]?$")
# a reprint's lead: "中共中央办公厅、国务院办公厅印发了《…》"
_PRINTED_BY = re.compile(r"([\u4e00-\u9fff、 ]{2,60}?)(?:联合)?印发了?《([^《》]{2,80})》")
# 发文机关标志: "国务院文件", "中共浙江省委 浙江省人民政府文件"
_MASTHEAD = re.compile(r"^([\u4e00-\u9fff、 \u3000]{2,40}?)[\s\u3000]*(?:文件|函|令)$")
# a title that names its issuers: "中共中央 国务院关于…", "国家发展改革委 科技部关于…"
_TITLE_ISSUERS = re.compile(r"^([\u4e00-\u9fff、 ]{2,60}?)\s*关于")
_ADOPTED = re.compile(
    r"[（(]\s*(" + DATE.pattern + r")\s*([\u4e00-\u9fff]{4,40}?)(?:通过|批准)\s*[）)]")
# words an issuing body's name ends with: the closed class of Chinese organisation types
_BODY = re.compile(r"(?:中共中央|国务院|委员会|人民政府|政府|办公厅|办公室|委|部|厅|局|署|院|"
                   r"会|行|处|中心|小组|工作组|公司)$")
_PERIOD = [
    re.compile(r"[（(]\s*((?:19|20)\d{2})\s*[-－—–~～至]+\s*((?:19|20)\d{2})\s*年?\s*[）)]"),
    re.compile(r"(?:规划期|实施期|有效期|期限)(?:限)?(?:为|是|：|:)\s*((?:19|20)\d{2})\s*年?\s*"
               r"[-－—–~～至到]+\s*((?:19|20)\d{2})\s*年"),
]
# A plan named by its five-year plan ("十四五"规划, 第十四个五年规划) in its own title
# covers that plan's years: the Nth plan starts in 1951 + 5N (十一五 2006-2010).
_FIVE_YEAR = re.compile(r"十([一二三四五六七八九])五[”\"」]?.{0,20}?规划"
                        r"|第十([一二三四五六七八九])个五年规划")
_IN_FORCE = re.compile(r"自\s*(" + DATE.pattern + r")\s*起(?:施行|实施|执行|生效)")
_VALID_FOR = re.compile(
    r"有效期(?:为|至)?\s*([0-9一二三四五六七八九十]+\s*年|(?:19|20)\d{2}\s*年[^，。]{0,8})")
# what stands above a title (GB/T 9704: 份号, 密级, 紧急程度, 签发人; spaced-out issuer
# names) or around it on a web page (breadcrumbs, the site's name, 字号 and print links)
_ABOVE_TITLE = re.compile(
    r"^[0-9A-Za-z]{4,}$|^(?:特急|加急|特提|平急|急件|绝密|机密|秘密)(?:[★☆\s].*)?$|签发人|"
    r"^(?:[\u4e00-\u9fff][ \u3000]+){2,}[\u4e00-\u9fff]$|[>＞›»]|"
    r"(?:网|网站|门户网站|网页)$|字体|字号|打印|^[（(].*[）)]$|^附件\s*\d*\s*[：:]|^附[「《“]|"
    r"^[\u4e00-\u9fff \u3000]{2,12}[：:]")  # a form's field: 地址：…, 联系人：…
_TITLE_LABEL = re.compile(r"^标[ \u3000]*[题題][ \u3000]*[：:][ \u3000]*")
# lines that label what follows, never a title: "附件：", "附件2", "各省、自治区…："
_LABEL = re.compile(r"^(?:附件\s*\d*\s*[：:]?|.*[：:])$")
_CITED = re.compile(r"《([^《》\n]{2,60})》")
_REPLACES = re.compile(r"[^。\n]*(?:同时废止|予以废止|停止执行)[^。\n]*")


@dataclass(frozen=True)
class DocumentFacts:
    """What a document states about itself; empty where it states nothing."""

    title: str = ""
    issuers: tuple[str, ...] = ()
    doc_numbers: tuple[str, ...] = ()
    date: str = ""  # YYYY-MM-DD, YYYY-MM or YYYY: as precise as the text
    published: str = ""  # a web page's 发布日期, when it gives one
    period: str = ""  # "2010-2020", or the words of 自…起施行 / 有效期
    cites: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    # Not stated by the document: how it was read. The 1-based pages whose text OCR
    # read (ingest/ocr.py); kept here, stored with the facts, to reach every citation.
    ocr_pages: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else (v or None)
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "DocumentFacts":
        fields = cls.__dataclass_fields__
        return cls(**{k: tuple(v) if isinstance(v, list) else (v or "")
                      for k, v in (data or {}).items() if k in fields})

    def year(self) -> int | None:
        return int(self.date[:4]) if self.date else None

    def stated(self) -> dict:
        """Only the facts the document states: what a citation carries."""
        return {k: v for k, v in self.to_dict().items() if v and k != "ocr_pages"}

    def read_by_ocr(self, page: int | None) -> bool:
        """Whether OCR read the text of `page` (1-based; None: a format without pages)."""
        return page is not None and page in self.ocr_pages

    def summary(self, year: int | None = None) -> str:
        """One line of what it states: 文号 · issuers · date · period ("" if nothing);
        with the current `year`, a period that has ended says so."""
        period = f"期限 {self.period}" if self.period else ""
        if period and year is not None and self.ended(year):
            period += "（已结束）"
        parts = [*self.doc_numbers, "、".join(self.issuers), self.date, period]
        return " · ".join(p for p in parts if p)

    def end_year(self) -> int | None:
        """The last year of its stated period: 2022 of "2013-2022", or the date's year
        plus N of 有效期N年; None when it states no end."""
        m = re.fullmatch(r"(\d{4})-(\d{4})", self.period)
        if m:
            return int(m.group(2))
        m = re.fullmatch(r"有效期(\d+)年", self.period)
        return self.year() + int(m.group(1)) if m and self.year() else None

    def ended(self, year: int) -> bool:
        """Whether its stated period was over before `year`."""
        end = self.end_year()
        return end is not None and end < year

    def matches(self, since: int | None = None, issuer: str | None = None) -> bool:
        """Whether the document is dated `since` or later and names `issuer` among its
        issuers (a part of a name counts: 国务院 matches 国务院办公厅; either script).
        A document that states no date, or no issuer, matches no such filter."""
        if since is not None and (self.year() is None or self.year() < since):
            return False
        if issuer:
            wanted = search_key(issuer.strip())
            return any(wanted in search_key(name) for name in self.issuers)
        return True


def document_facts(doc) -> DocumentFacts:
    """What a chunked document (ChunkedDocument) states about itself, with the pages OCR
    read: what both stores keep per file."""
    return replace(extract_facts(doc.text, doc.title), ocr_pages=doc.ocr_pages)


def extract_facts(text: str, title: str = "") -> DocumentFacts:
    """The facts `text` states in the places official documents state them."""
    raw = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [_plain(line) for line in raw]
    head, tail = lines[:HEAD_LINES], lines[-TAIL_LINES:]  # a short text's overlap
    title = _title(raw[:HEAD_LINES], _plain(title), _wrapped(text))
    adopted = _ADOPTED.search("\n".join(head))
    issuers = _issuers(head, tail, title, adopted)
    own_title = _own_title(title)
    cites = tuple(dict.fromkeys(t for t in _CITED.findall(text) if t != own_title))[:10]
    return DocumentFacts(
        title=title, issuers=issuers, doc_numbers=_numbers(head, tail),
        date=_date(head, tail, adopted), published=_published(head),
        period=_period(title, text), cites=cites,
        replaces=tuple(t for m in _REPLACES.finditer(text) for t in _CITED.findall(m.group())))


def _plain(line: str) -> str:
    """A line without Markdown heading marks and surrounding space."""
    return line.strip().lstrip("#").strip()


def _wrapped(text: str) -> set[str]:
    """Opening lines (without spaces) that cleaning joined with a neighbour: a line of
    a hard-wrapped paragraph ("首批示范区以区域振兴为目" / "标，以…") is no title."""
    from .clean import clean

    head = "\n".join(text.split("\n")[: HEAD_LINES * 2])
    cleaned = clean(head)
    joined, at = set(), 0
    for line in cleaned.text.split("\n"):
        start, end = cleaned.source_span(at, at + len(line))
        at += len(line) + 1
        # the raw lines it was made of: not those cleaning dropped from its span (a web
        # page's chrome around a title)
        kept = re.sub(r"\s+", "", line)
        parts = [p for p in (re.sub(r"\s+", "", p) for p in head[start:end].split("\n"))
                 if p and p in kept]
        if len(parts) > 1:
            joined.update(parts)
    return joined


def _title(head: list[str], given: str, wrapped: set[str] = frozenset()) -> str:
    """The first level-1 heading (loaders render the document's title so), else the
    loader's title unless it only labels ("附件："), else the first line that can be
    one; a title broken over lines ("…深化改革" / "推进…的决定") is joined up to the
    line that ends in a document type."""
    # a web page's 信息公开 table labels its title ("标　　题：国务院办公厅关于…")
    lines = [_TITLE_LABEL.sub("", _plain(line)) for line in head]
    simple = [to_simplified(line) for line in lines]  # what is matched; the title as written
    heading = next((i for i, line in enumerate(head) if line.startswith("# ")), None)
    if heading is None:
        heading = next((i for i, line in enumerate(lines) if line == given), None)
    if heading is None and given and not _LABEL.match(given):
        return given.strip("《》")
    if heading is None:
        can = [i for i, line in enumerate(simple) if _can_be_title(line, wrapped)]
        # GB/T 9704's title ends in its document type (…的通知); before it may stand the
        # 份号, 密级, the issuer's name alone, a site's name or breadcrumbs: the first
        # line that ends so, or starts a title that ends so on the next line, else the
        # first line that can be one
        heading = next((i for i in can if _DOC_TYPE.search(simple[i]) or (
            len(simple[i]) >= _BROKEN_TITLE and any(
                j in can and _DOC_TYPE.search(simple[j]) and len(simple[i] + simple[j]) <= 80
                for j in (i + 1, i + 2)))), can[0] if can else None)
        # "人力资源社会保障部 教育部" / "(国家乡村振兴局)关于做好…的通知": the issuers'
        # line begins it
        before = simple[heading - 1] if heading else ""
        if heading and "关于" in simple[heading] and _BODY.search(re.sub(r"\s+", "", before)) \
                and not _ABOVE_TITLE.search(before) and not _MASTHEAD.match(before) \
                and not simple[heading].startswith(re.sub(r"\s+", "", before)):
            glue = "" if simple[heading].startswith("关于") else " "
            return (lines[heading - 1] + glue + lines[heading]).strip("《》")
    if heading is None:
        return ""
    title = lines[heading]
    for nxt in lines[heading + 1: heading + 3]:
        if _DOC_TYPE.search(title) or not _DOC_TYPE.search(nxt) or len(nxt) > 40 \
                or re.search(r"[。，；：:]", nxt):
            break
        title = f"{title} {nxt}"
    return _DRAFT.sub("", title).strip("《》")


def _can_be_title(line: str, wrapped: set[str]) -> bool:
    """Whether a head line can be a title: not a label, 文号, date, sentence or hard-
    wrapped line (unless it ends in a document type: cleaning joins a web page's short
    lines around its title too), nor what GB/T 9704 puts above a title (份号, 密级 and 紧急程度, the
    发文机关标志, 签发人), nor a web page's site name or breadcrumbs."""
    bare = re.sub(r"\s+", "", line)
    return (4 <= len(bare) and len(line) <= 80 and not _LABEL.match(line)
            and not DOC_NUMBER.fullmatch(line)
            and not _MASTHEAD.match(line) and not _is_date_line(line)
            and not _LABELLED_DATE.search(line) and not line.endswith("。")
            and (bare not in wrapped or bool(_DOC_TYPE.search(line)))
            and not _ABOVE_TITLE.search(line)
            and not (_BODY.search(bare) and "关于" not in bare and len(bare) <= 30))


def _own_title(title: str) -> str:
    """The title a transmitting notice carries inside 《》 is the document's own too."""
    inner = _CITED.search(title)
    return inner.group(1) if inner and "印发" in title else title


# 文号 ------------------------------------------------------------------------------------
def _numbers(head: list[str], tail: list[str]) -> tuple[str, ...]:
    """The 文号 standing on a line of their own near either end (or alone in brackets
    under the title), never one inside a sentence: that one is a document cited."""
    found = []
    for line in head + tail:
        bare = line.strip("（()）［］[] ")
        for m in DOC_NUMBER.finditer(_matchable(bare)):  # 國辦發〔2020〕41號, kept as written
            rest = (bare[: m.start()] + bare[m.end():]).strip(" 　，,；;")
            if len(rest) <= 12 and not _CITED.search(rest):  # e.g. "签发人：张三"
                found.append(re.sub(r"\s+", "", bare[m.start() : m.end()]))
    return tuple(dict.fromkeys(found))


# issuers ---------------------------------------------------------------------------------
def _issuers(head: list[str], tail: list[str], title: str, adopted) -> tuple[str, ...]:
    # the 发文机关标志, one body a line above its 文件 when several issue it jointly, its
    # characters spaced out as printed ("中 共 江 西 省 委")
    for i, line in enumerate(head[:8]):
        m = _MASTHEAD.match(_despaced(line))
        if m:
            above = []
            for prev in reversed(head[:i]):
                names = _bodies(_despaced(prev))
                if not names:
                    break
                above[:0] = names
            found = tuple(above) + _bodies(_despaced(m.group(1)))
            if found:
                return found
            break
    m = _TITLE_ISSUERS.match(_matchable(title))  # 國務院辦公廳關於…, kept as written
    named = _bodies(title[m.start(1) : m.end(1)]) if m else ()
    if named:
        # a resolution's title names the party body, its （…通过） line the meeting
        return named + ((adopted.group(adopted.lastindex),) if adopted else ())
    if adopted:
        return (adopted.group(adopted.lastindex),)
    own = _own_title(title)
    for m in _PRINTED_BY.finditer("\n".join(head[:6])):
        if m.group(2) == own and _bodies(_lead_bodies(m.group(1))):
            return _bodies(_lead_bodies(m.group(1)))
    return _signature(tail)


def _matchable(text: str) -> str:
    """`text` in simplified script where that keeps every character in its place, so
    that a match's span can be cut from the text as written; else `text` itself."""
    simple = to_simplified(text)
    return simple if len(simple) == len(text) else text


def _despaced(line: str) -> str:
    """A name printed with its characters spaced out ("江 西 省 人 民 政 府  文件"),
    closed up: runs of single characters are joined, longer words stay apart."""
    words, run = [], ""
    for token in re.split(r"[ \u3000]+", line.strip()):
        if len(token) == 1:
            run += token
            continue
        words += [run, token] if run else [token]
        run = ""
    return " ".join(words + ([run] if run else []))


def _lead_bodies(text: str) -> str:
    """The names before 印发 without the sentence's opening words (近日，…)."""
    return re.split(r"[，,。：:]", text)[-1].removeprefix("近日").removeprefix("日前")


def _bodies(text: str) -> tuple[str, ...]:
    """Names of bodies separated by spaces or 、, each ending as a body's name does."""
    parts = [p for p in re.split(r"[\s、，,]+", text.strip()) if p]
    return tuple(parts) if parts and all(_BODY.search(to_simplified(p)) for p in parts) else ()


def _signature(tail: list[str]) -> tuple[str, ...]:
    """The bodies on the short lines just above the last date line (the 落款)."""
    for i in range(len(tail) - 1, -1, -1):
        if _is_date_line(tail[i]):
            bodies = []
            for line in reversed(tail[max(0, i - 4): i]):
                names = _bodies(line) if len(line) <= SHORT_LINE else ()
                if not names:
                    break
                bodies[:0] = names
            return tuple(bodies)
    return ()


def _is_date_line(line: str) -> bool:
    m = DATE.search(line)
    return bool(m and m.group(2) and len(line) - len(m.group()) <= 4)


# dates -----------------------------------------------------------------------------------
def _date(head: list[str], tail: list[str], adopted) -> str:
    for line in reversed(tail):  # the 成文日期 under the signature
        if _is_date_line(line):
            return _iso(DATE.search(line))
    if adopted:
        return _iso(DATE.search(adopted.group(1)))
    for line in head:  # a plan's cover: the date alone under the title
        if _is_date_line(line) and not _LABELLED_DATE.search(line):
            return _iso(DATE.search(line))
    for line in map(to_simplified, head):  # a labelled 成文日期 of a page or a 版头
        m = _LABELLED_DATE.search(line)
        if m and m.group().startswith(("成文", "印发", "发文")):
            return _labelled(line[m.end():])
    return ""


def _published(head: list[str]) -> str:
    for line in map(to_simplified, head):
        m = _LABELLED_DATE.search(line)
        if m and not m.group().startswith(("成文", "印发", "发文")):
            return _labelled(line[m.end():])
    return ""


def _labelled(value: str) -> str:
    value = _MINGUO.sub(lambda m: f"{int(m.group(1)) + 1911}年", value)
    m = DATE.match(value.strip())
    if m:
        return _iso(m)
    m = _ISO_DATE.match(value.strip())
    return "-".join(f"{int(g):02d}" if i else g for i, g in enumerate(m.groups()) if g) if m else ""


def _iso(m: re.Match) -> str:
    year, month, day = (_number(g) if g else None for g in m.groups()[:3])
    parts = [f"{year:04d}"] + [f"{v:02d}" for v in (month, day) if v]
    return "-".join(parts[: 1 + (month is not None) + (month is not None and day is not None)])


def _number(text: str) -> int:
    """Arabic digits, or Chinese numerals: 二〇一三 (digit by digit), 十二, 二十六."""
    if text.isdigit():
        return int(text)
    if "十" not in text:
        return int("".join(str(_CN_DIGITS[c]) for c in text))
    tens, _, ones = text.partition("十")
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


# period ----------------------------------------------------------------------------------
def _period(title: str, text: str) -> str:
    # years in brackets count in the title only: in the text they are a cited plan's
    m = _PERIOD[0].search(title) or _PERIOD[1].search(text)
    if m:
        return f"{m.group(1)}-{m.group(2)}"
    m = _FIVE_YEAR.search(title)
    if m:
        start = 1951 + 5 * (10 + _CN_DIGITS[m.group(1) or m.group(2)])
        return f"{start}-{start + 4}"
    m = _IN_FORCE.search(text)
    if m:
        return f"自{_iso(DATE.search(m.group(1)))}起"
    m = _VALID_FOR.search(text)
    return "有效期" + re.sub(r"\s+", "", m.group(1)) if m else ""
