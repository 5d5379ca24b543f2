"""Dify's external knowledge API (POST /retrieval), as Dify's documentation defines it:

    {"knowledge_id": "zhice", "query": "...", "retrieval_setting": {"top_k": 5,
     "score_threshold": 0.5}}  ->  {"records": [{"content", "score", "title", "metadata"}]}

Errors are `{"error_code", "error_msg"}`: 1001 a malformed Authorization header, 1002
a wrong key (both HTTP 403), 2001 an unknown knowledge_id (404); a malformed body is a
400 with the same shape.

`score` is the share of the question's weighted terms that the passage's best sentence
holds (0 to 1, the measure the re-ranker sorts by), so Dify's score threshold means
"how much of the question this passage says". Passages are those the chain retrieves,
best first.
"""

import math
from dataclasses import dataclass

from zhice.assistant.chain import MAX_K, MAX_QUESTION
from zhice.assistant.types import Hit
from zhice.ingest.errors import ZhiceError

KNOWLEDGE_ID = "zhice"  # the one knowledge base a server holds: its index


class DifyError(ZhiceError):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code = status, code

    def body(self) -> dict:
        return {"error_code": self.code, "error_msg": str(self)}


BAD_HEADER = (403, 1001, "Invalid Authorization header format. Expected 'Bearer <api-key>' "
                         "format.")
BAD_KEY = (403, 1002, "Authorization failed")


@dataclass(frozen=True)
class RetrievalRequest:
    query: str
    top_k: int
    score_threshold: float


def parse_request(body: object) -> RetrievalRequest:
    if not isinstance(body, dict):
        raise DifyError(400, 400, "the request body must be a JSON object")
    if body.get("knowledge_id") != KNOWLEDGE_ID:
        raise DifyError(404, 2001, f"The knowledge does not exist: "
                        f"{body.get('knowledge_id')!r}; this server's knowledge_id is "
                        f"{KNOWLEDGE_ID!r}")
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise DifyError(400, 400, "'query' must be a non-empty string")
    if len(query.strip()) > MAX_QUESTION:
        raise DifyError(413, 413, f"'query' is {len(query.strip())} characters long; the "
                        f"limit is {MAX_QUESTION}")
    setting = body.get("retrieval_setting")
    if not isinstance(setting, dict):
        raise DifyError(400, 400, "'retrieval_setting' must be an object with top_k and "
                                  "score_threshold")
    top_k, threshold = setting.get("top_k"), setting.get("score_threshold", 0.0)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_K:
        raise DifyError(400, 400, f"'retrieval_setting.top_k' must be a whole number "
                                  f"between 1 and {MAX_K}; got {top_k!r}")
    if (isinstance(threshold, bool) or not isinstance(threshold, int | float)
            or not math.isfinite(threshold) or not 0 <= threshold <= 1):
        raise DifyError(400, 400, f"'retrieval_setting.score_threshold' must be a number "
                                  f"from 0 to 1; got {threshold!r}")
    return RetrievalRequest(query.strip(), top_k, float(threshold))


def records(hits: list[Hit], scores: list[float], threshold: float) -> dict:
    """The response: each passage with its score, title and where it stands."""
    out = []
    for hit, score in zip(hits, scores):
        score = round(min(1.0, max(0.0, score)), 4)
        if score < threshold:
            continue
        c = hit.chunk
        out.append({"content": c.text, "score": score, "title": c.title or c.source,
                    "metadata": {"source": c.source, "heading": c.path, "start": c.start,
                                 "end": c.end, "page": c.page}})
    return {"records": out}
