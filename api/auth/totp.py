"""RFC 6238 time-based one-time passwords (HMAC-SHA-1, 30-second steps, 6 digits), as
authenticator apps read them from an ``otpauth://`` URI.

Invariants: codes are compared in constant time; a code is accepted for its own step and one step
either side (clock drift). That a step works once per user is kept in the database
(``derivatives.persistence.guards.accept_totp_step``), for every gateway process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote

STEP_S = 30
DIGITS = 6
DRIFT_STEPS = 1


def new_secret() -> str:
    """A fresh 160-bit secret, base32 without padding (what authenticator apps take)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret_b32: str) -> bytes:
    return base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8), casefold=True)


def hotp(key: bytes, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226 HOTP with SHA-1 (dynamic truncation)."""
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp(key: bytes, unix_s: int, digits: int = DIGITS) -> str:
    """RFC 6238 TOTP at `unix_s` (T0 = 0, X = 30 s)."""
    return hotp(key, unix_s // STEP_S, digits)


def matching_step(secret_b32: str, code: str, unix_s: int) -> int | None:
    """The time step whose code `code` is (within the drift window), or None."""
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    key = _key(secret_b32)
    now = unix_s // STEP_S
    found = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(hotp(key, step), code):
            found = step
    return found


def provisioning_uri(secret_b32: str, user: str, issuer: str = "derivatives") -> str:
    """The ``otpauth://totp/...`` URI of a secret (QR code content)."""
    return (f"otpauth://totp/{quote(issuer)}:{quote(user)}?secret={secret_b32}&issuer={quote(issuer)}"
            f"&algorithm=SHA1&digits={DIGITS}&period={STEP_S}")
