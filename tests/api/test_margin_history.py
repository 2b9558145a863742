"""``GET /fapi/v1/positionMargin/history`` with the stock ccxt ``fetch_margin_adjustment_history``:
the trader's own isolated-margin adjustments (type 1 added, 2 removed), in Binance's shape, with the
type, time and limit filters; the margin a fill or a funding payment moves into the leg is not an
adjustment and is not listed."""

from __future__ import annotations

import time
from decimal import Decimal as D

import ccxt
import pytest

from derivatives.commands import ApplyFunding
from tests.api.conftest import BTC, execute, publish_marks
from tests.api.server import RunningServer
from tests.api.test_auth import call, signed_query
from tests.api.test_ccxt_account import SYMBOL, _trader, client, cross


def history(trader: ccxt.binanceusdm, server: RunningServer, **params: object) -> list[dict[str, object]]:
    """The raw answer (status 200) of the endpoint."""
    response = call(server, "GET", "/fapi/v1/positionMargin/history", _trader(trader),
                    signed_query(trader.secret, **params))
    assert response.status_code == 200, response.text
    answer: list[dict[str, object]] = response.json()
    return answer


def test_margin_adjustments_are_listed_with_ccxt(server: RunningServer) -> None:
    publish_marks(server)
    maker, taker = client(server), client(server)
    taker.set_margin_mode("isolated", SYMBOL)
    taker.set_leverage(10, SYMBOL)
    cross(maker, taker, "buy", 0.1, 50000)  # 5,000 / 10 = 500 moves in with the fill: not an adjustment
    execute(server, ApplyFunding(BTC, D("0.0001"), D("50000")))  # −0.5 paid from the leg: not an adjustment
    assert taker.fetch_margin_adjustment_history(SYMBOL) == []

    taker.add_margin(SYMBOL, 100)
    time.sleep(0.01)
    taker.add_margin(SYMBOL, 25.5)
    time.sleep(0.01)
    taker.reduce_margin(SYMBOL, 50)
    # 500 − 0.5 + 100 + 25.5 − 50 = 575
    assert taker.fetch_positions([SYMBOL])[0]["info"]["isolatedWallet"] == "575.00000000"

    changes = taker.fetch_margin_adjustment_history(SYMBOL)
    assert [(c["symbol"], c["type"], c["amount"], c["code"], c["marginMode"], c["status"]) for c in changes] == [
        (SYMBOL, "add", 100.0, "USDT", "isolated", "ok"),
        (SYMBOL, "add", 25.5, "USDT", "isolated", "ok"),
        (SYMBOL, "reduce", 50.0, "USDT", "isolated", "ok"),
    ]
    times = [c["timestamp"] for c in changes]
    assert times == sorted(times) and times[0] > 0
    assert [c["amount"] for c in taker.fetch_margin_adjustment_history(SYMBOL, "add")] == [100.0, 25.5]
    assert [c["amount"] for c in taker.fetch_margin_adjustment_history(SYMBOL, "reduce")] == [50.0]
    assert [c["amount"] for c in taker.fetch_margin_adjustment_history(SYMBOL, since=times[1])] == [25.5, 50.0]
    assert [c["amount"] for c in taker.fetch_margin_adjustment_history(SYMBOL, params={"until": times[1]})] == [
        100.0, 25.5]

    first = history(taker, server, symbol="BTCUSDT", limit=1, startTime=times[0])
    assert first == [{"symbol": "BTCUSDT", "type": 1, "deltaType": "USER_ADJUST", "amount": "100.00000000",
                      "asset": "USDT", "time": times[0], "positionSide": "BOTH"}]
    newest = history(taker, server, symbol="BTCUSDT", limit=1)
    assert [(r["type"], r["amount"]) for r in newest] == [(2, "50.00000000")], "no start: the newest rows"
    assert history(taker, server, symbol="ETHUSDT") == []
    assert maker.fetch_margin_adjustment_history(SYMBOL) == [], "another account's adjustments are not listed"


@pytest.mark.parametrize(("params", "code"), [
    ({}, -1102),
    ({"symbol": "NOPEUSDT"}, -1121),
    ({"symbol": "BTCUSDT", "type": 3}, -1130),
    ({"symbol": "BTCUSDT", "limit": 1001}, -1130),
    ({"symbol": "BTCUSDT", "startTime": 0, "endTime": 30 * 86_400_000 + 1}, -1128),
])
def test_bad_history_requests_are_binance_errors(server: RunningServer, params: dict[str, object], code: int) -> None:
    trader = client(server)
    response = call(server, "GET", "/fapi/v1/positionMargin/history", _trader(trader),
                    signed_query(trader.secret, **params))
    assert response.status_code == 400 and response.json()["code"] == code, response.text
