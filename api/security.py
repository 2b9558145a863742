"""HMAC-SHA256 request signing as Binance and ccxt do it (CCXT.md §4), and the API-key store.

Invariants:
    * The signature is checked over the exact bytes received: the query string (GET/DELETE) or
      the raw form body (POST/PUT), up to ``&signature=``; parameters are never re-encoded.
      Binance's general rule (query string + body, concatenated) is what this computes.
    * ``timestamp`` must satisfy ``timestamp < now + 1000`` and ``now - timestamp <= recvWindow``
      (default 5000, at most the configured maximum), else ``-1021``.
    * Key lookups are cached; revoking a key through the admin API evicts it at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from dataclasses import dataclass

from api import errors
from derivatives.persistence import accounts
from derivatives.persistence.accounts import KeyView
from derivatives.persistence.db import Database

API_KEY_RE = re.compile(r"^[A-Za-z0-9]{1,64}$")
SIGNATURE_RE = re.compile(r"^[0-9a-fA-F]{64}$")
DEFAULT_RECV_WINDOW = 5000


@dataclass(frozen=True, slots=True)
class SignedPayload:
    """The bytes a signature covers, and the signature sent (None when absent)."""

    payload: str
    signature: str | None


def split_signature(query: str, body: str) -> SignedPayload:
    """Separates ``signature=`` (the last parameter of the query or of the body) from the rest."""
    for part, other, query_side in ((query, body, True), (body, query, False)):
        index = part.rfind("&signature=")
        if index >= 0:
            signed, signature = part[:index], part[index + len("&signature="):]
        elif part.startswith("signature="):
            signed, signature = "", part[len("signature="):]
        else:
            continue
        return SignedPayload(signed + other if query_side else other + signed, signature)
    return SignedPayload(query + body, None)


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of `payload` under `secret`."""
    return hmac.new(secret.encode(), payload.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def verify(secret: str, signed: SignedPayload) -> None:
    """Checks the signature.

    Raises:
        ApiError: -1102 when missing, -1022 when wrong.
    """
    if not signed.signature:
        raise errors.missing_parameter("signature")
    if not SIGNATURE_RE.fullmatch(signed.signature):
        raise errors.bad_signature()
    if not hmac.compare_digest(sign(secret, signed.payload), signed.signature.lower()):
        raise errors.bad_signature()


def check_timestamp(timestamp: int | None, recv_window: int | None, now_ms: int, max_window: int) -> None:
    """Binance's timestamp rule.

    Raises:
        ApiError: -1102 (missing), -1131 (window too large) or -1021 (outside the window).
    """
    if timestamp is None:
        raise errors.missing_parameter("timestamp")
    window = DEFAULT_RECV_WINDOW if recv_window is None else recv_window
    if window > max_window:
        raise errors.recv_window_too_large(max_window)
    if not (timestamp < now_ms + 1000 and now_ms - timestamp <= window):
        raise errors.timestamp_outside_window()


class KeyStore:
    """API keys by key text, cached."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._cache: dict[str, KeyView | None] = {}

    def lookup(self, api_key: str) -> KeyView:
        """The live key and its owner (blocking; call from a worker thread).

        Raises:
            ApiError: -2014 for a malformed key, -2015 for an unknown, revoked or inactive one.
        """
        if not API_KEY_RE.fullmatch(api_key):
            raise errors.api_key_format()
        with self._lock:
            cached = self._cache.get(api_key, ...)
        if cached is ...:
            with self.db.reader() as session:
                cached = accounts.find_key(session, api_key)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[api_key] = cached
        if cached is None or cached.revoked or not cached.user.active:
            raise errors.api_key_rejected()
        return cached

    def peek(self, api_key: str) -> KeyView | None:
        """The live key if it is cached (non-blocking: safe on the event loop), else None (then
        :meth:`lookup` decides, off the loop)."""
        with self._lock:
            cached = self._cache.get(api_key)
        return cached if cached is not None and not cached.revoked and cached.user.active else None

    def evict(self, api_key: str | None = None) -> None:
        """Forgets one cached key (or all)."""
        with self._lock:
            if api_key is None:
                self._cache.clear()
            else:
                self._cache.pop(api_key, None)
