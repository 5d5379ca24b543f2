"""Cleaning of PDF and web extraction artefacts, with the offset map back to the source.

Corpus cases are real lines of corpus/*.txt, copied here so that a change to the
files cannot silently change what is tested.
"""

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from zhice.ingest.clean import Cleaned, clean, drop_lines
from zhice.ingest.loaders import load

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
FILES = sorted(p.name for p in CORPUS.glob("*.txt"))


@cache
def loaded_text(name: str) -> str:
    return load(CORPUS / name).text


def assert_offsets_map_back(source: str, cleaned: Cleaned) -> None:
    """Every cleaned character is the source character at its offset, except the
    newlines put between paragraphs; offsets strictly increase."""
    assert len(cleaned.offsets) == len(cleaned.text)
    assert np.all(np.diff(cleaned.offsets) > 0)
    for i, ch in enumerate(cleaned.text):
        if ch != "\n":
            assert source[cleaned.offsets[i]] == ch, (i, ch)


def test_corpus_has_five_files():
    assert len(FILES) == 5


# --- the offset map -------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_every_cleaned_character_maps_back_to_the_loaded_text(name):
    source = loaded_text(name)
    assert_offsets_map_back(source, clean(source))


def test_paragraph_newline_points_at_the_end_of_the_previous_line():
    cleaned = clean("第一段。\n\n - 2 - \n\n第二段。")
    assert cleaned.text == "第一段。\n第二段。"
    assert cleaned.offsets.tolist() == [0, 1, 2, 3, 4, 15, 16, 17, 18]


def test_source_span_is_end_exclusive_in_loaded_offsets():
    source = "重 构产业\n - 2 - \n优势。"
    cleaned = clean(source)
    assert cleaned.text == "重构产业\n优势。"
    assert cleaned.source_span(0, 4) == (0, 5)
    assert source[slice(*cleaned.source_span(5, 8))] == "优势。"


def test_empty_text_cleans_to_nothing():
    cleaned = clean("")
    assert (cleaned.text, cleaned.offsets.tolist()) == ("", [])
    assert clean(" \n\u3000\n").text == ""


def test_drop_lines_removes_lines_with_their_newline_and_keeps_offsets():
    source = "甲段落。\n乙段落。\n丙段落。"
    cleaned = clean(source)
    middle = drop_lines(cleaned, [(5, 9)])
    assert middle.text == "甲段落。\n丙段落。"
    assert_offsets_map_back(source, middle)
    last = drop_lines(cleaned, [(10, 14)])
    assert last.text == "甲段落。\n乙段落。"  # no dangling newline
    assert len(last.offsets) == len(last.text)


# --- spaces ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("推进老工业基地制造业竞争优势重 构,建设", "推进老工业基地制造业竞争优势重构,建设"),  # 000
        ("80年代开始围绕阿 尔伯特码头进行保护性开发", "80年代开始围绕阿尔伯特码头进行保护性开发"),
        ("我国现有 120座老工业城市", "我国现有120座老工业城市"),  # 001: digit next to CJK
        ("规划期为 2013-2022 年。", "规划期为2013-2022年。"),  # 002
        ("入新活力。 其四,重视", "入新活力。其四,重视"),  # 000: after full-width punctuation
        ("中国\u3000政府\u00a0网", "中国政府网"),  # ideographic and no-break spaces
        ("GDP growth", "GDP growth"),
        ("GDP   growth", "GDP growth"),  # a run of spaces in Latin text is one space
        ("3 000 万元", "3 000万元"),
        ("achie.org 2024", "achie.org 2024"),
        ("IGBT 芯片", "IGBT芯片"),
        ("a\tb", "a\tb"),  # a tab between Latin words stays (deletion-only cleaning)
        ("  前后空白  ", "前后空白"),
    ],
)
def test_spaces_go_next_to_cjk_and_stay_between_latin_and_digits(raw, expected):
    cleaned = clean(raw)
    assert cleaned.text == expected
    assert_offsets_map_back(raw, cleaned)


@pytest.mark.parametrize("stray", ["\ufeff", "\u200b", "\u200c", "\u200d", "\u2060", "\ufffd"])
def test_zero_width_characters_and_replacement_character_are_dropped(stray):
    assert clean(f"新{stray}质生产力").text == "新质生产力"


def test_replacement_character_ends_a_cut_off_paragraph():
    long_line = "产业转型升级示范区" * 6  # long and unterminated: would join the next line
    assert clean(f"{long_line}\n下一段。").text == f"{long_line}下一段。"
    assert clean(f"{long_line}\ufffd\n下一段。").text == f"{long_line}\n下一段。"


# --- junk lines -----------------------------------------------------------------


@pytest.mark.parametrize(
    "junk",
    [
        " - 2 - ",  # 001
        "— 12 —",
        "－3－",
        "第 3 页",
        "第3页 共10页",
        "目 录",  # 002
        "序 言\t1",  # 002: tab-separated TOC
        "(一) 振兴战略的成就与经验\t3",  # 002
        "(三) 优化城市内部空间布局.....\t17",  # 002: dot leader and tab
        "一、总则 ........ 1",
        "第一章 总体要求……12",
        "更新时间:2024-03-29 22:50:16作者:无忧百科",  # 003
        "來源:高新院 achie.org 日期:2024-11-19 點擊:次",  # 004, traditional script
        "发布时间：2024-01-01",
        "韶关城市风光 图源:图虫创意",  # 003
        "中南钢铁股份有限公司智慧中心 图源:时代周报记者阿力米热/摄",  # 003
        "图片来源：视觉中国",
        "本文标签: 广东 \xa0株洲 \xa0韶关 \xa0老工业",  # 003
        "本版编辑 裴文 美 编 王子萱 来稿邮箱 jjrbjjzk@163.com",  # 000
        "责任编辑：李明",
        "编辑：王五",
    ],
)
def test_junk_line_is_dropped(junk):
    source = f"正文第一段。\n{junk}\n正文第二段。"
    cleaned = clean(source)
    assert cleaned.text == "正文第一段。\n正文第二段。"
    assert_offsets_map_back(source, cleaned)


@pytest.mark.parametrize(
    "line",
    [
        "编辑出版老工业基地调整改造年鉴。",  # 编辑 as a verb, not an editor footer
        "来源广泛的资金支持示范区建设。",
        "第一章 总则",
        "2-3 个百分点",
        "图源数据库建设。",
        "一、总体要求",
    ],
)
def test_content_line_that_resembles_junk_is_kept(line):
    assert clean(f"正文。\n{line}\n正文。").text.split("\n")[1] == clean(line).text


def test_short_line_repeated_is_dropped_but_markdown_heading_is_not():
    # 003: the site template repeats the article's title below its header
    source = "老工业城市组团到广东,他们想学什么?\n正文。\n老工业城市组团到广东,他们想学什么?"
    assert clean(source).text == "老工业城市组团到广东,他们想学什么?\n正文。"
    headed = "## 小结\n正文甲。\n## 小结\n正文乙。"
    assert clean(headed).text == headed


def test_markdown_heading_keeps_its_space_and_blockquote_marker_goes():
    cleaned = clean("## 一、总体要求\n> 引文内容。\n>引文。")
    assert cleaned.text == "## 一、总体要求\n引文内容。\n引文。"


def test_stray_question_mark_before_a_heading_is_dropped():
    # 004 line 12: an unmapped glyph extracted as "?"
    source = "?(一) 新質生產力產業主體培育促進示范區內生動力提升\n為什麼?是這樣。"
    cleaned = clean(source)
    assert cleaned.text == "(一)新質生產力產業主體培育促進示范區內生動力提升\n為什麼?是這樣。"
    assert_offsets_map_back(source, cleaned)


# --- joining lines broken inside a sentence -------------------------------------

# 001 lines 25-45: wrapped at a fixed width, a blank line after every line, a page
# marker in the middle of a sentence.
NEWS_001 = "\n\n".join(
    [
        "示范区转型升级成效如何？未来路径在哪里？在日前举行的",
        "第二届产业转型升级示范区建设政策培训暨经验交流会上，国家",
        "发展改革委振兴司司长童章舜表示，首批 12个示范区以区域振兴",
        "和产业振兴为目标，以产业结构调整和城市更新改造为重点，统",
        "筹推进营商环境优化、创新能力提升、传统产业改造、新兴产业\n\n",
        " - 2 - ",
        "培育、产业园区建设、产城融合发展和生态修复治理，为全国同",
        "类城市转型探索了一批值得借鉴的经验做法。 ",
        "产业结构更加优化 ",
        "我国老工业城市和资源型城市发展有着特殊的历史背景，大",
    ]
)


def test_001_wrapped_lines_join_across_the_page_marker():
    cleaned = clean(NEWS_001)
    assert cleaned.text == (
        "示范区转型升级成效如何？未来路径在哪里？在日前举行的第二届产业转型升级示范区建设政策"
        "培训暨经验交流会上，国家发展改革委振兴司司长童章舜表示，首批12个示范区以区域振兴和"
        "产业振兴为目标，以产业结构调整和城市更新改造为重点，统筹推进营商环境优化、创新能力"
        "提升、传统产业改造、新兴产业培育、产业园区建设、产城融合发展和生态修复治理，为全国"
        "同类城市转型探索了一批值得借鉴的经验做法。\n"
        "产业结构更加优化\n"
        "我国老工业城市和资源型城市发展有着特殊的历史背景，大"
    )
    assert_offsets_map_back(NEWS_001, cleaned)


# 001 lines 98-109: a line that ends with a closing quote inside the sentence.
NEWS_001_QUOTE = "\n\n".join(
    [
        "山西长治以煤焦化、煤电化、煤气化、煤液化为重点，不断",
        "拓展精深加工产品、延伸产业链条，煤炭清洁高效利用产业集群",
        "逐步壮大。半导体光电产业、新能源汽车产业、医药健康产业等",
        "新兴产业“遍地开花”。山东淄博将示范区建设和实施新旧动能",
        "转换重大工程“两篇文章一起作”，集中作好“高、新、轻、绿”",
        "四篇文章，结构调整步伐明显加快…… \n 中国宏观经济研究院国土开发与地区经济研究所副所长张庆",
    ]
)


def test_001_closing_quote_after_a_word_does_not_end_the_paragraph():
    assert clean(NEWS_001_QUOTE).text == (
        "山西长治以煤焦化、煤电化、煤气化、煤液化为重点，不断拓展精深加工产品、延伸产业链条，"
        "煤炭清洁高效利用产业集群逐步壮大。半导体光电产业、新能源汽车产业、医药健康产业等新兴"
        "产业“遍地开花”。山东淄博将示范区建设和实施新旧动能转换重大工程“两篇文章一起作”，"
        "集中作好“高、新、轻、绿”四篇文章，结构调整步伐明显加快……\n"
        "中国宏观经济研究院国土开发与地区经济研究所副所长张庆"
    )


# 002 lines 99-103: paragraph per line, one paragraph broken by the page.
PLAN_002_BROKEN = "\n\n".join(
    [
        "目前，老工业基地振兴进入了统筹推进、攻坚克难的新阶段。要适应新情况新变化，"
        "在认真总结前十年东北老工业基地振兴实践经验的基础上，将振兴工作由前期以东北地区为主"
        "向巩固深化东北、统筹推进全国老工业基地振兴转变，把工作重",
        "点放在老工业城市调整改造上。",
        "（二）发展基础。",
    ]
)


def test_002_long_unterminated_line_joins_the_next_but_not_a_heading():
    assert clean(PLAN_002_BROKEN).text == (
        "目前，老工业基地振兴进入了统筹推进、攻坚克难的新阶段。要适应新情况新变化，在认真总结"
        "前十年东北老工业基地振兴实践经验的基础上，将振兴工作由前期以东北地区为主向巩固深化"
        "东北、统筹推进全国老工业基地振兴转变，把工作重点放在老工业城市调整改造上。\n"
        "（二）发展基础。"
    )


# 002 lines 63-67: the garbled preface is cut off mid-word just above the heading "序 言".
PLAN_002_PREFACE = "\n\n".join(
    [
        "改革开放特别是实施东北地区等老工业基地振兴战略以来,120个老工业城市呈现不同的发展态势。"
        "95个地级老工业城市中,大部分发展速度加快,但发展方式仍然比较粗放,产业结构调整和转型升级"
        "任务依然艰巨;少部分发展速度放缓,部分甚至出现萎缩,亟需调整改造升级转型。25个直辖市、"
        "计划单列市和省会城市在体制机制改革和承接国际国内产业转移、承接老工业",
        "序 言",
        "本规划是指导今后一个时期老工业基地调整改造的行动纲领。规划期为 2013-2022 年。",
    ]
)


def test_002_short_title_is_not_joined_to_a_cut_off_paragraph():
    lines = clean(PLAN_002_PREFACE).text.split("\n")
    assert lines[0].endswith("在体制机制改革和承接国际国内产业转移、承接老工业")
    assert lines[1:] == [
        "序言",
        "本规划是指导今后一个时期老工业基地调整改造的行动纲领。规划期为2013-2022年。",
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("第一行\n第二行", "第一行\n第二行"),  # short lines are never joined
        ("一、总体要求\n（一）指导思想", "一、总体要求\n（一）指导思想"),
        ("## 标题\n正文。", "## 标题\n正文。"),
    ],
)
def test_short_lines_and_headings_stay_apart(source, expected):
    assert clean(source).text == expected


# 000 line 5: spaces left inside words by the PDF layout ("重 构", "欠发 达", "本 期").
ROUND_TABLE_000 = (
    '老工业基地曾为我国经济发展和工业化进程作出突出贡献。"十四五"规划和2035年远景目标纲要提出,'
    "推进老工业基地制造业竞争优势重 构,建设产业转型升级示范区。国家发展改革委印发的"
    '《"十四五"特殊类型地区振兴发展规划》提出,"健全政策体系和长效机制,支持欠发 达地区、'
    "革命老区、边境地区、生态退化地区、资源型地区、老工业城市更好解决自身困难,更好发挥支撑功能,"
    '持续增强内生发展动力"。本 期特邀专家围绕相关问题进行研讨。'
)


def test_000_spaces_inside_words_are_removed():
    cleaned = clean(f"智库圆桌(第57期·总266期)\n\n# 振兴老工业基地积聚新动能\n\n{ROUND_TABLE_000}")
    assert cleaned.text == (
        "智库圆桌(第57期·总266期)\n# 振兴老工业基地积聚新动能\n" + ROUND_TABLE_000.replace(" ", "")
    )
    assert "重构" in cleaned.text and "欠发达地区" in cleaned.text and "本期特邀" in cleaned.text


# 003 lines 1-9, 31-36 and 101-105: site header, repeated title, image credit, tag line
# (with no-break spaces).
WEB_003 = """老工业城市组团到广东,他们想学什么?

更新时间:2024-03-29 22:50:16作者:无忧百科

老工业城市组团到广东,他们想学什么?

本文来源:时代周报 作者:阿力米热

在区域经济竞争愈发激烈的当下,城市之间的相互学习,早已成为常态。这同样也反映了城市对于补短板的渴望。

钢铁、机械等产业也是韶关发展绕不开的话题。


韶关城市风光 图源:图虫创意

但由于长期局限于传统产业领域,韶关矿产资源逐步枯竭,2019年被列入全国第二批老工业城市和资源型城市产业转型升级示范区。由此,韶关开启了产业转型升级的探索之路。

如果跳出单个的城市来看,面对着迅速发展的时代,在智能化转型、科技创新、人才培养等方面的融合之下,老工业城市也将从中探寻到更多新的发展机遇。

本文标签: 广东 \xa0株洲 \xa0韶关 \xa0老工业"""


def test_003_header_repeated_title_credit_and_tags_are_dropped():
    cleaned = clean(WEB_003)
    assert cleaned.text.split("\n") == [
        "老工业城市组团到广东,他们想学什么?",
        "本文来源:时代周报作者:阿力米热",  # a byline, kept: it names the publisher
        "在区域经济竞争愈发激烈的当下,城市之间的相互学习,早已成为常态。这同样也反映了城市对于补短板的渴望。",
        "钢铁、机械等产业也是韶关发展绕不开的话题。",
        "但由于长期局限于传统产业领域,韶关矿产资源逐步枯竭,2019年被列入全国第二批老工业城市和"
        "资源型城市产业转型升级示范区。由此,韶关开启了产业转型升级的探索之路。",
        "如果跳出单个的城市来看,面对着迅速发展的时代,在智能化转型、科技创新、人才培养等方面的"
        "融合之下,老工业城市也将从中探寻到更多新的发展机遇。",
    ]
    assert_offsets_map_back(WEB_003, cleaned)


# 002 lines 3-16, 30-33, 52-57, 65 and 77: cover, table of contents (tab-separated,
# then with dot leaders), the preface heading and a clean preface line.
PLAN_002_TOC = """附件：

全国老工业基地调整改造规划 (2013-2022 年)

目 录

序 言\t1
一、规划背景\t2
(一) 振兴战略的成就与经验\t3
(二) 发展基础\t4
(三) 存在问题\t4
(四) 重大意义\t5
二、总体要求\t6

(三) 优化城市内部空间布局.....\t17
(四) 推动城乡协调发展.....\t17
五、大力促进绿色发展.....\t18
(一) 积极推进节能减排.....\t18

九、政策扶持与规划实施\t28
(一) 财税政策\t28
(二) 融资政策\t29
(三) 土地政策\t29
(四) 规划实施\t30

序 言

本规划是指导今后一个时期老工业基地调整改造的行动纲领。规划期为 2013-2022 年。"""


def test_002_table_of_contents_is_dropped():
    cleaned = clean(PLAN_002_TOC)
    assert cleaned.text == (
        "附件：\n全国老工业基地调整改造规划(2013-2022年)\n序言\n"
        "本规划是指导今后一个时期老工业基地调整改造的行动纲领。规划期为2013-2022年。"
    )
    assert_offsets_map_back(PLAN_002_TOC, cleaned)


def test_a_run_in_heading_wrapped_by_a_pdf_is_joined_with_its_next_line():
    body = "教育是民族振兴、社会进步的基石，是提高国民素质、促进人的全面发展的根本途径。" * 4
    wrapped = [body[i:i + 37] for i in range(0, len(body), 37)]
    lines = [*wrapped,
             "（一）指导思想。高举中国特色社会主义伟大旗帜，以邓小平理论和“三个代表”",
             "重要思想为指导，深入贯彻落实科学发展观。"]
    out = clean("\n".join(lines)).text
    assert "和“三个代表”重要思想为指导" in out
