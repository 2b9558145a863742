"""Dashboard sessions: short-lived HS256 JSON Web Tokens (RFC 7519) signed with the settings'
session secret.

Claims: ``sub`` (user name), ``uid`` (user id), ``role`` (``trader``, ``risk`` or ``admin``),
``iat``, ``exp``, ``gen`` (the user's credential generation at issue) and a random ``jti``.

Invariants: only ``HS256`` is accepted (``alg: none`` and every other algorithm are refused,
whatever the header says); ``exp``, ``iat``, ``sub``, ``uid`` and ``role`` are required; an
expired token is refused (``exp`` checked here against the app's injected clock); the role is re-read from the token only (a changed role takes effect at
the next login, at most ``session_ttl_s`` later); setting a user's credentials (a password reset)
ends every session issued to them before (:meth:`Sessions.end_sessions`: their ``gen`` no longer
matches). Generations live in the process, which is the one that serves the dashboard.
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


class InvalidSession(Exception):
    """The token is malformed, forged, of another algorithm, or expired."""


class Sessions:
    """Issues and checks session tokens."""

    def __init__(self, secret: str | None, ttl_s: int, clock_s: Callable[[], int]) -> None:
        self._key = (secret or secrets.token_hex(32)).encode()
        self.ttl_s = ttl_s
        self._clock_s = clock_s
        self._generations: dict[int, int] = {}

    def issue(self, name: str, user_id: int, role: str) -> tuple[str, Session]:
        """A signed token for the user, and what it carries."""
        now = self._clock_s()
        session = Session(name, user_id, role, now + self.ttl_s)
        claims = {"sub": name, "uid": user_id, "role": role, "iat": now, "exp": session.expires_s,
                  "gen": self._generations.get(user_id, 0), "jti": secrets.token_hex(8)}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), session

    def end_sessions(self, user_id: int) -> None:
        """Ends every session issued to the user so far."""
        self._generations[user_id] = self._generations.get(user_id, 0) + 1

    def verify(self, token: str) -> Session:
        """The session a token carries.

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
            session = Session(str(claims["sub"]), int(claims["uid"]), str(claims["role"]), int(claims["exp"]))
            generation = int(claims["gen"])
        except (jwt.PyJWTError, TypeError, ValueError) as bad:
            raise InvalidSession(str(bad)) from None
        if generation != self._generations.get(session.user_id, 0):
            raise InvalidSession("the user's credentials changed since this session began")
        if session.role not in ROLES or session.expires_s <= self._clock_s():
            raise InvalidSession("expired or unknown role")
        return session
