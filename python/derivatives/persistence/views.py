"""Plain immutable snapshots of projected rows, so that callers never hold ORM objects.

Money stays raw (1e-8 integers); the API turns it into Binance decimal strings.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from derivatives.persistence.models import (
    AdlFill,
    FundingRate,
    Income,
    Kline1m,
    Order,
    PositionMarginChange,
    Trade,
    Withdrawal,
)


@dataclass(frozen=True, slots=True)
class OrderState:
    """An order as projected (see :class:`derivatives.persistence.models.Order`)."""

    order_id: int
    account_id: int
    symbol: str
    client_order_id: str
    side: str
    order_type: str
    time_in_force: str
    price: int | None
    orig_qty: int
    executed_qty: int
    cum_quote: int
    stop_price: int | None
    activation_price: int | None
    callback_rate: int | None
    working_type: str
    reduce_only: bool
    close_position: bool
    position_side: str
    stp_mode: str
    good_till_ms: int | None
    status: str
    algo_status: str | None
    trigger_price_seen: int | None
    expire_reason: str | None
    created_at: int
    updated_at: int
    triggered_at: int | None
    seq: int

    @property
    def is_algo(self) -> bool:
        """True for conditional (algo) orders."""
        return self.algo_status is not None

    @property
    def is_live(self) -> bool:
        """True while the order (or its untriggered algo) can still change."""
        if self.is_algo and self.triggered_at is None:
            return self.algo_status == "NEW"
        return self.status in ("NEW", "PARTIALLY_FILLED")


@dataclass(frozen=True, slots=True)
class TradeState:
    """A trade as projected (both sides)."""

    trade_id: int
    symbol: str
    price: int
    qty: int
    quote_qty: int
    taker_side: str
    maker_order_id: int
    maker_account: int
    taker_order_id: int
    taker_account: int
    time: int
    seq: int
    maker_fee: int
    maker_realised_pnl: int
    taker_fee: int
    taker_realised_pnl: int


@dataclass(frozen=True, slots=True)
class KlineState:
    """A bar of any interval (1m rows folded on read)."""

    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    trades: int
    taker_buy_volume: int
    taker_buy_quote_volume: int


@dataclass(frozen=True, slots=True)
class IncomeState:
    """One income row (Binance ``/fapi/v1/income``)."""

    tran_id: int
    account_id: int
    symbol: str
    income_type: str
    amount: int
    info: str
    trade_id: int | None
    time: int


@dataclass(frozen=True, slots=True)
class FundingState:
    """One funding settlement."""

    symbol: str
    rate: int
    mark: int
    time: int


@dataclass(frozen=True, slots=True)
class AdlState:
    """One auto-deleveraging fill of an account."""

    seq: int
    event_index: int
    account_id: int
    symbol: str
    side: str
    position_side: str
    qty: int
    price: int
    time: int


@dataclass(frozen=True, slots=True)
class MarginChangeState:
    """A trader's adjustment of an isolated leg's margin (signed raw amount)."""

    seq: int
    event_index: int
    account_id: int
    symbol: str
    position_side: str
    amount: int
    time: int


@dataclass(frozen=True, slots=True)
class WithdrawalState:
    """A withdrawal request and its decision."""

    id: int
    user_id: int
    account_id: int
    amount: int
    status: str
    requested_by: str
    requested_at: int
    decided_by: str | None
    decided_at: int | None
    seq: int | None
    note: str


_ORDER_FIELDS = tuple(f.name for f in fields(OrderState))
_TRADE_FIELDS = tuple(f.name for f in fields(TradeState))


def order_state(row: Order) -> OrderState:
    """Snapshot of an order row."""
    return OrderState(**{name: getattr(row, name) for name in _ORDER_FIELDS})


def trade_state(row: Trade) -> TradeState:
    """Snapshot of a trade row."""
    return TradeState(**{name: getattr(row, name) for name in _TRADE_FIELDS})


def kline_state(row: Kline1m, minutes: int = 1) -> KlineState:
    """A 1-minute row as a bar of `minutes` length starting at its open time."""
    return KlineState(row.open_time, row.open_time + minutes * 60_000 - 1, row.open, row.high, row.low,
                      row.close, row.volume, row.quote_volume, row.trades, row.taker_buy_volume,
                      row.taker_buy_quote_volume)


def _snapshot(cls: type[Any], row: object) -> Any:
    return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


def income_state(row: Income) -> IncomeState:
    """Snapshot of an income row."""
    return _snapshot(IncomeState, row)  # type: ignore[no-any-return]


def funding_state(row: FundingRate) -> FundingState:
    """Snapshot of a funding row."""
    return _snapshot(FundingState, row)  # type: ignore[no-any-return]


def adl_state(row: AdlFill) -> AdlState:
    """Snapshot of an ADL row."""
    return _snapshot(AdlState, row)  # type: ignore[no-any-return]


def margin_change_state(row: PositionMarginChange) -> MarginChangeState:
    """Snapshot of an isolated-margin adjustment row."""
    return _snapshot(MarginChangeState, row)  # type: ignore[no-any-return]


def withdrawal_state(row: Withdrawal) -> WithdrawalState:
    """Snapshot of a withdrawal row."""
    return _snapshot(WithdrawalState, row)  # type: ignore[no-any-return]
