"""`zhice mcp`: the documents as MCP tools, for agent tools, over stdio.

    search_documents(query, k)    the passages the chain would answer from, with scores
    ask(question, k, history)     the checked answer with its citations, or abstained

Built on the official MCP SDK (`MCPServer`, mcp 2.x). A bad question is a tool error
the agent can read; anything else is the SDK's crash report.
"""

from typing import Any

from zhice.assistant.chain import Assistant
from zhice.ingest.errors import ZhiceError

INSTRUCTIONS = (
    "知策 zhice answers questions about the user's Chinese policy documents. `ask` gives an "
    "answer in which every sentence carries a citation [n] checked against the passage it "
    "points to, or says that the documents do not answer (abstained: true); quote it with "
    "its sources. `search_documents` returns the passages themselves, best first.")


def build_server(assistant: Assistant):
    """The MCP server over an open assistant (its mode decides how `ask` answers)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("zhice", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(description="Search the indexed policy documents: the passages that best "
                 "answer `query` (Chinese, simplified or traditional), best first, each with "
                 "its document, heading, offsets and a score from 0 to 1 (how much of the "
                 "query its best sentence holds).")
    def search_documents(query: str, k: int = 5) -> dict[str, Any]:
        try:
            found = assistant.search(query, k)
        except ZhiceError as e:
            raise ToolError(str(e)) from None
        return {"passages": [
            {"rank": rank, "source": h.chunk.source, "title": h.chunk.title,
             "heading": h.chunk.path, "text": h.chunk.text, "start": h.chunk.start,
             "end": h.chunk.end, "page": h.chunk.page, "score": round(score, 4)}
            for rank, (h, score) in enumerate(found, 1)]}

    @server.tool(description="Answer a question from the indexed policy documents. Every "
                 "sentence of `answer` ends with [n], a citation checked against the passage "
                 "`citations[n]` names; `abstained` is true when the documents do not answer. "
                 "`history`: the earlier questions of the conversation, oldest first, for "
                 "follow-ups such as 那株洲呢？")
    def ask(question: str, k: int = 5, history: list[str] | None = None) -> dict[str, Any]:
        try:
            answer = assistant.ask(question, k=k, history=list(history or []))
        except ZhiceError as e:
            raise ToolError(str(e)) from None
        result = answer.to_dict()
        result.pop("retrieved")  # the cited passages are in citations; search shows the rest
        return result

    return server
