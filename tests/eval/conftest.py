"""A tiny corpus indexed with the fake embedder, built once per session and copied
per test that writes to it."""

import json
import shutil
from pathlib import Path

import pytest

from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files

DOCS = {
    "zones.txt": (
        "产业转型升级示范区\n\n"
        "国家先后设立了20个产业转型升级示范区。首批示范区包括株洲、湘潭、衡阳和宜宾等城市。"
        "示范区建设取得阶段性成果，经济总量稳步增长。\n\n"
        "所谓示范区是指国家支持老工业城市和资源型城市转型发展的区域。"
    ),
    "heritage.txt": (
        "工业遗产保护\n\n"
        "我国目前登记在名录中的国家级工业遗产数总计648处。工业遗产是工业文明的见证。"
        "老厂房经过改造成为文化创意园区，吸引了大量游客。\n\n"
        "目前已公布五批国家工业遗产名单，共计195处。"
    ),
    "energy.txt": (
        "新能源产业\n\n"
        "宜宾培育了产值千亿的动力电池产业群，电池产量占全国的比重达到15%。"
        "当地还发展晶硅光伏产业，新能源汽车产业链不断完善。"
    ),
}
QUESTIONS = [
    {"id": "t1", "type": "number", "question": "国家设立了多少个产业转型升级示范区？",
     "keywords": ["20个"],
     "evidence": [{"source": "zones.txt", "quote": "国家先后设立了20个产业转型升级示范区"}]},
    {"id": "t2", "type": "number", "question": "国家级工业遗产一共有多少处？",
     "keywords": ["648处"],
     "evidence": [{"source": "heritage.txt", "quote": "国家级工业遗产数总计648处"}]},
    {"id": "t3", "type": "name", "question": "哪座城市培育了千亿动力电池产业群？",
     "keywords": ["宜宾"], "evidence": [{"source": "energy.txt", "quote": "动力电池产业群"}]},
    {"id": "t4", "type": "unanswerable", "question": "火星基地什么时候建成？",
     "keywords": [], "evidence": []},
]


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny-corpus")
    for name, text in DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny-dataset") / "questions.jsonl"
    path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def _tiny_index(tmp_path_factory, tiny_corpus) -> Path:
    directory = tmp_path_factory.mktemp("tiny-index") / "index"
    with ZhiceIndex.open(directory, embedder="fake", create=True) as index:
        index_files(index, [tiny_corpus])
    return directory


@pytest.fixture
def tiny_index(_tiny_index, tmp_path) -> Path:
    """A fresh copy of the tiny corpus's index (fake embedder)."""
    copy = tmp_path / "index"
    shutil.copytree(_tiny_index, copy)
    return copy
