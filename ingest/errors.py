"""The exceptions zhice raises; the CLI and the web UI turn them into messages."""


class ZhiceError(Exception):
    """Base of every error zhice raises on purpose; its text is shown to the user.

    `zh` is the same message in Chinese, for the chat page; the CLI and the API show
    the English text (scripts match on it), the page `zh` when there is one.
    """

    def __init__(self, message: str = "", zh: str | None = None):
        super().__init__(message)
        self.zh = zh or message


class UnsupportedFileError(ZhiceError):
    """The file's format is not one zhice reads."""


class LoadError(ZhiceError):
    """A file of a supported format could not be read (corrupt, encrypted, empty, past
    a size limit or its time and memory budget)."""
