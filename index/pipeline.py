"""Ingest a batch of files and folders into an index: the work behind `zhice ingest`.

Reading, loading, cleaning, chunking and segmenting the next files runs in a background
thread while the current file is embedded and written: an embedder that computes
outside the GIL (the e5 engines, torch) then overlaps with that work. Each file is
loaded in a child process under a time and memory budget (ingest/budget.py), so a file
that would take the batch, or the web server, down is reported and skipped.
"""

import hashlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from zhice.ingest.budget import LoadBudget, load_within_budget
from zhice.ingest.chunker import ChunkedDocument, chunk_document
from zhice.ingest.errors import LoadError, UnsupportedFileError
from zhice.ingest.loaders import SUPPORTED_SUFFIXES

from .index import AddResult, ZhiceIndex


@dataclass(frozen=True)
class Failure:
    """A file that was skipped, and why: one line for the user, naming the file."""

    path: str
    reason: str


@dataclass
class IngestSummary:
    """Counts for the one-line summary at the end of an ingest."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    duplicates: int = 0
    embedded: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)

    def count(self, result: AddResult) -> None:
        setattr(self, result.status, getattr(self, result.status) + 1)
        self.chunks += result.chunks
        self.duplicates += result.duplicates
        self.embedded += result.embedded

    def line(self) -> str:
        files = self.added + self.updated + self.unchanged + len(self.failures)
        return (
            f"{files} files: {self.added} added, {self.updated} updated, "
            f"{self.unchanged} unchanged, {len(self.failures)} failed; {self.chunks} chunks "
            f"indexed, {self.duplicates} duplicates folded, in {self.seconds:.1f} s"
        )


def collect(paths: list[Path]) -> tuple[list[tuple[Path, str]], list[Failure]]:
    """Files to ingest as (path, source name), and the paths that cannot be.

    A folder contributes its supported files, recursively, named by their path inside
    it ("sub/a.txt"); a file named on the command line is taken whatever its suffix,
    so an unsupported one is reported rather than silently passed over.
    """
    found: list[tuple[Path, str]] = []
    failures: list[Failure] = []
    named: dict[str, Path] = {}
    for path, source in _walk(paths, failures):
        first = named.setdefault(source, path)
        if first.resolve() == path.resolve():
            if first is path:
                found.append((path, source))
            continue  # the same file named twice (itself and through its folder)
        failures.append(
            Failure(
                str(path),
                (
                    f"{source}: another file of this batch has the same name ({first}); "
                    "rename one, or ingest them into separate indexes"
                ),
            )
        )
    return found, failures


def _walk(paths: list[Path], failures: list[Failure]) -> Iterator[tuple[Path, str]]:
    for path in paths:
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES and not _hidden(f, path):
                    yield f, f.relative_to(path).as_posix()
        elif path.exists():
            yield path, path.name
        else:
            failures.append(Failure(str(path), f"{path}: no such file or folder"))


def _hidden(f: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in f.relative_to(root).parts)


Progress = Callable[[str, AddResult | None], None]
# (source, pages read, pages to read) as OCR reads a scanned file, from the loading thread
PageProgress = Callable[[str, int, int], None]
# Files prepared ahead of the one being embedded: enough to hide a slow load (a PDF),
# few enough that their chunks cost little memory.
PREFETCH = 4


def index_files(index: ZhiceIndex, paths: list[Path], progress: Progress | None = None,
           size: int = 400, overlap: int = 80,
           origin: Callable[[Path], str] | None = None,
           pages: PageProgress | None = None) -> IngestSummary:
    """Load, chunk and index every file under `paths`; a file that fails is recorded
    and the rest go on. `progress(source, result)` is called after each file,
    `pages(source, read, to_read)` as OCR reads a scan (from a background thread);
    `origin(path)` is the path recorded for a file (default: its absolute path)."""
    started = time.perf_counter()
    budget = LoadBudget.from_environment()  # a bad setting stops the batch before it starts
    files, failures = collect(paths)
    summary = IngestSummary(failures=failures)
    origin = origin or (lambda path: str(path.resolve()))
    with index.writing():
        # Sources are unique within a batch (collect), so what is indexed now is what
        # each file is compared with when its turn comes.
        known = index.store.file_hashes()

        def prepare(item: tuple[Path, str]) -> _Prepared:
            return _prepare(index, *item, known.get(item[1]), size, overlap, budget, pages)

        for prepared in _ahead(files, prepare, PREFETCH):
            result = _index(index, prepared, summary, origin)
            if progress:
                progress(prepared.source, result)
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass(frozen=True)
class _Prepared:
    """A file read, loaded, chunked and segmented, ready to embed; or why not."""

    path: Path
    source: str
    sha256: str = ""
    doc: ChunkedDocument | None = None  # None: unchanged, or failed
    tokens: list[list[str]] | None = None
    failure: Failure | None = None


def _prepare(index: ZhiceIndex, path: Path, source: str, known_sha: str | None,
             size: int, overlap: int, budget: LoadBudget,
             pages: PageProgress | None = None) -> _Prepared:
    try:
        with path.open("rb") as f:  # a block at a time: a file of any size costs no memory
            sha = hashlib.file_digest(f, "sha256").hexdigest()
        if sha == known_sha:
            return _Prepared(path, source, sha)
        read = partial(pages, source) if pages else None
        doc = chunk_document(load_within_budget(path, source, budget, read), size, overlap)
        return _Prepared(path, source, sha, doc, index.segment(doc.chunks))
    except (LoadError, UnsupportedFileError) as e:
        return _Prepared(path, source, failure=Failure(str(path), str(e)))
    except OSError as e:
        return _Prepared(path, source, failure=Failure(
            str(path), f"{path.name}: cannot read ({e.strerror})"))


def _index(index: ZhiceIndex, prepared: _Prepared, summary: IngestSummary,
           origin: Callable[[Path], str]) -> AddResult | None:
    if prepared.failure:
        summary.failures.append(prepared.failure)
        return None
    if prepared.doc is None:
        result = AddResult(prepared.source, "unchanged")
    else:
        result = index.add(prepared.doc, prepared.sha256, origin(prepared.path),
                           tokens=prepared.tokens)
    summary.count(result)
    return result


T = TypeVar("T")
R = TypeVar("R")
_DONE = object()


def _ahead(items: Iterable[T], work: Callable[[T], R], depth: int) -> Iterator[R]:
    """work(item) for each item, in order, computed by a background thread up to
    `depth` items ahead of the consumer. An exception in `work` is raised here, at
    its item; when the consumer stops (an error, Ctrl+C) the thread stops too."""
    results: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value) -> None:
        while not stop.is_set():
            try:
                results.put(value, timeout=0.1)
                return
            except queue.Full:
                continue

    def run() -> None:
        for item in items:
            if stop.is_set():
                return
            try:
                put((work(item), None))
            except BaseException as e:  # handed to the consumer, raised there
                put((None, e))
                return
        put((_DONE, None))

    thread = threading.Thread(target=run, name="zhice-ingest-ahead", daemon=True)
    thread.start()
    try:
        while True:
            value, error = results.get()
            if error is not None:
                raise error
            if value is _DONE:
                return
            yield value
    finally:
        stop.set()
        thread.join()
