"""The 24-hour ticker is one consistent update: every REST answer and ``ticker``/``miniTicker``
frame has ``low <= last <= high``, and its open, last, high, low, volume and count are those of
the trades in the window, even while trades are being projected.

The race this guards: the statistics (1-minute bars) and the last price (the newest trade) were
two reads, and the bars stopped at the API's clock; a trade projected between the reads, or
stamped just after the clock in a new minute, was the last price but missing from the high (seen
on the stream: close 3400.75, high 3400.73)."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal as D
from typing import Any, cast

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.hub import MarketHub
from api.instruments import InstrumentRegistry
from api.services.market import DAY_MS, MarketService
from derivatives.commands import Deposit, PlaceOrder
from derivatives.demo import ETHUSDT
from derivatives.enums import Side
from derivatives.events import EventEnvelope, Trade
from derivatives.persistence.db import Database
from derivatives.persistence.projector import Batch, Projector
from tests.api.conftest import ETH, execute, make_database, serve
from tests.api.server import RunningServer

MINUTE_MS = 60_000
T0_MS = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS
TICK = D("0.01")


class _NoEvents:
    """An event source with nothing to back-fill (the batches here are contiguous)."""

    def read_events(self, after_seq: int, max_bytes: int = 0, timeout_ms: int = 0) -> list[EventEnvelope]:
        return []


class Feed:
    """Projects synthetic trades of fresh symbols into one database and reads their tickers
    through the API's :class:`MarketService` at a chosen clock."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.names: dict[int, str] = {}
        self.projector = Projector(db, _NoEvents(), lambda symbol: self.names[symbol])
        self.seq = 0
        self.trade_id = 0
        self.now_ms = T0_MS
        specs = [replace(ETHUSDT, symbol=1000 + n, name=f"P{n}USDT") for n in range(400)]
        self.registry = InstrumentRegistry(specs, 0)
        self.free = iter(specs)
        self.market = MarketService(self.registry, cast(MarketHub, None), db, cast(Any, None), None,
                                    lambda: self.now_ms, [])

    def symbol(self) -> int:
        spec = next(self.free)
        self.names[spec.symbol] = spec.name
        return spec.symbol

    def trade(self, symbol: int, price: D, qty: D, at_ms: int) -> None:
        self.seq += 1
        self.trade_id += 1
        event = Trade(symbol, self.trade_id, price, qty, Side.BUY, 1, 1, D(0), 2, 2, D(0))
        self.projector.project([Batch(self.seq, self.seq, at_ms * 1_000_000, [EventEnvelope(self.seq, 0, event)])])

    def ticker(self, symbol: int, now_ms: int) -> dict[str, object]:
        self.now_ms = now_ms
        return self.market.ticker_24h_sync(self.market.instrument(self.names[symbol]))


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Feed]:
    spec = make_database("sqlite", tmp_path_factory.mktemp("ticker"))
    db = Database(spec.url, spec.schema)
    db.migrate()
    yield Feed(db)
    db.dispose()


def ordered(ticker: dict[str, object]) -> bool:
    low, last, high = (D(str(ticker[k])) for k in ("lowPrice", "lastPrice", "highPrice"))
    return low <= last <= high


# (ticks above 3400.00, quantity in steps, minutes after the previous trade)
TRADES = st.lists(st.tuples(st.integers(-200, 200), st.integers(1, 5000), st.integers(0, 400)), min_size=1,
                  max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trades=TRADES, lag_s=st.integers(0, 90))
def test_random_trade_stream_gives_consistent_tickers(feed: Feed, trades: list[tuple[int, int, int]],
                                                       lag_s: int) -> None:
    """After each trade, read at a clock `lag_s` behind the trade's stamp (the API's clock read
    before a trade of a new minute was projected): the ticker equals the window's trades."""
    symbol = feed.symbol()
    at = T0_MS
    seen: list[tuple[int, D, D]] = []
    for ticks, steps, minutes in trades:
        at += minutes * MINUTE_MS + 1_234
        price, qty = D(3400) + ticks * TICK, steps * D("0.001")
        feed.trade(symbol, price, qty, at)
        seen.append((at, price, qty))
        now = at - lag_s * 1000
        ticker = feed.ticker(symbol, now)
        start = now - DAY_MS + MINUTE_MS
        window = [(p, q) for t, p, q in seen if t - t % MINUTE_MS >= start]
        assert ordered(ticker), ticker
        assert D(str(ticker["lastPrice"])) == price and D(str(ticker["lastQty"])) == qty
        if window:
            prices = [p for p, _ in window]
            assert (D(str(ticker["openPrice"])), D(str(ticker["highPrice"])), D(str(ticker["lowPrice"]))) == (
                prices[0], max(prices), min(prices))
            assert D(str(ticker["volume"])) == sum(q for _, q in window) and ticker["count"] == len(window)
        else:
            assert ticker["count"] == 0 and ticker["openPrice"] == ticker["highPrice"] == ticker["lastPrice"]


def test_tickers_read_while_trades_are_projected_stay_ordered(feed: Feed) -> None:
    """A reader thread against a writer projecting rising prices: no read sees a last price
    outside its own high and low."""
    symbol = feed.symbol()
    done = threading.Event()
    bad: list[dict[str, object]] = []
    reads = 0

    def read() -> None:
        nonlocal reads
        while not done.is_set():
            ticker = feed.market.ticker_24h_sync(feed.market.instrument(feed.names[symbol]))
            reads += 1
            if not ordered(ticker):
                bad.append(ticker)

    reader = threading.Thread(target=read)
    feed.now_ms = T0_MS + 400 * MINUTE_MS
    reader.start()
    try:
        for n in range(300):
            feed.trade(symbol, D(3400) + n * TICK, D("0.001"), T0_MS + n * 1_000)
    finally:
        done.set()
        reader.join()
    assert reads > 0 and bad == []
    final = feed.ticker(symbol, T0_MS + 400 * MINUTE_MS)
    assert (final["lastPrice"], final["highPrice"], final["lowPrice"], final["count"]) == ("3402.99", "3402.99",
                                                                                          "3400.00", 300)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = make_database("sqlite", tmp_path_factory.mktemp("ticker_ws"))
    running = serve(db)
    yield running
    running.stop()


async def test_ticker_frames_on_the_socket_are_ordered_and_end_at_the_last_trade(server: RunningServer) -> None:
    """Trades at rising prices while ``ethusdt@ticker`` and ``ethusdt@miniTicker`` stream: every
    frame has ``l <= c <= h``; the last frame and REST agree with the last trade (3000.80)."""
    await asyncio.to_thread(execute, server, Deposit(11, D("1000000")), Deposit(12, D("1000000")))
    frames: list[dict[str, Any]] = []
    url = f"ws://127.0.0.1:{server.port}/stream?streams=ethusdt@ticker/ethusdt@miniTicker"
    async with websockets.connect(url) as ws:
        async def listen() -> None:
            async for message in ws:
                frames.append(json.loads(message)["data"])

        listener = asyncio.create_task(listen())
        for n, cents in zip(range(9), itertools.count(0, 10), strict=False):
            price = D(3000) + D(cents) / 100
            await asyncio.to_thread(execute, server, PlaceOrder(11, ETH, Side.SELL, D("0.01"), price=price),
                                    PlaceOrder(12, ETH, Side.BUY, D("0.01"), price=price))
            await asyncio.sleep(0.35 if n < 8 else 2.5)
        listener.cancel()
    assert {f["e"] for f in frames} == {"24hrTicker", "24hrMiniTicker"}
    assert all(D(f["l"]) <= D(f["c"]) <= D(f["h"]) for f in frames), frames
    assert [f["c"] for f in frames if f["e"] == "24hrTicker"][-1] == "3000.80"
    rest = (await asyncio.to_thread(httpx.get, f"{server.base}/fapi/v1/ticker/24hr", params={"symbol": "ETHUSDT"})).json()
    assert (rest["lastPrice"], rest["highPrice"], rest["lowPrice"], rest["openPrice"], rest["count"]) == (
        "3000.80", "3000.80", "3000.00", "3000.00", 9)
