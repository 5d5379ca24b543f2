"""Hybrid retrieval: reciprocal-rank fusion, exact ranks on a tiny indexed corpus,
duplicates folded across files, either script finding the other, the LangChain wrapper."""

from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from tests.index.test_index import share_segmenter
from zhice.assistant.chain import RETRIEVED, Assistant
from zhice.assistant.retrieve import RRF_K, HybridRetriever, ZhiceRetriever
from zhice.assistant.types import Hit
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files
from zhice.index.store import StoredChunk
from zhice.ingest.normalize import search_key
from zhice.ingest.types import Chunk

PORT = "寧波舟山港貨物吞吐量連續多年位居全球第一，集裝箱航線覆蓋兩百多個國家。"
ELDERLY = "社区养老服务网络覆盖全部城市街道，每个街道至少建成一所综合养老服务中心。"
# One short paragraph under a Markdown heading each (context, not text): one chunk a
# file. copy_b.txt repeats copy_a.txt exactly, and hk.txt is in traditional script.
CORPUS = {
    "zones.txt": "# 产业转型升级示范区\n\n国家先后设立了20个产业转型升级示范区。"
    "首批示范区包括株洲、湘潭、衡阳和宜宾等城市。",
    "heritage.txt": "# 工业遗产保护\n\n我国目前登记在名录中的国家级工业遗产数总计648处。"
    "老厂房经过改造成为文化创意园区。",
    "energy.txt": "# 新能源产业\n\n宜宾培育了产值千亿的动力电池产业群，"
    "电池产量占全国的比重达到15%。",
    "water.txt": "# 水资源管理\n\n黄河流域实行最严格的水资源管理制度，"
    "用水总量控制在每年370亿立方米以内。",
    "forest.txt": "# 森林覆盖\n\n全省森林覆盖率提高到百分之四十二，新增造林面积三百万亩。",
    "rail.txt": "# 铁路建设\n\n高速铁路运营里程达到四万五千公里，覆盖百分之九十五的百万人口城市。",
    "grain.txt": "# 粮食安全\n\n全国粮食总产量连续九年稳定在一万三千亿斤以上，"
    "耕地保有量不低于十八亿亩。",
    "school.txt": "# 义务教育\n\n九年义务教育巩固率达到百分之九十五点七，"
    "乡村学校办学条件明显改善。",
    "health.txt": "# 医疗卫生\n\n每千人口执业医师数达到三点二人，县级医院综合能力持续提升。",
    "hk.txt": "# 港口航運\n\n" + PORT,
    "copy_a.txt": ELDERLY,
    "copy_b.txt": ELDERLY,
}
# Row ids follow the ingest order (file names sorted); copy_b.txt gets none.
IDS = {
    "copy_a.txt": 1,
    "energy.txt": 2,
    "forest.txt": 3,
    "grain.txt": 4,
    "health.txt": 5,
    "heritage.txt": 6,
    "hk.txt": 7,
    "rail.txt": 8,
    "school.txt": 9,
    "water.txt": 10,
    "zones.txt": 11,
}


def build_index(root: Path, docs: dict[str, str]) -> Path:
    """Write `docs` under root/docs and ingest them into root/index (fake embedder)."""
    corpus = root / "docs"
    corpus.mkdir()
    for name, text in docs.items():
        (corpus / name).write_text(text, encoding="utf-8")
    directory = root / "index"
    with pytest.MonkeyPatch.context() as mp:
        share_segmenter(mp)
        with ZhiceIndex.open(directory, embedder="fake", create=True) as index:
            index_files(index, [corpus])
    return directory


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory):
    directory = build_index(tmp_path_factory.mktemp("retrieve"), CORPUS)
    with pytest.MonkeyPatch.context() as mp:
        share_segmenter(mp)
        opened = ZhiceIndex.open(directory)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def fused(index) -> HybridRetriever:
    """Fusion alone: no re-ranker, so ranks are RRF's."""
    return HybridRetriever(index)


# --- fusion arithmetic on hand-made ranked lists -------------------------------------
class RankedLists:
    """A stand-in index whose searches return fixed ranked lists and record their calls."""

    def __init__(
        self,
        dense: list[tuple[int, float]],
        bm25: list[tuple[int, float]],
        missing: tuple[int, ...] = (),
    ):
        self.dense, self.bm25, self.missing = dense, bm25, missing
        self.calls: list[tuple[str, str, int]] = []

    def dense_search(self, key: str, k: int) -> list[tuple[int, float]]:
        self.calls.append(("dense", key, k))
        return self.dense[:k]

    def bm25_search(self, key: str, k: int) -> list[tuple[int, float]]:
        self.calls.append(("bm25", key, k))
        return self.bm25[:k]

    def chunks(self, ids) -> dict[int, StoredChunk]:
        return {
            i: StoredChunk(i, Chunk("a.txt", i, f"第{i}段。", f"第{i}段。", "", 0, 4))
            for i in ids
            if i not in self.missing
        }


def test_rrf_sums_one_over_k_plus_rank_from_each_retriever():
    lists = RankedLists(dense=[(3, 0.9), (1, 0.8), (2, 0.7)], bm25=[(1, 7.5), (4, 3.0)])
    hits = HybridRetriever(lists).retrieve("问题", k=10)
    assert RRF_K == 60
    assert [h.id for h in hits] == [1, 3, 4, 2]
    assert [h.score for h in hits] == [1 / 62 + 1 / 61, 1 / 61, 1 / 62, 1 / 63]
    assert hits[0] == Hit(
        1,
        hits[0].chunk,
        1 / 62 + 1 / 61,
        dense_rank=2,
        bm25_rank=1,
        dense_score=0.8,
        bm25_score=7.5,
    )
    assert hits[2] == Hit(4, hits[2].chunk, 1 / 62, bm25_rank=2, bm25_score=3.0)
    assert hits[3] == Hit(2, hits[3].chunk, 1 / 63, dense_rank=3, dense_score=0.7)


def test_equal_fused_scores_are_ordered_by_chunk_id():
    lists = RankedLists(dense=[(5, 0.9), (2, 0.8)], bm25=[(2, 9.0), (5, 8.0)])
    hits = HybridRetriever(lists).retrieve("问题", k=2)
    assert [h.id for h in hits] == [2, 5]
    assert hits[0].score == hits[1].score == 1 / 61 + 1 / 62


def test_weights_scale_each_retrievers_share():
    lists = RankedLists(dense=[(2, 0.9), (1, 0.8)], bm25=[(1, 9.0), (2, 8.0)])
    assert [h.id for h in HybridRetriever(lists).retrieve("问题", 2)] == [1, 2]  # a tie
    hits = HybridRetriever(lists, dense_weight=2.0).retrieve("问题", 2)
    assert [h.id for h in hits] == [2, 1]
    assert [h.score for h in hits] == [2 / 61 + 1 / 62, 2 / 62 + 1 / 61]


def test_a_zero_weight_skips_that_search():
    lists = RankedLists(dense=[(2, 0.9), (1, 0.8)], bm25=[(1, 9.0), (2, 8.0)])
    hits = HybridRetriever(lists, bm25_weight=0.0).retrieve("问题", 2)
    assert [h.id for h in hits] == [2, 1]
    assert [h.bm25_rank for h in hits] == [None, None]
    assert [name for name, _, _ in lists.calls] == ["dense"]


def test_a_further_list_is_fused_by_its_weight_and_gets_the_search_key():
    lists = RankedLists(dense=[(2, 0.9), (1, 0.8)], bm25=[(1, 9.0), (2, 8.0)])
    seen = []

    def bigram(key: str, n: int) -> list[tuple[int, float]]:
        seen.append((key, n))
        return [(2, 5.0), (3, 4.0)][:n]

    hits = HybridRetriever(lists, extra={"bigram": (bigram, 0.5)}).retrieve("問題", 3)
    assert [h.id for h in hits] == [2, 1, 3]
    assert [h.score for h in hits] == [1 / 61 + 1 / 62 + 0.5 / 61, 1 / 62 + 1 / 61, 0.5 / 62]
    assert seen == [(search_key("問題"), 50)]
    assert HybridRetriever(lists, extra={"bigram": (bigram, 0.0)}).retrieve("问题", 3)
    assert len(seen) == 1  # a zero weight skips it


def test_both_searches_get_the_search_key_and_max_of_candidates_and_k():
    lists = RankedLists(dense=[(1, 0.9)], bm25=[(1, 9.0)])
    HybridRetriever(lists).retrieve("示範區有２０個？", k=5)
    HybridRetriever(lists, candidates=3).retrieve("示範區有２０個？", k=5)
    key = "示范区有20个?"  # traditional to simplified, full-width to ASCII (NFKC)
    assert search_key("示範區有２０個？") == key
    assert lists.calls == [
        ("dense", key, 50),
        ("bm25", key, 50),
        ("dense", key, 5),
        ("bm25", key, 5),
    ]


def test_k_cuts_the_fused_list_and_a_chunk_removed_since_the_search_is_skipped():
    lists = RankedLists(dense=[(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)], bm25=[], missing=(2,))
    assert [h.id for h in HybridRetriever(lists).retrieve("问题", k=2)] == [1]
    assert [h.id for h in HybridRetriever(lists).retrieve("问题", k=3)] == [1, 3]


def test_the_reranker_sees_the_question_and_rerank_depth_candidates_then_k_are_kept():
    seen = []

    def reverse(question: str, hits: list[Hit]) -> list[Hit]:
        seen.append((question, [h.id for h in hits]))
        return hits[::-1]

    lists = RankedLists(dense=[(i, 1.0 - i / 10) for i in range(1, 8)], bm25=[])
    hits = HybridRetriever(lists, reranker=reverse, rerank_depth=5).retrieve("問題", k=2)
    assert seen == [("問題", [1, 2, 3, 4, 5])]
    assert [h.id for h in hits] == [5, 4]


@pytest.mark.parametrize("k", [0, -3])
def test_k_must_be_positive(k):
    with pytest.raises(ValueError) as raised:
        HybridRetriever(RankedLists([], [])).retrieve("问题", k)
    assert str(raised.value) == f"k must be greater than 0. Currently, k is {k}"


# --- a real index ------------------------------------------------------------------
def test_the_corpus_indexes_eleven_chunks_for_twelve_files(index):
    assert len(index) == 11
    assert sorted(f.source for f in index.files()) == sorted(CORPUS)


def test_exact_fused_order_with_each_retrievers_rank(fused):
    hits = fused.retrieve("国家设立了多少个产业转型升级示范区？", k=20)
    # (source, dense rank, BM25 rank): four passages share terms with the question
    expected = [
        ("zones.txt", 1, 1),
        ("heritage.txt", 2, 3),
        ("energy.txt", 9, 2),
        ("hk.txt", 11, 4),
        ("copy_a.txt", 3, None),
        ("water.txt", 4, None),
        ("forest.txt", 5, None),
        ("rail.txt", 6, None),
        ("health.txt", 7, None),
        ("grain.txt", 8, None),
        ("school.txt", 10, None),
    ]
    assert [(h.chunk.source, h.dense_rank, h.bm25_rank) for h in hits] == expected
    assert [h.id for h in hits] == [IDS[source] for source, _, _ in expected]
    assert [h.score for h in hits] == [
        1 / (RRF_K + d) + (1 / (RRF_K + b) if b else 0.0) for _, d, b in expected
    ]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "宜宾动力电池产量占全国比重多少？",
            [
                ("energy.txt", 1, 1),
                ("grain.txt", 3, 2),
                ("zones.txt", 10, 3),
                ("rail.txt", 2, None),
                ("forest.txt", 4, None),
            ],
        ),
        # hk.txt (2, 3) and zones.txt (3, 2) tie on 1/62 + 1/63: the lower id comes first
        (
            "国家级工业遗产一共有多少处？",
            [
                ("heritage.txt", 1, 1),
                ("hk.txt", 2, 3),
                ("zones.txt", 3, 2),
                ("school.txt", 4, None),
                ("copy_a.txt", 5, None),
            ],
        ),
        (
            "黄河流域用水总量控制在多少？",
            [
                ("water.txt", 1, 1),
                ("hk.txt", 2, None),
                ("health.txt", 3, None),
                ("energy.txt", 4, None),
                ("zones.txt", 5, None),
            ],
        ),
    ],
)
def test_exact_top_five(fused, question, expected):
    hits = fused.retrieve(question, k=5)
    assert [(h.chunk.source, h.dense_rank, h.bm25_rank) for h in hits] == expected


def test_a_paragraph_repeated_in_two_files_comes_back_once(fused):
    hits = fused.retrieve("社区养老服务网络覆盖哪些街道？", k=20)
    sources = [h.chunk.source for h in hits]
    assert sources[0] == "copy_a.txt"
    assert sources.count("copy_a.txt") == 1
    assert "copy_b.txt" not in sources
    assert [h.chunk.text for h in hits].count(ELDERLY) == 1
    assert len(hits) == len({h.id for h in hits}) == 11


def test_a_traditional_question_finds_a_simplified_passage(fused):
    hits = fused.retrieve("社區養老服務網絡覆蓋哪些街道？", k=3)
    assert [(h.chunk.source, h.dense_rank, h.bm25_rank) for h in hits] == [
        ("copy_a.txt", 1, 1),
        ("forest.txt", 4, 2),
        ("rail.txt", 5, 3),
    ]
    assert hits[0].chunk.text == ELDERLY


def test_a_simplified_question_finds_a_traditional_passage_shown_as_written(fused):
    hits = fused.retrieve("宁波舟山港货物吞吐量排第几？", k=2)
    assert [(h.chunk.source, h.dense_rank, h.bm25_rank) for h in hits] == [
        ("hk.txt", 1, 1),
        ("school.txt", 2, None),
    ]
    assert hits[0].chunk.text == PORT
    assert (
        hits[0].chunk.key == "宁波舟山港货物吞吐量连续多年位居全球第一,集装箱航线覆盖两百多个国家。"
    )


def test_retrieved_holds_ten_passages_whatever_k(index):
    """INTERFACES.md: `retrieved` lists at least the top 10 (the corpus has 11 chunks)."""
    assert RETRIEVED == 10
    assistant = Assistant.open(index)  # shares the open index (and its segmenter)
    for k in (1, 5):
        answer = assistant.ask("宜宾动力电池产量占全国比重多少？", k=k)
        assert len(answer.retrieved) == 10
        assert len({h.id for h in answer.retrieved}) == 10
        assert answer.retrieved[0].chunk.source == "energy.txt"
    assert len(assistant.ask("宜宾动力电池产量占全国比重多少？", k=20).retrieved) == 11


# --- the LangChain retriever -----------------------------------------------------------
def test_zhice_retriever_returns_documents_with_their_citation_metadata(fused):
    retriever = ZhiceRetriever(retrieve_fn=fused.retrieve, k=2)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("宜宾动力电池产量占全国比重多少？")
    assert all(isinstance(d, Document) for d in docs)
    assert [d.metadata["source"] for d in docs] == ["energy.txt", "grain.txt"]
    top = docs[0]
    assert top.page_content == "宜宾培育了产值千亿的动力电池产业群，电池产量占全国的比重达到15%。"
    assert top.metadata == {
        "id": IDS["energy.txt"],
        "source": "energy.txt",
        "title": "新能源产业",
        "heading": "新能源产业",
        "start": 9,  # after "# 新能源产业\n\n"
        "end": 43,
        "page": None,
        "score": 1 / 61 + 1 / 61,
    }
    assert CORPUS["energy.txt"][9:43] == top.page_content


def test_zhice_retriever_k_defaults_to_five(fused):
    docs = ZhiceRetriever(retrieve_fn=fused.retrieve).invoke("黄河流域用水总量控制在多少？")
    assert [d.metadata["source"] for d in docs] == [
        "water.txt",
        "hk.txt",
        "health.txt",
        "energy.txt",
        "zones.txt",
    ]
