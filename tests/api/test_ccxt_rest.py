"""Acceptance: the stock ccxt ``binanceusdm`` client (sync, async and pro), configured only by URLs
and options (CCXT.md §1), trades against the real topology (``derivatives serve``: nats-server, the
engine service, a gateway process, the projector) over SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxtpro
import httpx
import pytest

from derivatives.commands import SetMarkPrice
from tests.api.conftest import ADMIN_TOKEN, BTC, ccxt_config, execute, make_trader, publish_marks
from tests.topology import (
    TopologyServer,
    topology_server,  # noqa: F401 - fixture `server`: the real topology, per backend
)

SYMBOL = "BTC/USDT:USDT"


def client(server: TopologyServer, trade: bool = True, **options: object) -> ccxt.binanceusdm:
    return ccxt.binanceusdm(ccxt_config(server, make_trader(server, trade), **options))


def test_load_markets_reads_filters_and_order_types(server: TopologyServer) -> None:
    exchange = client(server)
    markets = exchange.load_markets()
    assert {"BTC/USDT:USDT", "ETH/USDT:USDT"} <= set(markets)
    btc = markets[SYMBOL]
    assert btc["swap"] and btc["linear"] and btc["settle"] == "USDT" and btc["active"]
    assert (btc["precision"]["amount"], btc["precision"]["price"]) == (0.001, 0.1)
    assert btc["limits"]["amount"]["min"] == 0.001 and btc["limits"]["cost"]["min"] == 100.0
    assert len(btc["info"]["orderTypes"]) == 7
    assert exchange.fetch_trading_fee(SYMBOL)["taker"] == 0.0005
    tiers = exchange.fetch_leverage_tiers([SYMBOL])[SYMBOL]
    assert tiers[0]["maxLeverage"] == 125 and tiers[1]["minNotional"] == 50000


def test_limit_market_amend_cancel_and_queries(server: TopologyServer) -> None:
    maker, taker = client(server), client(server)
    for exchange in (maker, taker):
        exchange.load_markets()
    resting = maker.create_order(SYMBOL, "limit", "sell", 0.01, 50100)
    assert resting["status"] == "open" and resting["clientOrderId"].startswith("x-")
    book = taker.fetch_order_book(SYMBOL)
    assert [50100.0, 0.01] in book["asks"] and book["nonce"] > 0

    bought = taker.create_order(SYMBOL, "market", "buy", 0.004)
    assert bought["status"] == "closed" and bought["filled"] == 0.004 and bought["average"] == 50100.0
    assert maker.fetch_order(resting["id"], SYMBOL)["filled"] == 0.004

    trades = taker.fetch_my_trades(SYMBOL)
    assert [(t["side"], t["price"], t["amount"], t["takerOrMaker"]) for t in trades] == [("buy", 50100.0, 0.004, "taker")]
    assert maker.fetch_my_trades(SYMBOL)[0]["takerOrMaker"] == "maker"
    assert any(t["price"] == 50100.0 for t in taker.fetch_trades(SYMBOL))

    amended = maker.edit_order(resting["id"], SYMBOL, "limit", "sell", 0.02, 50200)
    assert (amended["amount"], amended["price"], amended["filled"], amended["status"]) == (0.02, 50200.0, 0.004, "open")
    assert [o["id"] for o in maker.fetch_open_orders()] == [resting["id"]]
    assert maker.fetch_open_order(resting["id"], SYMBOL)["price"] == 50200.0

    canceled = maker.cancel_order(resting["id"], SYMBOL)
    assert canceled["status"] == "canceled"
    assert maker.fetch_open_orders(SYMBOL) == []
    assert [o["status"] for o in maker.fetch_orders(SYMBOL)] == ["canceled"]

    own_id = maker.create_order(SYMBOL, "limit", "buy", 0.01, 49000, {"clientOrderId": "my-id-1"})
    assert own_id["clientOrderId"] == "my-id-1"
    assert maker.cancel_order("", SYMBOL, {"clientOrderId": "my-id-1"})["status"] == "canceled"
    maker.create_order(SYMBOL, "limit", "buy", 0.01, 49000)
    maker.cancel_all_orders(SYMBOL)
    assert maker.fetch_open_orders(SYMBOL) == []


def test_stop_loss_and_take_profit_trigger_on_mark(server: TopologyServer) -> None:
    maker, trader = client(server), client(server)
    for exchange in (maker, trader):
        exchange.load_markets()
    maker.create_order(SYMBOL, "limit", "buy", 0.05, 49500)
    maker.create_order(SYMBOL, "limit", "sell", 0.05, 50500)
    stop = trader.create_order(SYMBOL, "market", "sell", 0.01, None,
                               {"stopLossPrice": 49600, "workingType": "MARK_PRICE"})
    take = trader.create_order(SYMBOL, "limit", "sell", 0.01, 50400,
                               {"takeProfitPrice": 50300, "workingType": "MARK_PRICE"})
    assert (stop["status"], stop["triggerPrice"], stop["type"]) == ("open", 49600.0, "market")
    assert (take["status"], take["takeProfitPrice"], take["type"]) == ("open", 50300.0, "limit")
    pending = trader.fetch_open_orders(SYMBOL, params={"trigger": True})
    assert {o["id"] for o in pending} == {stop["id"], take["id"]}
    assert trader.fetch_open_orders(SYMBOL) == []

    execute(server, SetMarkPrice(BTC, Decimal("49550"), Decimal("49550")))
    fired = trader.fetch_order(stop["id"], SYMBOL, {"trigger": True})
    assert fired["status"] == "closed" and fired["info"]["algoStatus"] == "FINISHED"
    child = trader.fetch_order(stop["id"], SYMBOL)
    assert (child["status"], child["filled"], child["average"], child["info"]["origType"]) == (
        "closed", 0.01, 49500.0, "STOP_MARKET")

    execute(server, SetMarkPrice(BTC, Decimal("50350"), Decimal("50350")))
    tp = trader.fetch_order(take["id"], SYMBOL, {"trigger": True})
    assert tp["info"]["algoStatus"] == "TRIGGERED"
    assert [o["id"] for o in trader.fetch_open_orders(SYMBOL)] == [take["id"]]
    assert trader.fetch_open_orders(SYMBOL, params={"trigger": True}) == []
    history = trader.fetch_orders(SYMBOL, params={"trigger": True})
    assert {o["id"] for o in history} == {stop["id"], take["id"]}
    trader.cancel_all_orders(SYMBOL)
    maker.cancel_all_orders(SYMBOL)
    publish_marks(server)


def test_trigger_orders_can_be_cancelled(server: TopologyServer) -> None:
    trader = client(server)
    trader.load_markets()
    trailing = trader.create_order(SYMBOL, "market", "sell", 0.01, None,
                                   {"trailingPercent": 1.5, "trailingTriggerPrice": 50500})
    assert trailing["info"]["orderType"] == "TRAILING_STOP_MARKET" and trailing["info"]["callbackRate"] == "1.5"
    stop = trader.create_order(SYMBOL, "market", "buy", 0.01, None, {"triggerPrice": 51000})
    trader.cancel_order(stop["id"], SYMBOL, {"trigger": True})
    assert trader.fetch_order(stop["id"], SYMBOL, {"trigger": True})["status"] == "canceled"
    trader.cancel_all_orders(SYMBOL, {"trigger": True})
    assert trader.fetch_open_orders(SYMBOL, params={"trigger": True}) == []


def test_batch_orders_answer_each_item(server: TopologyServer) -> None:
    trader = client(server)
    trader.load_markets()
    orders = trader.create_orders([
        {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.01, "price": 49000},
        {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.001, "price": 49000},
        {"symbol": SYMBOL, "type": "limit", "side": "sell", "amount": 0.01, "price": 51000},
    ])
    # ccxt sorts the parsed list by timestamp, so the rejected item (no timestamp) comes first
    assert sorted(o["status"] for o in orders) == ["open", "open", "rejected"]
    assert [o["info"]["code"] for o in orders if o["status"] == "rejected"] == [-4164]
    assert len(trader.fetch_open_orders(SYMBOL)) == 2
    trader.cancel_all_orders(SYMBOL)


def test_errors_raise_the_right_ccxt_classes(server: TopologyServer) -> None:
    trader = client(server)
    trader.load_markets()
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        trader.create_order(SYMBOL, "limit", "buy", 1001, 49000)
    with pytest.raises(ccxt.InvalidOrder, match="PERCENT_PRICE"):
        trader.create_order(SYMBOL, "limit", "buy", 0.01, 40000)
    maker = client(server)
    maker.load_markets()
    maker.create_order(SYMBOL, "limit", "sell", 0.01, 50050)
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        trader.create_order(SYMBOL, "limit", "buy", 0.01, 50100, {"postOnly": True})
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        trader.create_order(SYMBOL, "market", "buy", 0.01, None, {"triggerPrice": 49000, "workingType": "MARK_PRICE"})
    with pytest.raises(ccxt.OrderNotFound):
        trader.cancel_order("987654", SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        trader.fetch_order("987654", SYMBOL)
    with pytest.raises(ccxt.BadSymbol):
        trader.fapiPublicGetDepth({"symbol": "NOPEUSDT"})
    with pytest.raises(ccxt.BadRequest):
        trader.fapiPublicGetKlines({"symbol": "BTCUSDT", "interval": "7m"})
    with pytest.raises(ccxt.PermissionDenied):
        reader = client(server, trade=False)
        reader.load_markets()
        reader.create_order(SYMBOL, "limit", "buy", 0.01, 49000)
    wrong = ccxt.binanceusdm({**ccxt_config(server, make_trader(server)), "secret": "not-the-secret"})
    with pytest.raises(ccxt.AuthenticationError):
        wrong.fetch_open_orders(SYMBOL)
    skewed = client(server, timeDifference=-120_000)
    with pytest.raises(ccxt.InvalidNonce):
        skewed.fetch_open_orders(SYMBOL)
    maker.cancel_all_orders(SYMBOL)


def test_halted_market_raises_market_closed(server: TopologyServer) -> None:
    from tests.api.conftest import admin

    trader = client(server)
    trader.load_markets()
    resting = trader.create_order("ETH/USDT:USDT", "limit", "buy", 0.1, 2990)
    with admin(server) as http:
        assert http.post("/admin/instruments/ETHUSDT/halt").json()["status"] == "CLOSE"
    try:
        assert trader.fetch_markets()[1]["active"] is False
        with pytest.raises(ccxt.MarketClosed):
            trader.create_order("ETH/USDT:USDT", "limit", "buy", 0.1, 2990)
        assert trader.cancel_order(resting["id"], "ETH/USDT:USDT")["status"] == "canceled"
    finally:
        with admin(server) as http:
            http.post("/admin/instruments/ETHUSDT/resume")
    trader.create_order("ETH/USDT:USDT", "limit", "buy", 0.1, 2990)
    trader.cancel_all_orders("ETH/USDT:USDT")


async def test_async_client_places_fetches_and_cancels(server: TopologyServer) -> None:
    exchange = ccxt_async.binanceusdm(ccxt_config(server, make_trader(server)))
    try:
        await exchange.load_markets()
        order = await exchange.create_order(SYMBOL, "limit", "buy", 0.01, 49100)
        assert (await exchange.fetch_order(order["id"], SYMBOL))["status"] == "open"
        assert [o["id"] for o in await exchange.fetch_open_orders(SYMBOL)] == [order["id"]]
        assert (await exchange.cancel_order(order["id"], SYMBOL))["status"] == "canceled"
        ticker = await exchange.fetch_ticker(SYMBOL)
        assert ticker["symbol"] == SYMBOL
        with pytest.raises(ccxt.OrderNotFound):
            await exchange.cancel_order(order["id"], SYMBOL)
    finally:
        await exchange.close()


def _private_sockets(server: TopologyServer) -> float:
    text = httpx.get(f"{server.base}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5).text
    found = re.search(r'^derivatives_ws_subscribers\{kind="private"\} (\S+)$', text, re.M)
    return float(found[1]) if found else 0.0


async def test_the_gateway_user_stream_sends_order_and_account_updates(server: TopologyServer) -> None:
    """ORDER_TRADE_UPDATE from the gateway's order view, ACCOUNT_UPDATE from its account-change fold."""
    maker = client(server)
    maker.load_markets()
    pro = ccxtpro.binanceusdm(ccxt_config(server, make_trader(server)))
    await pro.load_markets()
    try:
        balance_task = asyncio.ensure_future(pro.watch_balance())
        orders_task = asyncio.ensure_future(pro.watch_orders(SYMBOL))
        async with asyncio.timeout(15):
            while await asyncio.to_thread(_private_sockets, server) < 1:  # one gateway: its user stream is live
                await asyncio.sleep(0.05)
        await asyncio.to_thread(maker.create_order, SYMBOL, "limit", "sell", 0.01, 50000)
        placed = await pro.create_order(SYMBOL, "limit", "buy", 0.01, 50000, {"timeInForce": "IOC"})
        balance = await asyncio.wait_for(balance_task, 15)
        assert balance["USDT"]["total"] == 1_000_000 - 0.25  # wallet after the 0.05 % taker fee on 500 USDT
        orders = await asyncio.wait_for(orders_task, 15)
        assert orders[-1]["id"] == placed["id"]
    finally:
        await pro.close()
        await asyncio.to_thread(maker.cancel_all_orders, SYMBOL)

