"""What a question asks: its kinds, its focus, the types of answer it wants, and the
words that only say how it is asked. Read by the extractive answerer to pick and weigh
sentences and to decide when to abstain."""

import re

from zhice.ingest.normalize import search_key

# What a question asks for; the answerer rewards the sentence feature that answers each
# (a figure, a list, a definition: extractive._kind_bonus).
_KINDS = (
    ("number", re.compile(r"多少|几[个项年座家次批类条届种]|几+$|多大|多高|多长|比例|比重|百分|"
                          r"哪一?年|何年|何时|什么时候|哪个时间|时间|年份|增长|占.*比")),
    ("list", re.compile(r"哪些|哪几|有什么|包括|包含|列举|分别|都有")),
    ("definition", re.compile(r"什么是|是什么|指的是|是指|含义|定义|意思|内涵|怎么理解")),
    ("who", re.compile(r"谁|哪位|哪个人|什么人|负责人")),
    ("where", re.compile(r"哪里|哪儿|什么地方|哪个城市|哪座|哪个省|哪些城市|在哪")),
)
# Figures and ordinals a question names: an answer must be about the same ones.
QUESTION_FIGURE = re.compile(r"\d+(?:\.\d+)?|第[一二三四五六七八九十百\d]+[届批次期轮]")
# What a question pins its answer to: a year ("2023年", "2016至2020年"), a named document
# (《…》), an ordinal (第三批). A passage that names none of one is about another year,
# batch or document: its figure, cited properly, answers a different question.
_PINNED = re.compile(r"《([^》]{2,60})》|\d{4}(?=\s*(?:年|—|–|-|~|～|至|到))|"
                     r"第[一二三四五六七八九十百\d]+[届批次期轮]")
# "X的Y是多少？", "X的Y有哪些？": Y is what is asked for. Passages about X that never
# name Y are how a question the documents do not answer looks answered.
_FOCUS = re.compile(r"的([^的，,、：:；;]{2,8}?)(?:一共|总共|合计|大约|具体)?"
                    r"(?:是多少|有多少|是哪些|有哪些|包括哪些|是什么|有什么|是谁|是哪\w{0,2})[？?。]?$")
# What a question wants as its answer, and what an answer of that kind looks like: the
# expected answer type of classic question answering. A passage about the right things
# that holds no year is how "X是哪一年…？" looks when the documents do not say.
_NUMBER = r"(?:\d[\d.,]*|[一二三四五六七八九十百千万两]+)"
_MEASURES = "个家项处人座套件名条批所次届种类户位台辆栋间"
_DATE = r"\d+\s*[年月日]|[元一二三四五六七八九十]+\s*[年月日]"  # 2021年11月, 光海君七年
_ANSWER_TYPES = (
    (re.compile(r"哪一?年|何年|哪个月|几月|哪天|(?:日期|年份)(?:是|为)?(?:哪|什么|多少)"),
     re.compile(_DATE + r"|\d{4}\s*[-/.]\s*\d")),
    # "什么时候" is answered by a date, a season, an era or another event: only the
    # plainly timeless passage counts as lacking it
    (re.compile(r"何时|什么时候|什么时间"),
     re.compile(_DATE + r"|[春夏秋冬]|世纪|年代|"
                r"时期|期间|之[前后初际]|以[前后]|当[时年天日]|[前中后初末]期|纪|[早晚]年|[初末]|"
                r"[上下]午|早晨|晚上|夜间|凌晨|节")),
    (re.compile(r"多少[\u4e00-\u9fff]{0,6}?(?:钱|资金|投资|经费|补贴|补助|补偿|拨款|转移支付|元)|"
                r"(?:投入|投资|花费|补助|补贴|补偿|资金|金额)(?:了|的|规模)?"
                r"(?:一共|总共|合计|大约)?(?:是|有)?多少"),
     re.compile(_NUMBER + r"\s*(?:多|余)?\s*[万亿千]*\s*(?:元|美元|欧元|英镑)")),
    # a share asked as an amount ("比重是多少"), not as a method ("比重如何制定")
    (re.compile(r"^(?=.*(?:多少|多大|几))(?=.*(?:比例|比重|百分|占多|几成|占比))"),
     re.compile(r"\d+(?:\.\d+)?\s*%|百分之|\d+\s*成|一半|[一二三四五六七八九十]+分之")),
    (re.compile(r"几倍|多少倍"), re.compile(r"倍")),
    (re.compile(r"多少(?:游客|人口|居民|职工|员工|工人|人才|学生|人次)"),
     re.compile(_NUMBER + r"\s*(?:多|余)?\s*[万亿千百]*\s*(?:人|名)")),
    # an area asked as an amount ("面积有多大"), not as a topic ("耕地面积减少的原因")
    (re.compile(r"面积[^，,？?]{0,4}?(?:多[大少]|几)|多[大少]的?面积|占地(?:面积|多)"),
     re.compile(r"平方(?:公里|千米|米)|亩|公顷")),
)
# "多少家/几座" asks for a count of things: a figure with that measure word, or with any
# ("个" is the generic one), or a figure in 万/亿 that is no sum of money ("人口3.9亿").
# "哪几类" and "这几座" are not counts.
_COUNT_QUESTION = re.compile(r"(?<![哪这那])(?:多少|几)\s*([" + _MEASURES + "])")
# Nouns that name the kind of answer wanted ("X的原因是什么", "X的籍贯是哪里"): a text
# states the reason or the place itself and seldom the noun, so their absence from a
# passage is no sign that it does not answer (see _FOCUS).
ANSWER_NOUNS = frozenset(
    "原因 缘故 理由 结果 后果 位置 地点 地址 地方 所在地 作者 "
    "创始人 创办人 发明者 发明人 设计者 时间 日期 年份 方法 方式 办法 途径 手段 目的 意图 "
    "用途 作用 功能 职责 职能 特点 特征 意义 影响 内容 所指 价格 长度 高度 "
    "重量 距离 身份 职业".split()
)
# Words that say how the question is asked, not what it is about.
FILLER = frozenset(
    "请问 请 问 一下 介绍 告诉 我 我们 你 您 他们 她们 它们 文件 文档 资料 文章 里 里面 提到 提及 "
    "说 讲 根据 按照 关于 主要 具体 情况 哪些 什么 多少 怎么 怎样 如何 为什么 是否 是不是 吗 呢 "
    "呀 啊 吧 了 的 是 有 几 个 哪 谁 哪里 哪儿 时候 什么样 目前 现在 啥 咋 都 些 挺 很 到底 究竟 "
    "那边 这边 那座 这座 那个 这个 这种 那种 像 觉得 搞 能 会 要 得 就 还 用 给 一共 大约 大概 "
    "多 样 呢 么 哪一年 哪年 哪座 哪个 哪位 一些 所谓 指 叫 叫做 称为 被 "
    # how questions are phrased in any domain, seldom words of the documents themselves
    "几批 几类 几位 几项 几种 哪家 哪项 哪类 合计 总共 一年 名字 全称 简称 定义 概念 含义 "
    "意思 意味 意味着 后来 比例 角色 东西 多大 占多大 分别 "
    "不是 有没有 能不能 可以 已经 出来 "
    # what kind of answer is wanted ("X的数量是多少"): the documents state the figure itself
    "数量 数目 总数 个数 规模 名称".split()
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
    return patterns


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
