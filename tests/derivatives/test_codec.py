"""The Python codec matches the Rust one byte for byte (shared vectors) and decodes strictly.

`tests/codec_vectors.txt` is written by the Rust codec's tests (one vector per command and event
variant, checked there); every vector needs its typed value here, and every command and event type
of the Python codec needs a vector.
"""

from __future__ import annotations

import dataclasses
import typing
from decimal import Decimal as D
from pathlib import Path

import pytest

from derivatives.codec import decode_events, encode_command, encode_commands
from derivatives.commands import (
    AddInstrument,
    AdjustIsolatedMargin,
    AmendOrder,
    ApplyFunding,
    CancelAll,
    CancelOrder,
    CloseAll,
    ClosePosition,
    Command,
    Deposit,
    InstrumentSpec,
    InsurancePayout,
    LeverageBracket,
    PlaceOrder,
    PlaceWithStops,
    Reverse,
    SetAdlRanking,
    SetFeeTier,
    SetInsuranceFloor,
    SetLeverage,
    SetMarginType,
    SetMarkPrice,
    SetPositionMode,
    Transfer,
    UpdateInstrument,
    Withdraw,
)
from derivatives.enums import (
    BalanceKind,
    CancelReason,
    ExpireReason,
    OrderType,
    PayoutReason,
    PositionSide,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
    TriggerSource,
)
from derivatives.events import (
    AdlRankingSet,
    AutoDeleveraged,
    BalanceChanged,
    BookDelta,
    Event,
    EventEnvelope,
    FeeTierSet,
    FillSettled,
    FundingApplied,
    InstrumentUpdated,
    InsuranceFloorSet,
    InsurancePaid,
    IsolatedMarginChanged,
    LeverageSet,
    LiquidationFinished,
    LiquidationOrder,
    LiquidationStarted,
    MarginTypeSet,
    MarkPriceSet,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    PositionModeSet,
    PositionTakenOver,
    Trade,
)

VECTORS = Path(__file__).parent.parent / "codec_vectors.txt"

TESTKIT_BTC = InstrumentSpec(
    symbol=1, name="BTCUSDT", tick_size=D("0.1"), step_size=D("0.001"), min_qty=D("0.001"), max_qty=D("1000"),
    min_notional=D("5"), limit_price_band=D("0.05"), market_price_band=D("0.05"), maker_fee=D("0.0002"),
    taker_fee=D("0.0005"), liquidation_fee=D("0.0125"),
    brackets=(
        LeverageBracket(D("50000"), 125, D("0.004"), D("0")),
        LeverageBracket(D("250000"), 100, D("0.005"), D("50")),
        LeverageBracket(D("3000000"), 50, D("0.01"), D("1300")),
        LeverageBracket(D("15000000"), 20, D("0.025"), D("46300")),
    ),
)

COMMANDS: dict[str, Command] = {
    "add_instrument": AddInstrument(TESTKIT_BTC),
    "update_instrument": UpdateInstrument(dataclasses.replace(TESTKIT_BTC, symbol=2, name="ETHUSDT", trading=False)),
    "place_limit": PlaceOrder(7, 1, Side.BUY, D("0.003"), price=D("50000.5"), client_order_id="abc-1"),
    "place_trailing": PlaceOrder(
        8, 2, Side.SELL, D("1.5"), order_type=OrderType.TRAILING_STOP_MARKET, callback_rate=D("0.01"),
        activation_price=D("3100"), trigger_source=TriggerSource.MARK_PRICE, reduce_only=True,
        position_side=PositionSide.SHORT, stp=StpMode.EXPIRE_MAKER,
    ),
    "place_gtd": PlaceOrder(9, 1, Side.SELL, D("2"), price=D("51000"), time_in_force=TimeInForce.GTD, good_till=1_700_000_000_000_000_000),
    "cancel_client": CancelOrder(3, 1, client_order_id="x"),
    "amend_id": AmendOrder(3, 1, D("101.5"), D("2"), order_id=42),
    "cancel_all": CancelAll(3, 2),
    "mark": SetMarkPrice(1, D("50000"), D("49990.12345678")),
    "deposit": Deposit(7, D("1234.5")),
    "withdraw": Withdraw(7, D("0.00000001")),
    "transfer": Transfer(7, 8, D("10")),
    "leverage": SetLeverage(7, 1, 25),
    "hedge_mode": SetPositionMode(7, True),
    "funding": ApplyFunding(1, D("-0.00012345"), D("50000.1")),
    "payout": InsurancePayout(7, D("25"), PayoutReason.COMPENSATION, 42),
    "floor": SetInsuranceFloor(D("1000")),
    "adl_ranking": SetAdlRanking(1, Side.SELL, (4, 3, 9)),
    "close_position": ClosePosition(7, 1, PositionSide.LONG),
    "close_all": CloseAll(7),
    "reverse": Reverse(7, 2),
    "fee_tier": SetFeeTier(7, (D("-0.0001"), D("0.0003"))),
    "place_with_stops": PlaceWithStops(PlaceOrder(7, 1, Side.BUY, D("0.5"), price=D("50000")), stop_loss=D("49000")),
    "margin_type": SetMarginType(7, 1, True),
    "isolated_margin": AdjustIsolatedMargin(7, 1, PositionSide.SHORT, D("-12.5")),
}

EVENTS = {
    "event_trade": EventEnvelope(5, 1, Trade(1, 9, D("50000.5"), D("0.003"), Side.SELL, 3, 7, D("0"), 4, 8, D("1.2"))),
    "event_rejected": EventEnvelope(6, 0, OrderRejected(7, 1, 12, RejectReason.UNKNOWN_ORDER)),
    "event_expired": EventEnvelope(7, 2, OrderExpired(7, 2, 13, D("0.5"), ExpireReason.SELF_TRADE)),
    "event_delta": EventEnvelope(8, 3, BookDelta(1, Side.BUY, D("49999.9"), D("0"))),
    "event_fill": EventEnvelope(
        9, 2, FillSettled(8, 1, 4, 9, PositionSide.SHORT, D("-0.003"), D("50000.5"), D("0.07500075"), D("-1.5"),
                          D("998.42499925"), D("-0.003"), D("-150.0015")),
    ),
    "event_balance": EventEnvelope(10, 0, BalanceChanged(7, D("-10"), D("90"), BalanceKind.TRANSFER_OUT)),
    "event_margin_type": EventEnvelope(11, 0, MarginTypeSet(7, 1, True)),
    "event_liquidation_order": EventEnvelope(
        13, 2, LiquidationOrder(7, 1, 99, Side.SELL, D("0.4"), D("47525"), PositionSide.LONG)
    ),
    "event_isolated_margin": EventEnvelope(12, 1, IsolatedMarginChanged(7, 1, PositionSide.BOTH, D("500"), D("600.5"))),
    "event_instrument_updated": EventEnvelope(14, 0, InstrumentUpdated(2)),
    "event_accepted": EventEnvelope(15, 0, OrderAccepted(21, PlaceOrder(7, 1, Side.BUY, D("0.003"), price=D("50000.5")))),
    "event_triggered": EventEnvelope(16, 1, OrderTriggered(7, 1, 22, D("49000"))),
    "event_cancelled": EventEnvelope(17, 0, OrderCancelled(7, 2, 23, D("0.25"), CancelReason.LIQUIDATION)),
    "event_amended": EventEnvelope(18, 0, OrderAmended(7, 1, 24, D("101.5"), D("2"), D("1.5"), True)),
    "event_mark": EventEnvelope(19, 0, MarkPriceSet(1, D("50000"), D("49990.12345678"))),
    "event_leverage": EventEnvelope(20, 0, LeverageSet(7, 1, 25)),
    "event_position_mode": EventEnvelope(21, 0, PositionModeSet(7, True)),
    "event_liquidation_started": EventEnvelope(22, 0, LiquidationStarted(7, D("-3.5"), D("20.125"))),
    "event_taken_over": EventEnvelope(23, 3, PositionTakenOver(7, 1, PositionSide.SHORT, D("-0.4"), D("52475"))),
    "event_liquidation_finished": EventEnvelope(24, 4, LiquidationFinished(7, False)),
    "event_auto_deleveraged": EventEnvelope(25, 5, AutoDeleveraged(9, 7, 1, D("-0.1"), D("47525"))),
    "event_funding": EventEnvelope(26, 0, FundingApplied(1, D("-0.00012345"), D("50000.1"), D("0.00000003"))),
    "event_floor": EventEnvelope(27, 0, InsuranceFloorSet(D("1000"))),
    "event_adl_ranking": EventEnvelope(28, 0, AdlRankingSet(1, Side.SELL, 3)),
    "event_insurance_paid": EventEnvelope(29, 0, InsurancePaid(7, D("25"), PayoutReason.COMPENSATION, 42)),
    "event_fee_tier": EventEnvelope(30, 0, FeeTierSet(7, (D("-0.0001"), D("0.0003")))),
    "event_fee_tier_cleared": EventEnvelope(31, 0, FeeTierSet(8, None)),
}


def _vectors() -> dict[str, bytes]:
    lines = [line.split() for line in VECTORS.read_text().splitlines() if line and not line.startswith("#")]
    return {name: bytes.fromhex(hex_) for name, hex_ in lines}


def test_every_vector_is_covered_here() -> None:
    assert set(_vectors()) == set(COMMANDS) | set(EVENTS)


def test_every_command_and_event_type_has_a_vector() -> None:
    assert {type(c) for c in COMMANDS.values()} == set(typing.get_args(Command))
    assert {type(e.event) for e in EVENTS.values()} == set(typing.get_args(Event))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_encoding_matches_rust(name: str) -> None:
    assert encode_command(COMMANDS[name]).hex() == _vectors()[name].hex()


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_event_decoding_matches_rust(name: str) -> None:
    record = _vectors()[name]
    expected = EVENTS[name]
    (decoded,) = decode_events(len(record).to_bytes(4, "little") + record)
    assert decoded == EventEnvelope(expected.seq, expected.index, expected.event, 1_700_000_000_000_000_000 + expected.seq)


def test_decoding_is_strict() -> None:
    record = _vectors()["event_delta"]
    framed = len(record).to_bytes(4, "little") + record
    with pytest.raises(ValueError, match="truncated"):
        decode_events(framed[:-1])
    with pytest.raises(ValueError, match="trailing"):
        decode_events((len(record) + 1).to_bytes(4, "little") + record + b"\0")
    with pytest.raises(ValueError, match="unknown Side"):
        decode_events(framed[:29] + b"\x07" + framed[30:])  # length 4, seq 8, index 4, ts 8, tag 1, symbol 4


def test_encoding_refuses_inexact_money_and_ambiguous_references() -> None:
    with pytest.raises(ValueError, match="decimal places"):
        encode_commands([PlaceOrder(1, 1, Side.BUY, D("0.000000001"), price=D("1"))])
    with pytest.raises(TypeError):
        encode_commands([PlaceOrder(1, 1, Side.BUY, 0.5, price=D("1"))])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        encode_commands([CancelOrder(1, 1, order_id=3, client_order_id="x")])
