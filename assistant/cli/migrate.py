"""`zhice migrate`: copy an embedded index into Milvus, vectors and all (no re-embedding)."""

import argparse
import sys

from zhice.assistant.cli.common import UsageError, add_index_argument, index_dir


def add_arguments(command: str, p: argparse.ArgumentParser) -> None:
    add_index_argument(p)
    p.add_argument("--to", required=True, metavar="milvus:…",
                   help="the new Milvus index: milvus:PATH.db (Milvus Lite) or "
                        "milvus://HOST:PORT[/NAME] (a Milvus server)")


def run(args: argparse.Namespace) -> int:
    from zhice.index.migrate import migrate
    from zhice.index.stores import parse_store, recorded_store

    source = index_dir(args)
    if recorded_store(source) is not None:
        raise UsageError(f"{source} is a Milvus index already; migrate copies an embedded "
                         "index (a folder) into Milvus")
    target = parse_store(args.to)
    if target is None:
        raise UsageError("--to names the Milvus index to make: milvus:PATH.db or "
                         "milvus://HOST:PORT[/NAME]")
    done = 0

    def progress(_source: str) -> None:
        nonlocal done
        done += 1
        if sys.stderr.isatty():
            print(f"\r  migrate: {done} files", end="", file=sys.stderr, flush=True)

    summary = migrate(source, target, progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(f"migrated {source} into {target}: {summary.line()}; "
          f"use it with --index {target}")
    return 0
