"""An index in Milvus (Milvus Lite file or server), behind the same contract as ZhiceIndex.

Milvus has no transactions across rows, so rows never change in place: each ingest of a
file writes a new *version* (an integer that every row of it carries), and one row,
`state` in the meta collection, says which versions a reader sees (milvus_store.View):

    through     every version up to it is committed; rows past it are being written
    hidden      committed versions replaced or removed, their rows not yet deleted
    open        the first version of the batch being written, if one is
    chunks      how many chunks a reader sees: len(index)
    generation  bumped by every write of the row

A writer commits files in batches (at most BATCH_FILES files; every BATCH_SECONDS, or
more seldom when committing takes long, so that it costs a fifth of the time at most):

    1. state: open = through + 1                        (nothing a reader sees changed)
    2. insert each file's rows as version open, open + 1, ...   (past `through`: unseen)
    3. write the df buckets the batch changes, each with its counts before and after
       the batch, marked with it                  (readers take the before: not through)
    4. state: through = the batch's last version, hidden += the versions it replaces
       or removes, chunks: ONE row written, the commit point
    5. delete the hidden versions' rows; state: hidden = []

A question sees each file, and each term's df, as they were before a batch or after it:
never twice, never not at all. A writer killed anywhere leaves the state saying where
it was: the next one deletes what lies past `through` (and puts back the df buckets'
before) after a kill before 4 (those files stay as they were, and that ingest writes
them again), and does 5 after one past it. Every state write bumps the generation; a
retriever that saw it move mid-question asks again (assistant/retrieve.py), so its
searches, chunk and df reads show one state.

One writer at a time (`writing()`); what that rests on differs:

- Milvus Lite, exact: Lite's lock on its folder keeps every other process out (a second
  zhice is told so when it opens the file: IndexBusyError), and a lock per file keeps a
  second MilvusIndex of the same process out of `writing()`.
- A server, best effort, by a lease row in the meta collection: what it guarantees and
  what it does not is in milvus_lease.py.
"""

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from zhice.ingest.chunker import ChunkedDocument
from zhice.ingest.facts import DocumentFacts, document_facts
from zhice.ingest.types import Chunk

from .contract import AddResult, ClosedOnExit
from .embedders import DEFAULT_EMBEDDER, make_embedder
from .embedders.base import Embedder
from .errors import IndexBusyError, IndexMismatchError, IndexNotFoundError, IndexReadOnlyError
from .index import _spec_of
from .milvus_lease import ServerLease, owner_id
from .milvus_spec import MilvusSpec, pages_folder
from .milvus_store import BATCH, MILVUS_SCHEMA, TOKENIZER, MilvusStore, View
from .pages import PageImages
from .segment import ChineseSegmenter
from .store import FileRecord, StoredChunk

BATCH_FILES = 256  # files committed at once, at most: few state writes, few requests
BATCH_SECONDS = 10.0  # and this often, so that a long ingest shows as it goes, unless
COMMIT_SHARE = 0.2  # committing would then take more than this share of the time
TEXT_ROWS = 64  # text parts (16,000 characters each) sent in one request, at most


def initial_state() -> dict:
    return {"generation": 0, "through": 0, "hidden": [], "open": None, "chunks": 0}


def new_info(embedder: str, spec: str, dim: int, **more) -> dict:
    """The info row of an index: what makes the collections one, and what it was built
    with (checked at every open)."""
    return {"schema": MILVUS_SCHEMA, "tokenizer": TOKENIZER, "embedder": embedder,
            "embedder_spec": spec, "dim": dim, **more}


class MilvusIndex(ClosedOnExit):
    """The stores of one Milvus index (see the module's docstring).

    >>> index = MilvusIndex.open(parse_milvus("milvus:./zhice.db"), "fake", create=True)
    >>> with index.writing():
    ...     index.add(chunk_document(load("policy.txt")), sha256="...", path="policy.txt")
    """

    def __init__(self, milvus: MilvusStore, embedder: Embedder | None,
                 segmenter: ChineseSegmenter, read_only: bool = False):
        self.milvus = milvus
        self.embedder = embedder  # None only for `migrate`, which writes vectors it has
        self.segmenter = segmenter
        self.location = str(milvus.spec)
        self.pages = PageImages(pages_folder(milvus.spec))
        self._read_only = read_only
        self._view: tuple[int, View, int] = (-1, View(), 0)  # generation, view, chunks
        self._cache: dict = {}  # per generation: df, facts
        self._write_lock = threading.RLock()
        self._state: dict | None = None  # the writer's, inside writing()
        self._batch: _Batch | None = None
        self._lease: ServerLease | None = None
        self._commit_s = 0.0  # how long the last commit took
        # inside writing(): source -> (version, sha256, chunks) of every visible file,
        # read once (a query by source is a scan of the files in Milvus Lite)
        self._current: dict[str, tuple[int, str, int]] = {}

    # opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, spec: MilvusSpec, embedder: str | Embedder | None = None,
             create: bool = False, read_only: bool = False) -> "MilvusIndex":
        """Open (or with `create`, make) the Milvus index `spec` and load its embedder;
        another embedder, tokenizer or schema than the recorded one is IndexMismatchError."""
        if spec.lite and not create and not Path(spec.uri).exists():
            raise IndexNotFoundError(  # before connecting: Milvus Lite would make the file
                f"no index at {spec}; build one with: zhice ingest PATH --index {spec}")
        milvus = MilvusStore(spec).connect()
        try:
            info = milvus.get_meta("info") if milvus.exists() else None
            if info is None:  # none yet, or a create killed before its info row
                if not create:
                    raise IndexNotFoundError(
                        f"no index at {spec}; build one with: zhice ingest PATH --index {spec}")
                emb = make_embedder(embedder or DEFAULT_EMBEDDER) if not isinstance(
                    embedder, Embedder) else embedder
                emb.load()
                milvus.create(emb.dim)
                if milvus.get_meta("state") is None:
                    milvus.put_meta("state", initial_state())
                # last: the info row is what makes the collections an index
                milvus.put_meta("info", new_info(emb.name, _spec_of(embedder), emb.dim))
            else:
                emb = _recorded_embedder(milvus, info, spec, embedder)
            index = cls(milvus, emb, ChineseSegmenter().load(), read_only)
            index.refresh()
            return index
        except BaseException:
            milvus.close()
            raise

    def close(self) -> None:
        self.milvus.close()

    def info(self) -> dict:
        return self.milvus.get_meta("info") or {}

    # keeping up -----------------------------------------------------------------------
    def _read_state(self) -> dict:
        state = self.milvus.get_meta("state")
        if state is None:
            raise IndexNotFoundError(f"the index at {self.location} has lost its state record; "
                                     "ingest the documents again into a new --index")
        return state

    def refresh(self) -> None:
        """Take in the state another process (or this one) wrote: one row read."""
        self._show(self._read_state())

    def _show(self, state: dict) -> None:
        gen = int(state["generation"])
        if gen != self._view[0]:
            self._cache = {}
        self._view = (gen, View.of(state), int(state["chunks"]))

    def generation(self) -> int:
        return self._view[0]

    def changed(self) -> bool:
        return int(self._read_state()["generation"]) != self._view[0]

    # reading --------------------------------------------------------------------------
    def dense_search(self, query: str, k: int) -> list[tuple[int, float]]:
        return self.milvus.dense_search(self.embedder.embed_query(query), k, self._view[1])

    def bm25_search(self, query_key: str, k: int) -> list[tuple[int, float]]:
        tokens = self.segmenter(query_key)
        self._count(tokens)  # the answerer weighs these next: one request, not one each
        return self.milvus.bm25_search(tokens, k, self._view[1])

    def chunks(self, ids: Iterable[int]) -> dict[int, StoredChunk]:
        return self.milvus.chunks(ids, self._view[1])

    def sources(self, ids: Iterable[int]) -> dict[int, str]:
        return self.milvus.sources(ids, self._view[1])

    def document_chunks(self, source: str) -> list[StoredChunk]:
        return self.milvus.document_chunks(self._view[1], source)

    def folded_sources(self) -> list[tuple[str, str]]:
        return []  # nothing is folded across files in Milvus (_fresh)

    def files(self) -> list[FileRecord]:
        return self.milvus.files(self._view[1])

    def file_hashes(self) -> dict[str, str]:
        return {r["source"]: r["sha256"] for r in self.milvus.visible_files(self._view[1])}

    def file_text(self, source: str) -> str | None:
        return self.milvus.file_text(self._view[1], source)

    def titles(self) -> dict[str, str]:
        return {r["source"]: r["title"] for r in self.milvus.visible_files(self._view[1])}

    def facts(self, sources: Iterable[str] | None = None) -> dict[str, DocumentFacts]:
        """What each document states; read whole once a generation (every question
        asks for its passages' documents, and a query by source is a scan in Lite)."""
        cache = self._cache
        if "facts" not in cache:
            cache["facts"] = self.milvus.facts(self._view[1])
        every = cache["facts"]
        return dict(every) if sources is None else {s: every[s] for s in sources if s in every}

    def page_image(self, source: str, page: int) -> bytes | None:
        rows = self.milvus.visible_files(self._view[1], source, fields=("sha256",))
        return self.pages.get(rows[0]["sha256"], page) if rows else None

    def lacking_page_images(self) -> set[str]:
        return self.pages.lacking(self.file_hashes(), self.facts())

    def is_current(self, source: str, sha256: str) -> bool:
        if self._state is not None:  # a writer knows every file's hash already
            return self._current.get(source, (0, None))[1] == sha256
        rows = self.milvus.visible_files(self._view[1], source)
        return bool(rows) and rows[0]["sha256"] == sha256

    def df(self, token: str) -> int:
        """Chunks whose BM25 tokens hold `token`, cached per generation."""
        return self._count([token])[("df", token)]

    def _count(self, tokens: list[str]) -> dict:
        """The generation's cache (taken once: a refresh may replace it meanwhile),
        with the df of each of `tokens` in it."""
        cache = self._cache
        wanted = list(dict.fromkeys(t for t in tokens if ("df", t) not in cache))
        if wanted:
            cache.update((("df", t), n) for t, n in self.milvus.df(wanted, self._view[1]).items())
        return cache

    def __len__(self) -> int:
        return self._view[2]

    def segment(self, chunks: Sequence[Chunk]) -> list[list[list[str]]]:
        return [self.segmenter.passage(c.heading, c.text) for c in chunks]

    # writing --------------------------------------------------------------------------
    @property
    def read_only(self) -> bool:
        return self._read_only

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One writer at a time (see the module's docstring): this instance's threads
        wait for each other; another writer is IndexBusyError. A change a killed writer
        left half done is finished or undone first; the last batch is committed at the
        end, and on an error what was added whole before it. Page images no visible
        file refers to (replaced, removed, or written by a writer that failed) are swept
        away first and last: none is dropped while a batch that refers to it is open."""
        if self.read_only:
            raise IndexReadOnlyError(f"the index at {self.location} was opened read-only")
        with self._write_lock:
            if self._state is not None:  # re-entered by this thread
                yield
                return
            with self._exclusive():
                state = self._recover(self._read_state())
                self._current = {r["source"]: (r["version"], r["sha256"], r["chunks"])
                                 for r in self.milvus.visible_files(
                                     View.of(state), fields=("source", "sha256", "chunks"))}
                self._state = state
                self.pages.sweep(self._hashes())
                try:
                    yield
                    self._commit()
                    self.pages.sweep(self._hashes())
                except BaseException:
                    if self._batch is not None and not self._batch.broken:
                        with suppress(Exception):  # the first error is the one to tell
                            self._commit()
                    raise
                finally:
                    self._state, self._batch, self._current = None, None, {}

    def _hashes(self) -> set[str]:
        """The SHA-256 of every file a writer has made visible or is writing."""
        return {sha for _, sha, _ in self._current.values()}

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        if self.milvus.spec.lite:
            lock = _lite_writer(self.milvus.spec.uri)
            if not lock.acquire(blocking=False):
                raise IndexBusyError(f"another writer of this process is writing to "
                                     f"{self.location}; wait for it to finish")
            try:
                yield
            finally:
                lock.release()
            return
        self._lease = ServerLease(self.milvus, owner_id()).take()
        try:
            yield
        finally:
            lease, self._lease = self._lease, None
            lease.release()

    def _guard(self) -> None:
        """Before each write on a server: the lease is still this writer's (renewed)."""
        if self._lease is not None:
            self._lease.check()

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """Inside writing(), or for one change committed at once outside it."""
        if self._state is not None:
            yield
            return
        with self.writing():
            yield

    def _put(self, state: dict) -> None:
        self._guard()
        state["generation"] = int(state["generation"]) + 1
        self.milvus.put_meta("state", state)
        self._show(state)

    def _recover(self, state: dict) -> dict:
        """Finish (or, before its commit point, undo) what a killed writer left."""
        if state.get("open") is not None:
            self._guard()
            self.milvus.delete_after(int(state["through"]))
            state["open"] = None
            self._put(state)
        self._settle(state)
        self._show(state)
        return state

    def _settle(self, state: dict) -> None:
        """Step 5 of the module's docstring: delete the hidden versions' rows."""
        if state["hidden"]:
            self._guard()
            self.milvus.delete_versions(state["hidden"])
            state["hidden"] = []
            self._put(state)

    def _batch_for(self, source: str) -> "_Batch":
        """The open batch (opened now if none); committed first when it holds `source`,
        so that a batch holds one version of a file at most."""
        if self._batch is not None and (source in self._batch.sources or self._batch.full()):
            self._commit()
        if self._batch is None:
            first = int(self._state["through"]) + 1
            self._state["open"] = first
            self._put(self._state)
            self._batch = _Batch(first, max(BATCH_SECONDS, self._commit_s / COMMIT_SHARE))
        return self._batch

    def _commit(self) -> None:
        """Steps 2 (what is left of it) to 5 of the module's docstring for the open
        batch."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        started = time.monotonic()
        self._send(batch, everything=True)
        self._guard()
        state = self._state
        self.milvus.write_df(batch.first, int(state["through"]), batch.df)
        state.update(through=max(batch.next - 1, batch.first), open=None,
                     hidden=[*state["hidden"], *batch.retired],
                     chunks=int(state["chunks"]) + batch.chunks)
        self._put(state)  # the commit point
        self._settle(state)
        self._commit_s = time.monotonic() - started

    def _send(self, batch: "_Batch", everything: bool = False) -> None:
        """Insert the rows the batch holds, once enough are waiting (or all of them)."""
        try:
            for name, rows in batch.rows.items():
                if rows and (everything or len(rows) >= batch.limit(name)):
                    self._guard()
                    self.milvus.insert(name, rows)
                    batch.rows[name] = []
        except BaseException:
            batch.broken = True  # some rows of a file may be missing: never commit it
            raise

    def add(self, doc: ChunkedDocument, sha256: str, path: str,
            tokens: Sequence[list[list[str]]] | None = None, vectors=None) -> AddResult:
        """Index a document, replacing an older version of the same source (see the
        module's docstring). `tokens` (per chunk) as from `segment`; `vectors` (per
        chunk, in order) when the caller embedded them ahead (parallel ingest)."""
        if tokens is not None and len(tokens) != len(doc.chunks):
            raise ValueError(f"got {len(tokens)} token lists for {len(doc.chunks)} chunks")
        if vectors is not None and len(vectors) != len(doc.chunks):
            raise ValueError(f"got {len(vectors)} vectors for {len(doc.chunks)} chunks")
        with self._writer():
            old = self._current.get(doc.source)
            if old is not None and old[1] == sha256:
                updated = self.pages.fill(sha256, doc.page_images)
                return AddResult(doc.source, "updated" if updated else "unchanged")
            picked, dups = _fresh(doc.chunks)
            fresh = [doc.chunks[i] for i in picked]
            vecs = ([vectors[i] for i in picked] if vectors is not None
                    else self.embedder.embed_documents([c.embedding_text() for c in fresh]))
            toks = ([tokens[i] for i in picked] if tokens is not None
                    else self.segment(fresh))
            self.pages.put(sha256, doc.page_images)  # before the rows that refer to them
            self.put_file(doc.source, path, sha256, doc.title, doc.text,
                          document_facts(doc), fresh, toks, vecs,
                          dups + len(doc.folded))
        return AddResult(doc.source, "updated" if old else "added", len(fresh),
                         dups + len(doc.folded), len(fresh))

    def put_file(self, source: str, path: str, sha256: str, title: str, text: str,
                 facts: DocumentFacts, chunks: list[Chunk], tokens: list[list[list[str]]],
                 vectors, duplicates: int) -> None:
        """Write a file version of these chunks, tokens and vectors (as stored: no
        embedding), replacing the visible one; inside writing()."""
        batch = self._batch_for(source)
        version = batch.next
        rows = self.milvus.chunk_rows(version, chunks, title, tokens, vectors)
        file_row, text_rows = self.milvus.file_rows(version, source, path, sha256, title,
                                                    text, facts, len(chunks), duplicates)
        old = self._current.get(source)
        if old is not None:
            self._retire(batch, old)
        batch.next += 1
        batch.sources.add(source)
        batch.chunks += len(chunks)
        batch.df.update(w for row in rows for w in set(row["terms"].split()))
        batch.rows[self.milvus.chunks_name] += rows
        batch.rows[self.milvus.texts_name] += text_rows
        batch.rows[self.milvus.files_name].append(file_row)
        self._current[source] = (version, sha256, len(chunks))
        self._send(batch)

    def _retire(self, batch: "_Batch", old: tuple[int, str, int]) -> None:
        """Hide a committed version at the batch's commit; its chunks leave the df."""
        version, _, chunks = old
        batch.retired.append(version)
        batch.chunks -= chunks
        for words in self.milvus.version_words(version):
            batch.df.subtract(words)

    def remove(self, source: str) -> bool:
        """Drop a document's every row; False when it was not indexed."""
        with self._writer():
            if source not in self._current:
                return False
            batch = self._batch_for(source)
            self._retire(batch, self._current.pop(source))
            batch.sources.add(source)
        return True

    def record_chunking(self, size: int | None, overlap: int | None) -> None:
        info = self.info()
        values = {k: v for k, v in (("chunk_size", size), ("overlap", overlap)) if v is not None}
        if values and any(info.get(k) != v for k, v in values.items()):
            self.milvus.put_meta("info", {**info, **values})


class _Batch:
    """What a writer has written since its last commit: its versions (from `first`,
    also its name), the committed versions it replaces or removes, its df changes and
    the rows not sent yet; full at BATCH_FILES files or after `seconds`."""

    def __init__(self, first: int, seconds: float = BATCH_SECONDS):
        self.first = self.next = first
        self.started, self.seconds = time.monotonic(), seconds
        self.sources: set[str] = set()
        self.retired: list[int] = []
        self.chunks = 0  # visible chunks it adds, less those it hides
        self.df: Counter[str] = Counter()
        self.rows: defaultdict[str, list[dict]] = defaultdict(list)  # not sent yet
        self.broken = False

    def full(self) -> bool:
        return (len(self.sources) >= BATCH_FILES
                or time.monotonic() - self.started >= self.seconds)

    @staticmethod
    def limit(collection: str) -> int:
        return TEXT_ROWS if collection.endswith("_texts") else BATCH


# one writer per Milvus Lite file in this process (Lite keeps other processes out)
_lite_writers: dict[str, threading.Lock] = {}
_lite_writers_guard = threading.Lock()


def _lite_writer(uri: str) -> threading.Lock:
    with _lite_writers_guard:
        return _lite_writers.setdefault(uri, threading.Lock())


def _fresh(chunks: Sequence[Chunk]) -> tuple[list[int], int]:
    """Positions of the chunks to index (the first of each repeated key) and how many
    repeats were folded. Across files nothing is folded in Milvus: a fold would have to
    be undone when the file holding the original is removed, without transactions."""
    seen: set[str] = set()
    picked = []
    for i, chunk in enumerate(chunks):
        if chunk.id not in seen:
            seen.add(chunk.id)
            picked.append(i)
    return picked, len(chunks) - len(picked)


def _recorded_embedder(milvus: MilvusStore, info: dict, spec: MilvusSpec,
                       embedder: str | Embedder | None) -> Embedder:
    """The embedder to use, loaded: the one asked for (default: the recorded one), once
    the index's format and model are checked."""
    milvus.check(info)
    wanted = embedder if embedder is not None else info.get("embedder_spec", DEFAULT_EMBEDDER)
    emb = make_embedder(wanted) if isinstance(wanted, str) else wanted
    if emb.name != info["embedder"]:
        raise IndexMismatchError(
            f"index at {spec} was built with embedder '{info['embedder']}', not "
            f"'{emb.name}'; leave out --embedder to use '{info['embedder']}', "
            "or use a new --index")
    emb.load()
    if emb.dim != int(info["dim"]):
        raise IndexMismatchError(
            f"index at {spec} holds {info['dim']}-d vectors but embedder "
            f"{emb.name} gives {emb.dim}-d; use a new --index")
    return emb
