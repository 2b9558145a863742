"""Hostile input gets its specific Binance error, never the catch-all ``-1000``, and changes
nothing: oversized numbers, times past year 9999, pages and ids past int64, JSON nested thousands
deep, and patterns that ``re.match`` with ``$`` would have let through (``1\\n``). SQLite and
PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.conftest import ADMIN_TOKEN, Trader, make_trader
from tests.api.server import RunningServer
from tests.api.test_auth import call, signed_query

BIG = "12345678901234567890"
INT64_MAX = str(2**63 - 1)
LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
TRAILING = {"symbol": "BTCUSDT", "side": "BUY", "type": "TRAILING_STOP_MARKET", "algoType": "CONDITIONAL",
            "quantity": "0.01"}

SIGNED = [
    ("POST", "/fapi/v1/order", {**LIMIT, "quantity": BIG, "price": "50000"}, -4005),
    ("POST", "/fapi/v1/order", {**LIMIT, "quantity": "92233720368.54775808", "price": "50000"}, -4005),
    ("POST", "/fapi/v1/order", {**LIMIT, "quantity": "0.01", "price": BIG}, -4016),
    ("POST", "/fapi/v1/order", {**LIMIT, "quantity": "0.01", "price": "50000", "timeInForce": "GTD",
                                "goodTillDate": INT64_MAX}, -1130),
    ("POST", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1\n"}, -1100),
    ("POST", "/fapi/v1/order", {**LIMIT, "quantity": "0.01", "price": "50000", "newClientOrderId": "a\n"}, -4015),
    ("POST", "/fapi/v1/algoOrder", {**TRAILING, "callbackRate": "0.00000001"}, -2007),
    ("POST", "/fapi/v1/algoOrder", {**TRAILING, "callbackRate": "1", "activatePrice": BIG}, -4016),
    ("POST", "/fapi/v1/algoOrder", {**TRAILING, "type": "STOP_MARKET", "triggerPrice": BIG}, -4007),
    ("PUT", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "BUY", "orderId": "1", "quantity": BIG,
                               "price": "50000"}, -4005),
    ("POST", "/fapi/v1/batchOrders", {"batchOrders": "[" * 5000 + "]" * 5000}, -1130),
    ("POST", "/fapi/v1/positionMargin", {"symbol": "BTCUSDT", "amount": BIG, "type": "1"}, -1130),
    ("GET", "/fapi/v1/income", {"page": INT64_MAX}, -1130),
    ("GET", "/fapi/v1/income", {"startTime": INT64_MAX}, -1130),
    ("GET", "/fapi/v1/allAlgoOrders", {"symbol": "BTCUSDT", "page": INT64_MAX}, -1130),
    ("GET", "/fapi/v1/allOrders", {"symbol": "BTCUSDT", "endTime": INT64_MAX}, -1130),
]
PUBLIC = [
    ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1m", "startTime": INT64_MAX}, -1130),
    ("/futures/data/openInterestHist", {"symbol": "BTCUSDT", "period": "5m", "startTime": INT64_MAX}, -1130),
    ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": "\u00b2"}, -1100),
    ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": "5\n"}, -1100),
]


@pytest.fixture(scope="module")
def trader(server: RunningServer) -> Trader:
    return make_trader(server)


def balances(server: RunningServer, trader: Trader) -> list[dict[str, object]]:
    rows = call(server, "GET", "/fapi/v2/balance", trader, signed_query(trader.secret)).json()
    return [{k: v for k, v in row.items() if k != "updateTime"} for row in rows]


def test_signed_requests_get_their_specific_codes_and_change_nothing(server: RunningServer,
                                                                     trader: Trader) -> None:
    before = balances(server, trader)
    got = []
    for method, path, params, _ in SIGNED:
        query = signed_query(trader.secret, **params)
        answer = (call(server, method, path, trader, body=query) if method in ("POST", "PUT")
                  else call(server, method, path, trader, query))
        assert answer.status_code == 400, answer.text
        got.append(answer.json()["code"])
    assert got == [expected for *_, expected in SIGNED]
    assert balances(server, trader) == before
    assert call(server, "GET", "/fapi/v1/openOrders", trader, signed_query(trader.secret)).json() == []


def test_batch_items_get_their_specific_codes(server: RunningServer, trader: Trader) -> None:
    items = [{**LIMIT, "quantity": BIG, "price": "50000"}, {**LIMIT, "quantity": 1e30, "price": "50000"}]
    answer = call(server, "POST", "/fapi/v1/batchOrders", trader,
                  body=signed_query(trader.secret, batchOrders=json.dumps(items)))
    assert [item["code"] for item in answer.json()] == [-4005, -1100]


def test_public_requests_get_their_specific_codes(server: RunningServer) -> None:
    for path, params, expected in PUBLIC:
        answer = httpx.get(f"{server.base}{path}", params=params)
        assert (answer.status_code, answer.json()["code"]) == (400, expected), (path, answer.text)


def test_admin_requests_get_their_specific_codes_and_change_nothing(server: RunningServer, trader: Trader) -> None:
    before = balances(server, trader)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    cases = [
        ("POST", f"/admin/users/{BIG}/deposits", {"amount": "1"}),
        ("POST", f"/admin/users/{trader.user_id}/deposits", {"amount": BIG}),
        ("POST", f"/admin/users/{trader.user_id}/deposits", {"amount": "99999999999.5"}),
        ("POST", f"/admin/users/{trader.user_id}/withdrawals", {"amount": BIG}),
        ("POST", f"/admin/users/{2**63}/api-keys", {"label": "x"}),
        ("POST", f"/admin/withdrawals/{2**64}/approve", None),
        ("GET", f"/admin/audit-log?before_id={2**63}", None),
        ("POST", f"/risk/insurance/payouts/{2**63}/approve", None),
    ]
    for method, path, body in cases:
        answer = httpx.request(method, f"{server.base}{path}", json=body, headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (400, -1130), (path, answer.text)
    nested = httpx.post(f"{server.base}/admin/users", content="[" * 5000 + "]" * 5000,
                        headers={**headers, "Content-Type": "application/json"})
    assert (nested.status_code, nested.json()["code"]) == (400, -1130)
    assert balances(server, trader) == before
