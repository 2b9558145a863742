"""``GET /admin/ledger`` worked by hand: one trade between two funded users, the fees in the fee
account, money conserved; and ``/admin/oracle`` on an app without an oracle."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from api.inprocess import RunningServer
from api.security import sign
from tests.api.conftest import Trader, admin, make_database, make_trader, serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = make_database("sqlite", tmp_path_factory.mktemp("db"))
    running = serve(db)
    yield running
    running.stop()
    db.drop()


def order(server: RunningServer, trader: Trader, query: str) -> dict[str, object]:
    with admin(server) as client:
        stamp = f"{query}&timestamp={server.services.clock_ms()}"
        answer = client.post(f"/fapi/v1/order?{stamp}&signature={sign(trader.secret, stamp)}",
                             headers={"X-MBX-APIKEY": trader.api_key})
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_a_trade_moves_fees_to_the_fee_account_and_money_is_conserved(server: RunningServer) -> None:
    with admin(server) as client:
        before = client.get("/admin/ledger").json()
    maker, taker = make_trader(server, funds="10000"), make_trader(server, funds="20000")
    order(server, maker, "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.010&price=50100")
    order(server, taker, "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.004")
    with admin(server) as client:
        after = client.get("/admin/ledger", params={"sinceSeq": before["seq"]}).json()
    assert before["conserved"] and after["conserved"]
    assert Decimal(after["netTransfers"]) - Decimal(before["netTransfers"]) == Decimal(30_000)
    # taker 0.0005 × 0.004 × 50,100 = 0.1002; maker 0.0002 × 200.4 = 0.04008
    fee_change = Decimal(after["feeAccount"]["walletBalance"]) - Decimal(before["feeAccount"]["walletBalance"])
    assert fee_change == Decimal("0.14028")
    # the long and the short leg cost the same: Σ position cost is zero at one entry price
    assert Decimal(after["positionCost"]) == Decimal(0)
    assert after["underMaintenance"] == []
    assert after["activity"] == {"sinceSeq": before["seq"], "liquidationOrders": 0, "liquidationOrdersFilled": 0,
                                 "liquidationNotional": "0.00000000", "adlFills": 0, "adlNotional": "0.00000000",
                                 "badDebtCleared": "0.00000000"}


def test_steering_needs_an_oracle_and_an_admin(server: RunningServer) -> None:
    with admin(server) as client:
        missing = client.post("/admin/oracle/steer", json={"change": "-0.20", "overMs": 1000})
        assert missing.json()["code"] == -1001
    with admin(server, token="x" * 20) as client:
        assert client.get("/admin/oracle").status_code == 401
