"""``/futures/data/*`` over a real socket (SQLite and PostgreSQL): trades and marks at chosen times
on a frozen clock, the sampler driven directly, exact figures by plain HTTP and stock ccxt, and
Binance errors for bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import ccxt
import httpx
import pytest

from api.main import create_app
from api.services.market_statistics import positioning, ratio
from derivatives import _core
from derivatives.commands import Command, PlaceOrder, SetMarkPrice
from derivatives.engine import AccountRisk, EngineClient, PositionRisk
from derivatives.enums import PositionSide, Side, TimeInForce
from derivatives.persistence.statistics import Positioning
from tests.api.conftest import (
    BTC,
    ETH,
    ETH_MARK,
    ccxt_config,
    execute,
    make_database,
    make_trader,
    publish_marks,
    settings_for,
)
from tests.api.server import RunningServer, start

T0 = 1_795_392_000_000
"""2026-11-23 00:00 UTC: the frozen clock starts here."""
MINUTE = 60_000
DAY = 1440 * MINUTE


class Clock:
    """A settable clock (Unix ns) for the app."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms * 1_000_000


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def market(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Clock]]:
    """A server on a frozen clock whose own sampler stays idle (one-day interval): the test samples."""
    db = make_database(request.param, tmp_path_factory.mktemp("db"))
    clock = Clock(T0 + MINUTE)
    app = create_app(settings_for(db, market_stats_interval_ms=DAY), EngineClient(), clock_ns=clock)
    running = start(app)
    publish_marks(running)
    yield running, clock
    running.stop()
    db.drop()


def cross(maker: int, taker: int, taker_side: Side, qty: str) -> list[Command]:
    """A resting maker order at 50000 and the taker's IOC that fills it."""
    maker_side = Side.SELL if taker_side is Side.BUY else Side.BUY
    return [PlaceOrder(maker, BTC, maker_side, D(qty), price=D(50000)),
            PlaceOrder(taker, BTC, taker_side, D(qty), price=D(50000), time_in_force=TimeInForce.IOC)]


def get(server: RunningServer, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.base}/futures/data/{path}", params=params, timeout=10)


@pytest.fixture(scope="module")
def sampled(market: tuple[RunningServer, Clock]) -> RunningServer:
    """Two 5-minute buckets of trading (see the expected figures in the tests).

    Bucket T0: A buys 3 from B, C sells 1 to D, E buys 0.5 from F (taker buy 3.5, sell 1); mark
    50000. Bucket T0+5m: a first sample, then the mark goes to 50001.5 and E sells 1 to B (taker
    sell 1), then a second sample replaces the first. Margin balances: A > C > B > D > E > F, so the
    top 20 % of six holders are A (long 3) and C (short 1).
    """
    server, clock = market
    funds = {"A": "1000000", "C": "900000", "B": "800000", "D": "300000", "E": "200000", "F": "100000"}
    t = {name: make_trader(server, funds=amount).account for name, amount in funds.items()}
    statistics = server.services.statistics
    execute(server, *cross(t["B"], t["A"], Side.BUY, "3"), *cross(t["D"], t["C"], Side.SELL, "1"),
            *cross(t["F"], t["E"], Side.BUY, "0.5"))
    clock.ms = T0 + 4 * MINUTE
    statistics.sample(clock.ms)
    clock.ms = T0 + 5 * MINUTE + 30_000
    statistics.sample(clock.ms)
    clock.ms = T0 + 6 * MINUTE
    execute(server, SetMarkPrice(BTC, D("50001.5"), D(50000)), SetMarkPrice(ETH, ETH_MARK, ETH_MARK))
    execute(server, *cross(t["B"], t["E"], Side.SELL, "1"))
    clock.ms = T0 + 9 * MINUTE
    statistics.sample(clock.ms)
    return server


def test_open_interest_history_per_bucket_and_period(sampled: RunningServer) -> None:
    rows = get(sampled, "openInterestHist", symbol="BTCUSDT", period="5m", startTime=T0).json()
    assert rows == [
        {"symbol": "BTCUSDT", "sumOpenInterest": "4.50000000", "sumOpenInterestValue": "225000.00000000",
         "timestamp": T0},
        {"symbol": "BTCUSDT", "sumOpenInterest": "4.00000000", "sumOpenInterestValue": "200006.00000000",
         "timestamp": T0 + 5 * MINUTE},
    ]
    assert get(sampled, "openInterestHist", symbol="BTCUSDT", period="15m").json() == [
        {"symbol": "BTCUSDT", "sumOpenInterest": "4.00000000", "sumOpenInterestValue": "200006.00000000",
         "timestamp": T0}]
    assert get(sampled, "openInterestHist", symbol="BTCUSDT", period="5m", limit=1).json() == rows[1:]
    assert get(sampled, "openInterestHist", symbol="BTCUSDT", period="5m", endTime=T0).json() == rows[:1]
    eth = get(sampled, "openInterestHist", symbol="ETHUSDT", period="5m", startTime=T0).json()
    assert [(r["sumOpenInterest"], r["sumOpenInterestValue"]) for r in eth] == [("0.00000000", "0.00000000")] * 2


def test_long_short_ratios(sampled: RunningServer) -> None:
    def ratios(path: str, period: str = "5m") -> list[tuple[str, str, str, int]]:
        rows = get(sampled, path, symbol="BTCUSDT", period=period, startTime=T0).json()
        assert all(r["symbol"] == "BTCUSDT" for r in rows)
        return [(r["longShortRatio"], r["longAccount"], r["shortAccount"], r["timestamp"]) for r in rows]

    # all traders: 3 long / 3 short, then A, D long and B, C, E, F short (2/6 = 0.33333.. half-even)
    assert ratios("globalLongShortAccountRatio") == [("1.0000", "0.5000", "0.5000", T0),
                                                      ("0.5000", "0.3333", "0.6667", T0 + 5 * MINUTE)]
    # top 20 %: A (long 3) and C (short 1)
    assert ratios("topLongShortAccountRatio") == [("1.0000", "0.5000", "0.5000", T0),
                                                   ("1.0000", "0.5000", "0.5000", T0 + 5 * MINUTE)]
    assert ratios("topLongShortPositionRatio") == [("3.0000", "0.7500", "0.2500", T0),
                                                    ("3.0000", "0.7500", "0.2500", T0 + 5 * MINUTE)]
    assert ratios("globalLongShortAccountRatio", "1d") == [("0.5000", "0.3333", "0.6667", T0)]


def test_taker_volume_and_basis(sampled: RunningServer) -> None:
    rows = get(sampled, "takerlongshortRatio", symbol="BTCUSDT", period="5m", startTime=T0).json()
    assert rows == [{"buySellRatio": "3.5000", "buyVol": "3.500", "sellVol": "1.000", "timestamp": T0},
                    {"buySellRatio": "0.0000", "buyVol": "0.000", "sellVol": "1.000", "timestamp": T0 + 5 * MINUTE}]
    assert get(sampled, "takerlongshortRatio", symbol="BTCUSDT", period="30m").json() == [
        {"buySellRatio": "1.7500", "buyVol": "3.500", "sellVol": "2.000", "timestamp": T0}]
    basis = get(sampled, "basis", pair="BTCUSDT", contractType="PERPETUAL", period="5m", startTime=T0).json()
    assert basis[1] == {"indexPrice": "50000.00000000", "contractType": "PERPETUAL", "basisRate": "0.0000",
                        "futuresPrice": "50001.50000000", "annualizedBasisRate": "", "basis": "1.50000000",
                        "pair": "BTCUSDT", "timestamp": T0 + 5 * MINUTE}


def test_stock_ccxt_reads_the_history(sampled: RunningServer) -> None:
    exchange = ccxt.binanceusdm(ccxt_config(sampled))
    history = exchange.fetch_open_interest_history("BTC/USDT:USDT", "5m", since=T0, limit=2)
    assert [(h["openInterestAmount"], h["openInterestValue"], h["timestamp"]) for h in history] == [
        (4.5, 225000.0, T0), (4.0, 200006.0, T0 + 5 * MINUTE)]
    assert history[0]["symbol"] == "BTC/USDT:USDT"
    ratios = exchange.fetch_long_short_ratio_history("BTC/USDT:USDT", "5m", since=T0, limit=2)
    assert [(r["symbol"], r["longShortRatio"], r["timestamp"]) for r in ratios] == [
        ("BTC/USDT:USDT", 1.0, T0), ("BTC/USDT:USDT", 0.5, T0 + 5 * MINUTE)]


@pytest.mark.parametrize(("params", "code"), [
    ({"symbol": "NOPE", "period": "5m"}, -1121),
    ({"symbol": "BTCUSDT", "period": "3m"}, -1130),
    ({"symbol": "BTCUSDT"}, -1102),
    ({"symbol": "BTCUSDT", "period": "5m", "limit": 0}, -1130),
    ({"symbol": "BTCUSDT", "period": "5m", "limit": 501}, -1130),
    ({"symbol": "BTCUSDT", "period": "5m", "limit": "x"}, -1100),
    ({"symbol": "BTCUSDT", "period": "5m", "startTime": T0 + 1, "endTime": T0}, -1128),
    ({"symbol": "BTCUSDT", "period": "5m", "interval": "5m"}, -1104),
])
def test_bad_input_is_a_binance_error(market: tuple[RunningServer, Clock], params: dict[str, Any], code: int) -> None:
    server, _ = market
    for path in ("openInterestHist", "globalLongShortAccountRatio", "topLongShortAccountRatio",
                 "topLongShortPositionRatio", "takerlongshortRatio"):
        answer = get(server, path, **params)
        assert answer.status_code == 400 and answer.json()["code"] == code, (path, answer.text)
    quarter = get(server, "basis", pair="BTCUSDT", contractType="CURRENT_QUARTER", period="5m")
    assert quarter.status_code == 400 and quarter.json()["code"] == -1130


def test_samples_older_than_thirty_days_are_pruned(sampled: RunningServer) -> None:
    sampled.services.statistics.sample(T0 + 30 * DAY + 5 * MINUTE)
    def stamps(start: int) -> list[int]:
        rows = get(sampled, "openInterestHist", symbol="BTCUSDT", period="5m", startTime=start).json()
        return [r["timestamp"] for r in rows]

    assert stamps(T0) == [T0 + 5 * MINUTE]
    assert stamps(T0 + 30 * DAY) == [T0 + 30 * DAY + 5 * MINUTE]


def test_the_app_samples_on_its_interval(tmp_path: Path) -> None:
    db = make_database("sqlite", tmp_path)
    server = start(create_app(settings_for(db, market_stats_interval_ms=100), EngineClient()))
    try:
        deadline = time.monotonic() + 10
        while not get(server, "openInterestHist", symbol="BTCUSDT", period="5m").json():
            assert time.monotonic() < deadline, "the sampler wrote nothing"
            time.sleep(0.05)
    finally:
        server.stop()


def view(account: int, balance: str, *legs: tuple[int, str]) -> AccountRisk:
    """An account view with legs (symbol, signed quantity); other figures zero."""
    zero = D(0)
    return AccountRisk(account, len(legs) > 1, D(balance), D(balance), D(balance), zero, zero, zero, zero, {},
                       frozenset(), [PositionRisk(symbol, PositionSide.BOTH, D(qty), zero, zero, zero, zero, zero,
                                                  zero, False, zero) for symbol, qty in legs])


def test_positioning_nets_legs_ranks_by_margin_balance_and_skips_system_accounts() -> None:
    views = [
        view(1, "500", (BTC, "2")),
        view(2, "900", (BTC, "1"), (BTC, "-1")),  # hedged at net 0: neither side, still a holder
        view(3, "900", (BTC, "-0.5"), (ETH, "7")),  # ties with 2 on balance, higher id: ranked after it
        view(4, "100", (BTC, "1.5"), (BTC, "-0.25")),
        view(5, "50", (ETH, "1")),  # no BTC position: not counted
        view(6, "40", (BTC, "-3")),
        view(_core.INSURANCE_FUND, "99999", (BTC, "-4")),
    ]
    # BTC holders: 1, 2, 3, 4, 6 (five): the top ⌈5/5⌉ = 1 is account 2 (net 0)
    assert positioning(views, BTC) == Positioning(2, 2, 0, 0, D(0), D(0))
    # seven more small longs: twelve holders, top three = 2, 3, 1
    views += [view(10 + i, "1", (BTC, "0.1")) for i in range(7)]
    assert positioning(views, BTC) == Positioning(9, 2, 1, 1, D(2), D("0.5"))


@pytest.mark.parametrize(("numerator", "denominator", "text"), [
    (1, 3, "0.3333"), (2, 3, "0.6667"), (D("0.00005"), 1, "0.0000"), (D("0.00015"), 1, "0.0002"), (5, 0, ""),
    (0, 4, "0.0000"), (D("7"), D("2"), "3.5000"),
])
def test_ratios_are_half_even_to_four_decimals(numerator: D | int, denominator: D | int, text: str) -> None:
    assert ratio(numerator, denominator) == text
