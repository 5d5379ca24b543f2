"""The OpenAI-compatible and Dify endpoints, served beside the page on its port.

    GET  /v1/models             the answer modes this server offers, as models
    POST /v1/chat/completions   a question (with its conversation) to a checked answer
    POST /retrieval             Dify's external knowledge API

`ApiMount` sends these paths to this app before Gradio sees them: the page password
does not apply to them, the API keys do (keys.py). Every question goes through the
page's `WebService`, so the API and the page share the chain, the index and the limit
on questions answered at once.
"""

import json
import threading
import time
from collections import deque
from collections.abc import Iterator

from zhice.assistant.api import API_KEY_ENV, chat, dify
from zhice.assistant.api.keys import bearer, is_loopback, key_matches
from zhice.assistant.errors import BadQuestionError
from zhice.assistant.web.guard import Throttle
from zhice.ingest.errors import ZhiceError

API_PATHS = ("/v1/", "/retrieval")
# Requests per minute a key (or, without keys, a client) may send: a chat client
# sends one per question, so this only stops a runaway script from starving the page.
RATE_PER_MINUTE = 120


class RateLimit:
    """At most `per_minute` requests in any 60 s per caller; `clock` for tests."""

    def __init__(self, per_minute: int = RATE_PER_MINUTE, clock=time.monotonic):
        self.per_minute, self.clock = per_minute, clock
        self._seen: dict[str, deque] = {}
        self._lock = threading.Lock()

    def allow(self, caller: str) -> bool:
        with self._lock:
            now = self.clock()
            seen = self._seen.setdefault(caller, deque())
            while seen and now - seen[0] >= 60:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return False
            seen.append(now)
            return True


def build_api(service, keys: tuple[str, ...] = (), rate: RateLimit | None = None,
              throttle: Throttle | None = None, concurrency: int = 10):
    """The FastAPI app of the endpoints over a WebService (assistant/web/service.py)."""
    from fastapi import FastAPI, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse, StreamingResponse

    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    rate = rate or RateLimit()
    throttle = throttle or Throttle("API key")
    slots = threading.BoundedSemaphore(concurrency)
    models = {name: mode for name, mode in chat.MODELS.items() if mode in service.assistants}

    def caller(request: Request, refuse) -> str:
        """Who is asking: its key, or its address when the server has no keys. A refusal
        is `refuse(status, reason, message)`, reason one of "remote", "header", "key",
        "rate": each API words it its own way."""
        client = request.client.host if request.client else "unknown"
        if not keys:
            if not is_loopback(client):
                raise refuse(403, "remote", f"this server has no API key, so its API answers "
                             f"only on its own machine; start it with ${API_KEY_ENV} set to "
                             f"use it from {client}")
            return client
        wait = throttle.wait(client)
        if wait > 0:
            raise refuse(429, "rate", f"too many wrong API keys; try again in {wait:.0f} s")
        key = bearer(request.headers.get("authorization"))
        if key is None:
            raise refuse(401, "header", "no API key: send the header 'Authorization: Bearer "
                                        "KEY'")
        if not key_matches(key, keys):
            throttle.failed(client)
            raise refuse(401, "key", "Incorrect API key provided")
        throttle.succeeded(client)
        return key

    def openai_error(status: int, reason: str, message: str) -> chat.ApiError:
        kind, code = {"rate": ("rate_limit_error", "rate_limit_exceeded"),
                      "key": ("invalid_request_error", "invalid_api_key"),
                      "header": ("invalid_request_error", "invalid_api_key"),
                      }.get(reason, ("permission_error", None))
        return chat.ApiError(status, message, kind, code)

    def dify_error(status: int, reason: str, message: str) -> dify.DifyError:
        if reason == "header":
            return dify.DifyError(*dify.BAD_HEADER)
        if reason in ("key", "remote"):
            return dify.DifyError(dify.BAD_KEY[0], dify.BAD_KEY[1],
                                  message if reason == "remote" else dify.BAD_KEY[2])
        return dify.DifyError(status, status, message)

    def admit(request: Request, refuse) -> None:
        if not rate.allow(caller(request, refuse)):
            raise refuse(429, "rate", f"more than {rate.per_minute} requests a minute; "
                                      "slow down")

    def answer(req: chat.ChatRequest):
        with slots:  # the page's limit on questions answered at once
            return service.ask(req.question, req.k, req.mode, req.history, req.since,
                               req.issuer)

    def search(req: dify.RetrievalRequest):
        with slots:
            return service.assistants["extractive"].search(req.query, req.top_k)

    @api.exception_handler(chat.ApiError)
    async def on_api_error(request, e: chat.ApiError):
        return JSONResponse(e.body(), status_code=e.status)

    @api.exception_handler(dify.DifyError)
    async def on_dify_error(request, e: dify.DifyError):
        return JSONResponse(e.body(), status_code=e.status)

    @api.get("/v1/models")
    def list_models(request: Request):
        admit(request, openai_error)
        return chat.models_list(models)

    @api.post("/v1/chat/completions")
    async def completions(request: Request):
        admit(request, openai_error)
        req = chat.parse_request(await _json(request, chat.ApiError(
            400, "the request body is not valid JSON")), models)
        try:
            result = await run_in_threadpool(answer, req)
        except BadQuestionError as e:
            raise chat.ApiError(400, str(e), param="messages") from None
        except ZhiceError as e:
            raise chat.ApiError(500, str(e), "server_error") from None
        if not req.stream:
            return chat.completion(result, req.model)
        return StreamingResponse(_sse(chat.stream_chunks(result, req.model)),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @api.post("/retrieval")
    async def retrieval(request: Request):
        admit(request, dify_error)
        req = dify.parse_request(await _json(request, dify.DifyError(
            400, 400, "the request body is not valid JSON")))
        try:
            found = await run_in_threadpool(search, req)
        except BadQuestionError as e:
            raise dify.DifyError(400, 400, str(e)) from None
        return dify.records([h for h, _ in found], [s for _, s in found], req.score_threshold)

    return api


async def _json(request, error: ZhiceError):
    try:
        return await request.json()
    except ValueError:
        raise error from None


def _sse(chunks: Iterator[dict]) -> Iterator[str]:
    for c in chunks:
        yield f"data: {json.dumps(c, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


class ApiMount:
    """ASGI middleware: requests for the API's paths go to `api`, the rest on."""

    def __init__(self, app, api):
        self.app, self.api = app, api

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(API_PATHS):
            return await self.api(scope, receive, send)
        return await self.app(scope, receive, send)
