"""Test helpers: staff users (trader, risk, admin) made through the admin API, and their logins."""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass

import httpx

from api.auth.totp import totp
from tests.api.conftest import ADMINS, admin
from tests.api.server import RunningServer


@dataclass(frozen=True)
class StaffUser:
    """A staff user with a dashboard password (and TOTP secret for admins)."""

    name: str
    role: str
    password: str
    user_id: int
    totp_secret: str | None


def current_code(secret: str, at_s: int | None = None) -> str:
    """The TOTP code of `secret` now (or at `at_s`), as an authenticator app shows it."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return totp(key, int(time.time()) if at_s is None else at_s)


def make_staff(server: RunningServer, role: str) -> StaffUser:
    """A new user of `role` with a password: a trader or risk officer through the admin API; an
    admin requested by the bootstrap token, approved by the named admin ``alice`` and enrolled
    through the one-time link (the new admin alone sets the password and receives the TOTP secret)."""
    name, password = f"{role}{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    if role == "admin":
        user_id, secret = enrol_admin(server, name, password)
        return StaffUser(name, role, password, user_id, secret)
    with admin(server) as client:
        user = client.post("/admin/users", json={"name": name, "role": role}).json()
        answer = client.post(f"/admin/users/{user['id']}/credentials", json={"password": password})
        assert answer.status_code == 200, answer.text
    return StaffUser(name, role, password, user["id"], None)


def enrol_admin(server: RunningServer, name: str, password: str) -> tuple[int, str]:
    """Four-eyes admin creation; the new admin's user id and TOTP secret."""
    with admin(server) as bootstrap, admin(server, ADMINS["alice"]) as alice:
        request = bootstrap.post("/admin/admins", json={"name": name})
        assert request.status_code == 200, request.text
        approved = alice.post(f"/admin/admins/{request.json()['id']}/approve")
        assert approved.status_code == 200, approved.text
    enrolled = httpx.post(f"{server.base}/api/v1/auth/enrol",
                          json={"token": approved.json()["enrolmentToken"], "password": password}, timeout=10)
    assert enrolled.status_code == 200, enrolled.text
    return int(enrolled.json()["userId"]), str(enrolled.json()["totpSecret"])


def login(server: RunningServer, user: StaffUser, code: str | None = None) -> httpx.Response:
    """``POST /api/v1/auth/login`` (with the current TOTP code for an admin unless `code` is given)."""
    if code is None and user.totp_secret is not None:
        code = current_code(user.totp_secret)
    body = {"username": user.name, "password": user.password, "totp": code or ""}
    return httpx.post(f"{server.base}/api/v1/auth/login", json=body, timeout=10)


def session(server: RunningServer, user: StaffUser) -> httpx.Client:
    """An HTTP client carrying a fresh session token of `user`."""
    answer = login(server, user)
    assert answer.status_code == 200, answer.text
    return httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {answer.json()['token']}"},
                        timeout=10)
