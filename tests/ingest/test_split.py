"""Chinese-aware splitting: headings, sentences, chunks of whole sentences."""

from functools import cache
from pathlib import Path

import pytest

from zhice.ingest.clean import clean
from zhice.ingest.loaders import load
from zhice.ingest.split import (
    Span,
    heading_level,
    opening,
    run_in_heading,
    sentence_keys,
    sentence_spans,
    sentences,
    split,
)

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
FILES = sorted(p.name for p in CORPUS.glob("*.txt"))


@cache
def cleaned_text(name: str) -> str:
    return clean(load(CORPUS / name).text).text


def chunks(text: str, **kwargs) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.heading) for s in split(text, **kwargs)]


# --- headings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("# 标题", (1, "标题")),
        ("## 二级标题", (2, "二级标题")),
        ("###### 六级", (6, "六级")),
        ("第三编 附则", (10, "第三编 附则")),
        ("第一章 总则", (11, "第一章 总则")),
        ("第二节 重点任务", (12, "第二节 重点任务")),
        ("一、总体要求", (13, "一、总体要求")),
        ("十、附则", (13, "十、附则")),
        ("（一）指导思想。", (14, "（一）指导思想")),  # the trailing full stop goes
        ("(二) 发展基础", (14, "(二) 发展基础")),
        (
            "专栏 3：部分老工业城市战略性新兴产业发展重点",
            (15, "专栏 3：部分老工业城市战略性新兴产业发展重点"),
        ),
        (
            "专栏2: 部分老工业城市传统优势产业发展重点",
            (15, "专栏2: 部分老工业城市传统优势产业发展重点"),
        ),
        ("1. 加强组织领导", (16, "1. 加强组织领导")),
        ("2．完善政策", (16, "2．完善政策")),
        ("产业结构更加优化", (20, "产业结构更加优化")),  # 001: a news subheading
        ("向韶关学什么", (20, "向韶关学什么")),  # 003
    ],
)
def test_heading_level_and_label(line, expected):
    assert heading_level(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "本规划是指导今后一个时期老工业基地调整改造的行动纲领。",
        "第十二条 本办法自发布之日起施行。",  # an article is body text
        "（一）坚持创新驱动引领，探索科技创新和体制机制创新，开展技术研究和技术攻关，"
        "强化企业科技创新主体地位。",
        "附件：",
        "120个",  # 000: a figure set apart by the layout
        "17.8%",
        "他们想学什么?",
    ],
)
def test_body_lines_are_not_headings(line):
    assert heading_level(line) is None


def test_markdown_heading_path():
    text = (
        "# 纲要\n## 第一章 发展环境\n正文一。\n### 第一节 成就\n正文二。\n"
        "## 第二章 指导方针\n正文三。"
    )
    assert chunks(text, size=50, overlap=0) == [
        ("正文一。", "纲要 > 第一章 发展环境"),
        ("正文二。", "纲要 > 第一章 发展环境 > 第一节 成就"),
        ("正文三。", "纲要 > 第二章 指导方针"),
    ]


def test_policy_heading_path_with_a_box():
    # the structure of 002's chapter 三, shortened
    text = (
        "三、再造产业竞争新优势\n"
        "（二）培育发展战略性新兴产业。\n"
        "依托优势企业，发展新兴产业。\n"
        "专栏3：部分老工业城市战略性新兴产业发展重点\n"
        "高端装备制造业：株洲、大同等重点发展高速重载机车。\n"
        "四、全面提升城市综合功能\n"
        "推进城区老工业区改造。"
    )
    assert chunks(text, size=50, overlap=0) == [
        ("依托优势企业，发展新兴产业。", "三、再造产业竞争新优势 > （二）培育发展战略性新兴产业"),
        (
            "高端装备制造业：株洲、大同等重点发展高速重载机车。",
            "三、再造产业竞争新优势 > （二）培育发展战略性新兴产业"
            " > 专栏3：部分老工业城市战略性新兴产业发展重点",
        ),
        ("推进城区老工业区改造。", "四、全面提升城市综合功能"),
    ]


def test_chapters_sections_and_articles():
    text = (
        "第一章 总则\n"
        "第一条 为了规范管理，制定本办法。\n"
        "第二条 本办法适用于示范区。\n"
        "第二章 管理\n"
        "第一节 职责\n"
        "第三条 国家发展改革委负责统筹。"
    )
    assert chunks(text, size=50, overlap=0) == [
        ("第一条 为了规范管理，制定本办法。", "第一章 总则 > 第一条"),
        ("第二条 本办法适用于示范区。", "第一章 总则 > 第二条"),
        ("第三条 国家发展改革委负责统筹。", "第二章 管理 > 第一节 职责 > 第三条"),
    ]


def test_markdown_level_sits_above_the_policy_hierarchy():
    text = "## 一、总体要求\n（一）指导思想\n坚持稳中求进。"
    assert chunks(text, size=50, overlap=0) == [("坚持稳中求进。", "一、总体要求 > （一）指导思想")]


def test_heading_lines_are_context_not_sentences():
    text = "一、总则\n甲。"
    assert [(text[s.start : s.end], s.heading, s.paragraph) for s in sentences(text)] == [
        ("甲。", "一、总则", 1)
    ]


# --- sentences ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("甲。乙！丙？丁；戊", ["甲。", "乙！", "丙？", "丁；", "戊"]),
        ("Go! Now? Yes; ok", ["Go!", "Now?", "Yes;", "ok"]),
        ("等待……然后。", ["等待……", "然后。"]),
        ("等待…然后", ["等待…", "然后"]),
        ("他说：“好。”然后走。", ["他说：“好。”", "然后走。"]),
        ("「好。」他说。", ["「好。」", "他说。"]),
        ("（见图1。）下文。", ["（见图1。）", "下文。"]),
        # 000's straight quotes: after a full stop a quote opens the next sentence ...
        ('突出贡献。"十四五"规划提出。', ["突出贡献。", '"十四五"规划提出。']),
        # ... unless one is open
        ('他说:"好!"走。', ['他说:"好!"', "走。"]),
        ("GDP grew 5.2%. Then 3.14 rose.", ["GDP grew 5.2%.", "Then 3.14 rose."]),
        ("  甲。  乙。  ", ["甲。", "乙。"]),
        ("", []),
    ],
)
def test_sentence_spans(line, expected):
    assert [line[s:e] for s, e in sentence_spans(line)] == expected


def test_sentence_keys_give_passage_offsets_and_search_keys():
    text = "一、總體要求\n堅持穩中求進。擴大內需！"
    keys = sentence_keys(text)
    assert [text[s:e] for s, e, _ in keys] == ["一、總體要求", "堅持穩中求進。", "擴大內需！"]
    assert [k for _, _, k in keys] == ["一、总体要求", "坚持稳中求进。", "扩大内需!"]


# --- chunks ---------------------------------------------------------------------

FOUR = "一、总体要求\n甲甲甲。乙乙乙。丙丙丙。丁丁丁。"


def test_chunks_of_target_size_without_overlap():
    assert chunks(FOUR, size=8, overlap=0, max_size=10) == [
        ("甲甲甲。乙乙乙。", "一、总体要求"),
        ("丙丙丙。丁丁丁。", "一、总体要求"),
    ]


def test_overlap_repeats_whole_trailing_sentences():
    assert chunks(FOUR, size=8, overlap=4, max_size=10) == [
        ("甲甲甲。乙乙乙。", "一、总体要求"),
        ("乙乙乙。丙丙丙。", "一、总体要求"),
        ("丙丙丙。丁丁丁。", "一、总体要求"),
    ]
    # a trailing sentence longer than the overlap is not repeated in part
    assert chunks(FOUR, size=8, overlap=3, max_size=10) == chunks(FOUR, size=8, overlap=0)


def test_overlap_gives_way_when_it_would_pass_max_size():
    text = "甲甲甲。乙乙乙。丙丙丙丙丙丙。"
    assert chunks(text, size=8, overlap=7, max_size=10) == [
        ("甲甲甲。乙乙乙。", ""),
        ("丙丙丙丙丙丙。", ""),
    ]


def test_a_chunk_never_crosses_a_heading_and_overlap_stays_in_its_section():
    text = FOUR + "\n（一）目标\n戊戊戊。己己己。"
    assert chunks(text, size=8, overlap=4, max_size=10) == [
        ("甲甲甲。乙乙乙。", "一、总体要求"),
        ("乙乙乙。丙丙丙。", "一、总体要求"),
        ("丙丙丙。丁丁丁。", "一、总体要求"),
        ("戊戊戊。己己己。", "一、总体要求 > （一）目标"),
    ]


def test_paragraphs_of_one_section_share_a_chunk():
    assert chunks("一、总则\n甲。\n乙。", size=10, overlap=0) == [("甲。\n乙。", "一、总则")]


def test_long_sentence_is_cut_at_the_last_comma_within_max_size():
    assert chunks("甲甲甲甲，乙乙乙乙，丙丙丙丙。", size=8, overlap=0, max_size=10) == [
        ("甲甲甲甲，乙乙乙乙，", ""),
        ("丙丙丙丙。", ""),
    ]
    assert chunks("甲甲甲甲、乙乙乙乙：丙丙丙丙。", size=8, overlap=0, max_size=10) == [
        ("甲甲甲甲、乙乙乙乙：", ""),
        ("丙丙丙丙。", ""),
    ]


def test_long_sentence_without_a_usable_comma_is_cut_hard():
    assert chunks("甲甲甲甲乙乙乙乙丙丙丙丙。", size=8, overlap=0, max_size=10) == [
        ("甲甲甲甲乙乙乙乙丙丙", ""),
        ("丙丙。", ""),
    ]
    # a comma in the first third of the window would leave a sliver: cut hard instead
    assert chunks("甲，乙乙乙乙乙乙乙乙乙乙乙乙。", size=8, overlap=0, max_size=10) == [
        ("甲，乙乙乙乙乙乙乙乙", ""),
        ("乙乙乙乙。", ""),
    ]


def test_docstring_example():
    text = "一、总则\n甲。乙。"
    assert split(text, size=2, overlap=0) == [Span(5, 7, "一、总则"), Span(7, 9, "一、总则")]


def test_text_of_headings_only_has_no_chunks():
    assert split("一、总则\n二、附则") == []
    assert split("") == []


@pytest.mark.parametrize(
    ("size", "overlap", "max_size"),
    [(400, -1, 600), (400, 400, 600), (400, 500, 600), (0, 0, 600), (700, 80, 600)],
)
def test_bad_size_or_overlap_is_a_value_error_that_names_them(size, overlap, max_size):
    with pytest.raises(ValueError) as info:
        split("甲。", size=size, overlap=overlap, max_size=max_size)
    assert str(info.value) == (
        f"need 0 <= overlap < size <= max_size; got overlap={overlap}, size={size}, "
        f"max_size={max_size}"
    )


# --- the corpus -----------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_corpus_chunks_hold_sentences_of_one_heading_path_within_max_size(name):
    text = cleaned_text(name)
    spans = split(text)
    assert spans
    units = sentences(text)
    for span in spans:
        inside = [s for s in units if span.start <= s.start < span.end]
        assert inside and {s.heading for s in inside} == {span.heading}
        assert span.end - span.start <= 600
    starts = [s.start for s in spans]
    assert starts == sorted(starts)


def test_002_box_heading_path():
    paths = {span.heading for span in split(cleaned_text("002_66366e4ef13f23ad.txt"))}
    assert (
        "三、再造产业竞争新优势 > （二）培育发展战略性新兴产业"
        " > 专栏3：部分老工业城市战略性新兴产业发展重点"
    ) in paths
    assert "一、规划背景 > （一）振兴战略的成就与经验" in paths


def test_000_markdown_heading_paths():
    paths = [span.heading for span in split(cleaned_text("000_1f01759c0709e46e.txt"))]
    assert list(dict.fromkeys(paths)) == [
        "",  # 智库圆桌(第57期·总266期): a line above the title, text that heads nothing
        "振兴老工业基地积聚新动能",
        "振兴老工业基地积聚新动能 > 重视老工业基地发展潜力韧性",
        "振兴老工业基地积聚新动能 > 产业转型升级示范区探索新路",
        "振兴老工业基地积聚新动能 > 借鉴国际经验振兴老工业基地",
    ]


def test_004_traditional_headings():
    spans = split(cleaned_text("004_7e91f5c9a91c3b3b.txt"))
    paths = list(dict.fromkeys(span.heading for span in spans))
    assert paths[:4] == [
        "",
        "一、引言",
        "二、以加快形成新質生產力推動示范區高質量發展的理論邏輯",
        # 004 line 12 "?(一) 新質…": the stray "?" is cleaned off, so it is a heading
        "二、以加快形成新質生產力推動示范區高質量發展的理論邏輯"
        " > (一)新質生產力產業主體培育促進示范區內生動力提升",
    ]


def test_a_run_in_heading_names_its_section_and_stays_text():
    text = ("一、总体要求\n（二）工作方针。优先发展，育人为本，改革创新。\n"
            "把教育摆在优先发展的战略地位。")
    spans = split(text, size=400, overlap=0)
    assert [(text[s.start:s.end], s.heading) for s in spans] == [
        ("（二）工作方针。优先发展，育人为本，改革创新。\n把教育摆在优先发展的战略地位。",
         "一、总体要求 > （二）工作方针")]


def test_a_numbered_sentence_with_a_comma_before_its_stop_is_no_run_in_heading():
    assert run_in_heading("（一）坚持党的全面领导，坚定维护党中央权威。要求……") is None
    assert run_in_heading("（一）指导思想") is None  # a heading alone: no text after it
    assert run_in_heading("（一）指导思想。高举旗帜") == (14, "（一）指导思想")


def test_a_table_row_is_text_under_the_tables_caption():
    text = "核心指标\n指标 | 2020年 | 2025年\n城乡教育共同体数量（个） | 102 | 120"
    (span,) = split(text, size=400, overlap=0)
    assert (text[span.start:span.end], span.heading) == (text, "核心指标")


def test_a_chunk_of_a_tables_later_rows_is_under_its_header_row():
    text = ("核心指标\n指标 | 十三五期间 | 2025目标\n幼儿园比例（%） | 73.35 | 80\n"
            "高中段入学率（%） | 91.33 | 93\n城乡教育共同体数量（个） | 102 | 120")
    spans = split(text, size=45, overlap=0)
    assert len(spans) >= 2
    assert spans[0].heading == "核心指标"  # its text holds the header row
    header = "核心指标 > 指标 | 十三五期间 | 2025目标"
    assert [s.heading for s in spans[1:]] == [header] * (len(spans) - 1)
    assert "城乡教育共同体数量" in text[spans[-1].start:spans[-1].end]


def test_a_short_line_heads_the_body_below_it_and_stays_text():
    text = "向韶关学什么\n韶关是老工业城市。它在转型。"
    (span,) = split(text, size=400, overlap=0)
    assert (text[span.start:span.end], span.heading) == (text, "向韶关学什么")


def test_a_title_block_and_a_signature_head_nothing():
    text = ("关于深化课程改革的通知\n（征求意见稿）\n2021年3月2日\n一、总体要求\n"
            "各地要深化改革。\n浙江省教育厅\n二○一二年六月十二日")
    spans = split(text, size=400, overlap=0)
    assert [(text[s.start:s.end], s.heading) for s in spans] == [
        ("关于深化课程改革的通知\n（征求意见稿）\n2021年3月2日", ""),
        ("各地要深化改革。\n浙江省教育厅\n二○一二年六月十二日", "一、总体要求")]


# --- opening: the sentences of the document card --------------------------------------


def texts(text: str, units) -> list[str]:
    return [text[u.start : u.end] for u in units]


def test_opening_crosses_short_lines_and_stops_at_the_first_numbered_heading():
    text = ("关于推进职业教育发展的实施意见\n教职成〔2021〕3号\n各区、县教育局：\n"
            "为推动职业教育高质量发展，制订本意见。\n一、总体要求\n到2025年，建成10所学校。")
    assert texts(text, opening(text)) == [
        "关于推进职业教育发展的实施意见", "教职成〔2021〕3号", "各区、县教育局：",
        "为推动职业教育高质量发展，制订本意见。"]


def test_opening_starts_after_a_leading_markdown_title():
    text = "# 规划\n\n## 一、总则\n\n甲乙丙。\n\n## 二、任务\n\n丁戊己。"
    assert texts(text, opening(text)) == ["甲乙丙。"]


def test_opening_keeps_to_the_size_but_always_has_a_sentence():
    text = "标题\n" + "甲" * 30 + "。" + "乙" * 30 + "。"
    assert texts(text, opening(text, size=40)) == ["标题", "甲" * 30 + "。"]
    assert texts(text, opening(text, size=1)) == ["标题"]
    assert opening("") == []
