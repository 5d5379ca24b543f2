"""The exceptions zhice raises; the CLI and the web UI turn them into messages."""


class ZhiceError(Exception):
    """Base of every error zhice raises on purpose; its text is shown to the user."""


class UnsupportedFileError(ZhiceError):
    """The file's format is not one zhice reads."""


class LoadError(ZhiceError):
    """A file of a supported format could not be read (corrupt, encrypted, empty)."""
