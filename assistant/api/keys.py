"""Who may use the API: Bearer keys, or without any key, this machine only.

Keys come from `--api-key` (repeatable) and `$ZHICE_API_KEY` (several separated by
commas). Without a key the API answers only clients on the loopback address, so a
server that listens on the network needs one (`zhice serve` refuses to start without).
"""

import hmac
import ipaddress
import os
from collections.abc import Iterable

from . import API_KEY_ENV


def keys_from(flags: Iterable[str] | None = None, environ: dict | None = None) -> tuple[str, ...]:
    """The keys given as flags and in the environment, without empties or repeats."""
    env = (os.environ if environ is None else environ).get(API_KEY_ENV, "")
    found = [*(flags or ()), *env.split(",")]
    return tuple(dict.fromkeys(k.strip() for k in found if k and k.strip()))


def bearer(header: str | None) -> str | None:
    """The key of an `Authorization: Bearer KEY` header; None when it has another form."""
    scheme, _, key = (header or "").strip().partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None


def key_matches(given: str, keys: Iterable[str]) -> bool:
    """Whether `given` is one of `keys`, comparing each in constant time (no early exit:
    the time says nothing about which key, or how much of it, matched)."""
    match = False
    for key in keys:
        match |= hmac.compare_digest(given.encode(), key.encode())
    return match


def is_loopback(host: str | None) -> bool:
    try:
        return ipaddress.ip_address((host or "").split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"
