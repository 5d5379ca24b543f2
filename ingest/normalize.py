"""The search key: what is matched, as opposed to the original text that is shown.

Chunks, queries and eval quotes all go through `search_key`, so that a question in
simplified script finds a passage written in traditional script.
"""

import re
import unicodedata
from functools import cache

_SPACE = re.compile(r"\s+")
_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "「": '"', "」": '"',
                         "『": '"', "』": '"'})


@cache
def _t2s():
    # OpenCC's converter loads its dictionaries on construction: once per process.
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese (OpenCC t2s); other text passes unchanged."""
    return _t2s().convert(text) if text else text


def search_key(text: str) -> str:
    """NFKC, then traditional to simplified: the form chunks and queries are searched in."""
    return to_simplified(unicodedata.normalize("NFKC", text))


def match_key(text: str) -> str:
    """The form eval matching uses: the search key with all whitespace removed and
    curly quotes made straight (INTERFACES.md, dataset file)."""
    return _SPACE.sub("", search_key(text).translate(_QUOTES))


def is_traditional(text: str) -> bool:
    """True when converting to simplified changes the text, i.e. it has traditional forms."""
    return to_simplified(text) != text
