"""Atomic file writes: every store file of an index (and every results file) is written
to a temporary file beside it, flushed to disk, renamed over the old one, and the rename
made durable, so a reader or a crash sees the old file or the new one, never half."""

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

# what a killed writer may leave: removed by the next writer (ZhiceIndex takes the lock)
TEMP_SUFFIX = ".tmp"


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside `path` to write by name (faiss writes by name); on a clean
    exit it is fsynced and renamed over `path`, on an error removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(f)` on a binary file that becomes `path` only once it is whole."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """`path` holds `text` (UTF-8), whole or not at all."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; not every platform lets a directory be opened for it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
