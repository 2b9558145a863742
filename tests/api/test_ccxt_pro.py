"""Acceptance: stock ``ccxt.pro.binanceusdm`` WebSocket watches against the server (CCXT.md §6)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import ccxt.pro as ccxtpro
import pytest

from derivatives.commands import SetMarkPrice
from tests.api.conftest import BTC, ccxt_config, execute, make_trader
from tests.topology import TopologyServer
from tests.topology import topology_server as server  # noqa: F401 - the real topology, once per backend

SYMBOL = "BTC/USDT:USDT"


@pytest.fixture
async def pro(server: TopologyServer) -> AsyncIterator[ccxtpro.binanceusdm]:
    exchange = ccxtpro.binanceusdm(ccxt_config(server, make_trader(server)))
    await exchange.load_markets()
    yield exchange
    await exchange.close()


async def _book_until(pro: ccxtpro.binanceusdm, done: Callable[[list[list[float]]], bool]) -> Any:
    """The live local book once `done(bids)` holds: it is checked before each wait, so diffs that
    arrived while nobody was waiting are never waited for again."""
    while True:
        book = pro.orderbooks.get(SYMBOL)
        if book is not None and done(book["bids"]):
            return book
        await asyncio.wait_for(pro.watch_order_book(SYMBOL), 10)


async def test_watch_order_book_follows_the_diff_chain(server: TopologyServer, pro: ccxtpro.binanceusdm) -> None:
    maker = ccxtpro.binanceusdm(ccxt_config(server, make_trader(server)))
    await maker.load_markets()
    try:
        await maker.create_order(SYMBOL, "limit", "buy", 0.01, 49700)
        book = await asyncio.wait_for(pro.watch_order_book(SYMBOL), 10)
        assert [49700.0, 0.01] in book["bids"]
        for price in (49710, 49720, 49730):
            await maker.create_order(SYMBOL, "limit", "buy", 0.02, price)
        book = await _book_until(pro, lambda bids: [49730.0, 0.02] in bids)
        rest = await pro.fetch_order_book(SYMBOL, 1000)
        assert book["bids"][:4] == rest["bids"][:4]
        await maker.cancel_all_orders(SYMBOL)
        await _book_until(pro, lambda bids: not any(level[0] in (49700.0, 49730.0) for level in bids))
    finally:
        await maker.close()


async def test_watch_trades_and_my_orders(server: TopologyServer, pro: ccxtpro.binanceusdm) -> None:
    maker = ccxtpro.binanceusdm(ccxt_config(server, make_trader(server)))
    await maker.load_markets()
    try:
        trades_task = asyncio.ensure_future(pro.watch_trades(SYMBOL))
        orders_task = asyncio.ensure_future(pro.watch_orders(SYMBOL))
        await asyncio.sleep(0.5)
        await maker.create_order(SYMBOL, "limit", "sell", 0.01, 50010)
        placed = await pro.create_order(SYMBOL, "limit", "buy", 0.01, 50010)
        trades = await asyncio.wait_for(trades_task, 10)
        assert trades[-1]["price"] == 50010.0 and trades[-1]["side"] == "buy"
        await asyncio.wait_for(orders_task, 10)
        await asyncio.sleep(0.3)
        closed = [o for o in pro.orders if o["id"] == placed["id"]]
        assert closed[-1]["status"] == "closed" and closed[-1]["filled"] == 0.01
    finally:
        await maker.close()


async def test_watch_orders_sees_algo_updates(server: TopologyServer, pro: ccxtpro.binanceusdm) -> None:
    watch = asyncio.ensure_future(pro.watch_orders(SYMBOL))
    await asyncio.sleep(0.5)
    stop = await pro.create_order(SYMBOL, "market", "buy", 0.01, None, {"triggerPrice": 60000})
    orders = await asyncio.wait_for(watch, 10)
    assert orders[-1]["id"] == stop["id"] and orders[-1]["status"] == "open"
    watch = asyncio.ensure_future(pro.watch_orders(SYMBOL))
    await asyncio.sleep(0.1)
    await pro.cancel_order(stop["id"], SYMBOL, {"trigger": True})
    orders = await asyncio.wait_for(watch, 10)
    assert orders[-1]["status"] == "canceled"


async def test_watch_mark_price_and_ticker(server: TopologyServer, pro: ccxtpro.binanceusdm) -> None:
    mark_task = asyncio.ensure_future(pro.watch_mark_price(SYMBOL))
    await asyncio.sleep(0.5)
    await asyncio.to_thread(execute, server, SetMarkPrice(BTC, Decimal("50001"), Decimal("50000.5")))
    ticker = await asyncio.wait_for(mark_task, 10)
    assert ticker["markPrice"] == 50001.0 and ticker["indexPrice"] == 50000.5
    await asyncio.to_thread(execute, server, SetMarkPrice(BTC, Decimal("50000"), Decimal("50000")))
    mini = await asyncio.wait_for(pro.watch_ticker(SYMBOL), 10)
    assert mini["symbol"] == SYMBOL and mini["last"] is not None


async def test_watch_balance_positions_and_my_trades_after_a_fill(server: TopologyServer,
                                                                  pro: ccxtpro.binanceusdm) -> None:
    maker = ccxtpro.binanceusdm(ccxt_config(server, make_trader(server)))
    await maker.load_markets()
    try:
        assert await asyncio.wait_for(pro.watch_positions([SYMBOL]), 10) == []  # the REST snapshot
        balance_task = asyncio.ensure_future(pro.watch_balance())
        positions_task = asyncio.ensure_future(pro.watch_positions([SYMBOL]))
        trades_task = asyncio.ensure_future(pro.watch_my_trades(SYMBOL))
        await asyncio.sleep(0.5)
        await maker.create_order(SYMBOL, "limit", "sell", 0.01, 50000)
        await pro.create_order(SYMBOL, "limit", "buy", 0.01, 50000, {"timeInForce": "IOC"})
        balance = await asyncio.wait_for(balance_task, 10)
        assert balance["USDT"]["total"] == 1_000_000 - 0.25  # wallet after the 0.05 % taker fee
        (position,) = await asyncio.wait_for(positions_task, 10)
        assert (position["side"], position["contracts"], position["entryPrice"], position["marginMode"]) == (
            "long", 0.01, 50000.0, "cross")
        (trade,) = await asyncio.wait_for(trades_task, 10)
        assert (trade["side"], trade["fee"]["cost"], trade["takerOrMaker"]) == ("buy", 0.25, "taker")
        await maker.create_order(SYMBOL, "limit", "buy", 0.01, 50100)
        positions_task = asyncio.ensure_future(pro.watch_positions([SYMBOL]))
        await asyncio.sleep(0.1)
        await pro.create_order(SYMBOL, "limit", "sell", 0.01, 50100, {"timeInForce": "IOC"})
        (closed,) = await asyncio.wait_for(positions_task, 10)
        assert closed["contracts"] == 0 and closed["info"]["cr"] == "1.00000000"  # realised 0.01 x 100
    finally:
        await maker.close()


async def test_watch_positions_shows_an_isolated_leg(server: TopologyServer, pro: ccxtpro.binanceusdm) -> None:
    maker = ccxtpro.binanceusdm(ccxt_config(server, make_trader(server)))
    await maker.load_markets()
    try:
        await pro.set_margin_mode("isolated", SYMBOL)
        await pro.set_leverage(10, SYMBOL)
        assert await asyncio.wait_for(pro.watch_positions([SYMBOL]), 10) == []  # the REST snapshot
        positions_task = asyncio.ensure_future(pro.watch_positions([SYMBOL]))
        await asyncio.sleep(0.5)
        await maker.create_order(SYMBOL, "limit", "sell", 0.01, 50000)
        await pro.create_order(SYMBOL, "limit", "buy", 0.01, 50000, {"timeInForce": "IOC"})
        (position,) = await asyncio.wait_for(positions_task, 10)
        # 0.01 × 50,000 / 10 = 50 USDT moved into the leg's isolated wallet.
        assert (position["marginMode"], position["contracts"], position["info"]["iw"]) == (
            "isolated", 0.01, "50.00000000")
    finally:
        await maker.close()
