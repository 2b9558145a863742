"""The liquidation monitor: margin ratios that agree with the engine's trigger, the accounts
nearest liquidation, and the liquidation stream of a real engine."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from derivatives import _core
from derivatives.commands import Deposit, SetLeverage, SetMarginType
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.enums import PositionSide, Side
from derivatives.events import EventEnvelope, LiquidationFinished, LiquidationStarted
from derivatives.units import to_raw
from risk.feed import EventFeed
from risk.fund_history import FundHistory
from risk.monitor import LiquidationEvent, LiquidationKind, LiquidationMonitor
from risk.positions import PositionView
from tests.risk.conftest import BTC, Exchange, FakeClock

TRADER = 20


async def test_ratios_nearest_and_the_stream_of_a_liquidation(
    exchange: Exchange, clock: FakeClock
) -> None:
    # The worked example of core_rs/tests/liquidation.rs: 1,000 USDT, long 0.4 at 50,000 (fee 10),
    # bankruptcy price 47,525, the fund (1,000 USDT) takes the position over at 47,600.
    exchange.run(Deposit(TRADER, D(1_000)), Deposit(_core.INSURANCE_FUND, D(1_000)))
    exchange.cross(1, TRADER, Side.BUY, "0.4", "50000")
    exchange.cross(3, 2, Side.BUY, "0.1", "50000")
    view = PositionView()
    monitor = LiquidationMonitor(view, lambda: DEMO_INSTRUMENTS, lambda seq: clock.now)
    fund = FundHistory(lambda seq: clock.now, lambda: ["BTCUSDT"])
    feed = EventFeed(exchange.client, [view.apply, monitor, fund])

    assert not any(isinstance(e, LiquidationStarted) for e in exchange.mark("47900"))
    feed.catch_up()
    nearest = monitor.nearest(2)
    # MB = 990 - 0.4 x 2,100 = 150; MM = 0.4 x 47,900 x 0.4 % = 76.64; ratio 0.51093333.
    assert [
        (r.account, r.margin_balance, r.maintenance, r.margin_ratio, r.liquidatable)
        for r in nearest[:1]
    ] == [(TRADER, D("150"), D("76.64"), D("0.51093333"), False)]
    assert nearest[0].to_dict()["positions"] == [
        {
            "symbol": "BTCUSDT",
            "positionSide": "BOTH",
            "positionAmt": "0.40000000",
            "entryPrice": "50000.00000000",
            "markPrice": "47900.00000000",
            "unrealizedProfit": "-840.00000000",
            "maintMargin": "76.64000000",
        }
    ]
    assert {r.account for r in monitor.snapshot()} == {1, 2, 3, TRADER}

    stream = monitor.stream()
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)  # subscribed
    clock.now += 1_000
    exchange.mark("47600")  # MB 30 < MM 76.16: the engine liquidates, as the view says it must
    feed.catch_up()
    steps = [await first] + [await anext(stream) for _ in range(3)]
    await stream.aclose()
    assert [(s.kind, s.account, s.symbol, s.qty, s.price) for s in steps] == [
        (LiquidationKind.STARTED, TRADER, None, None, None),
        (LiquidationKind.ORDER, TRADER, "BTCUSDT", D("0.4"), D("47525")),
        (LiquidationKind.TAKEN_OVER, TRADER, "BTCUSDT", D("0.4"), D("47525")),
        (LiquidationKind.FINISHED, TRADER, None, None, None),
    ]
    assert steps[0].to_dict() | {"seq": 0, "index": 0} == {
        "seq": 0,
        "index": 0,
        "time": clock.now,
        "type": "LIQUIDATION_STARTED",
        "account": TRADER,
        "symbol": None,
        "qty": None,
        "price": None,
        "marginBalance": "30.00000000",
        "maintMargin": "76.16000000",
    }
    assert monitor.recent(account=TRADER) == steps
    assert monitor.dropped == 0
    # The fund now holds the position: it appears in the monitor, and its wallet history shows
    # the takeover fill (no fee: it paid the bankruptcy price).
    assert [r.account for r in monitor.snapshot()] == [1, 2, 3, _core.INSURANCE_FUND]
    assert [p.reason for p in fund.points] == ["DEPOSIT", "TRADE"]
    current = fund.current(view)["assets"]
    assert current == [
        {"asset": "USDT", "marginBalance": "1030.00000000", "updateTime": clock.now}
    ]  # 1,000 + 0.4 x 75


async def test_a_slow_subscriber_loses_the_oldest_steps_not_the_feed() -> None:
    view = PositionView()
    monitor = LiquidationMonitor(view, lambda: DEMO_INSTRUMENTS, lambda seq: 0, queue_size=2)
    stream = monitor.stream()
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    monitor(0, [EventEnvelope(seq, 0, LiquidationFinished(seq, True)) for seq in (1, 2, 3, 4)])
    received: list[LiquidationEvent] = [await pending, await anext(stream)]
    await stream.aclose()
    assert monitor.dropped >= 1
    assert received[-1].account == 4


def test_an_isolated_leg_is_its_own_unit_for_the_ratio(exchange: Exchange) -> None:
    # 10,000 USDT, isolated 10x, long 1 at 50,000: 5,000 moves into the leg (taker fee from the
    # cross part). At 45,500 the leg has MB = 5,000 − 4,500 = 500 and MM = 45,500 × 0.4 % = 182:
    # a ratio of 0.364, where the whole wallet would have shown 182 / 5,475 = 0.033.
    exchange.run(Deposit(TRADER, D(10_000)), SetMarginType(TRADER, BTC, True), SetLeverage(TRADER, BTC, 10))
    exchange.cross(1, TRADER, Side.BUY, "1", "50000")
    view = PositionView()
    monitor = LiquidationMonitor(view, lambda: DEMO_INSTRUMENTS, lambda seq: 0)
    feed = EventFeed(exchange.client, [view.apply, monitor])
    exchange.mark("45500")
    feed.catch_up()
    assert view.accounts[TRADER].isolated_margin == {(BTC, PositionSide.BOTH): to_raw(D(5_000))}
    (trader,) = [r for r in monitor.snapshot() if r.account == TRADER]
    assert (trader.wallet, trader.margin_balance, trader.maintenance, trader.margin_ratio, trader.liquidatable) == (
        D(5_000), D(500), D(182), D("0.364"), False)
    exchange.mark("45100")  # MB 100 < MM 180.4: the engine liquidates the leg
    feed.catch_up()
    assert TRADER not in {r.account for r in monitor.snapshot()}
    assert view.accounts[TRADER].isolated_margin == {}
