"""`zhice mcp`, driven over stdio by the MCP SDK's own client."""

import asyncio
import json
import sys
from pathlib import Path

import pytest

Q_COUNT = "国家一共支持建设了多少个产业转型升级示范区？"


def _session(index: Path, calls):
    """Start `zhice mcp` on `index`, run `calls(session)` in its client session."""
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    async def run():
        server = StdioServerParameters(command=sys.executable, args=[
            "-m", "zhice.assistant.cli", "mcp", "--index", str(index)])
        async with stdio_client(server) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            return await calls(s)

    return asyncio.run(asyncio.wait_for(run(), 120))


@pytest.mark.slow
def test_mcp_tools_search_and_answer_with_citations(pristine: Path):
    from zhice.assistant.chain import Assistant

    async def calls(s):
        tools = await s.list_tools()
        asked = await s.call_tool("ask", {"question": Q_COUNT, "k": 5})
        found = await s.call_tool("search_documents", {"query": Q_COUNT, "k": 3})
        follow = await s.call_tool("ask", {"question": "那第二批呢？",
                                           "history": ["首批示范区是哪一年确定的？"]})
        bad = await s.call_tool("ask", {"question": "？？？"})
        return tools, asked, found, follow, bad

    tools, asked, found, follow, bad = _session(pristine, calls)
    assert {t.name for t in tools.tools} == {"ask", "search_documents"}
    with Assistant.open(pristine) as assistant:
        expected = assistant.ask(Q_COUNT)
        passages = assistant.search(Q_COUNT, 3)
    result = asked.structured_content
    assert not asked.is_error and result["answer"] == expected.answer
    assert result["abstained"] is False and [c["marker"] for c in result["citations"]]
    assert json.loads(asked.content[0].text)["answer"] == expected.answer  # text for models
    assert [p["text"] for p in found.structured_content["passages"]] == [
        h.chunk.text for h, _ in passages]
    assert "第二批" in follow.structured_content.get("searched_question", "")
    assert bad.is_error and "is not a question" in bad.content[0].text
