"""SQLite connections of an index: read-only where the folder cannot be written, their
errors in our terms, and the integrity checks.

sqlite3 raises wherever a statement steps, also while its rows are fetched, so the
connection and its cursors translate at every call: a damaged page met by any query
(`zhice list`, a question, the web UI), a full disk or a read-only folder is one of our
errors with a one-line message, never a traceback. Other errors (a constraint, a bad
statement) are bugs and stay sqlite3's.
"""

import errno
import functools
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from zhice.ingest.errors import ZhiceError

from .errors import (
    IndexReadOnlyError,
    IndexStorageError,
    damaged,
    read_only_folder,
    storage_failed,
)
from .paths import DB_FILE

# PRAGMA quick_check reads every page: 30 ms at 10,000 chunks (52 MB), 0.3 s at 100,000
# (520 MB) on an idle machine, more on a busy one. Opening for reading checks a database
# up to this size (~25,000 chunks), beside the loading of FAISS, BM25 and jieba; past it
# a reader reports the damage its queries meet, and every writer checks in full
# (integrity_check: 40 ms at 10,000 chunks, 0.45 s at 100,000).
READ_CHECK_MAX_BYTES = 128 * 2**20


# What SQLite says when it cannot make or grow its -wal and -shm files: a reader then
# opens the database read-only (connect)
NO_ROOM = (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR,
           sqlite3.SQLITE_FULL)


def writable(directory: Path) -> bool:
    """Whether this process may change the index in `directory` (also as root: a
    read-only mount says no)."""
    db = directory / DB_FILE
    return os.access(directory, os.W_OK) and (not db.exists() or os.access(db, os.W_OK))


def connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """A connection whose errors are translated (see the module's docstring).

    Read-only, SQLite still needs the -shm file beside a WAL database: when it is gone
    (a clean close removes it) and cannot be made (a read-only folder, a full disk), the
    database is opened immutable, which reads the main file alone. That is all there is
    unless a -wal file holds commits not yet copied into it: such a folder is refused
    rather than read stale.
    """
    directory = path.parent
    if not read_only:
        return _open(str(path), directory, uri=False)
    base = f"file:{quote(str(path))}?mode=ro"
    db = _open(base, directory, uri=True)
    try:
        sqlite3.Connection.execute(db, "SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return db
    except sqlite3.DatabaseError as e:
        db.close()
        if primary_code(e) not in NO_ROOM:
            raise  # as Store.open's own probe would meet it: it tells them apart
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise IndexReadOnlyError(
            f"cannot read the index database in {directory}: {wal.name} holds changes not "
            "yet merged into it, and SQLite cannot make the files it needs to read them "
            "(the folder is read-only, or the disk is full); make it writable or free space, "
            "then run the command again"
        )
    return _open(f"{base}&immutable=1", directory, uri=True)


def check(db: sqlite3.Connection, full: bool) -> None:
    """IndexCorruptError unless SQLite finds the database sound. `full`: integrity_check,
    which also matches every index against its table (a count `zhice list` shows comes
    from an index); else quick_check, the pages and records alone."""
    pragma = "integrity_check" if full else "quick_check"
    rows = db.execute(f"PRAGMA {pragma}(1)").fetchall()  # the first problem is enough
    if rows != [("ok",)]:
        raise damaged(db.directory, rows[0][0].removeprefix("*** in database main ***"))


def translate(error: sqlite3.Error, directory: Path) -> ZhiceError | None:
    """Our error for what `error` means, or None when it means a bug."""
    code = primary_code(error)
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or str(error).startswith(
        "Could not decode to UTF-8"  # a damaged text column, raised by the sqlite3 module
    ):
        return damaged(directory, str(error))
    if code == sqlite3.SQLITE_FULL or getattr(error, "sqlite_errorcode", None) == (
            sqlite3.SQLITE_IOERR_SHMSIZE):  # the -shm file cannot grow: a full disk
        return storage_failed(directory, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_READONLY_DBMOVED:
        return IndexStorageError(
            f"the index database in {directory} was replaced while this process had it open "
            "(by zhice ingest --rebuild?); start again to use the new one"
        )
    if code == sqlite3.SQLITE_READONLY:
        return read_only_folder(directory)
    if code in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN):
        return storage_failed(directory, OSError(errno.EIO, str(error)))
    return None


def primary_code(error: sqlite3.Error) -> int:
    """The primary result code (SQLITE_CORRUPT for SQLITE_CORRUPT_INDEX, ...)."""
    return (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF


def _open(target: str, directory: Path, uri: bool) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False,
                             factory=_Connection)
    except sqlite3.Error as e:
        _raise(e, directory)
    db.directory = directory
    return db


def _raise(error: sqlite3.Error, directory: Path):
    ours = translate(error, directory)
    if ours is None:
        raise error
    raise ours from error


def _translating(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as e:
            _raise(e, self.connection.directory)

    return call


class _Cursor(sqlite3.Cursor):
    execute = _translating(sqlite3.Cursor.execute)
    executemany = _translating(sqlite3.Cursor.executemany)
    executescript = _translating(sqlite3.Cursor.executescript)
    fetchone = _translating(sqlite3.Cursor.fetchone)
    fetchmany = _translating(sqlite3.Cursor.fetchmany)
    fetchall = _translating(sqlite3.Cursor.fetchall)
    __next__ = _translating(sqlite3.Cursor.__next__)


class _Connection(sqlite3.Connection):
    """Its statements run on `_Cursor`s (sqlite3.Connection.execute would not)."""

    directory: Path

    def cursor(self, factory=_Cursor):
        return super().cursor(factory)

    def execute(self, sql, parameters=()):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, parameters):
        return self.cursor().executemany(sql, parameters)

    def executescript(self, script):
        return self.cursor().executescript(script)
