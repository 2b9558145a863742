"""Who is calling a staff route, and whether their role allows it.

A staff caller presents ``Authorization: Bearer <credential>`` (a WebSocket: its first message,
``{"token": "<credential>"}``, so that no credential is ever part of a URL, where access logs and
proxies would record it), where the credential is either
    * a dashboard session (JWT of :mod:`api.auth.sessions`): the user's name and role, or
    * a configured admin token (``DERIVATIVES_ADMIN_TOKEN(S)``): that identity, role ``admin``.
      Kept for scripts, the CLI's bootstrap and the tests; a TOTP-protected session is the way in
      for people.

Roles nest: ``admin`` may do everything ``risk`` may. Every admin token is compared in constant
time, whether or not an earlier one matched.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.requests import HTTPConnection

from api import errors
from api.auth.sessions import InvalidSession
from api.deps import get_services
from api.services.staff import StaffAuth

RISK = ("risk", "admin")
ADMIN = ("admin",)


@dataclass(frozen=True, slots=True)
class Staff:
    """An authenticated staff caller: the audit actor and their role."""

    name: str
    role: str
    bootstrap: bool = False
    """The bootstrap admin token (``DERIVATIVES_ADMIN_TOKEN``): may request, never approve."""


BOOTSTRAP_ADMIN = "admin"
"""The identity name of the bootstrap admin token (``Settings.admins``)."""


def staff_auth(request: HTTPConnection) -> StaffAuth:
    """The app's staff login service (``app.state.staff``, set by ``api.desk.install``)."""
    auth: StaffAuth = request.app.state.staff
    return auth


StaffAuthDep = Annotated[StaffAuth, Depends(staff_auth)]


async def identify(credential: str, connection: HTTPConnection) -> Staff:
    """The caller a bearer credential names (a session: only while its epoch is current).

    Raises:
        ApiError: -1002 (401) when it names nobody.
    """
    services = get_services(connection)
    presented = credential.encode()
    actor = None
    for name, token in services.admins.items():
        if hmac.compare_digest(presented, token.encode()):
            actor = name
    if presented and actor is not None:
        return Staff(actor, "admin", bootstrap=actor == BOOTSTRAP_ADMIN)
    auth = staff_auth(connection)
    try:
        session = auth.sessions.verify(credential)
    except InvalidSession:
        raise errors.session_invalid() from None
    if not await auth.current(services.db, session):
        raise errors.session_invalid()
    return Staff(session.name, session.role)


def socket_credential(first_message: str) -> str:
    """The credential of a WebSocket's first message ``{"token": "..."}`` ("" when it has none)."""
    try:
        message = json.loads(first_message)
    except (ValueError, RecursionError):
        return ""
    token = message.get("token") if isinstance(message, dict) else None
    return token if isinstance(token, str) else ""


def authorize(staff: Staff, roles: tuple[str, ...]) -> Staff:
    """`staff` if their role is one of `roles`.

    Raises:
        ApiError: -1002 (403) otherwise.
    """
    if staff.role not in roles:
        raise errors.role_required(roles)
    return staff


def require(roles: tuple[str, ...]) -> Callable[..., Awaitable[Staff]]:
    """Dependency: the staff caller, who must hold one of `roles`."""

    async def dependency(request: Request, authorization: Annotated[str, Header()] = "") -> Staff:
        credential = authorization.removeprefix("Bearer ").strip()
        return authorize(await identify(credential, request), roles)

    return dependency


RiskStaff = Annotated[Staff, Depends(require(RISK))]
AdminStaff = Annotated[Staff, Depends(require(ADMIN))]
AnyStaff = Annotated[Staff, Depends(require(("trader", *RISK)))]
