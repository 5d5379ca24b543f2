"""`zhice`: the command line. Parses, dispatches, and turns errors into messages.

Exit codes (INTERFACES.md): 0 ok, 2 usage or bad input with a one-line reason on
stderr, 1 anything else. Only the module of the command being run is imported (its
options are added to its parser then), so `zhice --help` loads none of them.
"""

import argparse
import logging
import os
import sys
from importlib import import_module

from zhice.ingest.errors import ZhiceError

# command -> module of this package with add_arguments(command, parser) and run(args) -> int
COMMANDS = {
    "ingest": ("documents", "load, clean, chunk, embed and index files or folders"),
    "remove": ("documents", "drop documents from the index"),
    "list": ("documents", "documents in the index, with chunk counts"),
    "show-page": ("documents", "write the scanned image of a page OCR read to a file"),
    "ask": ("ask", "answer one question with citations"),
    "eval": ("evaluate", "run a dataset of questions and print the metrics"),
    "serve": ("serve", "the chat web UI, the OpenAI-compatible and Dify APIs"),
    "mcp": ("mcp", "an MCP server over stdio, for agent tools"),
    "bench": ("bench", "ingest and query speed at several corpus sizes"),
    "migrate": ("migrate", "copy an embedded index into Milvus (no re-embedding)"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line, like every other bad input."""

    def error(self, message: str):
        print(f"zhice: {message}; see: {self.prog} --help", file=sys.stderr)
        raise SystemExit(2)


def _command_module(name: str):
    return import_module(f"{__name__}.{COMMANDS[name][0]}")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; the options of a command are added only for the one `argv` names
    (all of them when `argv` is None)."""
    parser = _Parser(
        prog="zhice", description="知策 zhice: answers about your policy documents, every "
        "sentence cited.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    wanted = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if argv is None or name == wanted:
            _command_module(name).add_arguments(name, p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code."""
    _quiet_libraries()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    module = _command_module(args.command)
    try:
        return module.run(args)
    except ZhiceError as e:
        print(f"zhice: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `zhice ask ... | head`: the reader left, nothing is wrong
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print("zhice: interrupted; the index is left as it was before the file in progress",
              file=sys.stderr)
        return 1


def _quiet_libraries() -> None:
    """jieba, pypdf and transformers talk on stderr; a user wants our messages only."""
    for name in ("jieba", "pypdf", "transformers", "sentence_transformers", "httpx", "faiss"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


if __name__ == "__main__":
    sys.exit(main())
