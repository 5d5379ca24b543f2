"""A loaded document to keyed chunks, checked on every file of the demo corpus."""

import re
from functools import cache
from pathlib import Path

import pytest

from zhice.ingest.chunker import ChunkedDocument, chunk_document, derive_title
from zhice.ingest.loaders import load
from zhice.ingest.normalize import is_traditional, search_key
from zhice.ingest.types import LoadedDocument, content_hash

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
FILES = sorted(p.name for p in CORPUS.glob("*.txt"))

TITLES = {
    "000_1f01759c0709e46e.txt": "振兴老工业基地积聚新动能",  # its "# " heading
    # 001 has no title line: the first clause of its lead paragraph stands in for one
    "001_c0ffccaadb4b0d1e.txt": "首批12个产业转型升级示范区以区域振兴和产业振兴为目标",
    "002_66366e4ef13f23ad.txt": "全国老工业基地调整改造规划(2013-2022年)",  # "附件：" skipped
    "003_c2a79c714d045d33.txt": "老工业城市组团到广东,他们想学什么?",
    "004_7e91f5c9a91c3b3b.txt": "以加快形成新質生產力推動產業轉型升級示范區高質量發展",
}

# What the cleaner drops from inside a chunk's span of the loaded text (whitespace
# removed): a chunk covers the page marker its sentence straddles, the image credit
# between two of its paragraphs. Every entry is used; nothing else may differ.
DROPPED_INSIDE_CHUNKS = {
    "000_1f01759c0709e46e.txt": [">"],  # a Markdown blockquote marker
    "001_c0ffccaadb4b0d1e.txt": ["-2-"],  # page marker, mid-sentence
    "002_66366e4ef13f23ad.txt": [],
    "003_c2a79c714d045d33.txt": [
        "更新时间:2024-03-2922:50:16作者:无忧百科老工业城市组团到广东,他们想学什么?",
        "韶关城市风光图源:图虫创意",
        "数据中心集落在韶关图源:图虫创意",
        "株洲市湘江两岸风光图源:图虫创意",
    ],
    "004_7e91f5c9a91c3b3b.txt": ["來源:高新院achie.org日期:2024-11-19點擊:次"],
}

_WS = re.compile(r"\s+")
CJK_SPACE_CJK = re.compile(r"[\u3400-\u9fff][ \t\u3000\u00a0]+[\u3400-\u9fff]")
PAGE_MARKER = re.compile(r"(^|\n)\s*[-—–－]\s*\d{1,4}\s*[-—–－]\s*($|\n)")
DOT_LEADER = re.compile(r"(\.{3,}|…{2,}|·{3,})\s*\d{1,3}\s*($|\n)|\t\d{1,3}($|\n)")


def squeeze(text: str) -> str:
    return _WS.sub("", text)


@cache
def loaded(name: str) -> LoadedDocument:
    return load(CORPUS / name)


@cache
def chunked(name: str) -> ChunkedDocument:
    return chunk_document(loaded(name))


def all_text(name: str) -> str:
    return "\n".join(c.text for c in chunked(name).chunks)


# --- every chunk of every corpus file -------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_chunk_span_in_the_loaded_text_holds_exactly_its_text(name):
    doc = loaded(name)
    unused = set(DROPPED_INSIDE_CHUNKS[name])
    for chunk in chunked(name).chunks:
        assert 0 <= chunk.start < chunk.end <= len(doc.text)
        span = squeeze(doc.text[chunk.start : chunk.end])
        assert span[0] == squeeze(chunk.text)[0] and span[-1] == squeeze(chunk.text)[-1]
        for dropped in DROPPED_INSIDE_CHUNKS[name]:
            if dropped in span:
                span = span.replace(dropped, "")
                unused.discard(dropped)
        assert span == squeeze(chunk.text), chunk.ordinal
    assert not unused


@pytest.mark.parametrize("name", FILES)
def test_no_chunk_keeps_layout_artefacts(name):
    for chunk in chunked(name).chunks:
        assert not CJK_SPACE_CJK.search(chunk.text), chunk.text
        assert not PAGE_MARKER.search(chunk.text), chunk.text
        assert not DOT_LEADER.search(chunk.text), chunk.text
        assert "\ufffd" not in chunk.text
        assert chunk.text == chunk.text.strip() and "\n\n" not in chunk.text


@pytest.mark.parametrize("name", FILES)
def test_chunks_are_keyed_ordered_and_titled(name):
    chunks = chunked(name).chunks
    assert chunks
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    for chunk in chunks:
        assert chunk.key == search_key(chunk.text)
        assert chunk.id == content_hash(chunk.key)
        assert (chunk.source, chunk.title, chunk.page) == (name, TITLES[name], None)
        assert 0 < len(chunk.text) <= 600


@pytest.mark.parametrize("name", FILES)
def test_corpus_titles(name):
    assert chunked(name).title == TITLES[name]


@pytest.mark.parametrize(
    ("name", "gone"),
    [
        ("000_1f01759c0709e46e.txt", ["本版编辑", "jjrbjjzk", "重 构"]),
        ("001_c0ffccaadb4b0d1e.txt", ["- 2 -"]),
        ("002_66366e4ef13f23ad.txt", ["目录", "目 录", ".....", "\t"]),
        ("003_c2a79c714d045d33.txt", ["更新时间", "无忧百科", "图源", "图虫创意", "本文标签"]),
        ("004_7e91f5c9a91c3b3b.txt", ["來源:", "點擊", "?("]),
    ],
)
def test_corpus_junk_is_gone(name, gone):
    text = all_text(name)
    assert [g for g in gone if g in text] == []


# --- the corpus, file by file ---------------------------------------------------


def test_000_words_broken_by_spaces_are_whole():
    text = all_text("000_1f01759c0709e46e.txt")
    assert "制造业竞争优势重构,建设产业转型升级示范区" in text
    assert "围绕阿尔伯特码头进行保护性开发" in text


def test_001_sentence_across_the_page_marker_is_one_chunk():
    doc = loaded("001_c0ffccaadb4b0d1e.txt")
    [chunk] = [c for c in chunked(doc.source).chunks if "新兴产业培育、产业园区建设" in c.text]
    assert " - 2 - " in doc.text[chunk.start : chunk.end]
    assert (
        "统筹推进营商环境优化、创新能力提升、传统产业改造、新兴产业培育、产业园区建设" in chunk.text
    )


def test_001_lead_paragraph_repeated_in_the_report_is_folded():
    doc = loaded("001_c0ffccaadb4b0d1e.txt")
    [fold] = chunked(doc.source).folded
    assert fold.text == (
        "首批12个产业转型升级示范区以区域振兴和产业振兴为目标，以产业结构调整和城市更新改造为重点，"
        "统筹推进营商环境优化、创新能力提升、传统产业改造、新兴产业培育、产业园区建设、"
        "产城融合发展和生态修复治理"
    )
    assert doc.text[fold.start : fold.end].startswith("首批 12个产业转型升级示范区")
    kept = doc.text[fold.kept_start : fold.kept_end]
    assert kept.startswith("示范区转型升级成效如何？") and "童章舜" in kept


def test_002_garbled_preface_is_folded_and_the_clean_one_kept():
    doc = loaded("002_66366e4ef13f23ad.txt")
    result = chunked(doc.source)
    text = all_text(doc.source)
    assert "1957" not in text and "三五" not in text
    assert "以及1985年全国地级以上城市工业固定资产原值" in text
    starts = ("(2003) 11号)《", "本规划所称老工业基地", "改革开放特别是实施东北")
    assert len(result.folded) == len(starts)
    for fold, start in zip(result.folded, starts, strict=True):
        assert fold.text.startswith(start)
    assert "1957—1960年" in result.folded[1].text
    for fold in result.folded:
        assert "," in fold.text  # the garbled copy has half-width commas
        kept = doc.text[fold.kept_start : fold.kept_end]
        assert "，" in kept and "," not in kept
        assert fold.kept_start > fold.end  # the clean copy comes after "序 言"


def test_002_preface_chunks_sit_under_their_heading():
    chunks = chunked("002_66366e4ef13f23ad.txt").chunks
    # the date line under the title is text (a title block heads nothing)
    assert chunks[0].text == "附件：\n全国老工业基地调整改造规划(2013-2022年)\n二〇一三年三月"
    assert chunks[1].heading == "序言"
    # its subheading is text too
    assert chunks[1].text.startswith("序言\n为了巩固和深化东北地区等老工业基地振兴成果")


def test_002_box_chunk_heading_path():
    [chunk] = [c for c in chunked("002_66366e4ef13f23ad.txt").chunks if "株洲、大同" in c.text]
    assert chunk.heading == (
        "三、再造产业竞争新优势 > （二）培育发展战略性新兴产业 > "
        "专栏3：部分老工业城市战略性新兴产业发展重点"
    )


def test_004_text_stays_traditional_and_its_key_is_simplified():
    chunks = chunked("004_7e91f5c9a91c3b3b.txt").chunks
    assert all(is_traditional(c.text) and not is_traditional(c.key) for c in chunks)
    first = chunks[0]
    assert first.text.startswith("以加快形成新質生產力推動產業轉型升級示范區高質量發展\n摘要:")
    assert first.key.startswith("以加快形成新质生产力推动产业转型升级示范区高质量发展\n摘要:")


def test_key_is_nfkc():
    [chunk] = chunk_document(LoadedDocument("a.txt", "ＧＤＰ增长５％，达到１２３万亿元。")).chunks
    assert chunk.text == "ＧＤＰ增长５％，达到１２３万亿元。"
    assert chunk.key == "GDP增长5%,达到123万亿元。"


# --- chunk_document and derive_title on small inputs ----------------------------


def test_docstring_example():
    doc = LoadedDocument("a.txt", "一、总则\n重 构产业。")
    [chunk] = chunk_document(doc).chunks
    assert (chunk.text, chunk.heading, chunk.start, chunk.end) == ("重构产业。", "一、总则", 5, 11)
    assert chunk.title == "一、总则"


def test_loader_title_wins_over_the_derived_one():
    doc = LoadedDocument("a.docx", "一、总则\n正文。", title="元数据标题")
    result = chunk_document(doc)
    assert result.title == "元数据标题" and result.chunks[0].title == "元数据标题"


def test_chunk_page_comes_from_the_loaded_offsets():
    doc = LoadedDocument("a.pdf", "第一页正文。\n\n第二页正文。", page_starts=(0, 8))
    chunks = chunk_document(doc, size=6, overlap=0).chunks
    assert [(c.text, c.page, c.start, c.end) for c in chunks] == [
        ("第一页正文。", 1, 0, 6),
        ("第二页正文。", 2, 8, 14),
    ]


@pytest.mark.parametrize("size", [100, 400, 1000, 4000])
def test_any_size_the_cli_accepts_chunks(size):
    # the CLI allows --chunk-size up to 4000; split's max_size must follow it
    chunks = chunk_document(loaded("002_66366e4ef13f23ad.txt"), size=size, overlap=50).chunks
    assert chunks
    assert max(len(c.text) for c in chunks) <= max(600, size * 3 // 2)


def test_bad_overlap_is_a_value_error():
    with pytest.raises(ValueError, match="overlap=400, size=400"):
        chunk_document(LoadedDocument("a.txt", "正文。"), size=400, overlap=400)


@pytest.mark.parametrize(
    ("cleaned", "expected"),
    [
        ("前言\n# 十四五规划纲要\n## 第一章\n正文。", "十四五规划纲要"),  # first H1 near the top
        ("附件：\n关于印发规划的通知\n正文。", "关于印发规划的通知"),
        ("附件:\n关于印发规划的通知", "关于印发规划的通知"),
        ("一、总则\n正文。", "一、总则"),
        (
            "首批12个产业转型升级示范区以区域振兴和产业振兴为目标，以产业结构调整和城市更新改造"
            "为重点，统筹推进营商环境优化、创新能力提升、传统产业改造。",
            "首批12个产业转型升级示范区以区域振兴和产业振兴为目标",
        ),
        ("甲" * 70 + "。", "甲" * 60),  # a first clause longer than a title is cut
        ("", "来源.txt"),
        ("\n \n", "来源.txt"),
    ],
)
def test_derive_title(cleaned, expected):
    assert derive_title(cleaned, "来源.txt") == expected


# --- the document card ----------------------------------------------------------

NOTICE = (
    "关于推进职业教育发展的实施意见\n"
    "（征求意见稿）\n"
    "市教育局\n"
    "2021年3月2日\n"
    "为推动职业教育高质量发展，制订本意见。\n"
    "一、总体要求\n"
    "到2025年，建成10所高水平职业院校。"
)


def test_the_opening_is_one_passage_across_the_lines_that_split_it():
    chunks = chunk_document(LoadedDocument("n.txt", NOTICE)).chunks
    card = chunks[0]
    assert card.start == 0
    assert "（征求意见稿）\n市教育局\n2021年3月2日\n为推动职业教育高质量发展" in card.text
    assert card.heading == card.title == "关于推进职业教育发展的实施意见"
    assert card.path == ""  # shown beside its title, the title is not said twice
    assert chunks[-1].path == chunks[-1].heading == "一、总体要求"
    # what the card holds is not repeated as smaller chunks
    assert not [c for c in chunks[1:] if card.start <= c.start and c.end <= card.end]
    assert chunks[-1].text.endswith("建成10所高水平职业院校。")


def test_no_card_when_a_chunk_already_holds_the_opening():
    text = "为推动职业教育高质量发展，制订本意见。到2025年，建成10所高水平职业院校。"
    [chunk] = chunk_document(LoadedDocument("n.txt", text)).chunks
    assert chunk.text == text and chunk.heading == ""
