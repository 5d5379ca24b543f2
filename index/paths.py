"""Where an index lives and what its folder holds; no imports beyond the standard library."""

import os
from pathlib import Path

DB_FILE, DENSE_FILE, DENSE_META, BM25_FILE, LOCK_FILE = (
    "zhice.sqlite3", "dense.faiss", "dense.json", "bm25.npz", "write.lock")
# the images of the pages OCR read (pages.py), in an embedded index's folder
PAGES_DIR = "pages"
# in a folder whose index lives in Milvus: {"store": "milvus:..."}, written by its first ingest
STORE_FILE = "store.json"


def default_index_dir() -> Path:
    """$ZHICE_INDEX, else the per-user data folder ($XDG_DATA_HOME/zhice/index)."""
    return user_data_dir("index", "ZHICE_INDEX")


def user_data_dir(kind: str, env: str) -> Path:
    """$`env`, else the per-user data folder of that kind ($XDG_DATA_HOME/zhice/`kind`)."""
    if os.environ.get(env):
        return Path(os.environ[env]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "zhice" / kind
