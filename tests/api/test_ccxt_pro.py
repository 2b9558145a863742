"""Acceptance: stock ``ccxt.pro.binanceusdm`` WebSocket watches against the server (CCXT.md §6).

No test sleeps hoping a subscription is live: before acting, a test waits until the server holds
the subscription (the market hub's subscribers, the account's user-stream connections) and, for a
second watch on a live connection, until the client has registered the watch's future.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import ccxt.pro as ccxtpro
import pytest

from api.gateway import EngineGateway
from derivatives.commands import SetMarkPrice
from tests.api.conftest import BTC, ccxt_config, make_trader
from tests.api.server import RunningServer

SYMBOL = "BTC/USDT:USDT"


@pytest.fixture
async def pro(server: RunningServer) -> AsyncIterator[ccxtpro.binanceusdm]:
    exchange = ccxtpro.binanceusdm(ccxt_config(server, make_trader(server)))
    await exchange.load_markets()
    yield exchange
    await exchange.close()


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Returns once `condition()` holds (checked every 10 ms); fails after 10 s."""
    try:
        async with asyncio.timeout(10):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def _market_stream_live(server: RunningServer, kind: str) -> None:
    """Waits until the server has a subscriber to a BTCUSDT stream of `kind` (``trade``)."""
    hub = server.services.hub
    await _until(lambda: any(name.startswith(f"btcusdt@{kind}") and subscribers
                             for name, subscribers in list(hub.subscribers.items())), f"a {kind} subscriber")


async def _user_stream_live(server: RunningServer, pro: ccxtpro.binanceusdm) -> None:
    """Waits until the server holds a user-stream connection for `pro`'s account."""
    streams = server.services.streams
    account = (await asyncio.to_thread(server.services.keys.lookup, pro.apiKey)).user.account_id

    def live() -> bool:
        key = streams.by_account.get(account)
        return key is not None and bool(streams.connections.get(key))

    await _until(live, "the user stream")


def _watching(pro: ccxtpro.binanceusdm) -> int:
    """Watches the client has registered and not yet resolved."""
    return sum(len(client.futures) for client in pro.clients.values())


async def _watch(pro: ccxtpro.binanceusdm, watch: Awaitable[Any]) -> asyncio.Future[Any]:
    """Starts `watch` on an already live connection; returns once its future is registered, so an
    update sent after this returns is never missed."""
    before = _watching(pro)
    task = asyncio.ensure_future(watch)
    await _until(lambda: _watching(pro) > before or task.done(), "the watch to register")
    return task


async def _book_until(pro: ccxtpro.binanceusdm, done: Callable[[list[list[float]]], bool]) -> Any:
    """The live local book once `done(bids)` holds: it is checked before each wait, so diffs that
    arrived while nobody was waiting are never waited for again."""
    while True:
        book = pro.orderbooks.get(SYMBOL)
        if book is not None and done(book["bids"]):
            return book
        await asyncio.wait_for(pro.watch_order_book(SYMBOL), 10)


async def test_watch_order_book_follows_the_diff_chain(server: RunningServer, pro: ccxtpro.binanceusdm) -> None:
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


async def test_watch_trades_and_my_orders(server: RunningServer, pro: ccxtpro.binanceusdm) -> None:
    maker = ccxtpro.binanceusdm(ccxt_config(server, make_trader(server)))
    await maker.load_markets()
    try:
        trades_task = asyncio.ensure_future(pro.watch_trades(SYMBOL))
        orders_task = asyncio.ensure_future(pro.watch_orders(SYMBOL))
        await _market_stream_live(server, "trade")
        await _user_stream_live(server, pro)
        await maker.create_order(SYMBOL, "limit", "sell", 0.01, 50010)
        placed = await pro.create_order(SYMBOL, "limit", "buy", 0.01, 50010)
        trades = await asyncio.wait_for(trades_task, 10)
        assert trades[-1]["price"] == 50010.0 and trades[-1]["side"] == "buy"
        await asyncio.wait_for(orders_task, 10)

        def closed() -> list[Any]:
            return [o for o in pro.orders or [] if o["id"] == placed["id"] and o["status"] == "closed"]

        await _until(lambda: bool(closed()), "the order's FILLED update")
        assert closed()[-1]["filled"] == 0.01
    finally:
        await maker.close()


async def test_watch_orders_sees_algo_updates(server: RunningServer, pro: ccxtpro.binanceusdm) -> None:
    watch = asyncio.ensure_future(pro.watch_orders(SYMBOL))
    await _user_stream_live(server, pro)
    stop = await pro.create_order(SYMBOL, "market", "buy", 0.01, None, {"triggerPrice": 60000})
    orders = await asyncio.wait_for(watch, 10)
    assert orders[-1]["id"] == stop["id"] and orders[-1]["status"] == "open"
    watch = await _watch(pro, pro.watch_orders(SYMBOL))
    await pro.cancel_order(stop["id"], SYMBOL, {"trigger": True})
    orders = await asyncio.wait_for(watch, 10)
    assert orders[-1]["status"] == "canceled"


async def test_watch_mark_price_and_ticker(server: RunningServer, pro: ccxtpro.binanceusdm) -> None:
    mark_task = asyncio.ensure_future(pro.watch_mark_price(SYMBOL))
    await _market_stream_live(server, "markPrice")
    gateway = server.services.gateway
    assert isinstance(gateway, EngineGateway)
    await asyncio.to_thread(gateway.execute, [SetMarkPrice(BTC, Decimal("50001"), Decimal("50000.5"))])
    ticker = await asyncio.wait_for(mark_task, 10)
    assert ticker["markPrice"] == 50001.0 and ticker["indexPrice"] == 50000.5
    await asyncio.to_thread(gateway.execute, [SetMarkPrice(BTC, Decimal("50000"), Decimal("50000"))])
    mini = await asyncio.wait_for(pro.watch_ticker(SYMBOL), 10)
    assert mini["symbol"] == SYMBOL and mini["last"] is not None


async def test_watch_balance_positions_and_my_trades_after_a_fill(server: RunningServer,
                                                                  pro: ccxtpro.binanceusdm) -> None:
    maker = ccxtpro.binanceusdm(ccxt_config(server, make_trader(server)))
    await maker.load_markets()
    try:
        assert await asyncio.wait_for(pro.watch_positions([SYMBOL]), 10) == []  # the REST snapshot
        balance_task = asyncio.ensure_future(pro.watch_balance())
        positions_task = asyncio.ensure_future(pro.watch_positions([SYMBOL]))
        trades_task = asyncio.ensure_future(pro.watch_my_trades(SYMBOL))
        await _user_stream_live(server, pro)
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
        positions_task = await _watch(pro, pro.watch_positions([SYMBOL]))
        await pro.create_order(SYMBOL, "limit", "sell", 0.01, 50100, {"timeInForce": "IOC"})
        (closed,) = await asyncio.wait_for(positions_task, 10)
        assert closed["contracts"] == 0 and closed["info"]["cr"] == "1.00000000"  # realised 0.01 x 100
    finally:
        await maker.close()


async def test_watch_positions_shows_an_isolated_leg(server: RunningServer, pro: ccxtpro.binanceusdm) -> None:
    maker = ccxtpro.binanceusdm(ccxt_config(server, make_trader(server)))
    await maker.load_markets()
    try:
        await pro.set_margin_mode("isolated", SYMBOL)
        await pro.set_leverage(10, SYMBOL)
        assert await asyncio.wait_for(pro.watch_positions([SYMBOL]), 10) == []  # the REST snapshot
        positions_task = asyncio.ensure_future(pro.watch_positions([SYMBOL]))
        await _user_stream_live(server, pro)
        await maker.create_order(SYMBOL, "limit", "sell", 0.01, 50000)
        await pro.create_order(SYMBOL, "limit", "buy", 0.01, 50000, {"timeInForce": "IOC"})
        (position,) = await asyncio.wait_for(positions_task, 10)
        # 0.01 × 50,000 / 10 = 50 USDT moved into the leg's isolated wallet.
        assert (position["marginMode"], position["contracts"], position["info"]["iw"]) == (
            "isolated", 0.01, "50.00000000")
    finally:
        await maker.close()
