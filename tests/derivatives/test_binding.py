"""The engine driven through the Python binding: events, rejections, the event stream, the GIL
and determinism."""

from __future__ import annotations

import threading
import time
from decimal import Decimal as D

import pytest

from derivatives import _core
from derivatives.codec import encode_commands
from derivatives.commands import AddInstrument, CancelOrder, Deposit, PlaceOrder, SetMarkPrice
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.engine import EngineClient
from derivatives.enums import (
    CancelReason,
    ExpireReason,
    OrderType,
    PositionSide,
    RejectReason,
    Side,
    TimeInForce,
)
from derivatives.errors import BINANCE_CODES, CommandDecodeError
from derivatives.events import (
    BookDelta,
    FillSettled,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    Trade,
)

BTC = 1


def _events(client: EngineClient, *commands: object, ts: int | None = None) -> list[object]:
    return [e.event for e in client.execute(list(commands), ts=ts).events]  # type: ignore[arg-type]


def test_limit_orders_match_with_exact_events(client: EngineClient) -> None:
    sell = PlaceOrder(1, BTC, Side.SELL, D("0.5"), price=D("50000"))
    buy = PlaceOrder(2, BTC, Side.BUY, D("0.8"), price=D("50000.5"), client_order_id="bot-7")
    events = _events(client, sell, buy)
    assert events == [
        OrderAccepted(1, sell),
        BookDelta(BTC, Side.SELL, D("50000"), D("0.5")),
        OrderAccepted(2, buy),
        Trade(BTC, 1, D("50000"), D("0.5"), Side.BUY, 1, 1, D("0"), 2, 2, D("0.3")),
        # Maker fee 25,000 × 0.02 % = 5; taker fee 25,000 × 0.05 % = 12.5.
        FillSettled(1, BTC, 1, 1, PositionSide.BOTH, D("-0.5"), D("50000"), D("5"), D("0"), D("999995"), D("-0.5"), D("-25000")),
        FillSettled(2, BTC, 2, 1, PositionSide.BOTH, D("0.5"), D("50000"), D("12.5"), D("0"), D("999987.5"), D("0.5"), D("25000")),
        BookDelta(BTC, Side.BUY, D("50000.5"), D("0.3")),
        BookDelta(BTC, Side.SELL, D("50000"), D("0")),
    ]
    assert _events(client, CancelOrder(2, BTC, client_order_id="bot-7")) == [
        OrderCancelled(2, BTC, 2, D("0.3"), CancelReason.USER),
        BookDelta(BTC, Side.BUY, D("50000.5"), D("0")),
    ]
    prices = client.prices(BTC)
    assert prices is not None and prices.last == D("50000") and prices.mark is None


def test_bad_orders_are_rejected_with_binance_codes_and_change_nothing(client: EngineClient) -> None:
    _events(client, SetMarkPrice(BTC, D("50000"), D("50000")), PlaceOrder(1, BTC, Side.SELL, D("1"), price=D("50000")))
    before = client.depth(BTC)
    cases = [
        (PlaceOrder(1, 9, Side.BUY, D("1"), price=D("50000")), RejectReason.UNKNOWN_SYMBOL, -1121),
        (PlaceOrder(1, BTC, Side.BUY, D("1"), price=D("49999.95")), RejectReason.PRICE_OFF_TICK, -4014),
        (PlaceOrder(1, BTC, Side.BUY, D("0.0015"), price=D("49999")), RejectReason.QUANTITY_OFF_STEP, -4023),
        (PlaceOrder(1, BTC, Side.BUY, D("0"), price=D("49999")), RejectReason.QUANTITY_NOT_POSITIVE, -4003),
        (PlaceOrder(1, BTC, Side.BUY, D("1"), price=D("60000")), RejectReason.PRICE_ABOVE_BAND, -4016),
        (
            PlaceOrder(2, BTC, Side.BUY, D("1"), price=D("50000"), time_in_force=TimeInForce.GTX),
            RejectReason.POST_ONLY_WOULD_TAKE,
            -5022,
        ),
        (CancelOrder(1, BTC, order_id=77), RejectReason.UNKNOWN_ORDER, -2011),
    ]
    for command, reason, code in cases:
        (event,) = _events(client, command)
        assert isinstance(event, OrderRejected) and event.reason is reason
        assert BINANCE_CODES[event.reason] == code
    assert client.depth(BTC) == before


def test_malformed_batch_raises_and_applies_nothing(client: EngineClient) -> None:
    good = encode_commands([PlaceOrder(1, BTC, Side.BUY, D("1"), price=D("49000"))])
    before = client.last_seq()
    with pytest.raises(CommandDecodeError, match="unknown command tag"):
        client.engine.execute(good + b"\x01\x00\x00\x00\x63")
    with pytest.raises(CommandDecodeError, match="truncated"):
        client.engine.execute(good[:-3])
    assert client.last_seq() == before
    assert client.depth(BTC) is not None and client.depth(BTC).bids == []  # type: ignore[union-attr]


def test_gtd_orders_expire_on_the_sequenced_time(client: EngineClient) -> None:
    gtd = PlaceOrder(1, BTC, Side.BUY, D("1"), price=D("49000"), time_in_force=TimeInForce.GTD, good_till=5_000)
    assert isinstance(_events(client, gtd, ts=2_000)[0], OrderAccepted)
    events = _events(client, SetMarkPrice(BTC, D("50000"), D("50000")), ts=5_000)
    assert events[0] == OrderExpired(1, BTC, 1, D("1"), ExpireReason.GOOD_TILL_REACHED)


def test_stop_market_triggers_through_the_binding(client: EngineClient) -> None:
    stop = PlaceOrder(3, BTC, Side.SELL, D("0.2"), order_type=OrderType.STOP_MARKET, stop_price=D("49500"))
    _events(client, PlaceOrder(1, BTC, Side.BUY, D("1"), price=D("49400")), stop)
    events = _events(client, PlaceOrder(2, BTC, Side.SELL, D("0.1"), price=D("49400")))
    kinds = [type(e).__name__ for e in events]
    settle = ["FillSettled", "FillSettled"]
    assert kinds == ["OrderAccepted", "Trade", *settle, "OrderTriggered", "Trade", *settle, "BookDelta"]


def test_event_stream_is_readable_by_sequence(client: EngineClient) -> None:
    first = client.execute([PlaceOrder(1, BTC, Side.BUY, D("1"), price=D("49000"))])
    second = client.execute([PlaceOrder(1, BTC, Side.BUY, D("1"), price=D("48000"))])
    start = first.first_seq
    assert [e.seq for e in client.read_events(start - 1)] == [start, start, start + 1, start + 1]
    after_first = client.read_events(first.last_seq)
    assert after_first == second.events
    assert client.read_events(second.last_seq, timeout_ms=10) == []


def test_reader_blocks_without_holding_the_gil(client: EngineClient) -> None:
    seen: list[int] = []
    start = client.last_seq()

    def read() -> None:
        seen.extend(e.seq for e in client.read_events(start, timeout_ms=5_000))

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.05)  # the reader is now waiting inside Rust; this thread must still run Python
    client.execute([PlaceOrder(1, BTC, Side.BUY, D("1"), price=D("49000"))])
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert seen and seen[0] == start + 1


def test_same_commands_give_the_same_state_hash() -> None:
    def run(extra: bool) -> str:
        client = EngineClient()
        commands: list[object] = [AddInstrument(spec) for spec in DEMO_INSTRUMENTS]
        commands += [Deposit(account, D(100_000)) for account in range(3)]
        commands += [PlaceOrder(i % 3, BTC, Side(i % 2), D("0.01") * (i + 1), price=D("50000") + i) for i in range(50)]
        if extra:
            commands.append(PlaceOrder(1, BTC, Side.BUY, D("1"), price=D("49000")))
        client.execute(commands, ts=42)  # type: ignore[arg-type]
        return client.state_hash()

    assert run(False) == run(False)
    assert run(False) != run(True)
    assert len(run(False)) == 64


def test_module_constants() -> None:
    assert _core.SCALE == 100_000_000
    assert _core.DECIMALS == 8


def test_liquidation_through_the_binding(client: EngineClient) -> None:
    """The worked example of core_rs/tests/liquidation.rs, decoded in Python: BP 47,525."""
    from derivatives.events import LiquidationFinished, LiquidationOrder, PositionTakenOver

    _events(client, SetMarkPrice(BTC, D("50000"), D("50000")), Deposit(20, D("1000")), Deposit(_core.INSURANCE_FUND, D("1000")))
    _events(client, PlaceOrder(1, BTC, Side.SELL, D("0.4"), price=D("50000")), PlaceOrder(20, BTC, Side.BUY, D("0.4"), price=D("50000")))
    events = _events(client, SetMarkPrice(BTC, D("47600"), D("47600")))
    orders = [e for e in events if isinstance(e, LiquidationOrder)]
    assert [(o.account, o.side, o.qty, o.bankruptcy_price) for o in orders] == [(20, Side.SELL, D("0.4"), D("47525"))]
    assert PositionTakenOver(20, BTC, PositionSide.BOTH, D("0.4"), D("47525")) in events
    assert LiquidationFinished(20, True) in events


def test_account_view_through_the_binding(client: EngineClient) -> None:
    """core_rs/tests/liquidation.rs's example: wallet 990 after the taker fee, LP 47,715.9, BP 47,525."""
    _events(client, SetMarkPrice(BTC, D("50000"), D("50000")), Deposit(21, D("1000")))
    _events(client, PlaceOrder(1, BTC, Side.SELL, D("0.4"), price=D("50000")), PlaceOrder(21, BTC, Side.BUY, D("0.4"), price=D("50000")))
    risk = client.account(21)
    assert risk is not None and risk.wallet == D("990") and risk.leverage == {BTC: 20}
    (leg,) = risk.positions
    assert (leg.qty, leg.entry_price, leg.liquidation_price, leg.bankruptcy_price) == (D("0.4"), D("50000"), D("47715.9"), D("47525"))
    assert (risk.maintenance, risk.initial_margin) == (D("80"), D("1000"))
    assert client.holders(BTC) == [1, 21]
    assert client.account(424242) is None


def test_events_carry_their_command_time(client: EngineClient) -> None:
    result = client.execute([PlaceOrder(1, BTC, Side.BUY, D("1"), price=D("49000"))], ts=7_000)
    assert {e.ts for e in result.events} == {7_000}
    assert {e.ts for e in client.read_events(result.first_seq - 1)} == {7_000}
