"""Stock ccxt clients against local fake venues: the index and flags under venue failures.

Every venue is read over REST exactly as in production (only the ccxt ``urls`` are overridden);
Binance is also read over its WebSocket stream through ccxt.pro. The clock is fake, so ages and
staleness are exact; the prices are chosen so that every expected index is exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from oracle.config import SymbolConfig
from oracle.model import Exclusion, FeedKind, IndexMethod, MarkFallback, PriceFlags
from oracle.service import MarkPriceService
from oracle.sources.live import LiveSource
from tests.oracle.conftest import T0, FakeClock, Published, collector, overrides
from tests.oracle.fake_venues import FakeVenue

BTC_ONLY = (SymbolConfig(symbol="BTCUSDT", base="BTC"),)
HEALTHY_INDEX = Decimal("65000.13000000")
"""0.30*65000.10 + 0.20*65001.00 + 0.20*64999.50 + 0.15*65002.00 + 0.15*64998.00"""
WITHOUT_OKX = Decimal("64999.91250000")
"""(0.30*65000.10 + 0.20*64999.50 + 0.15*65002.00 + 0.15*64998.00) / 0.80"""
IDLE_BOOK = (MarkFallback.NO_BASIS_SAMPLES, MarkFallback.NO_LAST_TRADE)


def set_healthy(venues: dict[str, FakeVenue]) -> None:
    """Book mids: 65000.10, 65001.00, 64999.50, 65002.00 USD, 64998.00 USD; USDT/USD 1.0000."""
    venues["binance"].state.set("BTC/USDT", "65000.00", "65000.20", "65000.05")
    venues["okx"].state.set("BTC/USDT", "65000.90", "65001.10")
    venues["bybit"].state.set("BTC/USDT", "64999.40", "64999.60")
    venues["coinbase"].state.set("BTC/USD", "65001.90", "65002.10")
    venues["kraken"].state.set("BTC/USD", "64997.90", "64998.10")
    for name in ("coinbase", "kraken"):
        venues[name].state.set("USDT/USD", "0.9999", "1.0001")


@dataclass
class Harness:
    """A live source on the fake venues, the service on top, and what it published."""

    venues: dict[str, FakeVenue]
    clock: FakeClock
    source: LiveSource
    service: MarkPriceService
    published: list[Published] = field(default_factory=list)

    async def round(self) -> Published:
        """Poll every venue once, publish once, and return the BTCUSDT publication."""
        await self.source.poll_once()
        self.published.clear()
        await self.service.publish_once()
        (only,) = self.published
        return only


@pytest.fixture
async def harness(venues: dict[str, FakeVenue], clock: FakeClock) -> AsyncIterator[Harness]:
    set_healthy(venues)
    source = LiveSource(
        BTC_ONLY,
        clock=clock,
        websocket=False,
        request_timeout_ms=2_000,  # generous: a loaded CI machine must not turn a healthy venue "missing"
        client_overrides=overrides(venues),
    )
    published: list[Published] = []
    service = MarkPriceService(source, collector(published), symbols=BTC_ONLY, clock=clock)
    yield Harness(venues, clock, source, service, published)
    await source.close()


def flags(
    method: IndexMethod = IndexMethod.WEIGHTED,
    excluded: tuple[tuple[str, Exclusion], ...] = (),
    *,
    stale: bool = False,
) -> PriceFlags:
    return PriceFlags(FeedKind.LIVE, method, stale, stale, excluded, IDLE_BOOK)


async def test_all_venues_healthy(harness: Harness) -> None:
    symbol, mark, index, got = await harness.round()
    assert (symbol, mark, index, got) == ("BTCUSDT", HEALTHY_INDEX, HEALTHY_INDEX, flags())
    assert harness.service.constituents("BTCUSDT") == {
        "symbol": "BTCUSDT",
        "time": T0,
        "constituents": [
            {
                "exchange": "binance",
                "symbol": "BTCUSDT",
                "price": "65000.10000000",
                "weight": "0.30000000",
            },
            {
                "exchange": "okx",
                "symbol": "BTC-USDT",
                "price": "65001.00000000",
                "weight": "0.20000000",
            },
            {
                "exchange": "bybit",
                "symbol": "BTCUSDT",
                "price": "64999.50000000",
                "weight": "0.20000000",
            },
            {
                "exchange": "coinbase",
                "symbol": "BTC-USD",
                "price": "65002.00000000",
                "weight": "0.15000000",
            },
            {
                "exchange": "kraken",
                "symbol": "XBTUSD",
                "price": "64998.00000000",
                "weight": "0.15000000",
            },
        ],
    }
    # The endpoints the stock clients called, read from the installed ccxt.
    paths = {name: set(venue.state.paths) for name, venue in harness.venues.items()}
    assert paths == {
        "binance": {"/api/v3/exchangeInfo", "/api/v3/ticker/24hr"},
        "okx": {"/api/v5/public/instruments", "/api/v5/market/ticker"},
        "bybit": {"/v5/market/instruments-info", "/v5/market/tickers"},
        "coinbase": {"/products", "/products/BTC-USD/ticker", "/products/USDT-USD/ticker"},
        "kraken": {"/0/public/AssetPairs", "/0/public/Ticker"},
    }


async def test_usd_venue_is_converted_with_its_own_usdt_rate(harness: Harness) -> None:
    # Kraken: BTC/USD mid 64967.50 and USDT/USD mid 0.9995 -> 64967.50 / 0.9995 = 65000 USDT.
    harness.venues["kraken"].state.set("BTC/USD", "64967.40", "64967.60")
    harness.venues["kraken"].state.set("USDT/USD", "0.9994", "0.9996")
    _, _, index, _ = await harness.round()
    assert index == Decimal("65000.43000000")  # HEALTHY_INDEX + 0.15 * (65000 - 64998)


async def test_one_venue_down(harness: Harness) -> None:
    harness.venues["okx"].state.mode = "down"
    _, mark, index, got = await harness.round()
    assert (mark, index) == (WITHOUT_OKX, WITHOUT_OKX)
    assert got == flags(excluded=(("okx", Exclusion.MISSING),))


async def test_one_venue_slower_than_the_stale_threshold(harness: Harness) -> None:
    await harness.round()
    harness.venues["okx"].state.mode = "slow"  # answers after 5 s; ccxt gives up after 2 s
    harness.clock.advance(11_000)
    _, _, index, got = await harness.round()
    assert index == WITHOUT_OKX
    assert got == flags(excluded=(("okx", Exclusion.STALE),))


async def test_venues_returning_garbage_are_ignored(harness: Harness) -> None:
    harness.venues["okx"].state.set("BTC/USDT", "not-a-price", "65001.10")
    harness.venues["bybit"].state.mode = "html"
    harness.venues["binance"].state.set("BTC/USDT", "65000.30", "65000.20")  # crossed book
    _, _, index, got = await harness.round()
    # (0.15 * 65002.00 + 0.15 * 64998.00) / 0.30
    assert index == Decimal("65000.00000000")
    excluded = tuple((v, Exclusion.MISSING) for v in ("binance", "bybit", "okx"))
    assert got == flags(excluded=excluded)


async def test_one_venue_ten_percent_off_is_dropped(harness: Harness) -> None:
    harness.venues["okx"].state.set("BTC/USDT", "71501.00", "71501.20")
    _, _, index, got = await harness.round()
    assert index == WITHOUT_OKX
    assert got == flags(excluded=(("okx", Exclusion.DEVIATION),))
    weights = {
        c["exchange"]: c["weight"]
        for c in harness.service.constituents("BTCUSDT")["constituents"]  # type: ignore[index,union-attr]
    }
    assert weights["okx"] == "0.00000000"
    assert weights["binance"] == "0.37500000"


async def test_two_venues_off_gives_the_median_of_all_fresh(harness: Harness) -> None:
    harness.venues["okx"].state.set("BTC/USDT", "71501.00", "71501.20")
    harness.venues["bybit"].state.set("BTC/USDT", "58499.50", "58499.60")
    _, mark, index, got = await harness.round()
    # sorted: 58499.55, 64998.00, 65000.10, 65002.00, 71501.10
    assert (mark, index) == (Decimal("65000.10000000"), Decimal("65000.10000000"))
    assert got == flags(IndexMethod.MEDIAN)


async def test_all_stale_holds_the_index_and_pauses_funding(harness: Harness) -> None:
    await harness.round()
    for venue in harness.venues.values():
        venue.state.mode = "down"
    harness.clock.advance(10_001)
    _, mark, index, got = await harness.round()
    assert (mark, index) == (HEALTHY_INDEX, HEALTHY_INDEX)
    excluded = tuple((v, Exclusion.STALE) for v in sorted(harness.venues))
    assert got == flags(IndexMethod.HELD, excluded, stale=True)
    assert (got.stale, got.funding_paused) == (True, True)
    assert harness.service.constituents("BTCUSDT") == {
        "symbol": "BTCUSDT",
        "time": T0 + 10_001,
        "constituents": [],
    }


async def test_a_venue_coming_back_rejoins_the_index(harness: Harness) -> None:
    harness.venues["okx"].state.mode = "down"
    _, _, index, got = await harness.round()
    assert (index, got.excluded) == (WITHOUT_OKX, (("okx", Exclusion.MISSING),))
    harness.venues["okx"].state.mode = "healthy"
    harness.clock.advance(1_000)
    _, _, index, got = await harness.round()
    assert (index, got) == (HEALTHY_INDEX, flags())


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait (in real time, briefly) until ``condition()`` holds."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


async def test_binance_websocket_stream_through_ccxt_pro(
    venues: dict[str, FakeVenue], clock: FakeClock
) -> None:
    binance = venues["binance"]
    binance.state.set("BTC/USDT", "65000.00", "65000.20")
    config = SymbolConfig(symbol="BTCUSDT", base="BTC", weights={"binance": Decimal(1)})
    source = LiveSource(
        (config,), clock=clock, retry_delay_ms=10, client_overrides=overrides(venues)
    )

    def price() -> Decimal | None:
        tick = source.board.latest("binance", "BTC/USDT")
        return tick.price if tick else None

    await source.start()
    try:
        await until(lambda: price() == Decimal("65000.10"))
        assert "/api/v3/ticker/24hr" not in binance.state.paths  # it came over the stream
        binance.state.set("BTC/USDT", "65010.00", "65010.40")
        await binance.push()
        await until(lambda: price() == Decimal("65010.20"))
        # The stream breaks: one REST poll bridges the gap, then ccxt.pro resubscribes.
        binance.state.set("BTC/USDT", "65020.00", "65020.20")
        await binance.drop_streams()
        await until(lambda: price() == Decimal("65020.10"))
        await until(lambda: "/api/v3/ticker/24hr" in binance.state.paths)
    finally:
        await source.close()
