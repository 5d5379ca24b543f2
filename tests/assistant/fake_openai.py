"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests.

Speaks enough of the protocol for langchain-openai's ChatOpenAI: POST
/v1/chat/completions, plain JSON or server-sent events (`"stream": true`), errors in
OpenAI's shape. Each request is answered by a `Reply` from the script (a list, used in
order and the last one repeated, or a function of the request body); every request
body is kept in `requests`.

    with FakeOpenAIServer([Reply("示范区共有20个[1]。")]) as server:
        ChatOpenAI(base_url=server.base_url, api_key="test-key", ...)
"""

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "test-key"


@dataclass(frozen=True)
class Reply:
    """One scripted response.

    Args:
        text: the assistant's message.
        status: an HTTP error status instead of an answer (401, 429, 500, ...).
        delay: seconds to wait before answering (a timeout test).
        repeat: repeat `text` until the request's max_tokens (one token per character,
            as a looping model would), then stop with finish_reason "length".
    """

    text: str = ""
    status: int = 200
    delay: float = 0.0
    repeat: bool = False


_ERRORS = {
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    404: ("The model does not exist.", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error.", "server_error", None),
}

Script = list[Reply] | Callable[[dict], Reply]


class FakeOpenAIServer:
    """The server on a free port, in a daemon thread, while the `with` block runs."""

    def __init__(self, script: Script, api_key: str = API_KEY):
        self.script = script
        self.api_key = api_key
        self.requests: list[dict] = []
        self._released = threading.Event()  # ends the sleep of a delayed reply
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def reply_for(self, body: dict) -> Reply:
        if callable(self.script):
            return self.script(body)
        index = min(len(self.requests) - 1, len(self.script) - 1)
        return self.script[index]

    def __enter__(self) -> "FakeOpenAIServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet test output
            pass

        def do_POST(self) -> None:
            try:
                self._answer()
            except (BrokenPipeError, ConnectionResetError):  # the client gave up
                pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.endswith("/chat/completions"):
                return self._error(404)
            server.requests.append(body)
            reply = server.reply_for(body)
            if reply.delay:
                server._released.wait(reply.delay)
            if self.headers.get("Authorization") != f"Bearer {server.api_key}":
                return self._error(401)
            if reply.status != 200:
                return self._error(reply.status)
            text, finish = reply.text, "stop"
            if reply.repeat:
                cap = body.get("max_tokens") or body.get("max_completion_tokens") or 4096
                text = (reply.text * (cap // max(len(reply.text), 1) + 1))[:cap]
                finish = "length"
            if body.get("stream"):
                self._stream(body, text, finish)
            else:
                self._json(200, _completion(body, text, finish))

        def _json(self, status: int, payload: dict) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int) -> None:
            message, kind, code = _ERRORS.get(status, _ERRORS[500])
            self._json(status, {"error": {"message": message, "type": kind, "code": code,
                                          "param": None}})

        def _stream(self, body: dict, text: str, finish: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            pieces = [{"role": "assistant", "content": ""}]
            pieces += [{"content": text[i : i + 4]} for i in range(0, len(text), 4)]
            for n, delta in enumerate(pieces):
                last = n == len(pieces) - 1
                self._event(_chunk(body, delta, finish if last else None))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

        def _event(self, payload: dict) -> None:
            data = json.dumps(payload, ensure_ascii=False)
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

    return Handler


def _completion(body: dict, text: str, finish: str) -> dict:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": len(text),
                  "total_tokens": 10 + len(text)},
    }


def _chunk(body: dict, delta: dict, finish: str | None) -> dict:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
