"""What stands between the network and the page: password throttling and the upload gate.

`Throttle` counts a client's wrong passwords and makes it wait, longer after each one,
before its next try is even checked; the admin password (WebService) and the page
login (`Guard`, on Gradio's /login route) each have one. `Guard` is ASGI middleware
in front of Gradio's routes: Gradio's own login calls our password check without
telling it who asks, and its upload route takes files from anyone who reaches the
port, whether or not the page manages documents.
"""

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("zhice.web")

# A few typos are free; then each wrong password doubles the wait before the next
# try, up to 5 minutes: 200 guesses take hours instead of seconds, and a person who
# mistyped waits a second or two.
FREE_TRIES = 3
FIRST_WAIT = 1.0  # seconds
MAX_WAIT = 300.0
FORGET_AFTER = 3600.0  # a client idle this long starts again from zero


class Throttle:
    """Wrong passwords per client and the wait each one earns.

    >>> login = Throttle("page")
    >>> if (wait := login.wait(client)) > 0: refuse(wait)
    >>> login.succeeded(client) if ok else login.failed(client)
    """

    def __init__(self, kind: str, free: int = FREE_TRIES, first: float = FIRST_WAIT,
                 cap: float = MAX_WAIT, clock: Callable[[], float] = time.monotonic):
        self.kind = kind
        self.free, self.first, self.cap, self.clock = free, first, cap, clock
        self._failures: dict[str, tuple[int, float]] = {}  # client -> (count, last failure)
        self._lock = threading.Lock()

    def delay(self, failures: int) -> float:
        """The wait after `failures` wrong passwords in a row."""
        if failures <= self.free:
            return 0.0
        return min(self.first * 2 ** (failures - self.free - 1), self.cap)

    def wait(self, client: str) -> float:
        """Seconds `client` must wait before its next try is checked (0: now)."""
        with self._lock:
            count, last = self._failures.get(client, (0, 0.0))
            return max(0.0, last + self.delay(count) - self.clock())

    def failed(self, client: str) -> float:
        """Record a wrong password from `client` (logged); returns the wait it earned."""
        with self._lock:
            now = self.clock()
            count, last = self._failures.get(client, (0, now))
            count = 1 if now - last > FORGET_AFTER else count + 1
            self._failures[client] = (count, now)
            if len(self._failures) > 10_000:  # many clients: forget the idle ones
                self._failures = {c: v for c, v in self._failures.items()
                                  if now - v[1] <= FORGET_AFTER}
        wait = self.delay(count)
        log.warning("wrong %s from %s (%d in a row); next try in %.0f s",
                    self.kind, client, count, wait)
        return wait

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


def too_many(wait: float) -> str:
    """What a throttled client is told."""
    return f"密码错误次数过多，请 {math.ceil(wait)} 秒后再试"


class Guard:
    """ASGI middleware: the throttle on POST /login, and the gate on Gradio's upload
    route (closed unless `uploads`; a request that would take the folder of pending
    uploads past `max_pending` bytes is refused, as is one that does not say its size).
    """

    def __init__(self, app, login: Throttle | None = None, uploads: bool = False,
                 max_pending: int = 0):
        self.app = app
        self.login, self.uploads, self.max_pending = login, uploads, max_pending

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        path = scope["path"].rstrip("/")
        if path.endswith("/gradio_api/upload"):
            refusal = self._upload_refusal(scope)
            if refusal:
                return await _respond(send, *refusal)
        elif path.endswith("/login") and self.login is not None:
            return await self._login(scope, receive, send)
        return await self.app(scope, receive, send)

    def _upload_refusal(self, scope) -> tuple[int, str] | None:
        if not self.uploads:
            return 403, "document management is off on this server: uploads are closed"
        length = _header(scope, b"content-length")
        if not length or not length.isdigit():
            return 411, "an upload must state its size (Content-Length)"
        folder = getattr(scope.get("app"), "uploaded_file_dir", None)
        if int(length) + (_folder_bytes(Path(folder)) if folder else 0) > self.max_pending:
            return 413, ("too many uploads waiting to be indexed; index or remove them "
                         "first, or try again later")
        return None

    async def _login(self, scope, receive, send):
        client = (scope.get("client") or ("unknown",))[0]
        wait = self.login.wait(client)
        if wait > 0:
            return await _respond(send, 429, too_many(wait))
        status = 0

        async def watch(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status == 200:
            self.login.succeeded(client)
        elif status in (400, 401):  # Gradio's "Incorrect credentials."
            self.login.failed(client)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_size
            except OSError:
                pass  # removed meanwhile
    return total


async def _respond(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
