"""Where a Milvus index lives, as `--store` and `--index` name it: cheap to import
(`zhice list` of an embedded index reads these names and nothing of Milvus).

    milvus:PATH.db                 a Milvus Lite file (one process at a time)
    milvus://HOST:PORT[/NAME]      the collections NAME_* (default zhice_*) of a Milvus
                                   server or cluster
"""

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import StoreSpecError
from .paths import user_data_dir

DEFAULT_NAME = "zhice"
STORE_CHOICES = ("embedded", "milvus:PATH.db", "milvus://HOST:PORT[/NAME]")
# where a Milvus server's page images live on this machine (pages_folder)
PAGES_ENV = "ZHICE_PAGES_DIR"
# the variables the client reads its credentials from (the CLI's flags set them)
TOKEN_ENV, USER_ENV, PASSWORD_ENV = (
    "ZHICE_MILVUS_TOKEN", "ZHICE_MILVUS_USER", "ZHICE_MILVUS_PASSWORD")


@dataclass(frozen=True)
class MilvusSpec:
    """Where a Milvus index lives: a Milvus Lite file or a server, and its name."""

    uri: str  # an absolute PATH.db, or http://HOST:PORT
    name: str = DEFAULT_NAME

    @property
    def lite(self) -> bool:
        return self.uri.endswith(".db")

    def __str__(self) -> str:
        if self.lite:
            return f"milvus:{self.uri}"
        host = self.uri.removeprefix("http://")
        return f"milvus://{host}" + ("" if self.name == DEFAULT_NAME else f"/{self.name}")


def pages_folder(spec: MilvusSpec) -> Path:
    """Where the images of the pages OCR read are kept (index/pages.py): beside a Lite
    file (PATH.db.pages); for a server, on the machine that ingests, which Milvus holds
    no files for: $ZHICE_PAGES_DIR (a folder shared by every machine that ingests or
    serves, when there are several), else the per-user data folder, one folder per
    server and NAME."""
    if spec.lite:
        return Path(f"{spec.uri}.pages")
    server = spec.uri.removeprefix("http://").replace(":", "_")
    return user_data_dir("pages", PAGES_ENV) / f"{server}_{spec.name}"


def is_milvus(location: str | Path) -> bool:
    return str(location).startswith("milvus:")


def parse_milvus(spec: str) -> MilvusSpec:
    """`milvus:PATH.db` (Milvus Lite) or `milvus://HOST:PORT[/NAME]` (a server)."""
    spec = str(spec)
    if spec.startswith("milvus://"):
        host, _, name = spec.removeprefix("milvus://").partition("/")
        name = name.strip("/") or DEFAULT_NAME
        hostname, _, port = host.rpartition(":")
        if not hostname or not port.isdigit() or not _valid_name(name):
            raise StoreSpecError(
                f"{spec!r} is not a Milvus address; use milvus://HOST:PORT or "
                f"milvus://HOST:PORT/NAME (NAME: letters, digits, _)")
        return MilvusSpec(f"http://{host}", name)
    if spec.startswith("milvus:"):
        path = spec.removeprefix("milvus:")
        if not path.endswith(".db") or path.endswith("/.db"):
            raise StoreSpecError(
                f"{spec!r}: a Milvus Lite index is one file named *.db, e.g. milvus:./zhice.db")
        return MilvusSpec(str(Path(path).expanduser().resolve()))
    raise StoreSpecError(f"unknown store {spec!r}; choose one of: {', '.join(STORE_CHOICES)}")


def _valid_name(name: str) -> bool:
    """A Milvus collection name prefix: a letter or _, then letters, digits and _."""
    return name[:1].isascii() and (name[0].isalpha() or name[0] == "_") and all(
        c.isascii() and (c.isalnum() or c == "_") for c in name) and len(name) <= 200


def token() -> str:
    """$ZHICE_MILVUS_TOKEN, else $ZHICE_MILVUS_USER:$ZHICE_MILVUS_PASSWORD, else none."""
    user, password = os.environ.get(USER_ENV, ""), os.environ.get(PASSWORD_ENV, "")
    return os.environ.get(TOKEN_ENV, "") or (f"{user}:{password}" if user else "")
