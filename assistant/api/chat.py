"""OpenAI chat completions in and out: requests to questions, answers to completions.

    req = parse_request(body, MODELS)          # the last user message is the question
    completion(answer, req.model)              # {"object": "chat.completion", ...}
    stream_chunks(answer, req.model)           # the same as chunks, for `stream: true`

The message text keeps the answer's `[n]` markers and ends with a short Markdown list
of the sources, so a plain chat client shows where each sentence came from. Programs
read the checked citations from the message's `reference` field (each item a
citation of the result object, with RAGFlow's `content` and `document_name` beside
our names) and the rest from `zhice` (abstained, the question searched, unmatched
constraints, sentences dropped as unsupported).
"""

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from zhice.assistant.chain import MAX_K, MAX_QUESTION
from zhice.assistant.check import dates_note
from zhice.assistant.followup import standalone
from zhice.assistant.types import Answer
from zhice.ingest.errors import ZhiceError

# model name a client picks -> answer mode (chain.MODES)
MODELS = {"zhice": "extractive", "zhice-llm": "llm"}


class ApiError(ZhiceError):
    """A request the API refuses, with its HTTP status and OpenAI error type and code."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.kind, self.code, self.param = status, kind, code, param

    def body(self) -> dict:
        """OpenAI's error shape."""
        return {"error": {"message": str(self), "type": self.kind, "param": self.param,
                          "code": self.code}}


@dataclass(frozen=True)
class ChatRequest:
    question: str
    history: tuple[str, ...]  # the earlier user turns, each as it would have been searched
    model: str
    mode: str
    stream: bool
    k: int = 5
    since: int | None = None  # only documents dated from this year on
    issuer: str | None = None  # only documents that name this issuer


def parse_request(body: object, models: dict[str, str]) -> ChatRequest:
    """The question, conversation and options of a chat-completion request body.

    `models` are the model names this server offers (name -> mode). Fields zhice does
    not use (temperature, max_tokens, tools, ...) are accepted and ignored."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "'model' is required; GET /v1/models lists them", param="model")
    if model not in models:
        raise ApiError(404, f"The model '{model}' does not exist; this server offers "
                       f"{', '.join(models)}", code="model_not_found", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list", param="messages")
    asked = [_text(m.get("content")) for m in messages
             if isinstance(m, dict) and m.get("role") == "user"]
    if not asked:
        raise ApiError(400, "no user message: the last user message is the question",
                       param="messages")
    question = asked[-1].strip()
    if not question:
        raise ApiError(400, "the question is empty; ask something, e.g. 示范区有多少个？",
                       param="messages")
    if len(question) > MAX_QUESTION:
        raise ApiError(413, f"the question is {len(question)} characters long; the limit "
                       f"is {MAX_QUESTION}. Ask about one thing at a time", param="messages")
    k = body.get("k", 5)  # not OpenAI's: the passages to answer from, as on the page
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ApiError(400, f"'k' must be a whole number between 1 and {MAX_K}", param="k")
    since, issuer = body.get("since"), body.get("issuer")  # zhice's own, like k
    if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
        raise ApiError(400, "'since' must be a year, e.g. 2020", param="since")
    if issuer is not None and not isinstance(issuer, str):
        raise ApiError(400, "'issuer' must be a string, e.g. 国务院", param="issuer")
    return ChatRequest(question, _searched(asked[:-1]), model, models[model],
                       body.get("stream") is True, k, since, (issuer or "").strip() or None)


def _text(content: object) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") == "text"
                       and isinstance(p.get("text"), str))
    return ""


def _searched(turns: list[str]) -> tuple[str, ...]:
    """The earlier questions as the page holds them: each follow-up rewritten from the
    ones before it (a client sends back only what the user typed)."""
    history: list[str] = []
    for turn in turns:
        if turn.strip():
            history.append(standalone(turn.strip(), history))
    return tuple(history)


# answers -> completions ----------------------------------------------------------------
def message_text(answer: Answer) -> str:
    """The answer with its markers, then the sources it cites as a Markdown list."""
    if answer.abstained or not answer.citations:
        return answer.answer
    lines = [answer.answer, *([dates_note(answer)] if dates_note(answer) else []), "", "来源："]
    for c in answer.citations:
        chunk = c.hit.chunk
        where = "，".join(x for x in (chunk.path, f"第{chunk.page}页" if chunk.page else "")
                         if x)
        lines.append(f"[{c.marker}] 《{chunk.title or chunk.source}》（{chunk.source}）"
                     + (f"：{where}" if where else ""))
    return "\n".join(lines)


def reference(answer: Answer) -> list[dict]:
    """The checked citations, as the result object has them plus RAGFlow's names."""
    return [{**c.to_dict(), "content": c.hit.chunk.text, "document_name": c.hit.chunk.source}
            for c in answer.citations]


def details(answer: Answer) -> dict:
    """What else a program needs to trust the answer."""
    return {"abstained": answer.abstained, "question": answer.question,
            "searched_question": answer.searched or answer.question,
            "unmatched": list(answer.unmatched), "unsupported": list(answer.unsupported),
            "sources_by_date": answer.to_dict().get("sources_by_date", []),
            "mode": answer.extra.get("mode", "extractive"),
            "note": answer.extra.get("llm_note"), "latency_ms": round(answer.latency_ms, 2)}


def completion(answer: Answer, model: str) -> dict:
    return {
        "id": _id(), "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": message_text(answer),
                                 "refusal": None, "reference": reference(answer),
                                 "zhice": details(answer)}}],
        "usage": _usage(answer),
    }


# a piece of text up to and including its sentence end (and any marker after it)
_PIECE = re.compile(r".+?(?:[。！？!?；;\n]+(?:\[\d+\])*|$)", re.S)


def stream_chunks(answer: Answer, model: str) -> Iterator[dict]:
    """The completion as `chat.completion.chunk`s: the role, the text a sentence at a
    time, then an empty delta with finish_reason "stop", `reference` and `zhice`.

    Only the checked answer is streamed: a model's draft may still lose sentences in
    the check, and a stream cannot take back what it sent."""
    cid, created = _id(), int(time.time())

    def chunk(delta: dict, finish: str | None = None, **extra) -> dict:
        return {"id": cid, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                             "finish_reason": finish}], **extra}

    yield chunk({"role": "assistant", "content": ""})
    for piece in _PIECE.findall(message_text(answer)):
        if piece:
            yield chunk({"content": piece})
    yield chunk({"reference": reference(answer), "zhice": details(answer)}, "stop",
                usage=_usage(answer))


def _usage(answer: Answer) -> dict:
    # characters, not tokens: zhice has no tokenizer of the client's model, and
    # clients that show usage need the fields present
    asked, said = len(answer.question), len(answer.answer)
    return {"prompt_tokens": asked, "completion_tokens": said, "total_tokens": asked + said}


def _id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def models_list(models: dict[str, str]) -> dict:
    """GET /v1/models."""
    return {"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": "zhice"} for name in models]}
