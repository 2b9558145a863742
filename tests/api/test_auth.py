"""Signing, timestamps, keys, permissions, parameter errors and rate limits, with raw HTTP requests
(exact bytes, as ccxt sends them). A refused request never changes the engine's state."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from api.security import SignedPayload, sign, split_signature
from tests.api.conftest import Trader, admin, make_database, make_trader, serve
from tests.api.server import Endpoint, RunningServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = make_database("sqlite", tmp_path_factory.mktemp("auth"))
    running = serve(db)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def trader(server: RunningServer) -> Trader:
    return make_trader(server)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def signed_query(secret: str, **params: object) -> str:
    query = urlencode({"timestamp": now_ms(), **params, "recvWindow": 10000})
    return f"{query}&signature={sign(secret, query)}"


def call(server: Endpoint, method: str, path: str, trader: Trader | None, query: str = "",
         body: str = "", key: str | None = None) -> httpx.Response:
    headers = {"X-MBX-APIKEY": key if key is not None else (trader.api_key if trader else "")}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    url = f"{server.base}{path}" + (f"?{query}" if query else "")
    return httpx.request(method, url, content=body.encode() if body else None, headers=headers, timeout=10)


def code(response: httpx.Response) -> int:
    assert response.status_code in (400, 429), response.text
    return int(response.json()["code"])


def test_the_ccxt_test_vector_verifies() -> None:
    query = ("timestamp=1700000000000&symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.01&price=60000"
             "&timeInForce=GTC&newClientOrderId=abc&recvWindow=10000")
    expected = "307c81e00d698c68749e9b6a28a075d1898814da800da23fbd77ebf1619c32f0"
    assert sign("demo-secret", query) == expected
    assert split_signature("", f"{query}&signature={expected}") == SignedPayload(query, expected)
    assert split_signature(f"{query}&signature={expected}", "") == SignedPayload(query, expected)


def test_signed_get_and_post_succeed(server: RunningServer, trader: Trader) -> None:
    assert call(server, "GET", "/fapi/v1/openOrders", trader, signed_query(trader.secret)).json() == []
    body = signed_query(trader.secret, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.01", price="49000",
                        timeInForce="GTC")
    placed = call(server, "POST", "/fapi/v1/order", trader, body=body)
    assert placed.status_code == 200 and placed.json()["clientOrderId"].startswith("srv-")
    assert "code" not in placed.json()
    assert placed.headers["X-MBX-ORDER-COUNT-1m"] == "1" and int(placed.headers["X-MBX-USED-WEIGHT-1m"]) >= 1
    cancel = signed_query(trader.secret, symbol="BTCUSDT", orderId=placed.json()["orderId"])
    assert call(server, "DELETE", "/fapi/v1/order", trader, cancel).json()["status"] == "CANCELED"


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda q, s: q.replace("signature=", "signature=0"), -1022),
    (lambda q, s: q[: q.index("&signature=")] + "&signature=" + "ab" * 32, -1022),
    (lambda q, s: q[: q.index("&signature=")], -1102),
    (lambda q, s: q.replace("recvWindow=10000", "recvWindow=10001"), -1022),
])
def test_signature_failures(server: RunningServer, trader: Trader, mutate: object, expected: int) -> None:
    query = mutate(signed_query(trader.secret), trader.secret)  # type: ignore[operator]
    assert code(call(server, "GET", "/fapi/v1/openOrders", trader, query)) == expected


def test_timestamp_and_recv_window(server: RunningServer, trader: Trader) -> None:
    def with_time(timestamp: int, window: int = 5000) -> str:
        query = urlencode({"timestamp": timestamp, "recvWindow": window})
        return f"{query}&signature={sign(trader.secret, query)}"

    assert call(server, "GET", "/fapi/v1/openOrders", trader, with_time(now_ms() - 4000)).status_code == 200
    assert code(call(server, "GET", "/fapi/v1/openOrders", trader, with_time(now_ms() - 6000))) == -1021
    assert code(call(server, "GET", "/fapi/v1/openOrders", trader, with_time(now_ms() + 2000))) == -1021
    assert code(call(server, "GET", "/fapi/v1/openOrders", trader, with_time(now_ms(), 70_000))) == -1131
    missing = urlencode({"recvWindow": 5000})
    assert code(call(server, "GET", "/fapi/v1/openOrders", trader, f"{missing}&signature={sign(trader.secret, missing)}")) == -1102


def test_keys_and_permissions(server: RunningServer, trader: Trader) -> None:
    query = signed_query(trader.secret)
    assert code(call(server, "GET", "/fapi/v1/openOrders", None, query, key="")) == -2014
    assert code(call(server, "GET", "/fapi/v1/openOrders", None, query, key="bad key!")) == -2014
    assert code(call(server, "GET", "/fapi/v1/openOrders", None, query, key="A" * 64)) == -2015
    reader = make_trader(server, trade=False)
    assert call(server, "GET", "/fapi/v1/openOrders", reader, signed_query(reader.secret)).status_code == 200
    body = signed_query(reader.secret, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.01", price="49000",
                        timeInForce="GTC")
    refused = call(server, "POST", "/fapi/v1/order", reader, body=body)
    assert refused.json() == {"code": -2015, "msg": "Rest API trading is not enabled."}
    revoked = make_trader(server)
    with admin(server) as http:
        assert http.delete(f"/admin/api-keys/{revoked.api_key}").status_code == 200
    assert code(call(server, "GET", "/fapi/v1/openOrders", revoked, signed_query(revoked.secret))) == -2015


@pytest.mark.parametrize(("params", "expected"), [
    ({"side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "49000", "timeInForce": "GTC"}, -1102),
    ({"symbol": "BTCUSDT", "side": "UP", "type": "LIMIT", "quantity": "0.01", "price": "49000"}, -1117),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "ICEBERG", "quantity": "0.01", "price": "49000"}, -1116),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "49000", "timeInForce": "X"}, -1115),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1e-2", "price": "49000"}, -1100),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "-1", "price": "49000"}, -1100),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.000000001", "price": "49000"}, -1111),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "49000", "foo": "1"}, -1104),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "49000", "reduceOnly": "yes"}, -1130),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET", "quantity": "0.01", "stopPrice": "49000"}, -4120),
    ({"symbol": "NOPE", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "49000"}, -1121),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01"}, -1102),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "49000", "newClientOrderId": "bad id"}, -4015),
])
def test_bad_parameters_are_refused_and_change_nothing(server: RunningServer, trader: Trader,
                                                       params: dict[str, str], expected: int) -> None:
    before = server.services.gateway.last_seq()
    response = call(server, "POST", "/fapi/v1/order", trader, body=signed_query(trader.secret, **params))
    assert code(response) == expected
    assert server.services.gateway.last_seq() == before


def test_duplicate_parameters_are_refused(server: RunningServer, trader: Trader) -> None:
    query = urlencode([("timestamp", now_ms()), ("symbol", "BTCUSDT"), ("symbol", "ETHUSDT")])
    assert code(call(server, "GET", "/fapi/v1/openOrders", trader, f"{query}&signature={sign(trader.secret, query)}")) == -1101


def test_public_errors_and_unknown_paths(server: RunningServer) -> None:
    assert code(httpx.get(f"{server.base}/fapi/v1/depth", params={"symbol": "NOPE"})) == -1121
    assert code(httpx.get(f"{server.base}/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": "0"})) == -1130
    assert code(httpx.get(f"{server.base}/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "2m"})) == -1130
    missing = httpx.get(f"{server.base}/fapi/v1/nothing")
    assert missing.status_code == 404 and missing.json()["code"] == -5000


def test_listen_key_needs_only_the_api_key(server: RunningServer, trader: Trader) -> None:
    opened = call(server, "POST", "/fapi/v1/listenKey", trader)
    assert opened.status_code == 200
    key = opened.json()["listenKey"]
    assert call(server, "POST", "/fapi/v1/listenKey", trader).json()["listenKey"] == key
    assert call(server, "PUT", "/fapi/v1/listenKey", trader).json() == {"listenKey": key}
    assert call(server, "DELETE", "/fapi/v1/listenKey", trader).json() == {}
    assert code(call(server, "PUT", "/fapi/v1/listenKey", trader)) == -1125
    assert code(call(server, "POST", "/fapi/v1/listenKey", None, key="")) == -2014


def test_weight_limit_answers_429_with_retry_after(tmp_path: object) -> None:
    db = make_database("sqlite", tmp_path)  # type: ignore[arg-type]
    limited = serve(db, weight_limit_per_minute=30, order_limit_per_10s=2)
    try:
        trader = make_trader(limited)
        statuses = [httpx.get(f"{limited.base}/fapi/v1/depth", params={"symbol": "BTCUSDT"}) for _ in range(20)]
        refused = [r for r in statuses if r.status_code == 429]
        assert refused and refused[0].json()["code"] == -1003 and int(refused[0].headers["Retry-After"]) >= 1
        assert int(refused[0].headers["X-MBX-USED-WEIGHT-1m"]) > 30
        import ccxt

        from tests.api.conftest import ccxt_config

        exchange = ccxt.binanceusdm(ccxt_config(limited, trader))
        with pytest.raises(ccxt.DDoSProtection):
            exchange.fetch_order_book("BTC/USDT:USDT")
    finally:
        limited.stop()


def test_order_rate_limit(tmp_path: object) -> None:
    db = make_database("sqlite", tmp_path)  # type: ignore[arg-type]
    limited = serve(db, order_limit_per_10s=2)
    try:
        trader = make_trader(limited)
        answers = []
        if now_ms() % 10_000 > 7_000:  # fixed 10 s windows: do not straddle a window boundary
            time.sleep((10_000 - now_ms() % 10_000) / 1000 + 0.05)
        for _ in range(3):
            body = signed_query(trader.secret, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.01",
                                price="49000", timeInForce="GTC")
            answers.append(call(limited, "POST", "/fapi/v1/order", trader, body=body))
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].json()["code"] == -1015 and answers[2].headers["X-MBX-ORDER-COUNT-10s"] == "3"
    finally:
        limited.stop()


def test_hmac_is_over_raw_bytes_not_reencoded_params(server: RunningServer, trader: Trader) -> None:
    # ccxt sends batchOrders JSON without percent-encoding; the signature covers those raw bytes.
    raw = (f'timestamp={now_ms()}&batchOrders=[{{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","quantity":"0.01",'
           f'"price":"48000","timeInForce":"GTC"}}]&recvWindow=10000')
    signature = hmac.new(trader.secret.encode(), raw.encode(), hashlib.sha256).hexdigest()
    answer = call(server, "POST", "/fapi/v1/batchOrders", trader, body=f"{raw}&signature={signature}")
    assert answer.status_code == 200 and answer.json()[0]["status"] == "NEW"
    cancel = signed_query(trader.secret, symbol="BTCUSDT")
    assert call(server, "DELETE", "/fapi/v1/allOpenOrders", trader, cancel).json()["code"] == 200
