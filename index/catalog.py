"""What an index holds, read from SQLite alone: no embedder, FAISS or BM25 is loaded, so
`zhice list` answers at once however large the index is."""

import sqlite3
from pathlib import Path

from .database import READ_CHECK_MAX_BYTES, writable
from .errors import IndexNotFoundError, read_only_folder
from .paths import DB_FILE
from .store import FileRecord, Store


def no_index(directory: Path) -> IndexNotFoundError:
    return IndexNotFoundError(
        f"no index at {directory}; build one with: zhice ingest PATH --index {directory}"
    )


def open_store(directory: Path, create: bool = False, read_only: bool = False) -> Store:
    """The index's SQLite store, with the checks every command makes: a file where the
    folder should be, no database, another program's database, a killed create. It is
    opened read-only when asked or when this process cannot write the folder; then
    nothing in the folder is written (zhice on a read-only disk or another user's index)."""
    directory = Path(directory)
    db_path = directory / DB_FILE
    if directory.exists() and not directory.is_dir():
        raise IndexNotFoundError(
            f"{directory} is a file, not an index folder; use another --index DIR"
        )
    if not db_path.exists() and not create:
        raise no_index(directory)
    read_only = read_only or (directory.exists() and not writable(directory))
    if read_only and not db_path.exists():
        raise read_only_folder(directory)
    try:
        store = Store(db_path).open(create=create, read_only=read_only)
    except IndexNotFoundError:
        raise no_index(directory) from None
    except sqlite3.DatabaseError as e:
        raise IndexNotFoundError(
            f"{db_path} is not a zhice index database ({e}); "
            "move it away or use another --index DIR"
        ) from e
    # A database without a recorded embedder is what a failed or killed create leaves
    # behind: not an index yet, and not one to adopt whatever opens it.
    try:
        if "embedder" not in store.meta() and not create:
            if db_path.stat().st_size <= READ_CHECK_MAX_BYTES:
                store.check(full=False)  # damage, rather than a killed create?
            raise no_index(directory)
    except BaseException:
        store.close()
        raise
    return store


def list_files(directory: Path) -> list[FileRecord]:
    """The documents of the index at `directory`, with their chunk counts; a damaged
    database is IndexCorruptError (checked first while that is quick: READ_CHECK_MAX_BYTES),
    not a wrong count."""
    store = open_store(directory)
    try:
        if store.path.stat().st_size <= READ_CHECK_MAX_BYTES:
            store.check(full=False)
        return store.files()
    finally:
        store.close()
