"""Atomic file writes: every store file of an index (and every results file) is written
to a temporary file beside it, flushed to disk, renamed over the old one, and the rename
made durable, so a reader or a crash sees the old file or the new one, never half.

The bytes go through os.write: a failed write (a full disk) is an OSError at the write
that failed, with its errno, and the old file stays as it was."""

import io
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO

# what a killed writer may leave: removed by the next writer (ZhiceIndex takes the lock)
TEMP_SUFFIX = ".tmp"


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(f)` on a binary file (seekable: zipfile seeks back) that becomes
    `path` only once it is whole."""
    path = Path(path)
    tmp, fd = _create_beside(path)
    try:
        with io.BufferedWriter(_RawFile(fd)) as f:
            write(f)
            f.flush()
            os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """`path` holds `text` (UTF-8), whole or not at all."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _create_beside(path: Path) -> tuple[Path, int]:
    """A new temporary file beside `path`. Not tempfile.mkstemp: its files are private
    (0600), and an index's files must be as readable as the folder's owner made the
    rest (the umask applies, as to SQLite's): another user may read a shared index."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            return tmp, os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue


class _RawFile(io.RawIOBase):
    """An open file descriptor written with os.write, which closes it."""

    def __init__(self, fd: int):
        self._fd = fd

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def write(self, data) -> int:
        return os.write(self._fd, data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self._fd, offset, whence)

    def close(self) -> None:
        if not self.closed:
            try:
                os.close(self._fd)
            finally:
                super().close()


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
