"""A document's own facts (ingest/facts.py): read where official documents state them,
never taken from what the content merely mentions."""

import pytest

from zhice.ingest.facts import DocumentFacts, extract_facts

NOTICE = """国务院文件

国发〔2014〕28号

# 国务院关于加快发展现代保险服务业的若干意见

各省、自治区、直辖市人民政府，国务院各部委、各直属机构：

为贯彻落实《中共中央关于全面深化改革若干重大问题的决定》和《国务院办公厅关于加快发展商业健康保险的若干意见》（国办发〔2014〕50号），现提出以下意见。

一、总体要求

到2020年，基本建成保障全面、功能完善、安全稳健的现代保险服务业。

国务院

2014年8月10日

（此件公开发布）
"""

JOINT = """# 国家发展改革委 科技部 工业和信息化部关于支持老工业城市产业转型升级的实施意见

发改振兴〔2016〕1966号

各省、自治区、直辖市发展改革委：

本意见自2016年10月1日起施行，有效期5年。《关于老工业基地调整改造的通知》同时废止。
"""

RESOLUTION = """# 中共中央关于进一步全面深化改革 推进中国式现代化的决定

（2024年7月18日中国共产党第二十届中央委员会第三次全体会议通过）

为进一步全面深化改革，推进中国式现代化，全会研究了以下问题。
"""

PLAN = """附件：

全国老工业基地调整改造规划（2013－2022年）

二〇一三年三月

目 录

规划期为2013—2022年。国家发展改革委、财政部负责组织实施。
"""


def test_a_notice_with_masthead_number_signature_and_date():
    f = extract_facts(NOTICE)
    assert f.title == "国务院关于加快发展现代保险服务业的若干意见"
    assert f.issuers == ("国务院",)
    assert f.doc_numbers == ("国发〔2014〕28号",)  # not the cited 国办发〔2014〕50号
    assert f.date == "2014-08-10"
    assert "中共中央关于全面深化改革若干重大问题的决定" in f.cites


def test_joint_issuers_from_the_title_and_a_period_from_when_it_takes_effect():
    f = extract_facts(JOINT)
    assert f.issuers == ("国家发展改革委", "科技部", "工业和信息化部")
    assert f.doc_numbers == ("发改振兴〔2016〕1966号",)
    assert f.period == "自2016-10-01起" and f.date == ""
    assert f.replaces == ("关于老工业基地调整改造的通知",)


def test_a_resolution_is_dated_by_the_meeting_that_adopted_it():
    f = extract_facts(RESOLUTION)
    # the body its title names, and the meeting that adopted it
    assert f.issuers == ("中共中央", "中国共产党第二十届中央委员会第三次全体会议")
    assert f.date == "2024-07-18" and f.doc_numbers == ()
    untitled = extract_facts(RESOLUTION.replace("中共中央关于", "关于"))
    assert untitled.issuers == ("中国共产党第二十届中央委员会第三次全体会议",)


def test_a_plan_cover_dated_in_chinese_numerals_and_its_period():
    f = extract_facts(PLAN)
    assert f.title == "全国老工业基地调整改造规划（2013－2022年）"  # not "附件："
    assert f.date == "2013-03" and f.period == "2013-2022"
    assert f.issuers == ()  # bodies named in the content are not its issuers


@pytest.mark.parametrize(("title", "period"), [
    ("绍兴市教育事业“十四五”发展规划", "2021-2025"),
    ("某市国民经济和社会发展第十三个五年规划纲要", "2016-2020"),
    ("关于做好“十四五”期间统计工作的通知", ""),  # not a plan: no period of its own
])
def test_a_five_year_plan_covers_its_years(title, period):
    f = extract_facts(f"# {title}\n\n正文。")
    assert f.period == period
    assert f.ended(2026) == bool(period)  # the 十四五 ends in 2025, the 十三五 in 2020


@pytest.mark.parametrize(("line", "number"), [
    ("国办函[2011]10号", "国办函[2011]10号"),
    ("浙教基（2012）107号", "浙教基（2012）107号"),
    ("发改地区〔2023〕729号", "发改地区〔2023〕729号"),
    ("国发〔 2014 〕 28 号", "国发〔2014〕28号"),
])
def test_doc_numbers_in_any_bracket(line, number):
    assert extract_facts(f"# 某某通知\n\n{line}\n\n正文。").doc_numbers == (number,)


@pytest.mark.parametrize(("date_line", "iso"), [
    ("二〇二三年十二月二十六日", "2023-12-26"),
    ("2021年5月20日", "2021-05-20"),
    ("二〇一〇年二月", "2010-02"),
])
def test_signature_dates_in_both_numeral_systems(date_line, iso):
    text = f"# 关于某事的通知\n\n正文一段。\n\n某某省教育厅\n\n{date_line}\n"
    f = extract_facts(text)
    assert f.date == iso and f.issuers == ("某某省教育厅",)


@pytest.mark.parametrize("line", ["发布日期：2021-03-02", "更新時間:2021-03-02 22:50:16作者:某",
                                  "来源:某网站 日期:2021-03-02 点击:次"])
def test_a_page_gives_its_publication_date_apart_from_the_documents(line):
    f = extract_facts(f"# 关于某事的意见\n\n{line}\n\n正文。")
    assert f.published == "2021-03-02" and f.date == ""


def test_a_title_broken_over_lines_is_joined_at_its_document_type():
    f = extract_facts("某省关于进一步深化改革\n推进现代化的决定\n"
                      "（2024年7月18日某省委全会通过）\n正文。")
    assert f.title == "某省关于进一步深化改革 推进现代化的决定"


def test_a_reprint_names_who_issued_it_in_its_lead():
    text = ("关于加强某项工作的意见\n近日，甲办公厅、乙办公厅印发了《关于加强某项工作的意见》，"
            "并发出通知。\n正文。")
    assert extract_facts(text).issuers == ("甲办公厅", "乙办公厅")
    other = text.replace("印发了《关于加强某项工作的意见》", "印发了《另一份文件》")
    assert extract_facts(other).issuers == ()  # another document's issuers


def test_an_article_states_nothing_and_nothing_is_invented():
    text = ("# 振兴老工业基地积聚新动能\n\n国家发展改革委印发的《“十四五”特殊类型地区振兴发展规划"
            "（2021－2025年）》（发改地区〔2021〕1234号）提出，2020年要……\n\n记者 张三\n")
    f = extract_facts(text)
    assert (f.issuers, f.doc_numbers, f.date, f.period) == ((), (), "", "")


def test_facts_round_trip_as_json():
    f = extract_facts(NOTICE)
    assert DocumentFacts.from_dict(f.to_dict()) == f
    assert DocumentFacts().to_dict()["date"] is None and f.year() == 2014


def test_a_pages_byline_above_the_title_is_neither_title_nor_date():
    f = extract_facts("发布时间：2024年08月26日\n\n关于某事的通知\n\n正文一段。\n", "")
    assert f.title == "关于某事的通知" and f.published == "2024-08-26" and f.date == ""


def test_the_first_line_of_a_hard_wrapped_paragraph_is_no_title():
    wrapped = ("首批十二个产业转型升级示范区以区域振兴和产业振兴为目\n\n"
               "标，以产业结构调整和城市更新改造为重点，统筹推进营商环境\n\n"
               "优化、创新能力提升、传统产业改造、新兴产业培育、产业园区\n\n"
               "建设、产城融合发展和生态修复治理\n\n")
    assert extract_facts(wrapped + "一业独大、一企独大，是许多城市面临的普遍问题。\n").title == ""
    assert extract_facts("示范区建设成效显著\n\n" + wrapped).title == "示范区建设成效显著"


def test_what_stands_above_a_title_is_neither_title_nor_issuer():
    # 份号, 紧急程度, a joint masthead spaced out over two lines, then the title
    text = ("000028\n特急\n中 共 江 西 省 委\n江 西 省 人 民 政 府  文件\n赣发〔2020〕 8 号\n"
            "中共江西省委 江西省人民政府\n关于全面推进农村生活污水治理的实施意见\n"
            "各设区市委和人民政府：\n现提出如下意见。\n")
    facts = extract_facts(text)
    assert facts.title == "中共江西省委 江西省人民政府关于全面推进农村生活污水治理的实施意见"
    assert facts.issuers == ("中共江西省委", "江西省人民政府")
    assert facts.doc_numbers == ("赣发〔2020〕8号",)


def test_a_web_pages_site_name_breadcrumbs_and_title_label_are_not_the_title():
    text = ("云川市人民政府门户网站\n首页 > 政务公开 > 政策文件\n"
            "标　　题：云川市人民政府关于加强城市绿化管理的通知\n【字体：大 中 小】　打印本页\n"
            "云川市人民政府关于加强城市绿化管理的通知\n各区人民政府：\n现通知如下。\n")
    assert extract_facts(text).title == "云川市人民政府关于加强城市绿化管理的通知"


@pytest.mark.parametrize(("line", "number"), [
    ("中华人民共和国自然资源部令 第12号", "中华人民共和国自然资源部令第12号"),
    ("财政部 税务总局公告2023年第5号", "财政部税务总局公告2023年第5号"),
    ("國辦發〔2020〕41號", "國辦發〔2020〕41號"),
])
def test_orders_notices_and_traditional_doc_numbers_as_written(line, number):
    facts = extract_facts(f"{line}\n某某办法\n第一条 为规范管理，制定本办法。\n")
    assert facts.doc_numbers == (number,)


def test_a_traditional_title_names_its_issuer_as_written():
    facts = extract_facts("國務院辦公廳關於促進跨境電子商務協同發展的意見\n各省人民政府：\n")
    assert facts.issuers == ("國務院辦公廳",)


def test_a_taiwan_order_its_issuer_number_and_minguo_date():
    text = ("行政院　令\n發文日期：中華民國111年12月20日\n發文字號：院臺規字第1110198765號\n"
            "訂定「行政院所屬機關國際交流活動辦理原則」。\n"
            "附「行政院所屬機關國際交流活動辦理原則」\n"
            "院長　林文德\n行政院所屬機關國際交流活動辦理原則\n"
            "一、為使所屬機關有所遵循，特訂定本原則。\n")
    facts = extract_facts(text)
    assert facts.title == "行政院所屬機關國際交流活動辦理原則"
    assert facts.issuers == ("行政院",)
    assert facts.doc_numbers == ("院臺規字第1110198765號",)
    assert facts.date == "2022-12-20"  # 中華民國111年: year 1 is 1912


def test_a_drafts_status_is_not_part_of_its_title():
    facts = extract_facts("某某规划纲要（2010-2020年）（公开征求意见稿）\n一、总体目标\n")
    assert facts.title == "某某规划纲要（2010-2020年）"
