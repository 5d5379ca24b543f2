"""What the retriever and the commands ask of an index, whichever store holds it.

`ZhiceIndex` (SQLite + FAISS + BM25 in one folder) and `MilvusIndex` (a Milvus Lite
file or a Milvus server) both implement `SearchIndex`; `open_index` picks the one the
index records. Nothing above index/ needs to know which it talks to.

    >>> with open_index("idx") as index:                      # a folder: as recorded
    ...     index.dense_search("示范区", 5)
    >>> open_index("milvus:/data/zhice.db", create=True)    # Milvus Lite, one file
    >>> open_index("milvus://10.0.0.5:19530")                 # a Milvus server or cluster
"""

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from zhice.ingest.chunker import ChunkedDocument
    from zhice.ingest.facts import DocumentFacts
    from zhice.ingest.types import Chunk

    from .embedders.base import Embedder
    from .segment import ChineseSegmenter
    from .store import FileRecord, StoredChunk


@dataclass(frozen=True)
class AddResult:
    """What adding one document did."""

    source: str
    status: str  # "added" | "updated" | "unchanged"
    chunks: int = 0
    duplicates: int = 0
    embedded: int = 0


@runtime_checkable
class SearchIndex(Protocol):
    """An open index: searched by the retriever, changed by ingest and remove.

    Chunk ids are stable integers; a search returns (id, score) pairs best first, and
    `chunks(ids)` leaves out ids removed since. `generation()` is the change the
    searches show; `changed()` says whether the stored index moved on since, and
    `refresh()` takes that in: a retriever that saw a change mid-question asks again.
    `document_chunks(source)` is one document's indexed chunks in order (eval drafts
    questions from them); `folded_sources()` the (source, other source) pairs of which
    a chunk of the first was folded into an identical chunk of the second (eval counts
    either document as gold). `page_image(source, page)` is the JPEG of a page OCR read
    (pages.py), None when none is kept (not OCR-read, or ingested before images were
    kept: `lacking_page_images()` names those documents, which an ingest reads again).
    """

    embedder: "Embedder"
    segmenter: "ChineseSegmenter"
    location: str  # the folder or the milvus: spec, as messages name it

    # reading
    def dense_search(self, query: str, k: int) -> list[tuple[int, float]]: ...
    def bm25_search(self, query_key: str, k: int) -> list[tuple[int, float]]: ...
    def chunks(self, ids: Iterable[int]) -> "dict[int, StoredChunk]": ...
    def sources(self, ids: Iterable[int]) -> dict[int, str]: ...
    def files(self) -> "list[FileRecord]": ...
    def file_hashes(self) -> dict[str, str]: ...
    def file_text(self, source: str) -> str | None: ...
    def titles(self) -> dict[str, str]: ...
    def facts(self, sources: Iterable[str] | None = None) -> "dict[str, DocumentFacts]": ...
    def document_chunks(self, source: str) -> "list[StoredChunk]": ...
    def folded_sources(self) -> list[tuple[str, str]]: ...
    def page_image(self, source: str, page: int) -> bytes | None: ...
    def lacking_page_images(self) -> set[str]: ...
    def df(self, token: str) -> int: ...
    def __len__(self) -> int: ...
    def segment(self, chunks: "Sequence[Chunk]") -> list[list[list[str]]]: ...

    # keeping up with other processes
    def generation(self) -> int: ...
    def changed(self) -> bool: ...
    def refresh(self) -> None: ...

    # writing
    @property
    def read_only(self) -> bool: ...
    def writing(self) -> AbstractContextManager[None]: ...
    def is_current(self, source: str, sha256: str) -> bool: ...
    def add(self, doc: "ChunkedDocument", sha256: str, path: str,
            tokens: "Sequence[list[list[str]]] | None" = None,
            vectors=None) -> "AddResult": ...
    def remove(self, source: str) -> bool: ...
    def record_chunking(self, size: int | None, overlap: int | None) -> None: ...

    def close(self) -> None: ...
    def __enter__(self) -> "SearchIndex": ...
    def __exit__(self, *exc) -> None: ...


class ClosedOnExit:
    """`with index:` closes it (`close()` is the store's own)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
