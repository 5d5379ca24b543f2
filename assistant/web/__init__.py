"""The chat page, a layer over the same chain as the command line.

`service` is what the page does, without Gradio (ask, open a passage, upload, remove);
`render` turns answers into escaped HTML; `page` builds the Gradio app and serves it;
`assets/` holds its stylesheet and script as real files. This module holds only the
settings the command line shows in its help, so `zhice --help` loads no Gradio.
"""

from importlib.resources import files

MAX_UPLOAD_MB = 20
ADMIN_ENV, PASSWORD_ENV = "ZHICE_ADMIN_PASSWORD", "ZHICE_PASSWORD"


def asset(name: str) -> str:
    """The text of a file in assets/ (package data, so an installed zhice has it too)."""
    return files(__name__).joinpath("assets", name).read_text(encoding="utf-8")
