"""No secret leaves through the side doors: server log lines carry no session token, listenKey or
signature; a password reset ends the user's sessions; ``/metrics`` needs a staff credential."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import websockets

from api.main import create_app
from api.redaction import REDACTED
from derivatives.engine import EngineClient
from tests.api.conftest import ADMIN_TOKEN, admin, make_database, make_trader, settings_for
from tests.api.server import RunningServer, start
from tests.api.staff import make_staff, session
from tests.api.test_auth import call, signed_query


class Lines(logging.Handler):
    """Every formatted line of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def logged(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Lines]]:
    """A server with uvicorn's access and connection logs on (INFO), captured; SQLite and PostgreSQL."""
    db = make_database(request.param, tmp_path_factory.mktemp("secrets"))
    running = start(create_app(settings_for(db, risk_services=True), EngineClient()), log_level="info",
                    access_log=True)
    lines = Lines()
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addHandler(lines)
    yield running, lines
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).removeHandler(lines)
    running.stop()
    db.drop()


async def test_log_lines_carry_no_tokens_listen_keys_or_signatures(logged: tuple[RunningServer, Lines]) -> None:
    server, lines = logged
    trader = await asyncio.to_thread(make_trader, server)
    listen_key = (await asyncio.to_thread(call, server, "POST", "/fapi/v1/listenKey", trader)).json()["listenKey"]
    query = signed_query(trader.secret)
    signature = query.rsplit("=", 1)[1]
    assert (await asyncio.to_thread(call, server, "GET", "/fapi/v2/balance", trader, query)).status_code == 200
    async with websockets.connect(f"{server.ws}/{listen_key}"):
        pass
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/private/ws?listenKey={listen_key}"):
        pass
    # An old client still putting its token in the URL: refused, and the token is not logged either.
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/risk/ws/liquidations?token={ADMIN_TOKEN}") as ws:
        await ws.send(json.dumps({"token": ADMIN_TOKEN}))
        assert json.loads(await ws.recv())["authenticated"]["role"] == "admin"
    await asyncio.sleep(0.2)
    text = "\n".join(lines.lines)
    assert "/fapi/v2/balance" in text and "/risk/ws/liquidations" in text, "the lines are there"
    assert text.count(REDACTED) >= 4
    for secret in (listen_key, signature, ADMIN_TOKEN):
        assert secret not in text


def test_a_password_reset_ends_the_users_sessions(logged: tuple[RunningServer, Lines]) -> None:
    server, _ = logged
    risk = make_staff(server, "risk")
    with session(server, risk) as before:
        assert before.get("/api/v1/auth/me").status_code == 200
        with admin(server) as boss:
            reset = boss.post(f"/admin/users/{risk.user_id}/credentials", json={"password": "a-new-password-1"})
            assert reset.status_code == 200, reset.text
        ended = before.get("/api/v1/auth/me")
        assert ended.status_code == 401 and ended.json()["code"] == -1002
    answer = httpx.post(f"{server.base}/api/v1/auth/login",
                        json={"username": risk.name, "password": "a-new-password-1"})
    assert answer.status_code == 200
    fresh = httpx.get(f"{server.base}/api/v1/auth/me", headers={"Authorization": f"Bearer {answer.json()['token']}"})
    assert fresh.json() == {"name": risk.name, "role": "risk"}


def test_metrics_need_a_staff_credential(logged: tuple[RunningServer, Lines]) -> None:
    server, _ = logged
    anonymous = httpx.get(f"{server.base}/metrics")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == -1002
    trader = make_staff(server, "trader")
    with session(server, trader) as as_trader:
        assert as_trader.get("/metrics").status_code == 403
    scraped = httpx.get(f"{server.base}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert scraped.status_code == 200 and "derivatives_http_requests_total" in scraped.text
