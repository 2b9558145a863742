"""Fixtures: a real server (uvicorn on a random port) over SQLite or PostgreSQL, users made
through the admin API, and stock ccxt clients configured only by URLs and options (CCXT.md §1)."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import httpx
import psycopg
import pytest

from api.gateway import EngineGateway
from api.main import create_app
from derivatives.commands import Command, SetMarkPrice
from derivatives.config import Settings
from derivatives.engine import BatchResult, EngineClient
from derivatives.persistence import db as persistence
from derivatives.persistence.projector import Batch
from tests.api.server import Endpoint, RunningServer, start

ADMIN_TOKEN = "test-admin-token-0123456789"
ADMINS = {"alice": "alice-token-0123456789", "bob": "bob-token-0123456789"}
"""Named admin identities (withdrawals need two)."""
PG_URL = os.environ.get("DERIVATIVES_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BTC, ETH = 1, 2
BTC_MARK, ETH_MARK = Decimal("50000"), Decimal("3000")


def _pg_available(url: str = PG_URL) -> bool:
    try:
        with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def postgres_required(environ: Mapping[str, str] = os.environ) -> bool:
    """In CI (``CI=true``) and under ``make test`` (``DERIVATIVES_TEST_REQUIRE_POSTGRES=1``) a
    PostgreSQL variant with no server fails; elsewhere (a developer's laptop) it is skipped."""
    return environ.get("CI") == "true" or environ.get("DERIVATIVES_TEST_REQUIRE_POSTGRES") == "1"


def require_postgres(url: str = PG_URL, environ: Mapping[str, str] = os.environ) -> None:
    """Skips, or fails where PostgreSQL is required, when no server answers at `url`."""
    if _pg_available(url):
        return
    message = f"PostgreSQL not reachable at {url}"
    if postgres_required(environ):
        pytest.fail(f"{message} (required in CI and under make test)", pytrace=False)
    pytest.skip(message)


class Executor(Protocol):
    """A server outside this process that runs commands itself (``tests.topology``)."""

    def execute(self, *commands: Command) -> BatchResult: ...


@dataclass
class Database:
    """A database URL (and schema) for one test module."""

    url: str
    schema: str | None

    def drop(self) -> None:
        """Drops the PostgreSQL schema."""
        if self.schema:
            with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


def make_database(kind: str, tmp: Path) -> Database:
    """A fresh SQLite file or PostgreSQL schema."""
    if kind == "sqlite":
        return Database(f"sqlite:///{tmp / 'api.db'}", None)
    require_postgres()
    return Database(PG_URL, f"t_{secrets.token_hex(6)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[persistence.Database]:
    """A migrated database on each backend."""
    target = make_database(request.param, tmp_path)
    database = persistence.Database(target.url, target.schema)
    database.migrate()
    yield database
    database.dispose()
    target.drop()


def settings_for(db: Database, **overrides: Any) -> Settings:
    """Test settings: no oracle (tests publish marks), admin token, demo user."""
    values: dict[str, Any] = {"database_url": db.url, "database_schema": db.schema, "oracle": "off",
                              "admin_token": ADMIN_TOKEN, "demo": True,
                              "admin_tokens": ",".join(f"{name}:{token}" for name, token in ADMINS.items())}
    values.update(overrides)
    return Settings(**values).validate()


def serve(db: Database, **overrides: Any) -> RunningServer:
    """Starts an app over `db` and publishes the test marks."""
    server = start(create_app(settings_for(db, **overrides), EngineClient()))
    publish_marks(server)
    return server


def execute(server: RunningServer | Executor, *commands: Command) -> Batch | BatchResult:
    """Runs commands through the server's gateway (or, for the real topology, the engine service)
    and waits until they are projected."""
    if not isinstance(server, RunningServer):
        return server.execute(*commands)
    gateway = server.services.gateway
    assert isinstance(gateway, EngineGateway), "an in-process server has the in-process gateway"
    batch = gateway.execute(commands)
    deadline = time.monotonic() + 10
    while server.services.worker.applied < batch.last_seq:
        assert time.monotonic() < deadline, "projection did not catch up"
        time.sleep(0.005)
    return batch


def publish_marks(server: RunningServer | Executor, btc: Decimal = BTC_MARK, eth: Decimal = ETH_MARK) -> None:
    """Sets the mark and index price (the oracle's job in production)."""
    execute(server, SetMarkPrice(BTC, btc, btc), SetMarkPrice(ETH, eth, eth))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A running server shared by a test module, once per database backend."""
    db = make_database(request.param, tmp_path_factory.mktemp("db"))
    running = serve(db)
    yield running
    running.stop()
    db.drop()


@dataclass(frozen=True)
class Trader:
    """A user with an API key."""

    name: str
    account: int
    api_key: str
    secret: str
    user_id: int = 0


def admin(server: Endpoint, token: str = ADMIN_TOKEN) -> httpx.Client:
    """An HTTP client carrying an admin token (the ``admin`` identity by default)."""
    return httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=10)


TRADER_FUNDS = "1000000"
"""USDT each test trader is credited with, through the admin deposit endpoint."""


def make_trader(server: Endpoint, trade: bool = True, funds: str = TRADER_FUNDS) -> Trader:
    """A new user and key, funded with `funds` USDT, through the admin API."""
    name = f"u{secrets.token_hex(5)}"
    with admin(server) as client:
        user = client.post("/admin/users", json={"name": name}).json()
        key = client.post(f"/admin/users/{user['id']}/api-keys", json={"label": "test", "trade": trade}).json()
        deposit = client.post(f"/admin/users/{user['id']}/deposits", json={"amount": funds})
        assert deposit.status_code == 200, deposit.text
    return Trader(name, user["accountId"], key["apiKey"], key["secret"], user["id"])


def ccxt_config(server: Endpoint, trader: Trader | None = None, **options: Any) -> dict[str, Any]:
    """The stock ccxt configuration of CCXT.md §1: URLs and options only."""
    base = server.base
    config: dict[str, Any] = {
        "urls": {"api": {
            "fapiPublic": base + "/fapi/v1", "fapiPublicV2": base + "/fapi/v2", "fapiPublicV3": base + "/fapi/v3",
            "fapiPrivate": base + "/fapi/v1", "fapiPrivateV2": base + "/fapi/v2", "fapiPrivateV3": base + "/fapi/v3",
            "fapiData": base + "/futures/data", "ws": {"linear": server.ws},
        }},
        "options": {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False,
                    "adjustForTimeDifference": False, "fetchOpenOrders": {"warnWithoutSymbol": False},
                    **options},
        "enableRateLimit": False,
    }
    if trader is not None:
        config["apiKey"] = trader.api_key
        config["secret"] = trader.secret
    return config
