"""SQLite: the source of truth for files, chunks, their vectors and duplicates.

FAISS and BM25 are derived from these rows and can always be rebuilt from them, so
a crash between the SQLite commit and the FAISS write loses nothing (index/recovery.py
reconciles on open). No pickle: vectors are float32 bytes, tokens are text.
"""

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from zhice.ingest.errors import ZhiceError
from zhice.ingest.facts import DocumentFacts
from zhice.ingest.types import Chunk

from .database import NO_ROOM, check, connect, primary_code, translate
from .errors import IndexNotFoundError

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    source TEXT PRIMARY KEY, path TEXT NOT NULL, sha256 TEXT NOT NULL, title TEXT NOT NULL,
    text TEXT NOT NULL, ingested_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL,  -- ids are never reused
    source TEXT NOT NULL REFERENCES files(source) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, heading TEXT NOT NULL, text TEXT NOT NULL, key TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, page INTEGER,
    tokens TEXT NOT NULL, vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(hash);
CREATE TABLE IF NOT EXISTS duplicates (
    source TEXT NOT NULL REFERENCES files(source) ON DELETE CASCADE,
    kind TEXT NOT NULL, ordinal INTEGER, heading TEXT NOT NULL, text TEXT NOT NULL,
    key TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, page INTEGER,
    canonical INTEGER REFERENCES chunks(id) ON DELETE SET NULL
);
CREATE INDEX IF NOT EXISTS duplicates_canonical ON duplicates(canonical);
-- what each document states about itself (ingest/facts.py), as JSON; a table of its
-- own so that an index made before it gains it on the next write, no migration
CREATE TABLE IF NOT EXISTS facts (
    source TEXT PRIMARY KEY REFERENCES files(source) ON DELETE CASCADE, json TEXT NOT NULL
);
"""

_CHUNK_COLUMNS = 'id, hash, source, ordinal, heading, text, key, start, "end", page'


@dataclass(frozen=True)
class FileRecord:
    """A document in the index."""

    source: str
    path: str
    sha256: str
    title: str
    chunks: int
    duplicates: int
    ingested_at: str
    facts: DocumentFacts = DocumentFacts()


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as stored, with its row id (also its FAISS and BM25 id)."""

    id: int
    chunk: Chunk
    # BM25 tokens of its heading, then of each sentence; None in an index written before
    # they were kept by line
    lines: tuple[tuple[str, ...], ...] | None = None


class Store:
    """The SQLite database of an index directory."""

    def __init__(self, path: Path):
        self.path = path
        self.read_only = False
        self.why_read_only: ZhiceError | None = None  # when not a read-only folder's
        self._db: sqlite3.Connection | None = None

    def open(self, create: bool = True, read_only: bool = False) -> "Store":
        """Connect, creating the schema when the database is new. Without `create`, a
        database without zhice's tables is left exactly as it is: IndexNotFoundError.
        A file that is not SQLite at all raises sqlite3.DatabaseError. `read_only`
        opens it so that nothing is written (database.connect), changes are refused."""
        try:
            try:
                db, found = self._connect(read_only, probe=not create or read_only)
            except sqlite3.DatabaseError as e:
                if read_only or create or primary_code(e) not in NO_ROOM:
                    raise
                # a reader on a full disk: SQLite could not make its -wal and -shm files
                # for writing; read-only it needs none, and the index is read as it is
                db, found = self._connect(True, probe=True)
                read_only, self.why_read_only = True, translate(e, self.path.parent)
        except sqlite3.DatabaseError as e:
            ours = translate(e, self.path.parent)
            if ours is None or getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
                raise
            raise ours from e
        if not found:
            db.close()
            raise IndexNotFoundError(f"{self.path} holds no zhice tables")
        self.read_only = read_only
        if not read_only:
            db.execute("PRAGMA journal_mode=WAL")  # readers (the web UI) never block an ingest
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        self._db = db
        return self

    def _connect(self, read_only: bool, probe: bool) -> tuple[sqlite3.Connection, bool]:
        """A connection, and whether it holds zhice's tables (True unless `probe`d);
        untranslated errors: the caller names another program's file as such."""
        db = connect(self.path, read_only)
        try:
            if not probe:
                return db, True
            found = sqlite3.Connection.execute(
                db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
            return db, found is not None
        except BaseException:
            db.close()
            raise

    def check(self, full: bool) -> None:
        """IndexCorruptError when SQLite finds the database damaged (database.check).
        On a connection of its own: it may run beside this one's queries."""
        db = connect(self.path, read_only=True)
        try:
            check(db, full)
        finally:
            db.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("Store.open() was not called")
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: all of it is committed, or none of it."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute("COMMIT")  # can fail too (a full disk): then rolled back
        except BaseException:
            if self.db.in_transaction:
                with suppress(ZhiceError, sqlite3.Error):  # the first error is the one to tell
                    self.db.execute("ROLLBACK")
            raise

    # meta ---------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta"))

    def set_meta(self, db: sqlite3.Connection, **values: str | int) -> None:
        db.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, str(v)) for k, v in values.items()],
        )

    def generation(self) -> int:
        """Bumped by every committed change; FAISS and BM25 files record the one they show."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def bump_generation(self, db: sqlite3.Connection) -> int:
        gen = self.generation() + 1
        self.set_meta(db, generation=gen)
        return gen

    # files --------------------------------------------------------------------------
    def file_hash(self, source: str) -> str | None:
        row = self.db.execute("SELECT sha256 FROM files WHERE source = ?", (source,)).fetchone()
        return row[0] if row else None

    def has_version(self, sha256: str) -> bool:
        """Whether any indexed file has these bytes (SHA-256)."""
        return self.db.execute("SELECT 1 FROM files WHERE sha256 = ? LIMIT 1",
                               (sha256,)).fetchone() is not None

    def files(self) -> list[FileRecord]:
        rows = self.db.execute(
            "SELECT f.source, f.path, f.sha256, f.title, "
            "(SELECT COUNT(*) FROM chunks c WHERE c.source = f.source), "
            "(SELECT COUNT(*) FROM duplicates d WHERE d.source = f.source), f.ingested_at "
            "FROM files f ORDER BY f.source"
        )
        records = [FileRecord(*row) for row in rows]
        facts = self.facts()
        return [replace(r, facts=facts[r.source]) if r.source in facts else r for r in records]

    def sources(self, ids: Iterable[int]) -> dict[int, str]:
        """The document each chunk id belongs to."""
        ids = list(ids)
        rows = self.db.execute(f"SELECT id, source FROM chunks WHERE id IN "
                               f"({', '.join('?' * len(ids))})", ids) if ids else ()
        return dict(rows)

    def facts(self, sources: Iterable[str] | None = None) -> dict[str, DocumentFacts]:
        """What each document states about itself (all of them, or those of `sources`);
        none for a document ingested before facts were kept."""
        if not self._has_facts():
            return {}
        if sources is None:
            rows = self.db.execute("SELECT source, json FROM facts")
        else:
            wanted = sorted(set(sources))
            rows = self.db.execute(f"SELECT source, json FROM facts WHERE source IN "
                                   f"({', '.join('?' * len(wanted))})", wanted)
        return {source: DocumentFacts.from_dict(json.loads(data)) for source, data in rows}

    def insert_facts(self, db: sqlite3.Connection, source: str, facts: DocumentFacts) -> None:
        db.execute("INSERT OR REPLACE INTO facts(source, json) VALUES (?, ?)",
                   (source, json.dumps(facts.to_dict(), ensure_ascii=False)))

    def _has_facts(self) -> bool:
        """False in an index made before facts were kept and opened read-only since."""
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                               "AND name = 'facts'").fetchone() is not None

    def file_text(self, source: str) -> str | None:
        row = self.db.execute("SELECT text FROM files WHERE source = ?", (source,)).fetchone()
        return row[0] if row else None

    def titles(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT source, title FROM files"))

    def file_hashes(self) -> dict[str, str]:
        """Every indexed source with its SHA-256: one query for a whole batch."""
        return dict(self.db.execute("SELECT source, sha256 FROM files"))

    def insert_file(self, db: sqlite3.Connection, source: str, path: str, sha256: str,
                    title: str, text: str) -> None:
        db.execute(
            "INSERT INTO files(source, path, sha256, title, text) VALUES (?, ?, ?, ?, ?)",
            (source, path, sha256, title, text),
        )

    def delete_file(self, db: sqlite3.Connection, source: str) -> list[int]:
        """Delete a file and (by cascade) its chunks and duplicates; the chunk ids."""
        ids = [r[0] for r in db.execute("SELECT id FROM chunks WHERE source = ?", (source,))]
        db.execute("DELETE FROM files WHERE source = ?", (source,))
        return ids

    # chunks -------------------------------------------------------------------------
    def insert_chunk(self, db: sqlite3.Connection, chunk: Chunk, tokens: list[list[str]],
                     vector: np.ndarray) -> int:
        return self.insert_chunks(db, [chunk], [tokens], [vector])[0]

    def insert_chunks(self, db: sqlite3.Connection, chunks: list[Chunk],
                      tokens: list[list[list[str]]], vectors) -> list[int]:
        """Insert chunks in one statement; their new ids, in order. `tokens`: each
        chunk's BM25 tokens by line (heading, then sentences: `ChineseSegmenter.passage`).

        Ids are given explicitly, after the largest ever used (sqlite_sequence): inside
        the caller's write transaction nobody else takes one, and AUTOINCREMENT's
        promise holds (an id is never reused).
        """
        if not chunks:
            return []
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()
        first = (row[0] if row else 0) + 1
        ids = list(range(first, first + len(chunks)))
        db.executemany(
            'INSERT INTO chunks(id, hash, source, ordinal, heading, text, key, start, "end", '
            "page, tokens, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(cid, c.id, c.source, c.ordinal, c.heading, c.text, c.key, c.start, c.end, c.page,
              join_lines(toks), np.asarray(vec, dtype=np.float32).tobytes())
             for cid, c, toks, vec in zip(ids, chunks, tokens, vectors)],
        )
        return ids

    def insert_duplicate(self, db: sqlite3.Connection, kind: str, chunk: Chunk,
                         canonical: int | None) -> None:
        db.execute(
            'INSERT INTO duplicates(source, kind, ordinal, heading, text, key, start, "end", '
            "page, canonical) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (chunk.source, kind, chunk.ordinal, chunk.heading, chunk.text, chunk.key,
             chunk.start, chunk.end, chunk.page, canonical),
        )

    def chunk_id_by_hash(self, chunk_hash: str, exclude_source: str) -> int | None:
        return self.chunk_ids_by_hash([chunk_hash], exclude_source).get(chunk_hash)

    def chunk_ids_by_hash(self, hashes: Iterable[str], exclude_source: str) -> dict[str, int]:
        """hash -> id of an indexed chunk with that hash in another file (the first)."""
        hashes = list(dict.fromkeys(hashes))
        out: dict[str, int] = {}
        for i in range(0, len(hashes), 500):
            part = hashes[i : i + 500]
            for h, cid in self.db.execute(
                f"SELECT hash, MIN(id) FROM chunks WHERE hash IN ({','.join('?' * len(part))}) "
                "AND source != ? GROUP BY hash", [*part, exclude_source]
            ):
                out[h] = cid
        return out

    def chunks(self, ids: Iterable[int]) -> dict[int, StoredChunk]:
        """Chunks by id (missing ids are left out)."""
        ids = list(ids)
        out: dict[int, StoredChunk] = {}
        columns = ", ".join(f"c.{c}" for c in [*_CHUNK_COLUMNS.split(", "), "tokens"])
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            # the titles of these chunks' files only: reading every title costs a
            # query ~100 ms at 100,000 files
            rows = self.db.execute(
                f"SELECT {columns}, COALESCE(f.title, '') FROM chunks c "
                f"LEFT JOIN files f ON f.source = c.source "
                f"WHERE c.id IN ({','.join('?' * len(part))})",
                part,
            )
            for cid, h, source, ordinal, heading, text, key, start, end, page, toks, title in rows:
                out[cid] = StoredChunk(cid, Chunk(source, ordinal, text, key, heading, start,
                                                  end, page, title, h), split_lines(toks))
        return out

    def chunk_ids_of(self, source: str) -> list[int]:
        """A document's chunk ids, in document order."""
        return [r[0] for r in self.db.execute(
            "SELECT id FROM chunks WHERE source = ? ORDER BY ordinal", (source,))]

    def folded_pairs(self) -> list[tuple[str, str]]:
        """(source, other source): a chunk of the first was folded into the second's."""
        return list(self.db.execute(
            "SELECT DISTINCT d.source, c.source FROM duplicates d "
            "JOIN chunks c ON c.id = d.canonical "
            "WHERE d.kind = 'chunk' AND d.source != c.source"))

    def chunk_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def chunk_ids(self) -> np.ndarray:
        cur = self.db.execute("SELECT id FROM chunks")
        parts = [np.fromiter((r[0] for r in rows), np.int64, len(rows))
                 for rows in iter(lambda: cur.fetchmany(50_000), [])]  # not a call a row
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def vectors(self, ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of the given chunks, as stored."""
        got_ids, vecs = [], []
        ids = list(ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            for cid, blob in self.db.execute(
                f"SELECT id, vector FROM chunks WHERE id IN ({','.join('?' * len(part))})", part
            ):
                got_ids.append(cid)
                vecs.append(np.frombuffer(blob, dtype=np.float32))
        if not vecs:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.asarray(got_ids, np.int64), np.vstack(vecs)

    def iter_vectors(self, batch: int = 20_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every chunk's (ids, vectors) in id order, `batch` rows at a time: a dense
        index is rebuilt from these without holding all of them at once."""
        cur = self.db.execute("SELECT id, vector FROM chunks ORDER BY id")
        while rows := cur.fetchmany(batch):
            ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            yield ids, np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])

    def tokens(self, ids: Iterable[int]) -> dict[int, list[str]]:
        """Chunks' BM25 tokens, all lines as one list."""
        ids = list(ids)
        out: dict[int, list[str]] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            for cid, toks in self.db.execute(
                f"SELECT id, tokens FROM chunks WHERE id IN ({','.join('?' * len(part))})", part
            ):
                out[cid] = [t for t in toks.replace("\n", "\t").split("\t") if t]
        return out

    def dependent_duplicates(self, source: str) -> list[tuple[int, int]]:
        """Duplicates in other files whose canonical chunk belongs to `source`:
        (duplicate rowid, canonical chunk id)."""
        return list(self.db.execute(
            "SELECT d.rowid, d.canonical FROM duplicates d JOIN chunks c ON c.id = d.canonical "
            "WHERE c.source = ? AND d.source != ? AND d.kind = 'chunk'",
            (source, source),
        ))

    def pop_duplicate(self, db: sqlite3.Connection, rowid: int) -> Chunk:
        """Remove a recorded duplicate and return it as a chunk (to index it instead)."""
        r = db.execute(
            'SELECT source, ordinal, heading, text, key, start, "end", page '
            "FROM duplicates WHERE rowid = ?", (rowid,)
        ).fetchone()
        db.execute("DELETE FROM duplicates WHERE rowid = ?", (rowid,))
        return Chunk(r[0], r[1], r[3], r[4], r[2], r[5], r[6], r[7])


# The tokens column: tab between tokens, newline between lines (heading, sentences). A
# row of one line was written before lines were kept: its tokens are the whole passage's.
def join_lines(lines: list[list[str]]) -> str:
    return "\n".join("\t".join(line) for line in lines)


def split_lines(column: str) -> tuple[tuple[str, ...], ...] | None:
    if "\n" not in column:
        return None
    return tuple(tuple(line.split("\t")) if line else () for line in column.split("\n"))
