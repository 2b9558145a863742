"""Password hashing with the standard library's scrypt (RFC 7914).

Stored form: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`` (16-byte random salt, 32-byte key), so
the cost can be raised later without invalidating old hashes.

Invariants: a plaintext password is never stored or logged; verification compares in constant
time and spends the same work on an unknown user (:data:`DUMMY_HASH`) as on a known one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 1
KEY_BYTES = 32
MIN_LENGTH = 8
MAX_LENGTH = 256


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=2**26, dklen=KEY_BYTES)


def hash_password(password: str) -> str:
    """The stored form of `password`.

    Raises:
        ValueError: If the password is shorter than 8 or longer than 256 characters.
    """
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValueError(f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters")
    salt = secrets.token_bytes(16)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored` (None, or a malformed hash, never matches but costs
    the same work)."""
    try:
        scheme, n, r, p, salt, expected = (stored or DUMMY_HASH).split("$")
        assert scheme == "scrypt"
        derived = _derive(password[:MAX_LENGTH], base64.b64decode(salt), int(n), int(r), int(p))
        return stored is not None and hmac.compare_digest(derived, base64.b64decode(expected))
    except (AssertionError, ValueError):
        return False


DUMMY_HASH = f"scrypt${N}${R}${P}${_b64(bytes(16))}${_b64(bytes(KEY_BYTES))}"
"""Checked against when the user does not exist, so timing does not reveal user names."""
