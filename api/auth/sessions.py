"""Dashboard sessions: short-lived HS256 JSON Web Tokens (RFC 7519) signed with the settings'
session secret.

Claims: ``sub`` (user name), ``uid`` (user id), ``role`` (``trader``, ``risk`` or ``admin``),
``iat``, ``exp``, ``gen`` (the user's session epoch at issue) and a random ``jti``.

Invariants: only ``HS256`` is accepted (``alg: none`` and every other algorithm are refused,
whatever the header says); ``exp``, ``iat``, ``sub``, ``uid``, ``role`` and ``gen`` are required;
an expired token is refused (``exp`` checked here against the app's injected clock); the role is
read from the token only (a changed role takes effect at the next login, at most
``session_ttl_s`` later). A token verified here is still only valid while its ``gen`` is the
user's current session epoch, which lives in the database so that every gateway process agrees
(setting a user's credentials moves it on: ``api.services.staff.StaffAuth.current``). Every
process must sign with the same secret (``DERIVATIVES_SESSION_SECRET``) to accept another's tokens.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
ROLES = ("trader", "risk", "admin")


@dataclass(frozen=True, slots=True)
class Session:
    """An authenticated staff member."""

    name: str
    user_id: int
    role: str
    expires_s: int
    epoch: int
    """The user's session epoch when it was issued."""


class InvalidSession(Exception):
    """The token is malformed, forged, of another algorithm, or expired."""


class Sessions:
    """Issues and checks session tokens."""

    def __init__(self, secret: str | None, ttl_s: int, clock_s: Callable[[], int]) -> None:
        self._key = (secret or secrets.token_hex(32)).encode()
        self.ttl_s = ttl_s
        self._clock_s = clock_s

    def issue(self, name: str, user_id: int, role: str, epoch: int) -> tuple[str, Session]:
        """A signed token for the user at their session `epoch`, and what it carries."""
        now = self._clock_s()
        session = Session(name, user_id, role, now + self.ttl_s, epoch)
        claims = {"sub": name, "uid": user_id, "role": role, "iat": now, "exp": session.expires_s,
                  "gen": epoch, "jti": secrets.token_hex(8)}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), session

    def verify(self, token: str) -> Session:
        """The session a token carries (its epoch still to be checked against the user's).

        Raises:
            InvalidSession: For any token that is not a current HS256 token of ours.
        """
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM:
                raise InvalidSession(f"algorithm {header.get('alg')!r} refused")
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM],
                                options={"require": ["exp", "iat", "sub", "uid", "role", "gen"],
                                         "verify_exp": False, "verify_iat": False})
            session = Session(str(claims["sub"]), int(claims["uid"]), str(claims["role"]), int(claims["exp"]),
                              int(claims["gen"]))
        except (jwt.PyJWTError, TypeError, ValueError) as bad:
            raise InvalidSession(str(bad)) from None
        if session.role not in ROLES or session.expires_s <= self._clock_s():
            raise InvalidSession("expired or unknown role")
        return session
