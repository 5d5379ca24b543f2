"""The search key: what is matched, as opposed to the original text that is shown.

Chunks, queries and eval quotes all go through `search_key`, so that a question in
simplified script finds a passage written in traditional script.
"""

import re
import unicodedata
from functools import cache

from .types import CELL_SEPARATOR

_SPACE = re.compile(r"\s+")
# The cell separator the loaders write, with or without its spaces: a quote copied from
# a table as the document shows it has spaces there, or nothing.
_CELLS = re.compile(rf"\s*{re.escape(CELL_SEPARATOR.strip())}\s*")
_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "「": '"', "」": '"',
                         "『": '"', "』": '"'})
# Control characters (C0, DEL, C1) other than tab, LF and CR, whose handling is the
# loaders', and the zero-width characters web pages and Word files carry invisibly
# (U+FEFF is a byte order mark only at the start of a file; inside text it is one more
# zero-width space). A stray NUL or U+200B splits a word for search and for eval quotes.
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u200b-\u200d\u2060\ufeff]")
# Vertical tab, form feed (the page break of text files) and NEL break lines: as "\n"
# the words on either side stay apart.
_LINE_BREAKS = str.maketrans({"\x0b": "\n", "\x0c": "\n", "\x85": "\n"})


@cache
def _t2s():
    # OpenCC's converter loads its dictionaries on construction: once per process.
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese (OpenCC t2s); other text passes unchanged."""
    return _t2s().convert(text) if text else text


def strip_invisible(text: str) -> str:
    """text without control and zero-width characters; vertical tab, form feed and NEL
    become line feeds. Tab, LF and CR stay.

    >>> strip_invisible("规\\u200b划\\x00纲要\\x0c第二页")
    '规划纲要\\n第二页'
    """
    return _INVISIBLE.sub("", text).translate(_LINE_BREAKS)


def search_key(text: str) -> str:
    """NFKC, then traditional to simplified: the form chunks and queries are searched in.
    Invisible characters go first: a question pasted from a web page may hold them."""
    return to_simplified(unicodedata.normalize("NFKC", strip_invisible(text)))


def match_key(text: str) -> str:
    """The form eval matching uses: the search key with all whitespace and table cell
    separators removed and curly quotes made straight (INTERFACES.md, dataset file).

    >>> match_key("数量（个） | 102 | 120") == match_key("数量（个）| 102| 120") == "数量(个)102120"
    True
    """
    return _SPACE.sub("", _CELLS.sub("", search_key(text)).translate(_QUOTES))


def is_traditional(text: str) -> bool:
    """True when converting to simplified changes the text, i.e. it has traditional forms."""
    return to_simplified(text) != text
