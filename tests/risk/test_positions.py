"""The position projection: correct against a real engine, idempotent, and loud about gaps."""

from __future__ import annotations

import copy
from decimal import Decimal as D

import pytest

from derivatives.commands import Deposit, SetLeverage, SetPositionMode, Withdraw
from derivatives.enums import PositionSide, Side
from derivatives.events import EventEnvelope
from derivatives.units import to_raw
from risk.positions import Leg, PositionView, PositionViewGap
from tests.risk.conftest import BTC, Exchange


def _trade_a_little(exchange: Exchange) -> None:
    exchange.cross(1, 2, Side.BUY, "0.2", "50000")
    exchange.cross(1, 3, Side.BUY, "0.3", "50000")
    exchange.run(SetPositionMode(4, True), SetLeverage(4, BTC, 10))
    exchange.cross(5, 4, Side.BUY, "0.1", "50010", taker_leg=PositionSide.LONG)
    exchange.cross(5, 4, Side.SELL, "0.4", "50000", taker_leg=PositionSide.SHORT)
    exchange.cross(3, 2, Side.SELL, "0.2", "50020")  # account 2 closes at a profit of 4 USDT
    exchange.run(Deposit(6, D(5)), Withdraw(7, D(10)))
    exchange.mark("50100")


def _snapshot(view: PositionView) -> object:
    return (
        view.seq,
        view.index,
        copy.deepcopy(view.accounts),
        view.marks,
        view.last_trades,
        {s: view.holders(s) for s in view.marks},
    )


def test_view_matches_the_engine_after_trades_modes_and_transfers(exchange: Exchange) -> None:
    _trade_a_little(exchange)
    view = PositionView()
    events = exchange.all_events()
    assert view.apply(0, events) == len(events)
    r = to_raw
    # Account 1: maker of 0.5 sold at 50,000, 5 USDT maker fee (0.02 % of 25,000).
    assert view.accounts[1].legs == {
        (BTC, PositionSide.BOTH): Leg(BTC, PositionSide.BOTH, r("-0.5"), r("-25000"))
    }
    assert view.accounts[1].wallet == r("999995")
    # Account 2 bought 0.2 at 50,000 (taker 5) and sold it at 50,020 (taker 5.002): flat, +4 PnL.
    assert view.accounts[2].legs == {}
    assert view.accounts[2].wallet == r("1000000") - r("5") - r("5.002") + r("4")
    # Account 3: bought 0.3 at 50,000 (taker), then 0.2 more at 50,020 as the maker.
    assert view.accounts[3].legs[(BTC, PositionSide.BOTH)] == Leg(
        BTC, PositionSide.BOTH, r("0.5"), r("25004")
    )
    assert view.accounts[3].wallet == r("1000000") - r("7.5") - r("2.0008")
    # Account 4 in hedge mode holds both legs, leverage 10.
    four = view.accounts[4]
    assert four.hedge
    assert four.leverage == {BTC: 10}
    assert four.legs[(BTC, PositionSide.LONG)].qty == r("0.1")
    assert four.legs[(BTC, PositionSide.SHORT)] == Leg(
        BTC, PositionSide.SHORT, r("-0.4"), r("-20000")
    )
    assert view.accounts[6].wallet == r("1000005")
    assert view.accounts[7].wallet == r("999990")
    assert view.holders(BTC) == [1, 3, 4, 5]
    assert view.reference_price(BTC) == r("50100")
    assert view.last_trades[BTC] == r("50020")
    # Open interest balances (MECHANICS §9.2), counting every leg.
    assert sum(leg.qty for _, leg in view.open_legs()) == 0


def test_replaying_any_overlapping_ranges_changes_nothing(exchange: Exchange) -> None:
    _trade_a_little(exchange)
    events = exchange.all_events()
    once = PositionView()
    once.apply(0, events)

    chunked = PositionView()
    by_seq: dict[int, list[EventEnvelope]] = {}
    for envelope in events:
        by_seq.setdefault(envelope.seq, []).append(envelope)
    seqs = sorted(by_seq)
    for i, seq in enumerate(seqs):
        command = by_seq[seq]
        # Half of the command first (a read cut inside it), then the whole command again from the
        # seq before, then the same range a third time: only new events are applied.
        chunked.apply(seq - 1 if i == 0 else seqs[i - 1], command[: len(command) // 2 + 1])
        chunked.apply(seq - 1 if i == 0 else seqs[i - 1], command)
        assert chunked.apply(seq - 1 if i == 0 else seqs[i - 1], command) == 0
    assert _snapshot(chunked) == _snapshot(once)
    assert once.apply(0, events) == 0
    assert _snapshot(once) == _snapshot(chunked)


def test_a_gap_is_refused_and_nothing_is_applied(exchange: Exchange) -> None:
    _trade_a_little(exchange)
    events = exchange.all_events()
    view = PositionView()
    later = [e for e in events if e.seq > 5]
    with pytest.raises(PositionViewGap, match=r"commands 1\.\.5"):
        view.apply(5, later)
    assert view.seq == 0
    assert view.accounts == {}
    # Back-filling from the cursor closes the gap.
    view.apply(0, [e for e in events if e.seq <= 5])
    view.apply(5, later)
    reference = PositionView()
    reference.apply(0, events)
    assert _snapshot(view) == _snapshot(reference)


def test_events_out_of_order_are_refused(exchange: Exchange) -> None:
    events = exchange.all_events()
    with pytest.raises(ValueError, match="out of order"):
        PositionView().apply(0, [events[1], events[0]])
    view = PositionView()
    view.apply(0, events)
    with pytest.raises(ValueError, match="out of order"):
        view.apply(events[-1].seq, events[-1:])
