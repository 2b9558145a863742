"""Events produced by the engine, decoded into typed immutable values with exact Decimal money.

Each event is self-describing: it names the account, symbol and order it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from derivatives.commands import PlaceOrder
from derivatives.enums import (
    BalanceKind,
    CancelReason,
    ExpireReason,
    PayoutReason,
    PositionSide,
    RejectReason,
    Side,
)


@dataclass(frozen=True, slots=True)
class InstrumentUpdated:
    """An instrument was listed or updated."""

    symbol: int


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    """The order was accepted (conditional orders now wait for their trigger)."""

    order_id: int
    order: PlaceOrder


@dataclass(frozen=True, slots=True)
class OrderRejected:
    """The command was refused and changed nothing."""

    account: int
    symbol: int
    order_id: int | None
    reason: RejectReason


@dataclass(frozen=True, slots=True)
class OrderTriggered:
    """A conditional order fired."""

    account: int
    symbol: int
    order_id: int
    trigger_price: Decimal


@dataclass(frozen=True, slots=True)
class Trade:
    """A match at the maker's price; both sides in one event."""

    symbol: int
    trade_id: int
    price: Decimal
    qty: Decimal
    taker_side: Side
    maker_order_id: int
    maker_account: int
    maker_leaves: Decimal
    taker_order_id: int
    taker_account: int
    taker_leaves: Decimal


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    """A live order was cancelled."""

    account: int
    symbol: int
    order_id: int
    leaves: Decimal
    reason: CancelReason


@dataclass(frozen=True, slots=True)
class OrderExpired:
    """An order ended without filling completely."""

    account: int
    symbol: int
    order_id: int
    leaves: Decimal
    reason: ExpireReason


@dataclass(frozen=True, slots=True)
class OrderAmended:
    """A resting order's price or quantity changed."""

    account: int
    symbol: int
    order_id: int
    price: Decimal
    qty: Decimal
    leaves: Decimal
    priority_kept: bool


@dataclass(frozen=True, slots=True)
class BookDelta:
    """An L2 level's total quantity after the command (zero: level gone)."""

    symbol: int
    side: Side
    price: Decimal
    qty: Decimal


@dataclass(frozen=True, slots=True)
class MarkPriceSet:
    """The oracle's mark and index price were applied."""

    symbol: int
    mark: Decimal
    index: Decimal


@dataclass(frozen=True, slots=True)
class FillSettled:
    """One side of a trade cleared: position, realised PnL and fee applied."""

    account: int
    symbol: int
    order_id: int
    trade_id: int
    position_side: PositionSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    realised_pnl: Decimal
    wallet: Decimal
    position_qty: Decimal
    position_cost: Decimal


@dataclass(frozen=True, slots=True)
class BalanceChanged:
    """A wallet changed outside of trading."""

    account: int
    amount: Decimal
    wallet: Decimal
    kind: BalanceKind


@dataclass(frozen=True, slots=True)
class LeverageSet:
    """An account's leverage on a symbol changed."""

    account: int
    symbol: int
    leverage: int


@dataclass(frozen=True, slots=True)
class PositionModeSet:
    """An account switched position mode."""

    account: int
    hedge: bool


@dataclass(frozen=True, slots=True)
class LiquidationStarted:
    """An account fell below its maintenance margin at the mark price."""

    account: int
    margin_balance: Decimal
    maintenance: Decimal


@dataclass(frozen=True, slots=True)
class LiquidationOrder:
    """The rest of a liquidated position offered at its bankruptcy price (IOC)."""

    account: int
    symbol: int
    order_id: int
    side: Side
    qty: Decimal
    bankruptcy_price: Decimal
    position_side: PositionSide = PositionSide.BOTH


@dataclass(frozen=True, slots=True)
class PositionTakenOver:
    """The insurance fund took over the unfilled rest at the bankruptcy price."""

    account: int
    symbol: int
    position_side: PositionSide
    qty: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class LiquidationFinished:
    """The liquidation of an account ended (closed: positions were closed)."""

    account: int
    closed: bool


@dataclass(frozen=True, slots=True)
class AutoDeleveraged:
    """A counterparty's position was closed against a bankrupt one at its bankruptcy price."""

    account: int
    bankrupt: int
    symbol: int
    qty: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class FundingApplied:
    """Funding was settled on a symbol; the rounding dust went to the insurance fund."""

    symbol: int
    rate: Decimal
    mark: Decimal
    dust: Decimal


@dataclass(frozen=True, slots=True)
class InsuranceFloorSet:
    """The insurance fund floor changed."""

    amount: Decimal


@dataclass(frozen=True, slots=True)
class AdlRankingSet:
    """An ADL ranking was installed."""

    symbol: int
    side: Side
    accounts: int


@dataclass(frozen=True, slots=True)
class FeeTierSet:
    """An account's fee tier changed ((maker, taker) rates, or None for the instruments' own)."""

    account: int
    rates: tuple[Decimal, Decimal] | None


@dataclass(frozen=True, slots=True)
class InsurancePaid:
    """The insurance fund paid an account (`key`: the command's idempotency key, 0 for none)."""

    account: int
    amount: Decimal
    reason: PayoutReason
    key: int = 0


@dataclass(frozen=True, slots=True)
class MarginTypeSet:
    """An account switched a symbol between cross and isolated margin."""

    account: int
    symbol: int
    isolated: bool


@dataclass(frozen=True, slots=True)
class IsolatedMarginChanged:
    """An isolated position leg's margin changed (trader adjustment, fill, or funding); no wallet
    changes with it (the isolated margin is part of the wallet)."""

    account: int
    symbol: int
    position_side: PositionSide
    amount: Decimal
    isolated_margin: Decimal


Event = (
    InstrumentUpdated
    | OrderAccepted
    | OrderRejected
    | OrderTriggered
    | Trade
    | OrderCancelled
    | OrderExpired
    | OrderAmended
    | BookDelta
    | MarkPriceSet
    | FillSettled
    | BalanceChanged
    | LeverageSet
    | PositionModeSet
    | LiquidationStarted
    | LiquidationOrder
    | PositionTakenOver
    | LiquidationFinished
    | AutoDeleveraged
    | FundingApplied
    | InsuranceFloorSet
    | AdlRankingSet
    | InsurancePaid
    | FeeTierSet
    | MarginTypeSet
    | IsolatedMarginChanged
)
"""Any event."""


@dataclass(frozen=True, slots=True)
class EventEnvelope:
    """An event with the sequence number of its command, its index within it, and the command's
    sequenced time (Unix nanoseconds)."""

    seq: int
    index: int
    event: Event
    ts: int = 0
