"""Which store an index lives in, and `open_index`, which opens it whichever it is.

`--index` (or $ZHICE_INDEX) names an index in one of three ways:

- a folder: the embedded store (SQLite + FAISS + BM25) lives in it, or, when its first
  ingest was given `--store milvus:...`, the folder's `store.json` records where in
  Milvus it lives (so `zhice ask` without flags finds a Milvus index too);
- `milvus:PATH.db`: a Milvus Lite file, itself the index;
- `milvus://HOST:PORT[/NAME]`: the collections NAME_* (default zhice_*) of a Milvus
  server or cluster; a token from $ZHICE_MILVUS_TOKEN (or $ZHICE_MILVUS_USER and
  $ZHICE_MILVUS_PASSWORD).

The Milvus side of an index records its embedder, dimension and tokenizer in its own
meta collection, like the embedded store's SQLite meta table.
"""

import json
from pathlib import Path

from .atomic import atomic_write_text
from .errors import IndexMismatchError, IndexNotFoundError, StoreSpecError
from .milvus_spec import STORE_CHOICES, MilvusSpec, is_milvus, parse_milvus
from .paths import DB_FILE, STORE_FILE

EMBEDDED = "embedded"


def parse_store(spec: str | None) -> MilvusSpec | None:
    """A --store value: None for the embedded store, else where in Milvus."""
    if spec is None or spec == EMBEDDED:
        return None
    if is_milvus(spec):
        return parse_milvus(spec)
    raise StoreSpecError(f"unknown store {spec!r}; choose one of: {', '.join(STORE_CHOICES)}")


def recorded_store(location: str | Path) -> MilvusSpec | None:
    """Where an existing index lives: None for the embedded store (or no index yet)."""
    if is_milvus(location):
        return parse_milvus(str(location))
    pointer = Path(location) / STORE_FILE
    if not pointer.is_file():
        return None
    try:
        return parse_milvus(json.loads(pointer.read_text())["store"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise IndexNotFoundError(
            f"{pointer} does not say where the index lives ({e}); fix or delete it") from e


def open_index(location: str | Path, embedder=None, create: bool = False,
               read_only: bool = False, store: str | None = None):
    """The index at `location` (see the module's docstring), as a `SearchIndex`.

    `store` ("embedded", "milvus:PATH.db", "milvus://HOST:PORT") is asked for at the
    first ingest and recorded; given for an index that lives elsewhere it is
    IndexMismatchError.

    >>> with open_index("idx", embedder="fake", create=True, store="milvus:./z.db") as index:
    ...     index_files(index, [Path("docs")])
    """
    wanted = parse_store(store) if store is not None else None
    where = recorded_store(location)
    if not is_milvus(location) and where is None:
        directory = Path(location)
        if (directory / DB_FILE).exists():
            if wanted is not None:
                raise IndexMismatchError(
                    f"the index at {directory} lives in its folder (the embedded store), not "
                    f"in {wanted}; leave out --store, or use zhice migrate --to {wanted}")
        elif wanted is not None and create:
            directory.mkdir(parents=True, exist_ok=True)
            where = wanted
            _write_pointer(directory, where)
    if where is None:
        from .index import ZhiceIndex

        return ZhiceIndex.open(Path(location), embedder=embedder, create=create,
                               read_only=read_only)
    if wanted is not None and wanted != where:
        raise IndexMismatchError(
            f"the index at {location} lives in {where}, not {wanted}; leave out --store")
    from .milvus import MilvusIndex

    return MilvusIndex.open(where, embedder=embedder, create=create, read_only=read_only)


def _write_pointer(directory: Path, where: MilvusSpec) -> None:
    atomic_write_text(directory / STORE_FILE, json.dumps({"store": str(where)}) + "\n")


def list_documents(location: str | Path):
    """The documents of an index with their chunk counts, without loading an embedder."""
    where = recorded_store(location)
    if where is None:
        from .catalog import list_files

        return list_files(Path(location))
    from .milvus_store import MilvusStore, View

    if where.lite and not Path(where.uri).exists():
        raise IndexNotFoundError(
            f"no index at {where}; build one with: zhice ingest PATH --index {location}")
    milvus = MilvusStore(where).connect()
    try:
        info = milvus.get_meta("info") if milvus.exists() else None
        if info is None:
            raise IndexNotFoundError(
                f"no index at {where}; build one with: zhice ingest PATH --index {location}")
        milvus.check(info)
        return milvus.files(View.of(milvus.get_meta("state")))
    finally:
        milvus.close()
