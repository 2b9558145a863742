"""Abuse limits shared by every gateway process: two apps (two in-process servers) on one
database file or PostgreSQL schema, around one engine, share an IP ban (started on one, enforced
by the other within the once-a-second refresh), the login budget per IP and the failure budget per
user name, the end of a user's sessions on a password reset, and the single use of a TOTP code.
SQLite and PostgreSQL. Client IPs are distinct loopback addresses (127.0.0.x)."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from api.auth.gate import LOGINS_PER_IP_PER_MINUTE
from api.auth.throttle import MAX_FAILURES
from api.gateway import EngineGateway
from api.main import create_app
from api.ratelimit import BAN_AFTER_REFUSALS, SHARE_PERIOD_S
from tests.api.conftest import admin, make_database, publish_marks, serve, settings_for
from tests.api.server import RunningServer, start
from tests.api.staff import current_code, login, make_staff
from tests.api.test_abuse import bogus_login, from_ip, wait_for_fresh_window

WEIGHT_LIMIT = 30
SECRET = secrets.token_hex(32)
"""The session key every gateway process shares (``DERIVATIVES_SESSION_SECRET``)."""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[RunningServer, RunningServer]]:
    db = make_database(request.param, tmp_path_factory.mktemp("shared"))
    first = serve(db, weight_limit_per_minute=WEIGHT_LIMIT, session_secret=SECRET)
    gateway = first.services.gateway
    assert isinstance(gateway, EngineGateway), "an in-process server shares its engine"
    second = start(create_app(settings_for(db, demo=False, weight_limit_per_minute=WEIGHT_LIMIT,
                                           session_secret=SECRET), gateway.client))
    publish_marks(second)
    yield first, second
    second.stop()
    first.stop()
    db.drop()


def test_an_ip_banned_by_one_process_is_refused_by_the_other(pair: tuple[RunningServer, RunningServer]) -> None:
    first, second = pair
    wait_for_fresh_window()
    with from_ip(first, "127.0.2.1") as client:
        statuses = [client.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": 5}).status_code
                    for _ in range(WEIGHT_LIMIT // 2 + BAN_AFTER_REFUSALS + 1)]
    assert statuses[-BAN_AFTER_REFUSALS - 1:] == [429] * BAN_AFTER_REFUSALS + [418]
    deadline = time.monotonic() + 5 * SHARE_PERIOD_S
    with from_ip(second, "127.0.2.1") as client:
        while (answer := client.get("/fapi/v1/time")).status_code != 418:
            assert answer.status_code == 200 and time.monotonic() < deadline, "the ban was not shared in time"
            time.sleep(SHARE_PERIOD_S / 5)
    assert answer.json()["code"] == -1003 and "banned until" in answer.json()["msg"]
    assert 100 <= int(answer.headers["Retry-After"]) <= 120, "a first offence: two minutes"
    with from_ip(second, "127.0.2.2") as bystander:
        assert bystander.get("/fapi/v1/time").status_code == 200


def test_the_login_budget_of_an_ip_spans_both_processes(pair: tuple[RunningServer, RunningServer]) -> None:
    first, second = pair
    wait_for_fresh_window(margin_s=30)
    half = LOGINS_PER_IP_PER_MINUTE // 2
    with from_ip(first, "127.0.2.10") as one, from_ip(second, "127.0.2.10") as other:
        answers = [bogus_login(one, f"guess{i}") for i in range(half)]
        answers += [bogus_login(other, f"guess{i}") for i in range(LOGINS_PER_IP_PER_MINUTE - half)]
        assert [a.status_code for a in answers] == [401] * LOGINS_PER_IP_PER_MINUTE
        for client in (one, other):  # each process alone has seen at most half of the budget
            refused = bogus_login(client, "guess")
            assert refused.status_code == 429 and "IP(127.0.2.10)" in refused.json()["msg"]


def test_failed_logins_of_a_name_count_in_every_process(pair: tuple[RunningServer, RunningServer]) -> None:
    first, second = pair
    user = make_staff(first, "risk")
    wrong = dataclasses.replace(user, password="not the password")
    for n in range(MAX_FAILURES):
        assert login(first if n % 2 else second, wrong).status_code == 401
    for server in (first, second):
        throttled = login(server, user)
        assert throttled.status_code == 429 and throttled.json()["code"] == -1003, throttled.text


def test_a_password_reset_in_one_process_ends_the_session_in_the_other(
        pair: tuple[RunningServer, RunningServer]) -> None:
    first, second = pair
    risk = make_staff(first, "risk")
    token = login(first, risk).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{second.base}/api/v1/auth/me", headers=bearer).json() == {"name": risk.name, "role": "risk"}
    with admin(first) as boss:
        assert boss.post(f"/admin/users/{risk.user_id}/credentials", json={"password": "a-new-password-1"}).status_code == 200
    for server in (first, second):
        ended = httpx.get(f"{server.base}/api/v1/auth/me", headers=bearer)
        assert ended.status_code == 401 and ended.json()["code"] == -1002
    fresh = login(second, dataclasses.replace(risk, password="a-new-password-1")).json()["token"]
    assert httpx.get(f"{first.base}/api/v1/auth/me",
                     headers={"Authorization": f"Bearer {fresh}"}).json()["name"] == risk.name


def test_a_totp_code_used_in_one_process_is_refused_by_the_other(pair: tuple[RunningServer, RunningServer]) -> None:
    first, second = pair
    boss = make_staff(first, "admin")
    code = current_code(boss.totp_secret or "")
    assert login(first, boss, code).status_code == 200
    replayed = login(second, boss, code)
    assert replayed.status_code == 401 and "one-time code" in replayed.json()["msg"]
