"""The publisher: rounds, flags, the engine book provider, klines and the run loop."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from oracle.config import DEFAULT_SYMBOLS, SymbolConfig
from oracle.klines import Kline, KlineSeries
from oracle.model import FeedKind, IndexMethod, MarkFallback, PriceFlags, RawTick
from oracle.service import BookState, MarkPriceService, PriceKind, idle_book
from oracle.sources.base import Source
from oracle.sources.simulated import SimulatedSource
from tests.oracle.conftest import T0, FakeClock, Published, collector

D = Decimal
HOUR = 3_600_000
BTC = SymbolConfig(symbol="BTCUSDT", base="BTC", weights={"binance": D(1)})


class StaticSource(Source):
    """A pushed feed whose board the test fills directly."""

    kind = FeedKind.REPLAY

    def __init__(self) -> None:
        super().__init__()
        self.started = self.closed = False

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True


def service(
    source: Source, clock: FakeClock, published: list[Published], **kwargs: Any
) -> MarkPriceService:
    return MarkPriceService(source, collector(published), symbols=(BTC,), clock=clock, **kwargs)


async def test_mark_uses_the_engine_book_and_last_trade(clock: FakeClock) -> None:
    source = StaticSource()
    source.board.record(RawTick("binance", "BTC/USDT", D("65000"), T0))
    next_funding = T0 + 4 * HOUR

    async def book(symbol: str, now_ms: int) -> BookState:
        assert symbol == "BTCUSDT"
        return BookState(
            D("65010"), D("65014"), D("65020"), T0 - HOUR, D("0.0001"), next_funding, 8 * HOUR
        )

    published: list[Published] = []
    svc = service(source, clock, published, book=book)
    (publication,) = await svc.publish_once()
    # Price1 = 65003.25, Price2 = 65000 + 12 = 65012, last = 65020 -> 65012
    assert published == [
        (
            "BTCUSDT",
            D("65012.00000000"),
            D("65000.00000000"),
            PriceFlags(FeedKind.REPLAY, IndexMethod.WEIGHTED, False, False, (), ()),
        )
    ]
    assert publication.mark_result.price1 == D("65003.25")
    assert svc.latest("BTCUSDT") == publication


async def test_a_trade_before_the_funding_interval_is_not_the_last_price(clock: FakeClock) -> None:
    source = StaticSource()
    source.board.record(RawTick("binance", "BTC/USDT", D("65000"), T0))

    async def book(symbol: str, now_ms: int) -> BookState:
        return BookState(
            None, D("65014"), D("70000"), T0 - 5 * HOUR, D("0.0001"), T0 + 4 * HOUR, 8 * HOUR
        )

    published: list[Published] = []
    await service(source, clock, published, book=book).publish_once()
    _, mark, _, flags = published[0]
    assert mark == D("65003.25000000")
    assert flags.mark_fallbacks == (MarkFallback.NO_BASIS_SAMPLES, MarkFallback.NO_LAST_TRADE)


async def test_nothing_is_published_before_a_fresh_price(clock: FakeClock) -> None:
    published: list[Published] = []
    assert await service(StaticSource(), clock, published).publish_once() == []
    assert published == []


async def test_simulated_prices_carry_the_simulated_label(clock: FakeClock) -> None:
    published: list[Published] = []
    svc = MarkPriceService(
        SimulatedSource(DEFAULT_SYMBOLS, seed=5),
        collector(published),
        symbols=DEFAULT_SYMBOLS,
        clock=clock,
    )
    await svc.publish_once()  # the walk starts now; its first quotes come within the second
    clock.advance(1_000)
    await svc.publish_once()
    assert [p[0] for p in published] == ["BTCUSDT", "ETHUSDT"]
    assert all(p[3].feed is FeedKind.SIMULATED for p in published)


async def test_run_publishes_each_second_and_closes_the_source(clock: FakeClock) -> None:
    source = StaticSource()
    published: list[Published] = []
    sleeps: list[float] = []

    class Stop(Exception):
        pass

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise Stop
        clock.advance(int(seconds * 1000))
        source.board.record(RawTick("binance", "BTC/USDT", D(65000 + len(sleeps)), clock()))

    clock.advance(250)  # not on a second boundary: the first sleep realigns
    source.board.record(RawTick("binance", "BTC/USDT", D("65000"), clock()))
    with pytest.raises(Stop):
        await service(source, clock, published, sleep=sleep).run()
    assert sleeps == [0.75, 1.0, 1.0]
    assert [p[2] for p in published] == [D("65000"), D("65001"), D("65002")]
    assert (source.started, source.closed) == (True, True)


async def test_a_failing_round_is_logged_and_the_loop_goes_on(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    source = StaticSource()
    source.board.record(RawTick("binance", "BTC/USDT", D("65000"), T0))
    calls = 0

    class Stop(Exception):
        pass

    async def publish(symbol: str, mark: Decimal, index: Decimal, flags: PriceFlags) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("engine unavailable")

    async def sleep(seconds: float) -> None:
        if calls == 2:
            raise Stop

    svc = MarkPriceService(source, publish, symbols=(BTC,), clock=clock, sleep=sleep)
    with pytest.raises(Stop):
        await svc.run()
    assert calls == 2
    assert "publication round failed" in caplog.text


async def test_klines_of_mark_and_index(clock: FakeClock) -> None:
    source = StaticSource()
    published: list[Published] = []
    svc = service(source, clock, published)
    for second, price in enumerate(["100", "103", "99", "101"]):
        clock.now_ms = T0 + second * 20_000  # T0 is 20 s into a minute: 20 s, 40 s, 60 s, 80 s
        source.board.record(RawTick("binance", "BTC/USDT", D(price), clock()))
        await svc.publish_once()
    minute = T0 - T0 % 60_000
    expected = [
        Kline(minute, minute + 59_999, D(100), D(103), D(100), D(103)),
        Kline(minute + 60_000, minute + 119_999, D(99), D(101), D(99), D(101)),
    ]
    assert svc.klines("BTCUSDT", PriceKind.INDEX) == expected
    assert svc.klines("BTCUSDT", PriceKind.MARK) == expected
    assert svc.klines("BTCUSDT", PriceKind.MARK, start_ms=minute + 1) == expected[1:]
    assert svc.klines("BTCUSDT", PriceKind.MARK, limit=1) == expected[1:]


def test_kline_series_keeps_a_bounded_history_and_never_reopens_a_bar() -> None:
    series = KlineSeries(max_bars=2)
    for minute in range(3):
        series.update(minute * 60_000, D(minute))
    series.update(0, D(50))  # older than the newest bar: ignored
    assert [bar.open_time_ms for bar in series.bars()] == [60_000, 120_000]
    assert series.bars(end_ms=60_000) == [Kline(60_000, 119_999, D(1), D(1), D(1), D(1))]


async def test_idle_book_places_funding_on_the_next_8_hour_boundary() -> None:
    state = await idle_book("BTCUSDT", 8 * HOUR + 5)
    assert (state.next_funding_ms, state.funding_interval_ms) == (16 * HOUR, 8 * HOUR)
    assert (state.best_bid, state.best_ask, state.last_price) == (None, None, None)
    assert state.funding_rate == 0
