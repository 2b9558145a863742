"""The administrative edges, attacked and crashed on purpose, on SQLite and PostgreSQL:

* a lost database does not hand an old account (and its money) to the next new user: accounts are
  opened by the engine, and rebuilding the projection from the journal restores every user row;
* one admin token cannot make a second admin (four eyes, one-time enrolment, the bootstrap token
  never approves), and every step is audited;
* a withdrawal interrupted by a crash, before or after the engine debited the wallet, is resolved
  at the next start: debited exactly once and recorded COMPLETED;
* a standby on another machine serves with its own database after the primary's machine is lost.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import ccxt
import httpx
import pytest

from api.main import create_app
from derivatives.commands import Withdraw
from derivatives.engine import EngineClient
from derivatives.persistence import withdrawals
from derivatives.units import from_raw
from tests.api.conftest import (
    ADMIN_TOKEN,
    ADMINS,
    Database,
    admin,
    ccxt_config,
    execute,
    make_database,
    make_trader,
    publish_marks,
    settings_for,
)
from tests.api.server import RunningServer, start
from tests.api.staff import current_code
from tests.api.test_restart import _mark as mark_price
from tests.api.test_restart import _serve as serve_process
from tests.derivatives.test_replication import start_follower

BACKENDS = ["sqlite", "postgresql"]


def boot(db: Database, client: EngineClient) -> RunningServer:
    """A server over `db` around `client` (an engine that survives the server: its journal)."""
    server = start(create_app(settings_for(db, demo=False), client))
    publish_marks(server)
    return server


def wallet(client: EngineClient, account: int) -> Decimal:
    risk = client.account(account)
    return Decimal(0) if risk is None else risk.wallet


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_lost_database_never_hands_an_old_account_to_a_new_user(kind: str, tmp_path: Path) -> None:
    client = EngineClient()
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first_db = make_database(kind, tmp_path / "first")
    server = boot(first_db, client)
    with admin(server) as boss:
        old = boss.post("/admin/users", json={"name": "olduser"}).json()
        assert boss.post(f"/admin/users/{old['id']}/deposits", json={"amount": "5000"}).status_code == 200
    server.stop()
    # The database is lost; the engine (its journal) is not. A fresh database is rebuilt from it.
    lost_db = make_database(kind, tmp_path / "second")
    server = boot(lost_db, client)
    try:
        with admin(server) as boss:
            users = {u["name"]: u for u in boss.get("/admin/users").json()}
            assert users["olduser"]["accountId"] == old["accountId"], "the user row came back from the journal"
            new = boss.post("/admin/users", json={"name": "newuser"}).json()
        assert new["accountId"] not in (old["accountId"],) and new["accountId"] > old["accountId"]
        assert wallet(client, new["accountId"]) == 0
        assert wallet(client, old["accountId"]) == Decimal(5000)
    finally:
        server.stop()
        first_db.drop()
        lost_db.drop()


@pytest.fixture(scope="module", params=BACKENDS)
def exchange(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = make_database(request.param, tmp_path_factory.mktemp("admins"))
    server = boot(db, EngineClient())
    yield server
    server.stop()
    db.drop()


def test_one_admin_token_cannot_make_a_second_admin(exchange: RunningServer) -> None:
    with admin(exchange) as bootstrap, admin(exchange, ADMINS["alice"]) as alice, \
            admin(exchange, ADMINS["bob"]) as bob:
        # The old way in is closed: no admin through /admin/users, no admin TOTP secret from /credentials.
        assert bootstrap.post("/admin/users", json={"name": "mallory", "role": "admin"}).json()["code"] == -1130
        request = bootstrap.post("/admin/admins", json={"name": "mallory"}).json()
        assert request["status"] == "PENDING"
        refused = bootstrap.post(f"/admin/admins/{request['id']}/approve")
        assert refused.status_code == 403 and refused.json()["code"] == -1002 and "bootstrap" in refused.json()["msg"]
        own = alice.post("/admin/admins", json={"name": "carol"}).json()
        assert alice.post(f"/admin/admins/{own['id']}/approve").status_code == 403, "the requester cannot approve"
        approved = bob.post(f"/admin/admins/{own['id']}/approve").json()
        assert approved["status"] == "APPROVED" and approved["approvedBy"] == "bob"
        credentials = bootstrap.post(f"/admin/users/{approved['userId']}/credentials",
                                     json={"password": "taken-over-1"})
        assert credentials.json()["code"] == -1130 and "totpSecret" not in credentials.text
        audit = [(e["actor"], e["action"]) for e in bootstrap.get("/admin/audit-log").json()]
    token = approved["enrolmentToken"]
    enrolled = httpx.post(f"{exchange.base}/api/v1/auth/enrol", json={"token": token, "password": "carols-own-1"})
    assert enrolled.status_code == 200 and enrolled.json()["name"] == "carol"
    again = httpx.post(f"{exchange.base}/api/v1/auth/enrol", json={"token": token, "password": "mallorys-1"})
    assert again.json()["code"] == -1130, "the link works once"
    login = httpx.post(f"{exchange.base}/api/v1/auth/login", json={
        "username": "carol", "password": "carols-own-1", "totp": current_code(enrolled.json()["totpSecret"])})
    assert login.status_code == 200 and login.json()["role"] == "admin"
    with admin(exchange) as bootstrap:
        audit = [(e["actor"], e["action"]) for e in bootstrap.get("/admin/audit-log").json()]
    assert ("carol", "admin.enrol") in audit and ("bob", "admin.approve") in audit
    assert ("bob", "user.create") in audit and ("alice", "admin.request") in audit
    assert ("admin", "admin.request") in audit


def test_the_bootstrap_token_never_approves_a_withdrawal(exchange: RunningServer) -> None:
    with admin(exchange, ADMINS["alice"]) as alice, admin(exchange, ADMIN_TOKEN) as bootstrap:
        user = alice.post("/admin/users", json={"name": "payee"}).json()
        alice.post(f"/admin/users/{user['id']}/deposits", json={"amount": "100"})
        request = alice.post(f"/admin/users/{user['id']}/withdrawals", json={"amount": "10"}).json()
        refused = bootstrap.post(f"/admin/withdrawals/{request['id']}/approve")
        assert refused.status_code == 403 and refused.json()["code"] == -1002
        assert [w["status"] for w in alice.get("/admin/withdrawals").json() if w["id"] == request["id"]] == ["PENDING"]


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("engine_applied", [False, True], ids=["crash-before-engine", "crash-after-engine"])
def test_a_withdrawal_interrupted_by_a_crash_is_resolved_at_start(kind: str, engine_applied: bool,
                                                                   tmp_path: Path) -> None:
    client, db = EngineClient(), make_database(kind, tmp_path)
    server = boot(db, client)
    with admin(server, ADMINS["alice"]) as alice:
        user = alice.post("/admin/users", json={"name": "payee"}).json()
        alice.post(f"/admin/users/{user['id']}/deposits", json={"amount": "100"})
        request = alice.post(f"/admin/users/{user['id']}/withdrawals", json={"amount": "30"}).json()
    # bob's approval claims the request; the process dies before (or right after) the engine's Withdraw.
    with server.services.db.session() as session:
        claimed = withdrawals.claim(session, request["id"], "bob", 0)
    if engine_applied:
        execute(server, Withdraw(claimed.account_id, from_raw(claimed.amount), withdrawals.idempotency_key(claimed)))
    server.server.force_exit = True
    server.stop()
    assert wallet(client, user["accountId"]) == (Decimal(70) if engine_applied else Decimal(100))
    server = boot(db, client)
    try:
        with admin(server, ADMINS["alice"]) as alice:
            (resolved,) = [w for w in alice.get("/admin/withdrawals").json() if w["id"] == request["id"]]
            audit = [(e["actor"], e["action"]) for e in alice.get("/admin/audit-log").json()]
        assert resolved["status"] == "COMPLETED" and resolved["decidedBy"] == "bob"
        assert wallet(client, user["accountId"]) == Decimal(70), "debited exactly once"
        assert ("startup", "withdrawal.completed") in audit
    finally:
        server.stop()
        db.drop()


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_standby_on_another_machine_serves_with_its_own_database(kind: str, tmp_path: Path) -> None:
    """The primary's machine is lost with its database; the promoted standby serves from its own
    journal copy and a fresh database: every user is back on their account, a new key trades on it,
    and the next new user gets a new account."""
    primary_dir, standby_dir = tmp_path / "primary", tmp_path / "standby"
    primary_dir.mkdir()
    standby_dir.mkdir()
    follower, port, _ = start_follower(tmp_path, standby_dir / "journal")
    try:
        primary = serve_process(primary_dir, DERIVATIVES_REPLICATE_TO=f"127.0.0.1:{port}")
    except BaseException:
        follower.kill()
        raise
    try:
        trader = make_trader(primary, funds="1000")
        exchange = ccxt.binanceusdm(ccxt_config(primary, trader))
        price = float(mark_price(primary.base).quantize(Decimal(1))) - 500
        exchange.create_order("BTC/USDT:USDT", "limit", "buy", 0.01, price)
    finally:
        primary.kill()
    try:
        follower.process.send_signal(signal.SIGUSR1)
        while not follower.line().startswith("promoted"):
            pass
    finally:
        follower.kill()
    db = make_database(kind, standby_dir)
    schema = {} if db.schema is None else {"DERIVATIVES_DATABASE_SCHEMA": db.schema}
    standby = serve_process(standby_dir, DERIVATIVES_DATABASE_URL=db.url, **schema)
    try:
        with admin(standby) as boss:
            users = {u["name"]: u for u in boss.get("/admin/users").json()}
            assert users[trader.name]["accountId"] == trader.account, "the user row came back from the journal"
            key = boss.post(f"/admin/users/{users[trader.name]['id']}/api-keys", json={"label": "again", "trade": True})
            newcomer = boss.post("/admin/users", json={"name": "after-failover"}).json()
        assert newcomer["accountId"] > trader.account
        again = ccxt.binanceusdm(ccxt_config(standby, dataclasses.replace(
            trader, api_key=key.json()["apiKey"], secret=key.json()["secret"])))
        assert [(o["price"], o["amount"]) for o in again.fetch_open_orders("BTC/USDT:USDT")] == [(price, 0.01)]
        assert again.fetch_balance()["USDT"]["total"] == 1000
        again.cancel_all_orders("BTC/USDT:USDT")
        assert again.fetch_open_orders("BTC/USDT:USDT") == []
    finally:
        standby.kill()
        db.drop()
