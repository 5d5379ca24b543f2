"""`zhice ingest --rebuild`: a new index made from the texts an index's database stores.

The files table keeps every document as it was loaded (text, title, path, SHA-256) and
the chunks keep their page numbers: chunking, segmenting and embedding them again gives
the index an ingest of the same files would, without the files. The images of the pages
OCR read (pages.py) go into the new folder with their documents; images no document
refers to stay behind, with the old folder. It is built in a folder
beside the old one and swapped in with one rename, so a failure leaves the old folder as
it was. Of a damaged database, what can still be read is read; a document that cannot
be is reported, and the old folder is then kept beside the new one.

    with IndexRebuild(Path("idx")) as rebuild:
        summary = rebuild.run()   # the chunk size and the embedder the index recorded
"""

import ctypes
import errno
import fcntl
import glob
import json
import os
import shutil
import sqlite3
import stat
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

from zhice.ingest.chunker import chunk_document
from zhice.ingest.errors import ZhiceError
from zhice.ingest.loaders import PAGED_SUFFIXES
from zhice.ingest.types import LoadedDocument, content_hash

from .database import writable
from .embedders import make_embedder
from .errors import (
    EmbedderError,
    IndexBusyError,
    IndexMismatchError,
    IndexNotFoundError,
    read_only_folder,
    storage_failed,
)
from .index import AddResult, ZhiceIndex
from .pages import PageImages
from .paths import DB_FILE, LOCK_FILE, PAGES_DIR


@dataclass(frozen=True)
class StoredDocument:
    """A document as the files table keeps it, with the page starts its chunks imply."""

    source: str
    path: str
    sha256: str
    title: str
    text: str
    page_starts: tuple[int, ...] = ()
    chunk_ids: frozenset[str] | None = None  # of its stored chunks; None: unreadable
    ocr_pages: tuple[int, ...] = ()  # as its stored facts say (not in the files table)


@dataclass
class RebuildSummary:
    """Counts for the one-line summary of a rebuild, and what was lost."""

    documents: int = 0
    chunks: int = 0
    duplicates: int = 0
    lost: list[str] = field(default_factory=list)  # one line each: what, and why
    kept: Path | None = None  # where the old folder was kept, when something was lost
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.documents} documents, {self.chunks} chunks indexed, {self.duplicates} "
                f"duplicates folded, {len(self.lost)} could not be recovered, "
                f"in {self.seconds:.1f} s")


Progress = Callable[[str, AddResult | None], None]


class IndexRebuild:
    """Holds the old index's write lock from the reading of its database to the swap:
    nobody writes into what is being replaced. `documents` are what could be read."""

    def __init__(self, directory: Path, embedder: str | None = None):
        self.directory = Path(directory)
        self.embedder = embedder
        self.documents: list[StoredDocument] = []
        self.lost: list[str] = []
        self.meta: dict[str, str] = {}
        self._lock: int | None = None

    def __enter__(self) -> "IndexRebuild":
        directory = self.directory
        if not (directory / DB_FILE).is_file():
            raise IndexNotFoundError(
                f"no index at {directory} to rebuild; build one with: zhice ingest PATH "
                f"--index {directory}")
        if not writable(directory) or not os.access(directory.parent, os.W_OK):
            raise read_only_folder(directory)  # the new folder is made beside it, then renamed
        try:
            self._lock = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise storage_failed(directory, e) from e
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._release()
            raise IndexBusyError(
                f"another zhice process is writing to {directory}; wait for it to finish"
            ) from None
        # what a rebuild killed half way left (nobody else rebuilds: the lock is ours)
        for left in directory.parent.glob(f".{glob.escape(directory.name)}.rebuild-*"):
            shutil.rmtree(left, ignore_errors=True)
        try:
            self.meta, self.documents, self.lost = salvage(directory / DB_FILE)
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def run(self, size: int | None = None, overlap: int | None = None,
            progress: Progress | None = None) -> RebuildSummary:
        """Build the new index (`size` and `overlap` default to what the index recorded,
        else chunk_document's defaults), swap it in, and say what it holds."""
        started = time.perf_counter()
        summary = RebuildSummary(lost=list(self.lost))
        spec = self._embedder_spec()
        recorded = self.recorded_chunking()
        size = size if size is not None else recorded[0]
        overlap = overlap if overlap is not None else recorded[1]
        chunking = {k: v for k, v in (("size", size), ("overlap", overlap)) if v is not None}
        # the stored chunks can vouch for a text only when it is chunked as they were
        verify = None not in recorded and recorded == (size, overlap)
        parent = self.directory.parent
        new = Path(tempfile.mkdtemp(dir=parent, prefix=f".{self.directory.name}.rebuild-"))
        try:
            os.chmod(new, stat.S_IMODE(self.directory.stat().st_mode))  # mkdtemp's is 0700
            images = PageImages(self.directory / PAGES_DIR)
            with ZhiceIndex.open(new, embedder=spec, create=True) as index:
                with index.writing():
                    for doc in self.documents:
                        result = self._add(index, doc, chunking, verify, summary, images)
                        if progress:
                            progress(doc.source, result)
                if chunking:
                    index.record_chunking(chunking.get("size"), chunking.get("overlap"))
            old = _swap(new, self.directory)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        if summary.lost:  # what could not be read may yet be saved by other means
            summary.kept = _unique(parent / f"{self.directory.name}.damaged")
            os.rename(old, summary.kept)
        else:
            shutil.rmtree(old, ignore_errors=True)
        summary.seconds = time.perf_counter() - started
        return summary

    @staticmethod
    def _add(index: ZhiceIndex, doc: StoredDocument, chunking: dict[str, int], verify: bool,
             summary: RebuildSummary, images: PageImages) -> AddResult:
        loaded = LoadedDocument(doc.source, doc.text, doc.title, doc.page_starts,
                                doc.ocr_pages, tuple(images.all(doc.sha256)))
        chunked = chunk_document(loaded, **chunking)
        sha256 = doc.sha256
        if verify and doc.chunk_ids is not None and {
                c.id for c in chunked.chunks} != doc.chunk_ids:
            # a damaged text that still reads as UTF-8 (or damaged chunk rows): indexed
            # as it is, and recorded as no version of the file, so that the next ingest
            # of the file replaces it
            sha256 = ""
            summary.lost.append(f"{doc.source}: its stored text does not give the passages "
                                "it had (damaged?); indexed as stored, ingest the file again "
                                "to be sure")
        result = index.add(chunked, sha256, doc.path)
        summary.documents += 1
        summary.chunks += result.chunks
        summary.duplicates += result.duplicates
        return result

    def recorded_chunking(self) -> tuple[int | None, int | None]:
        """The chunk size and overlap the index recorded (None: not recorded)."""
        return _recorded_int(self.meta, "chunk_size"), _recorded_int(self.meta, "overlap")

    def _embedder_spec(self) -> str:
        """The embedder the index recorded; another one asked for is a mismatch, as
        on open. A record that contradicts itself (its spec does not make the model it
        names) is damaged: then the one asked for is taken, and one must be."""
        spec, recorded = self.meta.get("embedder_spec"), self.meta.get("embedder")
        try:
            sound = bool(spec) and make_embedder(spec).name == recorded
        except EmbedderError:
            sound = False
        if self.embedder is None:
            if not sound:
                raise ZhiceError(
                    f"the index at {self.directory} does not say which embedder built it "
                    f"(its record is damaged: {spec!r}, {recorded!r}); name it: zhice ingest "
                    f"--rebuild --embedder SPEC --index {self.directory}")
            return spec
        name = make_embedder(self.embedder).name
        if sound and recorded != name:
            raise IndexMismatchError(
                f"index at {self.directory} was built with embedder '{recorded}', not "
                f"'{name}'; leave out --embedder to rebuild it with '{recorded}'")
        return self.embedder


def salvage(db_path: Path) -> tuple[dict[str, str], list[StoredDocument], list[str]]:
    """(meta, documents, lost) read from a database, damaged or not: documents in the
    order they were added (which copy of a repeated chunk is indexed follows it), lost
    as one line each. A row is looked for through its table and through the indexes,
    so a damaged page of one still leaves the others."""
    # read-write only in name (nothing is written): a read-only connection would leave
    # SQLite's -wal and -shm files behind, where a failed rebuild must leave none
    db = sqlite3.connect(db_path)
    db.text_factory = bytes  # decoded field by field: a damaged text loses its row only
    try:
        try:
            meta = {_text(k): _text(v) for k, v in db.execute("SELECT key, value FROM meta")}
        except (sqlite3.Error, UnicodeDecodeError):
            meta = {}
        rows, lost = _list_rows(db)
        if not meta and not rows:
            raise IndexNotFoundError(
                f"{db_path} holds no zhice index that can be read; ingest the files again "
                "into a new --index DIR")
        documents = []
        for rowid, name in sorted(rows.items()):
            try:
                row = db.execute("SELECT source, path, sha256, title, text FROM files "
                                 "WHERE rowid = ?", (rowid,)).fetchone()
                if row is None:
                    raise sqlite3.DatabaseError("its row is gone")
                documents.append(StoredDocument(*map(_text, row)))
            except (sqlite3.Error, UnicodeDecodeError) as e:
                lost.append(f"{name}: its stored text cannot be read ({_why(e)}); ingest "
                            "the file again")
        return meta, _with_ocr_pages(db, _with_chunks(db, documents, lost)), lost
    finally:
        db.close()


def _with_ocr_pages(db: sqlite3.Connection,
                    documents: list[StoredDocument]) -> list[StoredDocument]:
    """The documents with the pages OCR read, from their stored facts where these can
    be read (else none: citations then lose only their OCR mark, until a new ingest)."""
    read: dict[str, tuple[int, ...]] = {}
    with suppress(sqlite3.Error):  # a damaged table: what came before is kept
        for source, facts in db.execute("SELECT source, json FROM facts"):
            with suppress(UnicodeDecodeError, ValueError, TypeError, AttributeError):
                pages = json.loads(_text(facts)).get("ocr_pages") or ()
                read[_text(source)] = tuple(int(page) for page in pages)
    return [replace(doc, ocr_pages=read.get(doc.source, ())) for doc in documents]


def _list_rows(db: sqlite3.Connection) -> tuple[dict[int, str], list[str]]:
    """files rowid -> the document's name, for every row a scan of the files table or
    of its index can find; and, when neither scan got to its end, the documents only
    the chunks still name (lost: their texts are in the rows that cannot be read)."""
    rows: dict[int, str] = {}
    complete = False
    for sql in ("SELECT rowid, source FROM files",
                # the primary key's index holds (source, rowid): no table page is read
                "SELECT rowid, source FROM files INDEXED BY sqlite_autoindex_files_1"):
        try:
            for rowid, source in db.execute(sql):
                rows.setdefault(rowid, _text(source, "replace"))
            complete = True
        except sqlite3.Error:
            continue  # damaged from there on: what came before is kept
    lost: list[str] = []
    if not complete:
        known = set(rows.values())
        with suppress(sqlite3.Error):
            for (source,) in db.execute(
                    "SELECT DISTINCT source FROM chunks INDEXED BY chunks_source"):
                if _text(source, "replace") not in known:
                    lost.append(f"{_text(source, 'replace')}: its document record cannot be "
                                "read; ingest the file again")
    return rows, lost


def _with_chunks(db: sqlite3.Connection, documents: list[StoredDocument],
                 lost: list[str]) -> list[StoredDocument]:
    """The documents with the page starts their chunks and repeated chunks imply (PDFs
    have pages) and the ids of those chunks; a PDF whose rows cannot be read is rebuilt
    without pages, and said so."""
    pages: dict[str, dict[int, int]] = {doc.source: {} for doc in documents}
    ids: dict[str, set[str]] = {doc.source: set() for doc in documents}
    failed: set[str] = set()

    def note(source: str, start: int, page: int | None, chunk_id: str | None) -> None:
        if page is not None:
            pages[source][page] = min(start, pages[source].get(page, start))
        if chunk_id is not None:
            ids[source].add(chunk_id)

    for doc in documents:
        try:
            for start, page, chunk_id in db.execute(
                    "SELECT start, page, hash FROM chunks INDEXED BY chunks_source "
                    "WHERE source = ?", (doc.source,)):
                note(doc.source, start, page, _text(chunk_id))
        except (sqlite3.Error, UnicodeDecodeError):
            failed.add(doc.source)
    try:  # repeated chunks have no index on their source: one scan for all
        for source, start, page, key, kind in db.execute(
                "SELECT source, start, page, key, kind FROM duplicates"):
            source = _text(source, "replace")
            if source in pages:
                note(source, start, page, content_hash(_text(key)) if kind == b"chunk" else None)
    except (sqlite3.Error, UnicodeDecodeError):
        failed.update(pages)
    out = []
    for doc in documents:
        if doc.source in failed and doc.path.lower().endswith(PAGED_SUFFIXES):
            lost.append(f"{doc.source}: the page numbers of its passages cannot be read; "
                        "rebuilt without them (ingest the file again to have them)")
        out.append(replace(doc, page_starts=page_starts(pages[doc.source]),
                           chunk_ids=None if doc.source in failed else frozenset(ids[doc.source])))
    return out


def page_starts(first: dict[int, int]) -> tuple[int, ...]:
    """LoadedDocument.page_starts that put each offset of `first` (page -> the first
    offset known to lie on it) on its page again: a page with no known offset starts
    where the next known one does."""
    if not first:
        return ()
    starts, following = [], first[max(first)]
    for page in range(max(first), 0, -1):
        following = first.get(page, following)
        starts.append(following)
    return tuple(reversed(starts))


def _swap(new: Path, old: Path) -> Path:
    """Put `new` at `old`'s path; return where the old folder is now. One step where
    Linux offers it (renameat2 RENAME_EXCHANGE), so that `old`'s path holds a whole
    index at every moment; else two renames, with an instant between them."""
    try:
        exchange = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        exchange = None
    if exchange is not None:
        at_fdcwd, rename_exchange = -100, 2
        if exchange(at_fdcwd, os.fsencode(new), at_fdcwd, os.fsencode(old),
                    rename_exchange) == 0:
            return new
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(code, os.strerror(code), str(old))
    aside = Path(f"{new}.old")
    os.rename(old, aside)
    try:
        os.rename(new, old)
    except BaseException:
        os.rename(aside, old)
        raise
    return aside


def _unique(path: Path) -> Path:
    n, candidate = 1, path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _recorded_int(meta: dict[str, str], key: str) -> int | None:
    try:
        return int(meta[key])
    except (KeyError, ValueError):
        return None


def _text(value, errors: str = "strict") -> str:
    return value.decode("utf-8", errors) if isinstance(value, bytes) else value


def _why(error: Exception) -> str:
    return "not UTF-8" if isinstance(error, UnicodeDecodeError) else str(error)
