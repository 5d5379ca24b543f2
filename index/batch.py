"""Ingest a batch of files and folders into an index: the work behind `zhice ingest`."""

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingest.chunker import chunk_document
from ingest.errors import LoadError, UnsupportedFileError, ZhiceError
from ingest.loaders import SUPPORTED_SUFFIXES, load

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


def ingest(index: ZhiceIndex, paths: list[Path], progress: Progress | None = None,
           size: int = 400, overlap: int = 80,
           origin: Callable[[Path], str] | None = None) -> IngestSummary:
    """Load, chunk and index every file under `paths`; a file that fails is recorded
    and the rest go on. `progress(source, result)` is called after each file;
    `origin(path)` is the path recorded for a file (default: its absolute path)."""
    started = time.perf_counter()
    files, failures = collect(paths)
    summary = IngestSummary(failures=failures)
    origin = origin or (lambda path: str(path.resolve()))
    with index.writing():
        for _path, source, result in _each(index, files, summary, size, overlap, origin):
            if progress:
                progress(source, result)
    summary.seconds = time.perf_counter() - started
    return summary


def _each(index: ZhiceIndex, files: list[tuple[Path, str]], summary: IngestSummary,
          size: int, overlap: int, origin: Callable[[Path], str]
          ) -> Iterator[tuple[Path, str, AddResult | None]]:
    for path, source in files:
        try:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            if index.is_current(source, sha):
                result = AddResult(source, "unchanged")
            else:
                doc = load(path, source)
                result = index.add(chunk_document(doc, size, overlap), sha, origin(path))
        except (LoadError, UnsupportedFileError) as e:
            summary.failures.append(Failure(str(path), str(e)))
            result = None
        except OSError as e:
            summary.failures.append(Failure(str(path), f"{path.name}: cannot read ({e.strerror})"))
            result = None
        except ZhiceError:
            raise
        if result:
            summary.count(result)
        yield path, source, result
