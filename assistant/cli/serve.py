"""`zhice serve`: the chat web UI and the `ask` API endpoint, on Gradio."""

import argparse
import os
import sys

from zhice.assistant.api import API_KEY_ENV
from zhice.assistant.api.keys import is_loopback, keys_from
from zhice.assistant.cli.common import (
    UsageError,
    add_embedder_argument,
    add_index_argument,
    add_mode_arguments,
    index_dir,
    llm_config,
)
from zhice.assistant.web import ADMIN_ENV, MAX_UPLOAD_MB, PASSWORD_ENV


def add_arguments(command: str, p: argparse.ArgumentParser) -> None:
    add_index_argument(p)
    add_embedder_argument(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--admin-password", default=None, metavar="PASSWORD",
                   help=f"turns on uploading and deleting documents in the page "
                        f"(default: ${ADMIN_ENV}; without one, management is off)")
    p.add_argument("--password", default=None, metavar="PASSWORD",
                   help=f"a password for the page and the API (default: ${PASSWORD_ENV}; "
                        "without one, anyone who reaches the port can ask)")
    add_mode_arguments(p)  # --mode llm: the page offers (and defaults to) the LLM mode
    p.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_MB, metavar="MB",
                   help=f"largest file an upload may be (default {MAX_UPLOAD_MB})")
    p.add_argument("--api-key", action="append", default=None, metavar="KEY",
                   help=f"a key for the OpenAI-compatible and Dify APIs (Bearer); repeat for "
                        f"several (default: ${API_KEY_ENV}, comma-separated; without one the "
                        "APIs answer only on this machine)")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535; got {args.port}")
    if not 0 < args.max_upload_mb <= 1024:
        raise UsageError(f"--max-upload-mb must be between 0 and 1024; got {args.max_upload_mb}")
    for flag, env in (("admin_password", ADMIN_ENV), ("password", PASSWORD_ENV),
                      ("llm_api_key", "ZHICE_LLM_API_KEY"), ("api_key", API_KEY_ENV)):
        if getattr(args, flag, None):
            print(f"zhice serve: warning: --{flag.replace('_', '-')} is visible to every user "
                  f"of this machine (ps); set ${env} instead", file=sys.stderr)
    api_keys = keys_from(args.api_key)
    if not api_keys and not is_loopback(args.host):
        raise UsageError(
            f"--host {args.host} serves the API to the network, and it has no key; set "
            f"${API_KEY_ENV} (e.g. export {API_KEY_ENV}=$(openssl rand -hex 24)) or use "
            "--host 127.0.0.1")
    llm = llm_config(args)
    from zhice.assistant.web.page import serve  # Gradio loads in seconds: only for this command

    serve(index_dir(args), host=args.host, port=args.port,
          admin_password=args.admin_password or os.environ.get(ADMIN_ENV) or None,
          password=args.password or os.environ.get(PASSWORD_ENV) or None,
          embedder=args.embedder, max_upload_mb=args.max_upload_mb, llm=llm,
          api_keys=api_keys)
    return 0
