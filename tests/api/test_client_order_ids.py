"""Idempotent client order ids: an order resent with the same ``newClientOrderId`` after a
timeout (simply resent once the first has finished, or racing it) answers the first order and
trades nothing more. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import ccxt

from tests.api.conftest import ccxt_config, make_trader
from tests.api.server import RunningServer
from tests.api.test_auth import call, signed_query

SYMBOL = "BTC/USDT:USDT"


def test_a_resent_client_order_id_answers_the_finished_order(server: RunningServer) -> None:
    maker = ccxt.binanceusdm(ccxt_config(server, make_trader(server)))
    taker_account = make_trader(server)
    maker.create_order(SYMBOL, "limit", "sell", 0.3, 50000)
    body = signed_query(taker_account.secret, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1",
                        newClientOrderId="retry-after-timeout")
    first = call(server, "POST", "/fapi/v1/order", taker_account, body=body)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "FILLED"
    # The same request again (a client that timed out and retries, a fresh timestamp and signature).
    again = signed_query(taker_account.secret, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1",
                         newClientOrderId="retry-after-timeout")
    second = call(server, "POST", "/fapi/v1/order", taker_account, body=again)
    assert second.status_code == 200, second.text
    assert second.json() == first.json()
    positions = call(server, "GET", "/fapi/v2/positionRisk", taker_account,
                     signed_query(taker_account.secret, symbol="BTCUSDT")).json()
    assert [p["positionAmt"] for p in positions] == ["0.100"]
    orders = call(server, "GET", "/fapi/v1/allOrders", taker_account,
                  signed_query(taker_account.secret, symbol="BTCUSDT")).json()
    assert [o["clientOrderId"] for o in orders] == ["retry-after-timeout"]
    # The id names that order: another symbol with it is refused, and changes nothing.
    other = signed_query(taker_account.secret, symbol="ETHUSDT", side="BUY", type="LIMIT", quantity="0.1",
                         price="2900", timeInForce="GTC", newClientOrderId="retry-after-timeout")
    refused = call(server, "POST", "/fapi/v1/order", taker_account, body=other)
    assert refused.status_code == 400 and refused.json()["code"] == -4116
    assert call(server, "GET", "/fapi/v1/openOrders", taker_account, signed_query(taker_account.secret)).json() == []


def test_a_resent_client_order_id_of_a_resting_order_answers_it(server: RunningServer) -> None:
    trader = make_trader(server)
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "49000",
              "timeInForce": "GTC", "newClientOrderId": "resting-1"}
    first = call(server, "POST", "/fapi/v1/order", trader, body=signed_query(trader.secret, **params))
    second = call(server, "POST", "/fapi/v1/order", trader, body=signed_query(trader.secret, **params))
    assert first.status_code == second.status_code == 200 and second.json()["orderId"] == first.json()["orderId"]
    assert len(call(server, "GET", "/fapi/v1/openOrders", trader, signed_query(trader.secret)).json()) == 1


def test_a_resent_batch_answers_its_orders_and_places_only_the_new_ones(server: RunningServer) -> None:
    maker = ccxt.binanceusdm(ccxt_config(server, make_trader(server)))
    trader = make_trader(server)
    maker.create_order(SYMBOL, "limit", "sell", 0.2, 50000)
    taken = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1", "newClientOrderId": "batch-1"}
    resting = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "49000",
               "timeInForce": "GTC", "newClientOrderId": "batch-2"}
    first = call(server, "POST", "/fapi/v1/batchOrders", trader,
                 body=signed_query(trader.secret, batchOrders=json.dumps([taken])))
    assert first.json()[0]["status"] == "FILLED", first.text
    second = call(server, "POST", "/fapi/v1/batchOrders", trader,
                  body=signed_query(trader.secret, batchOrders=json.dumps([taken, resting])))
    answers = second.json()
    assert answers[0] == first.json()[0] and answers[1]["status"] == "NEW", second.text
    positions = call(server, "GET", "/fapi/v2/positionRisk", trader, signed_query(trader.secret, symbol="BTCUSDT"))
    assert [p["positionAmt"] for p in positions.json()] == ["0.100"]


def test_a_batch_racing_its_own_retry_places_each_order_once(server: RunningServer) -> None:
    """Twenty rounds of one batch sent twice at the same instant (a retry after a timeout): a
    market item that fills at once (its id is free again in the engine) and a resting one. Both
    answers name the same orders; the account holds exactly one fill and one resting order per round."""
    rounds = 20
    maker = ccxt.binanceusdm(ccxt_config(server, make_trader(server)))
    trader = make_trader(server)
    maker.create_order(SYMBOL, "limit", "sell", 1, 50000)
    start = threading.Barrier(2)

    def send(batch: str) -> list[dict[str, object]]:
        body = signed_query(trader.secret, batchOrders=batch)
        start.wait()
        answer = call(server, "POST", "/fapi/v1/batchOrders", trader, body=body)
        assert answer.status_code == 200, answer.text
        result: list[dict[str, object]] = answer.json()
        return result

    with ThreadPoolExecutor(2) as pool:
        for n in range(rounds):
            batch = json.dumps([
                {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.003", "newClientOrderId": f"race-{n}-m"},
                {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.003", "price": "49000",
                 "timeInForce": "GTC", "newClientOrderId": f"race-{n}-l"}])
            first, second = pool.map(send, [batch, batch])
            assert [a.get("orderId") for a in first] == [a.get("orderId") for a in second], (first, second)
            assert [a.get("clientOrderId") for a in first] == [f"race-{n}-m", f"race-{n}-l"], first
    positions = call(server, "GET", "/fapi/v2/positionRisk", trader, signed_query(trader.secret, symbol="BTCUSDT"))
    assert [Decimal(str(p["positionAmt"])) for p in positions.json()] == [Decimal("0.060")]
    orders = call(server, "GET", "/fapi/v1/allOrders", trader, signed_query(trader.secret, symbol="BTCUSDT")).json()
    assert sorted(o["clientOrderId"] for o in orders) == sorted(f"race-{n}-{k}" for n in range(rounds) for k in "ml")
    assert len(call(server, "GET", "/fapi/v1/openOrders", trader, signed_query(trader.secret)).json()) == rounds


def test_one_client_order_id_twice_in_one_batch_places_the_first_only(server: RunningServer) -> None:
    trader = make_trader(server)
    item = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "49000",
            "timeInForce": "GTC", "newClientOrderId": "twice-in-one"}
    answer = call(server, "POST", "/fapi/v1/batchOrders", trader,
                  body=signed_query(trader.secret, batchOrders=json.dumps([item, item]))).json()
    assert answer[0]["status"] == "NEW" and answer[1]["code"] == -4116, answer
    assert len(call(server, "GET", "/fapi/v1/openOrders", trader, signed_query(trader.secret)).json()) == 1
