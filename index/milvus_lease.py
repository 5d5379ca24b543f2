"""A Milvus server's writer lease: one zhice process writes to an index at a time.

A `writer` row in the meta collection (owner, expiry LEASE_S ahead by the writer's
clock), taken by reading it, writing it, waiting LEASE_SETTLE_S and reading it again;
renewed as the writer writes, deleted when it is done. Milvus has no compare-and-set,
so this is what the lease rests on, and all it promises:

- Guaranteed, since the collections read with Strong consistency: of writers that find
  no live lease and each wrote theirs within LEASE_SETTLE_S / 2 of reading it (a slower
  one gives up, as if busy), at most one goes on; every later one is told who writes
  (IndexBusyError, one line) until the lease is released or expires.
- Not guaranteed: that a writer quiet for longer than LEASE_S (one file embedding for
  minutes, a suspended machine) still holds it. It checks the lease before each of its
  writes and stops with IndexBusyError when another took over, but a write already sent
  when its lease ran out can land among the other writer's. Machines whose clocks
  disagree see a lease expire early or late by as much (keep them on NTP).
- A writer killed holds the lease until it expires: others are told to wait, up to
  LEASE_S.

Milvus Lite needs none of it: Lite serves one process (milvus.py).
"""

import os
import socket
import threading
import time

from .errors import IndexBusyError
from .milvus_store import MilvusStore

LEASE_S = 120  # a server's writer lease, renewed while the writer writes
LEASE_SETTLE_S = 1.0  # how long a new lease must stand before its writer goes on


class ServerLease:
    """A server's writer lease (see the module's docstring): `take`, `check` before
    each write (renewing it), `release`. `clock` and `sleep` for tests."""

    def __init__(self, milvus: MilvusStore, owner: str, clock=time.time,
                 monotonic=time.monotonic, sleep=time.sleep):
        self.milvus, self.owner = milvus, owner
        self.clock, self.monotonic, self.sleep = clock, monotonic, sleep
        self.renewed = 0.0

    def take(self) -> "ServerLease":
        asked = self.monotonic()
        self._refuse_other(self.milvus.get_meta("writer"))
        self._write()
        if self.monotonic() - asked > LEASE_SETTLE_S / 2:
            self.release()
            raise IndexBusyError(
                f"{self.milvus.spec} answered too slowly to take the writer's lease safely; "
                "try again")
        self.sleep(LEASE_SETTLE_S)
        self._refuse_other(self.milvus.get_meta("writer"), taken=True)
        return self

    def check(self) -> None:
        self._refuse_other(self.milvus.get_meta("writer"), taken=True)
        if self.monotonic() - self.renewed > LEASE_S / 4:
            self._write()

    def release(self) -> None:
        row = self.milvus.get_meta("writer")
        if row is not None and row.get("owner") == self.owner:
            self.milvus.delete_meta("writer")

    def _write(self) -> None:
        self.renewed = self.monotonic()
        self.milvus.put_meta("writer", {"owner": self.owner, "until": self.clock() + LEASE_S})

    def _refuse_other(self, row: dict | None, taken: bool = False) -> None:
        """IndexBusyError when another owner holds the lease (or, once it was taken,
        when this one no longer does)."""
        ours = row is not None and row.get("owner") == self.owner
        live = row is not None and float(row.get("until", 0)) > self.clock()
        if ours or (not taken and not live):
            return
        who = row["owner"].rsplit(":", 1)[0] if row else "nobody"
        raise IndexBusyError(
            f"another zhice process ({who}) is writing to {self.milvus.spec}"
            + ("; this one lost its lease and stopped: run it again when that one is done"
               if taken else "; wait for it to finish"))


def owner_id() -> str:
    """Who writes, as a lease names it: host and process, then a unique part."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}-{time.monotonic_ns()}"
