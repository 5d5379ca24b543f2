"""Ingest a batch of files and folders into an index: the work behind `zhice ingest`.

Reading, loading, cleaning, chunking and segmenting the next files runs in a background
thread while the current file is embedded and written: an embedder that computes
outside the GIL (the e5 engines, torch) then overlaps with that work. Each file is
loaded in a child process under a time and memory budget (ingest/budget.py), so a file
that would take the batch, or the web server, down is reported and skipped.
"""

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from zhice.ingest.budget import LoadBudget
from zhice.ingest.loaders import SUPPORTED_SUFFIXES

from .contract import AddResult, SearchIndex
from .prepare import Failure, Prepared, prepare_file


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


def index_files(index: SearchIndex, paths: list[Path], progress: Progress | None = None,
                size: int = 400, overlap: int = 80,
                origin: Callable[[Path], str] | None = None, workers: int = 1,
                pages: PageProgress | None = None) -> IngestSummary:
    """Load, chunk and index every file under `paths`; a file that fails is recorded
    and the rest go on. `progress(source, result)` is called after each file,
    `pages(source, read, to_read)` as OCR reads a scan (from a background thread; not
    with workers); `origin(path)` is the path recorded for a file (default: its
    absolute path). With `workers` > 1, that many processes load, chunk and embed files
    (parallel.py); this one writes them, in the same order."""
    started = time.perf_counter()
    budget = LoadBudget.from_environment()  # a bad setting stops the batch before it starts
    files, failures = collect(paths)
    summary = IngestSummary(failures=failures)
    origin = origin or (lambda path: str(path.resolve()))
    with index.writing():
        # Sources are unique within a batch (collect), so what is indexed now is what
        # each file is compared with when its turn comes. A scan indexed without its page
        # images (before they were kept) is read again for them.
        known = index.file_hashes()
        for source in index.lacking_page_images():
            known.pop(source, None)
        if workers > 1:
            from .parallel import prepared_in_workers

            ready = prepared_in_workers(files, known, size, overlap, budget, workers,
                                        index.embedder.spec)
        else:
            def prepare(item: tuple[Path, str]) -> Prepared:
                path, source = item
                return prepare_file(path, source, known.get(source), size, overlap, budget,
                                    index.segment,
                                    pages=partial(pages, source) if pages else None)

            ready = _ahead(files, prepare, PREFETCH)
        with closing(ready):  # its thread or processes stop here, whatever happens
            for prepared in ready:
                result = _index(index, prepared, summary, origin)
                if progress:
                    progress(prepared.source, result)
    summary.seconds = time.perf_counter() - started
    return summary


def _index(index: SearchIndex, prepared: Prepared, summary: IngestSummary,
           origin: Callable[[Path], str]) -> AddResult | None:
    if prepared.failure:
        summary.failures.append(prepared.failure)
        return None
    if prepared.doc is None:
        result = AddResult(prepared.source, "unchanged")
    else:
        result = index.add(prepared.doc, prepared.sha256, origin(prepared.path),
                           tokens=prepared.tokens, vectors=prepared.vectors)
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
