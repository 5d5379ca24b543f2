"""The servers the web and API tests share: a real Gradio server on 127.0.0.1 per kind
(management on, management off, password-gated), over an index of the bundled corpus
built with the fake embedder, for the whole session."""

import os
import shutil
import socket
from pathlib import Path
from typing import NamedTuple

import pytest

from zhice.assistant.chain import Assistant
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus"
ADMIN, PASSWORD = "admin-pw-for-tests", "page-pw-for-tests"
MILVUS_KEYS = ("milvus-key",)


class Server(NamedTuple):
    url: str
    app: object
    assistant: Assistant
    index_dir: Path | str  # a folder, or a milvus: spec

    @property
    def service(self):
        return self.app.zhice_service


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(index_dir: Path | str, admin_password: str | None = None, password: str | None = None,
          max_upload_mb: float = 20, throttle=None, api_keys: tuple[str, ...] = (),
          host: str = "127.0.0.1") -> Server:
    """A server on a free port; `throttle` guards its page login, `api_keys` its API."""
    from zhice.assistant.web.page import build_app, launch

    assistant = Assistant.open(index_dir)
    app = build_app(assistant, admin_password=admin_password, max_upload_mb=max_upload_mb)
    _, url, _ = launch(app, host, free_port(), password=password, block=False,
                       quiet=True, max_upload_mb=max_upload_mb, throttle=throttle,
                       api_keys=api_keys)
    return Server(url.rstrip("/"), app, assistant, index_dir)


def stop(server: Server) -> None:
    server.app.close()
    server.assistant.close()


@pytest.fixture(scope="session", autouse=True)
def upload_folder(tmp_path_factory: pytest.TempPathFactory):
    """Gradio's upload folder of this session's servers, as `zhice serve` has its own."""
    folder = tmp_path_factory.mktemp("gradio-uploads")
    before = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = before


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("web") / "index"
    with ZhiceIndex.open(directory, embedder="fake", create=True) as index:
        index_files(index, [CORPUS])
    return directory


@pytest.fixture(scope="session")
def pristine(corpus_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the corpus index that no test writes to."""
    directory = tmp_path_factory.mktemp("web-ro") / "index"
    shutil.copytree(corpus_index, directory)
    return directory


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory):
    """Management on (ADMIN), API keys MILVUS_KEYS, over a Milvus Lite index of the
    bundled corpus (fake embedder): `zhice serve --index milvus:PATH.db`."""
    pytest.importorskip("milvus_lite")
    from zhice.index.stores import open_index

    where = f"milvus:{tmp_path_factory.mktemp('milvus') / 'corpus.db'}"
    with open_index(where, embedder="fake", create=True) as index:
        index_files(index, [CORPUS])
    s = start(where, admin_password=ADMIN, api_keys=MILVUS_KEYS)
    yield s
    stop(s)


@pytest.fixture(scope="session")
def server(corpus_index: Path):
    """Management on (admin password ADMIN); uploads and deletes change its index."""
    s = start(corpus_index, admin_password=ADMIN)
    yield s
    stop(s)


@pytest.fixture(scope="session")
def plain_server(pristine: Path):
    """Management off: no admin password."""
    s = start(pristine)
    yield s
    stop(s)


@pytest.fixture(scope="session")
def locked_server(pristine: Path):
    """Asking needs PASSWORD (Gradio auth, any user name)."""
    s = start(pristine, password=PASSWORD)
    yield s
    stop(s)


def api_client(url: str, **kwargs):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, **kwargs)
