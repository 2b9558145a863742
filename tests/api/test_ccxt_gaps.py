"""Trader API gaps found with the stock ccxt ``binanceusdm`` client, each now served: batch cancels
and edits (``cancel_orders`` / ``edit_orders``), the countdown cancel-all, ``accountConfig`` and fee
tiers for ``fetch_trading_fees``, GTD's minimum lifetime, and price-band errors naming the limit on the tick."""

from __future__ import annotations

import json
import time

import ccxt
import pytest

from tests.api.conftest import admin, ccxt_config, make_trader
from tests.api.server import RunningServer

SYMBOL = "BTC/USDT:USDT"


def client(server: RunningServer) -> ccxt.binanceusdm:
    exchange = ccxt.binanceusdm(ccxt_config(server, make_trader(server)))
    exchange.load_markets()
    return exchange


def test_cancel_orders_and_edit_orders_answer_each_order(server: RunningServer) -> None:
    trader = client(server)
    first = trader.create_order(SYMBOL, "limit", "buy", 0.01, 49000)
    second = trader.create_order(SYMBOL, "limit", "buy", 0.01, 49100)
    edited = trader.edit_orders([
        {"id": first["id"], "symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.02, "price": 49050},
        {"id": "999999999", "symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.02, "price": 49050},
    ])
    # ccxt sorts the answers by time (an error has none); the server answers in request order.
    done = next(e for e in edited if e["id"] == first["id"])
    assert (done["amount"], done["price"]) == (0.02, 49050.0)
    assert [e["info"]["code"] for e in edited if e["id"] is None] == [-2013], "an unknown order answered in its slot"
    canceled = trader.cancel_orders([first["id"], second["id"], "999999999"], SYMBOL)
    assert sorted(c["id"] for c in canceled if c["id"] is not None) == sorted([first["id"], second["id"]])
    assert {c["status"] for c in canceled if c["id"] is not None} == {"canceled"}
    raw = json.loads(trader.last_http_response)
    assert [r.get("status") for r in raw[:2]] == ["CANCELED", "CANCELED"]
    assert raw[2] == {"code": -2011, "msg": "Unknown order sent."}, "answered in request order"
    assert trader.fetch_open_orders(SYMBOL) == []
    by_client = trader.create_order(SYMBOL, "limit", "buy", 0.01, 49000, {"clientOrderId": "gap-1"})
    answer = trader.cancel_orders([], SYMBOL, {"origClientOrderIdList": ["gap-1"]})
    assert answer[0]["id"] == by_client["id"] and answer[0]["status"] == "canceled"


def test_countdown_cancels_open_orders_unless_renewed(server: RunningServer) -> None:
    trader = client(server)
    trader.create_order(SYMBOL, "limit", "buy", 0.01, 49000)
    stopped = trader.fapiPrivatePostCountdownCancelAll({"symbol": "BTCUSDT", "countdownTime": 300})
    assert stopped == {"symbol": "BTCUSDT", "countdownTime": "300"}
    trader.fapiPrivatePostCountdownCancelAll({"symbol": "BTCUSDT", "countdownTime": 0})
    time.sleep(0.6)
    assert len(trader.fetch_open_orders(SYMBOL)) == 1, "a stopped countdown cancels nothing"
    trader.fapiPrivatePostCountdownCancelAll({"symbol": "BTCUSDT", "countdownTime": 200})
    deadline = time.monotonic() + 10
    while trader.fetch_open_orders(SYMBOL):
        assert time.monotonic() < deadline, "the countdown never cancelled the order"
        time.sleep(0.1)


def test_fetch_trading_fees_follows_the_account_fee_tier(server: RunningServer) -> None:
    """ccxt maps accountConfig's feeTier through its own copy of Binance's VIP table; tiers 1-9 pay
    exactly those rates, so what it shows is what a fill costs. Tier 0 pays the instrument's own
    rates (0.02 % / 0.05 %, Binance's regular rate), where ccxt's row still says 0.04 % taker."""
    trader_key = make_trader(server)
    trader = ccxt.binanceusdm(ccxt_config(server, trader_key))
    maker = client(server)
    trader.load_markets()
    fees = trader.fetch_trading_fees()
    assert (fees[SYMBOL]["maker"], fees[SYMBOL]["taker"]) == (0.0002, 0.0004)
    assert (trader.fetch_trading_fee(SYMBOL)["maker"], trader.fetch_trading_fee(SYMBOL)["taker"]) == (0.0002, 0.0005)
    config = trader.fapiPrivateGetAccountConfig()
    assert config["feeTier"] == 0 and config["canTrade"] is True and config["dualSidePosition"] is False

    with admin(server) as boss:
        answer = boss.post(f"/admin/users/{trader_key.user_id}/feeTier", json={"tier": 3})
        assert answer.json() == {"accountId": trader_key.account, "feeTier": 3}, answer.text
        assert boss.post(f"/admin/users/{trader_key.user_id}/feeTier", json={"tier": 10}).status_code == 400
    fees = trader.fetch_trading_fees()
    assert (fees[SYMBOL]["maker"], fees[SYMBOL]["taker"]) == (0.00012, 0.00032)
    assert (trader.fetch_trading_fee(SYMBOL)["maker"], trader.fetch_trading_fee(SYMBOL)["taker"]) == (0.00012, 0.00032)
    assert trader.fetch_trading_fee("ETH/USDT:USDT")["taker"] == 0.00032, "a tier holds on every symbol"
    # Taker 0.01 BTC at 50,000: 500 x 0.032 % = 0.16 USDT; as maker at 49,000: 490 x 0.012 % = 0.0588.
    maker.create_order(SYMBOL, "limit", "sell", 0.01, 50000)
    trader.create_order(SYMBOL, "limit", "buy", 0.01, 50000, {"timeInForce": "IOC"})
    trader.create_order(SYMBOL, "limit", "sell", 0.01, 49000)
    maker.create_order(SYMBOL, "limit", "buy", 0.01, 49000, {"timeInForce": "IOC"})
    trades = trader.fetch_my_trades(SYMBOL)
    assert [(t["takerOrMaker"], t["fee"]["cost"]) for t in trades] == [("taker", 0.16), ("maker", 0.0588)]

    with admin(server) as boss:
        boss.post(f"/admin/users/{trader_key.user_id}/feeTier", json={"tier": 0})
    assert trader.fapiPrivateGetAccountConfig()["feeTier"] == 0
    assert trader.fetch_trading_fee(SYMBOL)["taker"] == 0.0005


def test_gtd_needs_ten_minutes_and_band_errors_name_the_limit_on_the_tick(server: RunningServer) -> None:
    trader = client(server)
    now = trader.milliseconds()
    with pytest.raises(ccxt.BadRequest, match="600 s"):
        trader.create_order(SYMBOL, "limit", "buy", 0.01, 49000, {"timeInForce": "GTD", "goodTillDate": now + 60_000})
    placed = trader.create_order(SYMBOL, "limit", "buy", 0.01, 49000,
                                 {"timeInForce": "GTD", "goodTillDate": now + 700_000})
    assert placed["status"] == "open"
    # Mark 50,000, band 5 %: the highest accepted price is 52,500.0 exactly, the lowest 47,500.0.
    with pytest.raises(ccxt.InvalidOrder, match=r"higher than 52500\.0\b"):
        trader.create_order(SYMBOL, "limit", "buy", 0.01, 52600)
    with pytest.raises(ccxt.InvalidOrder, match=r"lower than 47500\.0\b"):
        trader.create_order(SYMBOL, "limit", "sell", 0.01, 47400)
