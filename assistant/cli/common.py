"""What several commands share: UsageError, the index, embedder and answer-mode options.

Imports nothing heavy at module level: `zhice --help` and `zhice list` must not pay
for langchain, numpy or a model.
"""

import argparse
from pathlib import Path

from zhice.assistant.types import MODES
from zhice.index.embedders import EMBEDDERS
from zhice.index.milvus_spec import PASSWORD_ENV, TOKEN_ENV, USER_ENV, is_milvus
from zhice.ingest.errors import ZhiceError


class UsageError(ZhiceError):
    """Bad arguments: reported like bad input, exit code 2."""


# flag -> the variable the Milvus client reads (index/milvus_spec.py)
MILVUS_AUTH = {"milvus_token": TOKEN_ENV, "milvus_user": USER_ENV,
               "milvus_password": PASSWORD_ENV}


def add_index_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", default=None, metavar="DIR|milvus:…",
                   help="index folder, milvus:PATH.db (Milvus Lite) or milvus://HOST:PORT "
                        "(a Milvus server) (default: $ZHICE_INDEX, else the per-user data "
                        "folder)")
    milvus = p.add_argument_group("Milvus server")
    for flag, env in MILVUS_AUTH.items():
        milvus.add_argument(f"--{flag.replace('_', '-')}", default=None, metavar="VALUE",
                            help=f"(default: ${env})")


def add_embedder_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--embedder", default=None, metavar="SPEC",
                   help=f"{EMBEDDERS} (default: the index's own; e5-small for a new index)")


def index_dir(args: argparse.Namespace) -> str | Path:
    """The index the arguments name: a folder, or a milvus: spec kept as typed (a Path
    would fold milvus://HOST into milvus:/HOST). Milvus credentials given as flags are
    handed on as the variables the client reads."""
    import os

    from zhice.index.paths import default_index_dir

    for flag, env in MILVUS_AUTH.items():
        if getattr(args, flag, None):
            os.environ[env] = getattr(args, flag)
    location = args.index or os.environ.get("ZHICE_INDEX") or None
    if location and is_milvus(location):
        return str(location)
    return Path(location).expanduser() if location else default_index_dir()


def add_filter_arguments(p: argparse.ArgumentParser) -> None:
    """--since and --issuer: answer only from some documents, by what they state."""
    p.add_argument("--since", type=int, metavar="YEAR",
                   help="only documents dated YEAR or later (a document that states no date "
                        "is left out)")
    p.add_argument("--issuer", metavar="NAME",
                   help="only documents that name NAME among their issuers (part of a name "
                        "counts: 国务院 also finds 国务院办公厅)")


def add_mode_arguments(p: argparse.ArgumentParser) -> None:
    """--mode and the chat model's settings (flags win over ZHICE_LLM_* variables)."""
    p.add_argument("--mode", choices=MODES, default="extractive",
                   help="extractive (default, no model) or llm (a chat model writes the answer)")
    p.add_argument("--llm-base-url", metavar="URL", help="OpenAI-compatible endpoint "
                   "($ZHICE_LLM_BASE_URL), e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--llm-model", metavar="NAME", help="model name ($ZHICE_LLM_MODEL)")
    p.add_argument("--llm-api-key", metavar="KEY", help="API key ($ZHICE_LLM_API_KEY)")
    p.add_argument("--llm-gguf", metavar="FILE", help="local GGUF model ($ZHICE_LLM_GGUF)")


def llm_config(args: argparse.Namespace):
    """The chat model the arguments configure, or None in extractive mode."""
    if args.mode != "llm":
        return None
    from zhice.assistant.llm import LlmConfig

    return LlmConfig.from_env(base_url=args.llm_base_url, model=args.llm_model,
                              api_key=args.llm_api_key, gguf=args.llm_gguf)


def open_assistant(args: argparse.Namespace):
    """The assistant the arguments ask for: index, embedder, answer mode."""
    from zhice.assistant.chain import Assistant

    return Assistant.open(index_dir(args), embedder=args.embedder, mode=args.mode,
                          llm=llm_config(args))
