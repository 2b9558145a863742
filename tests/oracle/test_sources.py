"""Replay and simulated sources, the quote board and the source factory."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from oracle.config import DEFAULT_SYMBOLS, SymbolConfig
from oracle.model import FeedKind, RawTick, VenueQuote
from oracle.quotes import QuoteBoard
from oracle.sample import sample_text
from oracle.sources import LiveSource, ReplaySource, SimulatedSource, create_source
from oracle.sources.replay import SAMPLE_PATH, read_ticks
from oracle.venues import VENUES, ticker_price
from tests.oracle.conftest import T0

BTC, ETH = DEFAULT_SYMBOLS


async def series(seed: int, seconds: int = 120) -> list[list[VenueQuote]]:
    """The BTC quotes a simulated source shows at each second."""
    source = SimulatedSource(DEFAULT_SYMBOLS, seed=seed)
    out = []
    for second in range(seconds):
        await source.advance(T0 + second * 1_000)
        out.append(source.board.quotes(BTC))
    return out


async def test_simulated_source_same_seed_same_series() -> None:
    first, second = await series(7), await series(7)
    assert first == second
    assert first != await series(8)
    assert SimulatedSource.kind is FeedKind.SIMULATED


async def test_simulated_series_does_not_depend_on_clock_readings() -> None:
    stepwise = SimulatedSource(DEFAULT_SYMBOLS, seed=3, start_ms=T0)
    for ms in range(0, 60_001, 250):
        await stepwise.advance(T0 + ms)
    at_once = SimulatedSource(DEFAULT_SYMBOLS, seed=3, start_ms=T0)
    await at_once.advance(T0 + 60_000)
    assert stepwise.board.quotes(ETH) == at_once.board.quotes(ETH)


async def test_simulated_source_never_releases_a_future_tick() -> None:
    source = SimulatedSource(DEFAULT_SYMBOLS, seed=1, start_ms=T0)
    await source.advance(T0 + 300)  # binance (110 ms) and okx (230 ms) have quoted, not kraken
    venues = {quote.venue for quote in source.board.quotes(BTC)}
    assert venues <= {"binance", "okx"}
    assert all(q.received_ms <= T0 + 300 for q in source.board.quotes(BTC))


def test_shipped_sample_is_labelled_and_reproducible() -> None:
    text = SAMPLE_PATH.read_text(encoding="utf-8")
    assert text.startswith("# GENERATED DATA - NOT A MARKET RECORDING.")
    assert text == sample_text()


def test_shipped_sample_covers_five_venues_for_btc_and_eth() -> None:
    ticks = read_ticks(SAMPLE_PATH)
    markets = {(t.venue, t.market) for t in ticks}
    for config in DEFAULT_SYMBOLS:
        for venue in VENUES.values():
            assert (venue.name, venue.market(config.base)) in markets
    assert ticks[-1].received_ms >= 180_000  # a few minutes


async def test_replay_source_reads_the_shipped_sample() -> None:
    source = ReplaySource(start_ms=T0)
    await source.advance(T0 + 1_000)
    quotes = {q.venue: q for q in source.board.quotes(BTC)}
    # First lines of the sample: okx 96973.81 at 230 ms; coinbase 96976.72 USD at 1.00000.
    assert quotes["okx"] == VenueQuote("okx", "BTC-USDT", Decimal("96973.81"), T0 + 230)
    assert quotes["coinbase"].price == Decimal("96976.72")
    assert source.kind is FeedKind.REPLAY


async def test_replay_loops_with_shifted_times(tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text(
        "# test\noffset_ms,venue,market,price\n0,okx,BTC/USDT,100\n500,okx,BTC/USDT,101\n"
    )
    looped = ReplaySource(path, start_ms=T0)
    await looped.advance(T0 + 1_600)  # period = 500 + 1000 ms
    assert looped.board.latest("okx", "BTC/USDT") == RawTick(
        "okx", "BTC/USDT", Decimal(100), T0 + 1_500
    )
    once = ReplaySource(path, start_ms=T0, loop=False)
    await once.advance(T0 + 100_000)
    assert once.board.latest("okx", "BTC/USDT") == RawTick(
        "okx", "BTC/USDT", Decimal(101), T0 + 500
    )


async def test_replay_skips_cycles_the_clock_jumped_over(tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text("offset_ms,venue,market,price\n0,okx,BTC/USDT,100\n500,okx,BTC/USDT,101\n")
    source = ReplaySource(path, start_ms=T0)
    await source.advance(T0 + 1_500 * 1_000 + 10)
    tick = source.board.latest("okx", "BTC/USDT")
    assert tick == RawTick("okx", "BTC/USDT", Decimal(100), T0 + 1_500 * 1_000)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("time,venue,market,price\n", "header"),
        ("offset_ms,venue,market,price\n0,okx,BTC/USDT,abc\n", "decimal"),
        ("offset_ms,venue,market,price\n5,okx,BTC/USDT,1\n4,okx,BTC/USDT,1\n", "decrease"),
    ],
)
def test_malformed_tick_files_are_rejected(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=error):
        read_ticks(path)


def test_board_keeps_the_newest_tick_and_converts_usd_venues() -> None:
    board = QuoteBoard()
    board.record(RawTick("kraken", "BTC/USD", Decimal("64967.50"), T0 + 5))
    assert board.quotes(BTC) == []  # no USDT/USD rate yet
    board.record(RawTick("kraken", "USDT/USD", Decimal("0.9995"), T0 + 2))
    board.record(RawTick("kraken", "BTC/USD", Decimal("1"), T0 + 1))  # late and older: ignored
    (quote,) = board.quotes(BTC)
    assert quote == VenueQuote("kraken", "XBTUSD", Decimal("65000"), T0 + 2)


@pytest.mark.parametrize(
    ("venue", "info", "price"),
    [
        ("binance", {"bidPrice": "1.00", "askPrice": "1.10", "lastPrice": "9"}, "1.05"),
        ("binance", {"c": "2.5"}, "2.5"),  # a stream without a book: last price
        ("kraken", {"a": ["3.2", "1", "1"], "b": ["3.0", "1", "1"], "c": ["3", "1"]}, "3.1"),
        ("coinbase", {"best_bid": "7", "best_ask": "8", "price": "9"}, "7.5"),
    ],
)
def test_ticker_price_reads_the_venue_payload(
    venue: str, info: dict[str, object], price: str
) -> None:
    assert ticker_price(VENUES[venue], info) == Decimal(price)


@pytest.mark.parametrize(
    ("info", "error"),
    [
        ({}, "no bid/ask or last"),
        ({"bidPx": 65000.1, "askPx": "65000.2"}, "decimal string"),  # a JSON number was a float
        ({"bidPx": "-1", "askPx": "2"}, "positive"),
        ({"bidPx": "NaN", "askPx": "2"}, "positive"),
        ({"bidPx": "abc", "askPx": "2"}, "not a decimal"),
        ({"bidPx": "3", "askPx": "2"}, "crossed"),
    ],
)
def test_ticker_price_refuses_garbage(info: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ticker_price(VENUES["okx"], info)


def test_factory_picks_the_configured_source() -> None:
    def make(kind: str) -> object:
        return create_source(kind, DEFAULT_SYMBOLS, clock=lambda: T0)

    assert isinstance(make("live"), LiveSource)
    assert isinstance(make("replay"), ReplaySource)
    assert isinstance(make("simulated"), SimulatedSource)
    with pytest.raises(ValueError, match="carrier-pigeon"):
        make("carrier-pigeon")


def test_symbol_mapping_per_venue() -> None:
    assert {name: spec.native_symbol("BTC") for name, spec in VENUES.items()} == {
        "binance": "BTCUSDT",
        "okx": "BTC-USDT",
        "bybit": "BTCUSDT",
        "coinbase": "BTC-USD",
        "kraken": "XBTUSD",
    }
    assert VENUES["kraken"].markets(["ETH", "BTC"]) == ("BTC/USD", "ETH/USD", "USDT/USD")
    assert VENUES["okx"].markets(["BTC"]) == ("BTC/USDT",)


def test_symbol_config_defaults_are_the_mechanics_values() -> None:
    config = SymbolConfig(symbol="X", base="X")
    assert (config.index.stale_after_ms, config.index.max_deviation) == (10_000, Decimal("0.05"))
    assert (config.mark.basis_window_ms, config.mark.sample_every_ms) == (30_000, 1_000)
