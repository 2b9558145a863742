"""The fund unwinder: worked slice plans (derived by hand beside each assertion) and the service
working a taken-over long out of a real engine, slice by slice, pausing on a thin book, its
history stored (SQLite and PostgreSQL) and served again by an unwinder started after a restart.

BTCUSDT (demo): tick 0.1, step 0.001, min qty 0.001. Settings below: slices of at most 10,000
USDT at the mark, never worse than 0.5 % from it, paused under 20,000 USDT of depth within it.
"""

from __future__ import annotations

from decimal import Decimal as D

from derivatives import _core
from derivatives.commands import Deposit, PlaceOrder
from derivatives.demo import BTCUSDT, DEMO_INSTRUMENTS
from derivatives.enums import Side
from derivatives.persistence.db import Database
from risk.unwinder import UnwindConfig, UnwindReason, limit_price, plan
from risk.unwinder_service import FundUnwinder
from tests.risk.conftest import BTC, Exchange, FakeClock

CONFIG = UnwindConfig(
    period_ms=1_000, slice_notional=D(10_000), max_slippage=D("0.005"), min_book_notional=D(20_000)
)


def test_the_limit_is_the_slippage_cap_rounded_toward_the_mark() -> None:
    # 50,000.3 × 0.995 = 49,750.2985 → up to 49,750.3 for a sell; × 1.005 = 50,250.3015 → 50,250.3.
    assert limit_price(Side.SELL, D("50000.3"), BTCUSDT, D("0.005")) == D("49750.3")
    assert limit_price(Side.BUY, D("50000.3"), BTCUSDT, D("0.005")) == D("50250.3")


def test_a_slice_is_capped_by_notional_position_and_depth() -> None:
    bids = [(D(49900), D("0.1")), (D(49800), D("0.5")), (D(49700), D(5))]
    # Long 1 at mark 50,000: limit 49,750; bids within it 0.1 + 0.5 = 0.6, worth 4,990 + 24,900
    # = 29,890 USDT ≥ 20,000.
    # Slice: 10,000 / 50,000 = 0.2 BTC.
    decision = plan(BTCUSDT, D(1), D(50000), bids, CONFIG)
    assert (decision.reason, decision.side, decision.qty, decision.limit_price) == (
        UnwindReason.SLICE,
        Side.SELL,
        D("0.2"),
        D(49750),
    )
    assert decision.book_notional == D(29890)
    # A position of 0.15 is closed whole.
    assert plan(BTCUSDT, D("0.15"), D(50000), bids, CONFIG).qty == D("0.15")


def test_a_thin_book_pauses_the_unwinder() -> None:
    # Short 1: asks within 50,250: 0.3 at 50,100 = 15,030 USDT < 20,000; the ask at 50,300 is
    # beyond the cap and does not count.
    asks = [(D(50100), D("0.3")), (D(50300), D(10))]
    decision = plan(BTCUSDT, D(-1), D(50000), asks, CONFIG)
    assert (decision.reason, decision.side, decision.qty) == (
        UnwindReason.PAUSED_THIN_BOOK,
        Side.BUY,
        D(0),
    )
    assert plan(BTCUSDT, D(-1), None, asks, CONFIG).reason is UnwindReason.PAUSED_NO_MARK


async def test_the_service_slices_a_taken_over_long_out_and_records_every_step(
    exchange: Exchange, clock: FakeClock, db: Database
) -> None:
    # The fund (10,000 USDT) buys 0.5 at 50,000 from account 1: the position it has to work out.
    exchange.run(Deposit(_core.INSURANCE_FUND, D(10_000)))
    exchange.cross(1, _core.INSURANCE_FUND, Side.BUY, "0.5", "50000")
    unwinder = FundUnwinder(
        exchange.client, exchange.submit, lambda: DEMO_INSTRUMENTS, db, CONFIG, clock=clock
    )
    # No bid: paused, nothing sent.
    [paused] = await unwinder.step()
    assert paused.decision.reason is UnwindReason.PAUSED_THIN_BOOK
    # Account 2 bids 1 BTC at 49,800 (49,800 USDT within the 49,750 cap): a 0.2 slice fills there.
    exchange.run(PlaceOrder(2, BTC, Side.BUY, D(1), price=D(49800)))
    [first] = await unwinder.step()
    assert (first.decision.reason, first.decision.qty, first.filled) == (
        UnwindReason.SLICE,
        D("0.2"),
        D("0.2"),
    )
    await unwinder.step()
    [last] = await unwinder.step()
    assert (last.decision.qty, last.filled) == (D("0.1"), D("0.1")), "0.5 − 0.2 − 0.2 left"
    fund = exchange.client.account(_core.INSURANCE_FUND)
    assert fund is not None and all(p.qty == 0 for p in fund.positions)
    assert await unwinder.step() == [], "nothing left to work out"
    history = await unwinder.history()
    assert [(row["reason"], row["qty"], row["filled"], row["limitPrice"]) for row in history] == [
        ("PAUSED_THIN_BOOK", "0.00000000", "0.00000000", "49750.00000000"),
        ("SLICE", "0.20000000", "0.20000000", "49750.00000000"),
        ("SLICE", "0.20000000", "0.20000000", "49750.00000000"),
        ("SLICE", "0.10000000", "0.10000000", "49750.00000000"),
    ]
    assert [row["position"] for row in history] == ["0.50000000", "0.50000000", "0.30000000", "0.10000000"]
    # A restart: a new unwinder over the same database serves the same history.
    restarted = FundUnwinder(exchange.client, exchange.submit, lambda: DEMO_INSTRUMENTS, db, CONFIG, clock=clock)
    assert await restarted.history() == history
    assert await restarted.history(limit=1) == history[-1:]
    # Bought 0.5 as a taker (fee 25,000 × 0.05 % = 12.5), sold in three taker slices at 49,800
    # (fees 4.98 + 4.98 + 2.49 = 12.45) for a PnL of 0.5 × (49,800 − 50,000) = −100.
    assert fund.wallet == D("9875.05"), "10,000 − 12.5 − 12.45 − 100"
