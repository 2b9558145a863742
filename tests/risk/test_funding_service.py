"""End to end: the funding service samples a real engine's book through a funding time (fake
clock) and the engine applies exactly the rate computed here by hand."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, localcontext
from decimal import Decimal as D

import pytest

from derivatives import _core
from derivatives.commands import AddInstrument, CancelAll, InstrumentSpec, PlaceOrder
from derivatives.demo import BTCUSDT
from derivatives.enums import BalanceKind, Side
from derivatives.events import BalanceChanged, FundingApplied
from risk.funding import EIGHT_HOURS_MS, HOUR_MS, Averaging
from risk.funding_service import FundingConfig, FundingEstimate, FundingService
from tests.risk.conftest import BTC, START_MS, Exchange, FakeClock

MIDNIGHT = START_MS - 1_000
FUNDING_TIME = MIDNIGHT + EIGHT_HOURS_MS
MAKER = 5
MINUTE_SAMPLES = FundingConfig(sample_every_ms=60_000)


def _quote(exchange: Exchange, bid: str, ask: str) -> None:
    """One BTC bid and one BTC ask from the maker, replacing its previous quotes."""
    exchange.run(
        CancelAll(MAKER, BTC),
        PlaceOrder(MAKER, BTC, Side.BUY, D(1), price=D(bid)),
        PlaceOrder(MAKER, BTC, Side.SELL, D(1), price=D(ask)),
    )


def _service(
    exchange: Exchange,
    clock: FakeClock,
    config: FundingConfig = MINUTE_SAMPLES,
    spec: InstrumentSpec = BTCUSDT,
) -> FundingService:
    return FundingService(exchange.client, exchange.submit, lambda: [spec], config, clock=clock)


async def test_funding_time_settles_the_linear_weighted_rate_and_moves_balances(
    exchange: Exchange, clock: FakeClock
) -> None:
    exchange.cross(1, 2, Side.BUY, "0.5", "50000")  # 2 long 0.5, 1 short 0.5
    exchange.cross(4, 3, Side.BUY, "0.2", "50000")  # 3 long 0.2, 4 short 0.2
    exchange.mark("50000.1", index="50000")
    _quote(exchange, bid="50050", ask="50100")  # impact bid 50,050 over index 50,000: P = 0.1 %
    service = _service(exchange, clock)
    weighted, weights = D(0), D(0)
    while clock.now < FUNDING_TIME:
        if (
            clock.now >= MIDNIGHT + 4 * HOUR_MS
            and weights
            and clock.now - 60_000 < MIDNIGHT + 4 * HOUR_MS
        ):
            _quote(exchange, bid="50150", ask="50200")  # from 04:00, P = 0.3 %
        assert await service.step() == []
        premium = D("0.001") if clock.now < MIDNIGHT + 4 * HOUR_MS else D("0.003")
        weighted += (clock.now - MIDNIGHT) * premium
        weights += clock.now - MIDNIGHT
        clock.now += 60_000

    # By hand: MECHANICS §3.2 linear weights (time since the window opened), Binance's
    # F = P + clamp(I - P, +-0.05 %), 8 dp half-even, cap 0.75 x 0.4 %.
    with localcontext(prec=40):
        average = weighted / weights
    expected = (average + max(min(D("0.0001") - average, D("0.0005")), D("-0.0005"))).quantize(
        D("0.00000001"), rounding=ROUND_HALF_EVEN
    )
    assert expected == D("0.00200101")  # not the simple mean's 0.0015: later samples weigh more
    estimate = service.premium_index("BTCUSDT")
    assert estimate is not None
    assert estimate["lastFundingRate"] == "0.00200101"
    assert estimate["nextFundingTime"] == FUNDING_TIME
    assert estimate["interestRate"] == "0.00010000"

    after = exchange.client.last_seq()
    [record] = await service.step()
    assert (record.rate, record.funding_time_ms, record.mark, record.samples) == (
        expected,
        FUNDING_TIME,
        D("50000.1"),
        480,
    )
    events = [e.event for e in exchange.client.read_events(after)]
    assert [e for e in events if isinstance(e, FundingApplied)] == [
        FundingApplied(BTC, expected, D("50000.1"), D("0.00000002"))
    ]
    # Each account pays -qty x mark x F, floored (MECHANICS §3.4 [OURS]); the dust goes to the fund.
    fees = {
        e.account: e.amount
        for e in events
        if isinstance(e, BalanceChanged) and e.kind is BalanceKind.FUNDING_FEE
    }
    for account, qty in {1: "-0.5", 2: "0.5", 3: "0.2", 4: "-0.2"}.items():
        assert fees[account] == (-D(qty) * D("50000.1") * expected).quantize(
            D("0.00000001"), rounding=ROUND_FLOOR
        )
    # 0.5 x 50,000.1 x 0.00200101 = 50.0253500505: the long pays 50.02535006 and the short
    # gets 50.02535005.
    assert fees[2] == D("-50.02535006")
    assert fees[1] == D("50.02535005")
    assert sum(fees.values()) == 0
    assert fees[_core.INSURANCE_FUND] == D("0.00000002")
    assert service.history() == [
        {
            "symbol": "BTCUSDT",
            "fundingRate": "0.00200101",
            "fundingTime": FUNDING_TIME,
            "markPrice": "50000.10000000",
        }
    ]
    # The step that settled also took the first sample of the next window (P = 0.3 %).
    assert service.estimate("BTCUSDT") == FundingEstimate(
        BTC, D("0.0025"), D("0.0001"), FUNDING_TIME + EIGHT_HOURS_MS, EIGHT_HOURS_MS
    )
    # Nothing more is settled before the next funding time.
    clock.now = FUNDING_TIME + EIGHT_HOURS_MS - 1
    assert await service.step() == []


async def test_simple_averaging_and_a_short_demo_interval(
    exchange: Exchange, clock: FakeClock
) -> None:
    exchange.cross(1, 2, Side.BUY, "0.5", "50000")
    exchange.mark("50000")
    _quote(exchange, bid="49900", ask="49950")  # impact ask 49,950 under the index: P = -0.1 %
    config = FundingConfig(
        sample_every_ms=60_000,
        averaging=Averaging.SIMPLE,
    )
    service = _service(exchange, clock, config, replace(BTCUSDT, funding_interval_ms=4 * HOUR_MS))
    while clock.now < MIDNIGHT + 4 * HOUR_MS:
        await service.step()
        clock.now += 60_000
    [record] = await service.step()
    # (-0.1 % + clamp(0.11 %, 0.05 %)) x 4 / 8 = -0.025 % (Binance's / (8/N) for a 4-hour symbol).
    assert record.rate == D("-0.00025000")
    assert record.funding_time_ms == MIDNIGHT + 4 * HOUR_MS


async def test_no_index_price_means_no_sample_and_no_funding(clock: FakeClock) -> None:
    exchange = Exchange(clock)
    exchange.run(AddInstrument(BTCUSDT))
    service = _service(exchange, clock)
    clock.now = FUNDING_TIME - 60_000
    assert await service.step() == []
    clock.now = FUNDING_TIME
    assert await service.step() == []
    assert service.history() == []
    assert service.premium_index("ETHUSDT") is None


async def test_a_paused_symbol_accrues_nothing(exchange: Exchange, clock: FakeClock) -> None:
    exchange.cross(1, 2, Side.BUY, "0.5", "50000")
    exchange.mark("50000.1", index="50000")
    _quote(exchange, bid="50050", ask="50100")
    service = _service(exchange, clock)
    service.set_paused(BTC, True)  # the oracle has no fresh source for the whole period
    while clock.now < FUNDING_TIME:
        assert await service.step() == []
        clock.now += 60_000
    assert await service.step() == []
    assert service.history() == []
    service.set_paused(BTC, False)
    clock.now = FUNDING_TIME + 60_000
    await service.step()
    assert service.premium_index("BTCUSDT") is not None


async def test_run_wakes_for_each_sample_and_the_funding_time(
    exchange: Exchange, clock: FakeClock
) -> None:
    exchange.mark("50000")
    service = FundingService(
        exchange.client,
        exchange.submit,
        lambda: [replace(BTCUSDT, funding_interval_ms=150_000)],
        FundingConfig(sample_every_ms=60_000),
        clock=clock,
        sleep=clock.sleep,
    )
    task = asyncio.create_task(service.run())
    while not service.history():
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # From 00:00:01: samples at 1 s, 60 s, 120 s, then the funding time at 150 s.
    assert clock.slept[:3] == [59.0, 60.0, 30.0]
    assert service.history()[0]["fundingTime"] == MIDNIGHT + 150_000
