"""One index directory: SQLite (truth), FAISS (dense) and BM25 (lexical) kept in step.

Every change is one SQLite transaction that also bumps a generation number; FAISS and
BM25 are then updated in memory and written (temporary file, rename) by `save()`, each
recording the generation it shows. On open, a store whose generation differs from
SQLite's is reconciled by id against SQLite, which holds every vector and token list:
an ingest killed at any point leaves an index that opens consistent.
"""

import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from zhice.ingest.chunker import ChunkedDocument
from zhice.ingest.facts import document_facts
from zhice.ingest.types import Chunk

from .atomic import TEMP_SUFFIX, atomic_write_text
from .bm25 import Bm25Index
from .catalog import open_store
from .contract import AddResult, ClosedOnExit
from .database import READ_CHECK_MAX_BYTES
from .dense import FaissIndex, flat_limit_from_env
from .embedders import DEFAULT_EMBEDDER, make_embedder
from .embedders.base import Embedder
from .errors import (
    IndexBusyError,
    IndexMismatchError,
    IndexNotFoundError,
    read_only_folder,
    replaced,
    storage_failed,
)
from .pages import PageImages
from .paths import BM25_FILE, DB_FILE, DENSE_FILE, DENSE_META, LOCK_FILE, PAGES_DIR
from .recovery import DENSE_CHECKSUM, DerivedStores, load_bm25, load_dense
from .rwlock import ReadWriteLock
from .segment import ChineseSegmenter, flat_tokens
from .store import SCHEMA_VERSION, FileRecord, Store, StoredChunk


class ZhiceIndex(DerivedStores, ClosedOnExit):
    """The stores of one index directory.

    >>> index = ZhiceIndex.open(Path("idx"), embedder="fake", create=True)
    >>> index.add(chunk_document(load("policy.txt")), sha256="...", path="policy.txt")
    >>> index.save(); index.close()
    """

    def __init__(self, directory: Path, store: Store, embedder: Embedder,
                 dense: FaissIndex, bm25: Bm25Index, segmenter: ChineseSegmenter):
        self.directory = directory
        self.store = store
        self.embedder = embedder
        self.dense = dense
        self.bm25 = bm25
        self.segmenter = segmenter
        self.pages = PageImages(directory / PAGES_DIR)
        self._dirty = False
        self._checked = False  # whether the database had its full check (a writer's)
        self._generation = -1  # the SQLite generation FAISS and BM25 in memory show
        # the folder opened: a rebuild puts a new folder at its path (index/rebuild.py),
        # and what this process holds, and would write to, is then the old one
        self._folder = _identity(directory)
        # searches from many threads (the web UI) share it; applying a change takes it
        # alone, only for the in-memory update, not for loading or embedding
        self._rw = ReadWriteLock()

    # opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: Path, embedder: str | Embedder | None = None,
             create: bool = False, read_only: bool = False) -> "ZhiceIndex":
        """Open (or with `create`, make) the index at `directory` and load its embedder.

        `embedder` is a spec ("e5-small", "st:PATH", "fake:64") or an Embedder; None
        means the one the index was built with. Another model than the recorded one is
        an IndexMismatchError. `read_only` (taken when the folder cannot be written)
        writes nothing there: a change is IndexReadOnlyError. A damaged database is
        IndexCorruptError: checked in full when opened to `create`, else quickly while
        that is cheap (database.READ_CHECK_MAX_BYTES); every query reports damage it meets.
        """
        directory = Path(directory)
        db_path = directory / DB_FILE
        new = not db_path.exists()
        if new and create and not directory.is_file():
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise IndexNotFoundError(
                    f"cannot create an index at {directory} ({e.strerror}); use another --index DIR"
                ) from e
        store = open_store(directory, create=create, read_only=read_only)
        # SQLite's check, jieba's dictionary, the FAISS file and the BM25 file load side
        # by side: SQLite, faiss and numpy leave the GIL to jieba (a 1M-chunk index opens
        # in the time of the slowest, not of the four)
        pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="zhice-open")
        try:
            checked = create or db_path.stat().st_size <= READ_CHECK_MAX_BYTES
            checking = pool.submit(store.check, full=create) if checked else None
            try:
                emb = _resolve_embedder(store, embedder, directory)
                emb.load()
                meta = store.meta()
                if "embedder" not in meta:
                    with store.transaction() as db:
                        store.set_meta(db, schema=SCHEMA_VERSION, embedder=emb.name,
                                       embedder_spec=_spec_of(embedder), dim=emb.dim,
                                       generation=0, store="embedded")
                elif int(meta["dim"]) != emb.dim:
                    raise IndexMismatchError(
                        f"index at {directory} holds {meta['dim']}-d vectors but embedder "
                        f"{emb.name} gives {emb.dim}-d; use a new --index DIR"
                    )
            except Exception:
                if checking:  # a damaged record is better told as the damage
                    checking.result()
                raise
            segmenter = ChineseSegmenter()
            loading = pool.submit(segmenter.load)
            dense = pool.submit(load_dense, directory, emb.dim, flat_limit_from_env())
            bm25 = pool.submit(load_bm25, directory, segmenter)
            if checking:
                checking.result()  # before the stores are repaired from what it checks
            loading.result()
            index = cls(directory, store, emb, dense.result(), bm25.result(), segmenter)
            index._checked = create
            index._reconcile()
            return index
        except BaseException:
            store.close()
            if new:  # a typo in --embedder must not leave a half-made index behind
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db_path}{suffix}").unlink(missing_ok=True)
            raise
        finally:
            pool.shutdown()

    def close(self) -> None:
        self.store.close()

    # writing ------------------------------------------------------------------------
    @property
    def read_only(self) -> bool:
        """Whether this index was opened read-only: searched, never written."""
        return self.store.read_only

    @contextmanager
    def _lock(self, wait: bool) -> Iterator[bool]:
        """The directory's write lock; yields whether it was taken (always, if `wait`).
        IndexStorageError when the lock file cannot be made (a full disk)."""
        try:
            fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise storage_failed(self.directory, e) from e
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            # a save killed half way leaves its temporary file: nobody else writes now
            for tmp in self.directory.glob(f"*{TEMP_SUFFIX}"):
                tmp.unlink(missing_ok=True)
            yield True
        finally:
            os.close(fd)  # and with it the lock

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the directory's write lock: one writing process at a time. The database
        is checked in full first (once an open index): nothing is written into a damaged
        one. IndexReadOnlyError on a read-only index; a full disk is IndexStorageError."""
        if self.read_only:
            raise self.store.why_read_only or read_only_folder(self.directory)
        self._check_folder()
        with self._lock(wait=False) as locked:
            if not locked:
                raise IndexBusyError(
                    f"another zhice process is writing to {self.directory}; wait for it to finish"
                )
            if not self._checked:
                self.store.check(full=True)
                self._checked = True
            try:
                # Another writer may have committed since this index was opened: without
                # its chunks in memory, the next save() would drop them from FAISS and BM25.
                gen = self.store.generation()
                if gen != self._generation:
                    self._catch_up(gen)
                # images a failed or killed ingest wrote for rows it never committed
                if self.pages.root.is_dir():  # else no query of every file's hash
                    self.pages.sweep(self.store.file_hashes().values())
                yield
            finally:
                self.save()

    def is_current(self, source: str, sha256: str) -> bool:
        """True when `source` is indexed with this content: nothing to do."""
        return self.store.file_hash(source) == sha256

    def add(self, doc: ChunkedDocument, sha256: str, path: str,
            tokens: Sequence[list[list[str]]] | None = None, vectors=None) -> AddResult:
        """Index a document, replacing an older version of the same source; one
        transaction. Chunks that repeat an indexed chunk of another file are recorded
        as duplicates, not embedded. `tokens` (per chunk, from `segment`) are the
        chunks' BM25 tokens by line when the caller segmented them ahead; `vectors`
        (per chunk, in order) their embeddings when the caller embedded them ahead.
        The images of pages OCR read are kept first (pages.py), and those of the
        version it replaces dropped once it is committed."""
        previous = self.store.file_hash(doc.source)
        if previous == sha256:
            updated = self.pages.fill(sha256, doc.page_images)
            return AddResult(doc.source, "updated" if updated else "unchanged")
        if tokens is not None and len(tokens) != len(doc.chunks):
            raise ValueError(f"got {len(tokens)} token lists for {len(doc.chunks)} chunks")
        if vectors is not None and len(vectors) != len(doc.chunks):
            raise ValueError(f"got {len(vectors)} vectors for {len(doc.chunks)} chunks")
        segmented = dict(zip((c.ordinal for c in doc.chunks), tokens)) if tokens else {}
        embedded = (dict(zip((c.ordinal for c in doc.chunks), vectors))
                    if vectors is not None else None)
        added: list[tuple[int, list[list[str]], np.ndarray]] = []
        self.pages.put(sha256, doc.page_images)
        with self.store.transaction() as db:
            removed = self._delete(db, doc.source, added) if previous is not None else []
            self.store.insert_file(db, doc.source, path, sha256, doc.title, doc.text)
            self.store.insert_facts(db, doc.source, document_facts(doc))
            fresh, dups = self._dedup(doc.chunks)
            vectors = (self.embedder.embed_documents([c.embedding_text() for c in fresh])
                       if embedded is None else [embedded[c.ordinal] for c in fresh])
            fresh_tokens = [segmented.get(c.ordinal) or self._tokens(c) for c in fresh]
            ids = self.store.insert_chunks(db, fresh, fresh_tokens, vectors)
            ids_by_hash: dict[str, int] = {}
            for chunk, cid in zip(fresh, ids):
                ids_by_hash.setdefault(chunk.id, cid)
            added += zip(ids, fresh_tokens, vectors)
            for chunk, canonical in dups:
                self.store.insert_duplicate(db, "chunk", chunk,
                                            canonical if canonical else ids_by_hash[chunk.id])
            for para in doc.folded:
                self.store.insert_duplicate(db, "paragraph", _folded_chunk(doc, para), None)
            gen = self.store.bump_generation(db)
        self._apply(removed, added, gen)
        self._forget(previous)
        return AddResult(doc.source, "updated" if previous is not None else "added", len(fresh),
                         len(dups) + len(doc.folded), len(fresh))

    def remove(self, source: str) -> bool:
        """Drop a document from every store; False when it was not indexed."""
        sha256 = self.store.file_hash(source)
        if sha256 is None:
            return False
        added: list[tuple[int, list[list[str]], np.ndarray]] = []
        with self.store.transaction() as db:
            removed = self._delete(db, source, added)
            gen = self.store.bump_generation(db)
        self._apply(removed, added, gen)
        self._forget(sha256)
        return True

    def _forget(self, sha256: str | None) -> None:
        """Drop the page images of a file version no indexed file has any more."""
        if sha256 and self.pages.holds(sha256) and not self.store.has_version(sha256):
            self.pages.drop(sha256)

    def record_chunking(self, size: int | None, overlap: int | None) -> None:
        """Note the chunk size and overlap documents were ingested with: a rebuild
        (rebuild.py) chunks their stored texts the same way."""
        values = {k: v for k, v in (("chunk_size", size), ("overlap", overlap)) if v is not None}
        if values and any(self.store.meta().get(k) != str(v) for k, v in values.items()):
            with self.store.transaction() as db:
                self.store.set_meta(db, **values)

    def _delete(self, db, source: str, promoted: list) -> list[int]:
        """Delete a file's rows; duplicates elsewhere that pointed at its chunks are
        indexed in their place (with the vector of the chunk they repeated)."""
        dependents = self.store.dependent_duplicates(source)
        vectors = dict(zip(*self.store.vectors({c for _, c in dependents})))
        removed = self.store.delete_file(db, source)
        replacement: dict[int, int] = {}
        for rowid, canonical in dependents:
            chunk = self.store.pop_duplicate(db, rowid)
            if canonical in replacement:
                self.store.insert_duplicate(db, "chunk", chunk, replacement[canonical])
                continue
            tokens = self._tokens(chunk)
            vector = vectors[canonical]
            cid = self.store.insert_chunk(db, chunk, tokens, vector)
            replacement[canonical] = cid
            promoted.append((cid, tokens, vector))
        return removed

    def _dedup(self, chunks: tuple[Chunk, ...]) -> tuple[list[Chunk], list[tuple[Chunk, int]]]:
        """Split chunks into the ones to index and (duplicate, canonical id) pairs; a
        canonical id of 0 means an earlier chunk of this same document.

        Across files only exact repeats (same search key) are folded: a revised policy
        differs from its old version in a figure or a phrase, and that difference is
        what a user asks about, so near-copies of another file stay searchable.
        """
        fresh: list[Chunk] = []
        dups: list[tuple[Chunk, int]] = []
        seen: set[str] = set()
        indexed = (self.store.chunk_ids_by_hash([c.id for c in chunks], chunks[0].source)
                   if chunks else {})
        for chunk in chunks:
            if chunk.id in seen:
                dups.append((chunk, 0))
                continue
            canonical = indexed.get(chunk.id)
            if canonical is None:
                fresh.append(chunk)
                seen.add(chunk.id)
            else:
                dups.append((chunk, canonical))
        return fresh, dups

    def _apply(self, removed: list[int], added: list[tuple[int, list[list[str]], np.ndarray]],
               gen: int) -> None:
        """Mirror a committed transaction in FAISS and BM25 (in memory until save())."""
        with self._rw.write():
            if gen <= self._generation:
                return  # a question's refresh caught up with this commit first
            self.dense.remove(removed)
            self.bm25.remove(removed)
            if added:
                ids = np.asarray([a[0] for a in added], np.int64)
                self.dense.add(ids, np.vstack([a[2] for a in added]))
                self.bm25.add_tokens(ids.tolist(), [flat_tokens(a[1]) for a in added])
            self._generation = gen
            self._dirty = True
        if self.dense.needs_rebuild():
            self._rebuild_dense()

    def save(self) -> None:
        """Write FAISS and BM25 atomically, each stamped with the generation it shows.
        A write that fails (a full disk) is IndexStorageError: SQLite holds every change
        already, the old files stay whole, and the next open repairs them from it."""
        if not self._dirty:
            return
        with self._rw.read():  # a save reads the stores; searches may go on
            gen = self._generation
            try:
                self.dense.save(self.directory / DENSE_FILE)
                _write_json(self.directory / DENSE_META, {
                    "generation": gen, "chunks": len(self.dense),
                    "embedder": self.embedder.name, "checksum": DENSE_CHECKSUM})
                self.bm25.save(self.directory / BM25_FILE, meta={"generation": gen})
            except OSError as e:
                raise storage_failed(self.directory, e) from e
            self._dirty = False

    def refresh(self) -> None:
        """Take in what another process committed since (a `zhice ingest` while the web
        UI runs): a cheap check of the generation, a catch-up by id when it moved."""
        self._check_folder()
        gen = self.store.generation()
        if gen != self._generation:
            self._catch_up(gen)
        elif self.dense.needs_rebuild():  # caught up while another process wrote
            self._resize_dense()

    def generation(self) -> int:
        """The SQLite generation FAISS and BM25 in memory show."""
        return self._generation

    def changed(self) -> bool:
        """Whether another commit happened since: `refresh()` takes it in.
        IndexReplacedError when another process put a new index in its place."""
        self._check_folder()
        return self.store.generation() != self._generation

    def _check_folder(self) -> None:
        if _identity(self.directory) != self._folder:
            raise replaced(self.directory)

    # reading ------------------------------------------------------------------------
    @property
    def location(self) -> str:
        return str(self.directory)

    def files(self) -> list[FileRecord]:
        return self.store.files()

    def file_hashes(self) -> dict[str, str]:
        return self.store.file_hashes()

    def file_text(self, source: str) -> str | None:
        return self.store.file_text(source)

    def titles(self) -> dict[str, str]:
        return self.store.titles()

    def facts(self, sources=None) -> dict:
        return self.store.facts(sources)

    def sources(self, ids) -> dict[int, str]:
        return self.store.sources(ids)

    def chunks(self, ids) -> dict[int, StoredChunk]:
        return self.store.chunks(ids)

    def document_chunks(self, source: str) -> list[StoredChunk]:
        chunks = self.store.chunks(self.store.chunk_ids_of(source))
        return sorted(chunks.values(), key=lambda s: s.chunk.ordinal)

    def folded_sources(self) -> list[tuple[str, str]]:
        return self.store.folded_pairs()

    def page_image(self, source: str, page: int) -> bytes | None:
        sha256 = self.store.file_hash(source)
        return None if sha256 is None else self.pages.get(sha256, page)

    def lacking_page_images(self) -> set[str]:
        return self.pages.lacking(self.store.file_hashes(), self.store.facts())

    def dense_search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Chunk ids nearest to the query's embedding, with cosine similarity."""
        vector = self.embedder.embed_query(query)
        with self._rw.read():
            return self.dense.search(vector, k)

    def bm25_search(self, query_key: str, k: int) -> list[tuple[int, float]]:
        """Chunk ids by BM25 over segmented search keys."""
        tokens = self.segmenter(query_key)
        with self._rw.read():
            return self.bm25.search_tokens(tokens, k)

    def segment(self, chunks: Sequence[Chunk]) -> list[list[list[str]]]:
        """BM25 tokens of chunks by line, as `add` would make them: for segmenting ahead."""
        return [self._tokens(c) for c in chunks]

    def _tokens(self, chunk: Chunk) -> list[list[str]]:
        return self.segmenter.passage(chunk.heading, chunk.text)

    def df(self, token: str) -> int:
        """Chunks whose BM25 tokens hold `token`."""
        with self._rw.read():
            return self.bm25.df(token)

    def __len__(self) -> int:
        return len(self.dense)


def _spec_of(embedder: str | Embedder | None) -> str:
    """The spec recorded for a later open without --embedder: make_embedder must
    take it back (an Embedder's `name` is the model's, not a spec)."""
    if embedder is None:
        return DEFAULT_EMBEDDER
    if isinstance(embedder, str):
        return embedder
    return embedder.spec


def _resolve_embedder(store: Store, wanted: str | Embedder | None, directory: Path) -> Embedder:
    """The embedder to use: the one asked for, checked against the recorded model."""
    meta = store.meta()
    if wanted is None:
        wanted = meta.get("embedder_spec", DEFAULT_EMBEDDER)
    emb = make_embedder(wanted) if isinstance(wanted, str) else wanted
    recorded = meta.get("embedder")
    if recorded and recorded != emb.name:
        raise IndexMismatchError(
            f"index at {directory} was built with embedder '{recorded}', not '{emb.name}'; "
            f"leave out --embedder to use '{recorded}', or use a new --index DIR"
        )
    if meta.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise IndexMismatchError(
            f"index at {directory} has schema {meta['schema']}; this zhice reads "
            f"{SCHEMA_VERSION}: ingest the documents again into a new --index DIR"
        )
    return emb


def _write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data))


def _folded_chunk(doc: ChunkedDocument, para) -> Chunk:
    """A folded paragraph as a record of the duplicates table."""
    from zhice.ingest.normalize import search_key

    return Chunk(doc.source, -1, para.text, search_key(para.text), "", para.start, para.end)


def _identity(directory: Path) -> tuple[int, int] | None:
    """Which folder is at `directory` (device and inode); None when none is."""
    try:
        st = os.stat(directory)
    except OSError:
        return None
    return st.st_dev, st.st_ino
