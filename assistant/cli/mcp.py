"""`zhice mcp`: an MCP server over stdio, for agent tools (assistant/api/mcp.py).

stdout carries the protocol: everything zhice has to say goes to stderr.
"""

import argparse
import sys

from zhice.assistant.cli.common import (
    add_embedder_argument,
    add_index_argument,
    add_mode_arguments,
    open_assistant,
)


def add_arguments(command: str, p: argparse.ArgumentParser) -> None:
    add_index_argument(p)
    add_embedder_argument(p)
    add_mode_arguments(p)


def run(args: argparse.Namespace) -> int:
    from zhice.assistant.api.mcp import build_server

    with open_assistant(args) as assistant:
        print(f"zhice mcp: serving {len(assistant.index.files())} documents over stdio",
              file=sys.stderr, flush=True)
        build_server(assistant).run("stdio")
    return 0
