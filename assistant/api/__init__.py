"""Standard APIs over the same chain, so chat clients and agent tools reach zhice.

`chat` turns OpenAI chat-completion requests into questions and answers into
completions; `dify` does the same for Dify's external knowledge API; `keys` holds the
API keys; `http` serves both beside the page (`zhice serve`, same port); `mcp` is the
MCP server of `zhice mcp`. None of them has logic of its own: every question goes
through `Assistant`, every answer is the checked one.
"""

API_KEY_ENV = "ZHICE_API_KEY"
