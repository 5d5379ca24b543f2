"""Password throttling and the upload gate (assistant/web/guard.py), on real servers:
a wrong password earns a growing wait, uploads are closed where nothing is managed,
and what waits to be indexed is capped and removed when the server stops."""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from zhice.assistant.chain import Assistant
from zhice.assistant.cli import main
from zhice.assistant.web.guard import Throttle
from zhice.assistant.web.service import AdminError, WebService
from zhice.ingest.errors import ZhiceError

from ..conftest import ADMIN, PASSWORD, Server, api_client, free_port, start, stop

pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# the throttle -----------------------------------------------------------------------------
def test_throttle_lets_typos_pass_then_doubles_the_wait_up_to_a_cap():
    clock = Clock()
    t = Throttle("admin", free=3, first=1.0, cap=8.0, clock=clock)
    waits = [t.failed("10.0.0.1") for _ in range(8)]
    assert waits == [0, 0, 0, 1, 2, 4, 8, 8]
    assert t.wait("10.0.0.1") == 8 and t.wait("10.0.0.2") == 0  # per client
    clock.now += 5
    assert t.wait("10.0.0.1") == 3
    t.succeeded("10.0.0.1")
    assert t.wait("10.0.0.1") == 0 and t.failed("10.0.0.1") == 0


def test_throttle_forgets_a_client_that_stopped_guessing():
    clock = Clock()
    t = Throttle("admin", free=1, clock=clock)
    t.failed("a"), t.failed("a")
    assert t.wait("a") > 0
    clock.now += 3601
    assert t.failed("a") == 0  # a new run of failures, not the 3rd in a row


def test_every_wrong_password_is_logged_with_the_client(caplog: pytest.LogCaptureFixture):
    t = Throttle("page password", free=1, first=2.0, clock=Clock())
    with caplog.at_level(logging.WARNING, logger="zhice.web"):
        t.failed("192.0.2.7"), t.failed("192.0.2.7")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all("wrong page password from 192.0.2.7" in m for m in lines)
    assert "2 in a row" in lines[1] and "next try in 2 s" in lines[1]
    assert all(PASSWORD not in m and ADMIN not in m for m in lines)


def test_the_admin_password_is_not_checked_while_the_client_waits(pristine: Path):
    clock = Clock()
    with Assistant.open(pristine) as assistant:
        service = WebService({"extractive": assistant}, admin_password=ADMIN,
                             throttle=Throttle("admin", free=2, first=30, clock=clock))
        for _ in range(3):
            with pytest.raises(AdminError, match="管理密码不对"):
                service.check_admin("guess", "198.51.100.1")
        with pytest.raises(AdminError, match="请 30 秒后再试"):
            service.check_admin(ADMIN, "198.51.100.1")  # right, but not even checked
        service.check_admin(ADMIN, "198.51.100.2")  # another client is not held up
        clock.now += 30
        service.check_admin(ADMIN, "198.51.100.1")
        assert service.throttle.wait("198.51.100.1") == 0


# the page login ---------------------------------------------------------------------------
def test_page_login_throttles_a_guessing_client(pristine: Path):
    clock = Clock()
    s = start(pristine, password=PASSWORD,
              throttle=Throttle("page", free=2, first=60, clock=clock))
    try:
        def login(password: str) -> httpx.Response:
            return httpx.post(f"{s.url}/login", data={"username": "x", "password": password})

        assert [login("guess").status_code for _ in range(3)] == [400, 400, 400]
        refused = login(PASSWORD)
        assert refused.status_code == 429 and "请 60 秒后再试" in refused.json()["detail"]
        clock.now += 60
        assert login(PASSWORD).status_code == 200
        assert login("guess").status_code == 400  # counting starts again after a success
    finally:
        stop(s)


# the upload route -------------------------------------------------------------------------
def _upload(url: str, name: str, data: bytes) -> httpx.Response:
    return httpx.post(f"{url}/gradio_api/upload", files={"files": (name, data)}, timeout=30)


def test_uploads_are_closed_when_documents_are_not_managed(plain_server: Server):
    response = _upload(plain_server.url, "x.txt", "示范区".encode() * 1000)
    assert response.status_code == 403 and "uploads are closed" in response.json()["detail"]


def test_pending_uploads_are_capped(pristine: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))  # as `zhice serve` does
    s = start(pristine, admin_password=ADMIN, max_upload_mb=0.2)  # 5 files' worth: 1 MB
    try:
        chunk = b"a" * 190_000
        assert all(_upload(s.url, f"{i}.txt", chunk).status_code == 200 for i in range(5))
        response = _upload(s.url, "5.txt", chunk)
        assert response.status_code == 413 and "too many uploads" in response.json()["detail"]
        pending = list((tmp_path / "uploads").rglob("*.txt"))
        assert len(pending) == 5
        pending[0].unlink()  # indexed by the admin (the page deletes it then)
        assert _upload(s.url, "5.txt", chunk).status_code == 200
    finally:
        stop(s)


# edges -------------------------------------------------------------------------------------
def test_api_refuses_a_k_that_is_not_a_number(server: Server):
    from gradio_client.exceptions import AppError

    client = api_client(server.url)
    with pytest.raises(AppError, match="k must be a whole number"):
        client.predict("示范区有多少个？", "abc", api_name="/ask")
    assert client.predict("示范区有多少个？", "3", api_name="/ask")["citations"]


@pytest.mark.parametrize("start_, end", [(float("inf"), 10), (0, float("nan")), ("x", 5),
                                         (-5, 10), (0, 10**9)])
def test_document_context_refuses_offsets_outside_the_document(server: Server, start_, end):
    source = server.service.documents()[0].source
    with pytest.raises(ZhiceError):
        server.service.document_context(source, start_, end)


def test_serve_on_a_port_in_use_is_a_one_line_error(pristine: Path,
                                                    capsys: pytest.CaptureFixture):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["serve", "--index", str(pristine), "--port", str(port),
                     "--admin-password", "on-the-command-line"])
    err = capsys.readouterr().err
    assert code == 2 and f"127.0.0.1:{port}: the port is in use" in err
    assert "Traceback" not in err
    assert "--admin-password is visible to every user" in err and "$ZHICE_ADMIN_PASSWORD" in err


@pytest.mark.slow
def test_uploads_are_removed_when_the_server_stops(pristine: Path, tmp_path: Path):
    """`zhice serve` as a service manager runs it: SIGTERM stops it, and what was
    uploaded to it is gone with it."""
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path), "ZHICE_ADMIN_PASSWORD": ADMIN}
    env.pop("GRADIO_TEMP_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "zhice.assistant.cli", "serve", "--index",
                             str(pristine), "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[1]
        assert _upload(url, "x.txt", "示范区".encode() * 100).status_code == 200
        assert list(tmp_path.glob("zhice-serve-*/**/x.txt"))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert not list(tmp_path.glob("zhice-serve-*"))
