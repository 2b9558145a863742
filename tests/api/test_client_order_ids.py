"""Idempotent client order ids: an order resent with the same ``newClientOrderId`` after a
timeout (here: simply resent once the first has finished) answers the first order and trades
nothing more. SQLite and PostgreSQL."""

from __future__ import annotations

import json

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
