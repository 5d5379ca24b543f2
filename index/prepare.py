"""One file made ready to index: hashed, loaded under the budget, chunked, segmented
(and embedded, in a worker process: parallel.py); or the reason it cannot be."""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zhice.ingest.budget import LoadBudget, load_within_budget
from zhice.ingest.chunker import ChunkedDocument, chunk_document
from zhice.ingest.errors import LoadError, UnsupportedFileError
from zhice.ingest.types import Chunk


@dataclass(frozen=True)
class Failure:
    """A file that was skipped, and why: one line for the user, naming the file."""

    path: str
    reason: str


@dataclass(frozen=True)
class Prepared:
    """A file read, loaded, chunked and segmented (and embedded, by a worker), ready
    to index; or why not."""

    path: Path
    source: str
    sha256: str = ""
    doc: ChunkedDocument | None = None  # None: unchanged, or failed
    tokens: list[list[list[str]]] | None = None
    vectors: Any = None  # per chunk, when embedded ahead
    failure: Failure | None = None


def prepare_file(path: Path, source: str, known_sha: str | None, size: int, overlap: int,
                 budget: LoadBudget, segment: Callable[[Sequence[Chunk]], list],
                 embed: Callable[[ChunkedDocument], Any] | None = None,
                 pages: Callable[[int, int], None] | None = None) -> Prepared:
    """Hash, load (under the budget), chunk and `segment` one file; `embed` it too
    when given. Unchanged (`known_sha`) files are not loaded. `pages(read, to_read)` is
    called as OCR reads a scan."""
    try:
        with path.open("rb") as f:  # a block at a time: a file of any size costs no memory
            sha = hashlib.file_digest(f, "sha256").hexdigest()
        if sha == known_sha:
            return Prepared(path, source, sha)
        doc = chunk_document(load_within_budget(path, source, budget, pages), size, overlap)
    except (LoadError, UnsupportedFileError) as e:
        return Prepared(path, source, failure=Failure(str(path), str(e)))
    except OSError as e:
        return Prepared(path, source, failure=Failure(
            str(path), f"{path.name}: cannot read ({e.strerror})"))
    return Prepared(path, source, sha, doc, segment(doc.chunks), embed(doc) if embed else None)
