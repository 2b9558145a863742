"""Staff authentication: RFC 6238 test vectors, scrypt hashes, JWT checks (``alg: none``, other
algorithms, forged and expired tokens), and over a real socket: logins, admin TOTP (required,
single use), role gating of /admin and /risk, and the admin tokens still working."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from pathlib import Path

import httpx
import jwt
import pytest

from api.auth import passwords
from api.auth.sessions import InvalidSession, Sessions
from api.auth.throttle import MAX_FAILURES, WINDOW_MS, LoginThrottle
from api.auth.totp import STEP_S, matching_step, totp
from derivatives.persistence.db import Database
from derivatives.persistence.models import LoginFailure
from tests.api.conftest import admin
from tests.api.server import RunningServer
from tests.api.staff import current_code, login, make_staff, session

RFC6238_KEY = b"12345678901234567890"
RFC6238_SHA1 = [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
                (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")]


@pytest.mark.parametrize(("unix_s", "code"), RFC6238_SHA1)
def test_totp_matches_the_rfc_6238_sha1_vectors(unix_s: int, code: str) -> None:
    assert totp(RFC6238_KEY, unix_s, digits=8) == code


def test_totp_accepts_one_step_of_drift_and_nothing_else() -> None:
    secret = base64.b32encode(RFC6238_KEY).decode()
    now = 1_700_000_000
    assert matching_step(secret, current_code(secret, now), now) == now // STEP_S
    assert matching_step(secret, current_code(secret, now - STEP_S), now) == now // STEP_S - 1
    assert matching_step(secret, current_code(secret, now - 2 * STEP_S), now) is None
    assert matching_step(secret, "12345", now) is None
    assert matching_step(secret, "abcdef", now) is None


def test_passwords_are_salted_scrypt_and_verified_exactly() -> None:
    first, second = passwords.hash_password("correct horse"), passwords.hash_password("correct horse")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert passwords.verify_password("correct horse", first)
    assert not passwords.verify_password("correct hors", first)
    assert not passwords.verify_password("correct horse", None)
    assert not passwords.verify_password("correct horse", "scrypt$garbage")
    with pytest.raises(ValueError):
        passwords.hash_password("short")


def test_throttle_refuses_a_name_after_five_failures_for_fifteen_minutes(tmp_path: Path) -> None:
    now = [0]
    throttle = LoginThrottle(lambda: now[0])
    db = Database(f"sqlite:///{tmp_path / 'throttle.db'}")
    db.migrate()
    with db.session() as s:
        for minute in range(MAX_FAILURES):
            assert throttle.retry_after_ms(s, "eve") == 0
            now[0] = minute * 60_000
            throttle.failed(s, "eve")
        assert throttle.retry_after_ms(s, "eve") == WINDOW_MS - now[0]
        assert throttle.retry_after_ms(s, "mallory") == 0, "per name"
        now[0] = WINDOW_MS
        assert throttle.retry_after_ms(s, "eve") == 0, "the oldest failure expired"
        throttle.failed(s, "eve")
        assert throttle.retry_after_ms(s, "eve") == 60_000, "the second failure (minute 1) ends the refusal"
        throttle.succeeded(s, "eve")
        assert throttle.retry_after_ms(s, "eve") == 0
        assert s.query(LoginFailure).count() == 0, "expired failures were dropped, the rest cleared"
    db.dispose()


def test_repeated_failed_logins_are_throttled_even_with_the_right_password(server: RunningServer) -> None:
    user = make_staff(server, "risk")
    for _ in range(MAX_FAILURES):
        assert login(server, dataclasses.replace(user, password="not the password")).status_code == 401
    throttled = login(server, user)
    assert throttled.status_code == 429 and throttled.json()["code"] == -1003
    assert 0 < int(throttled.headers["Retry-After"]) <= WINDOW_MS // 1000


def _unsigned(claims: dict[str, object], alg: str) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims)}."


def test_sessions_accept_only_current_hs256_tokens_of_their_key() -> None:
    now = [1_700_000_000]
    sessions = Sessions("k" * 48, 60, lambda: now[0])
    token, issued = sessions.issue("carol", 7, "risk", 3)
    assert sessions.verify(token) == issued and issued.epoch == 3
    claims = jwt.decode(token, "k" * 48, algorithms=["HS256"], options={"verify_exp": False})
    refused = [
        _unsigned(claims, "none"),
        jwt.encode(claims, "k" * 48, algorithm="HS384"),
        jwt.encode(claims, "x" * 48, algorithm="HS256"),
        jwt.encode({**claims, "role": "admin"}, "x" * 48, algorithm="HS256"),
        jwt.encode({k: v for k, v in claims.items() if k != "exp"}, "k" * 48, algorithm="HS256"),
        jwt.encode({**claims, "role": "root"}, "k" * 48, algorithm="HS256"),
        token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1],
        "not.a.token",
    ]
    for bad in refused:
        with pytest.raises(InvalidSession):
            sessions.verify(bad)
    now[0] += 60
    with pytest.raises(InvalidSession):
        sessions.verify(token)


def test_logins_sessions_and_roles(server: RunningServer) -> None:
    trader, risk, boss = (make_staff(server, role) for role in ("trader", "risk", "admin"))
    assert trader.totp_secret is None and risk.totp_secret is None and boss.totp_secret is not None

    wrong = login(server, dataclasses.replace(risk, password="wrong password"))
    unknown = httpx.post(f"{server.base}/api/v1/auth/login", json={"username": "nobody", "password": "x" * 9})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() and wrong.json()["code"] == -1002

    answer = login(server, risk)
    assert answer.status_code == 200 and answer.json()["role"] == "risk"
    assert answer.json()["expiresAt"] > time.time() * 1000

    assert login(server, boss, code="").status_code == 401
    assert login(server, boss, code="000000").json()["code"] == -1002
    code = current_code(boss.totp_secret or "")
    assert login(server, boss, code=code).status_code == 200
    assert login(server, boss, code=code).status_code == 401, "a TOTP code works once"

    with session(server, trader) as as_trader, session(server, risk) as as_risk:
        assert as_trader.get("/api/v1/auth/me").json() == {"name": trader.name, "role": "trader"}
        assert as_trader.get("/risk/accounts").status_code == 403
        assert as_risk.get("/risk/accounts").json()["code"] == -1020, "past the role gate; risk services off"
        assert as_risk.get("/admin/users").status_code == 403
        assert as_risk.get("/admin/users").json()["code"] == -1002
    assert httpx.get(f"{server.base}/risk/accounts").json()["code"] == -1002
    assert httpx.get(f"{server.base}/risk/accounts", headers={"Authorization": "Bearer x.y.z"}).status_code == 401


def test_admin_sessions_reach_admin_routes_and_are_the_audit_actor(server: RunningServer) -> None:
    boss = make_staff(server, "admin")
    answer = login(server, boss)
    assert answer.status_code == 200, answer.text
    headers = {"Authorization": f"Bearer {answer.json()['token']}"}
    created = httpx.post(f"{server.base}/admin/users", json={"name": f"by{boss.name}"}, headers=headers)
    assert created.status_code == 200, created.text
    with admin(server) as client:
        entries = client.get("/admin/audit-log", params={"limit": 50}).json()
    assert any(e["action"] == "admin.enrol" and e["target"] == f"user:{boss.user_id}" for e in entries)
    assert any(e["actor"] == boss.name and e["action"] == "user.create" for e in entries)
