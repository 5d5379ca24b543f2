"""Locks: a readers-writer lock for the stores in memory, and a look at a file lock.

FAISS and `Bm25Index` may be read by many threads but not while one of them changes,
so ZhiceIndex holds this lock shared for every search and exclusive for the moment a
committed change is applied in memory. A waiting writer blocks new readers, so a
stream of questions cannot starve an upload.
"""

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def file_locked(path: Path) -> bool:
    """Whether a process (this one too) holds an flock on the file at `path`; False
    when there is no such file. Opened read-only: flock needs no write access."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # and with it the lock, if taken
    return False


class ReadWriteLock:
    """`with lock.read(): ...` for searches, `with lock.write(): ...` for changes."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
