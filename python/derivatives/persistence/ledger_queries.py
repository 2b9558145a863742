"""Read queries over the account projection (income, funding, forced closes, isolated-margin
adjustments, fee rates). Every function
takes an open session and returns immutable snapshots; none writes.

Conventions (Binance, as in :mod:`derivatives.persistence.queries`): with a start time, the
oldest matching rows come first up to ``limit``; without, the newest ``limit`` rows, still
returned oldest first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from derivatives.persistence.models import (
    AccountFeeRate,
    AdlFill,
    FundingRate,
    Income,
    Order,
    PositionMarginChange,
)
from derivatives.persistence.views import (
    AdlState,
    FundingState,
    IncomeState,
    MarginChangeState,
    OrderState,
    adl_state,
    funding_state,
    income_state,
    margin_change_state,
    order_state,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Rows with a time in [start, end], at most `limit`, skipping `offset` (pages)."""

    limit: int
    start: int | None = None
    end: int | None = None
    offset: int = 0


def _windowed(session: Session, query: Select[Any], time_col: Any, key_cols: tuple[Any, ...], window: TimeWindow,
              snapshot: Callable[[Any], T]) -> list[T]:
    if window.start is not None:
        query = query.where(time_col >= window.start)
    if window.end is not None:
        query = query.where(time_col <= window.end)
    if window.start is not None:
        ordered = query.order_by(time_col, *key_cols).offset(window.offset).limit(window.limit)
        return [snapshot(r) for r in session.execute(ordered).scalars()]
    ordered = query.order_by(time_col.desc(), *(k.desc() for k in key_cols)).offset(window.offset).limit(window.limit)
    return [snapshot(r) for r in reversed(list(session.execute(ordered).scalars()))]


def income(session: Session, account: int, symbol: str | None, income_type: str | None,
           window: TimeWindow) -> list[IncomeState]:
    """The account's income rows (``/fapi/v1/income``)."""
    query = select(Income).where(Income.account_id == account)
    if symbol is not None:
        query = query.where(Income.symbol == symbol)
    if income_type is not None:
        query = query.where(Income.income_type == income_type)
    return _windowed(session, query, Income.time, (Income.tran_id,), window, income_state)


def funding_history(session: Session, symbol: str | None, window: TimeWindow) -> list[FundingState]:
    """Funding settlements (``/fapi/v1/fundingRate``)."""
    query = select(FundingRate)
    if symbol is not None:
        query = query.where(FundingRate.symbol == symbol)
    return _windowed(session, query, FundingRate.time, (FundingRate.seq,), window, funding_state)


def latest_funding(session: Session) -> dict[str, FundingState]:
    """The newest settlement of every symbol that had one."""
    newest = select(FundingRate.symbol, func.max(FundingRate.seq).label("seq")).group_by(FundingRate.symbol).subquery()
    query = select(FundingRate).join(newest, (FundingRate.symbol == newest.c.symbol) & (FundingRate.seq == newest.c.seq))
    return {row.symbol: funding_state(row) for row in session.execute(query).scalars()}


def liquidation_orders(session: Session, account: int, symbol: str | None, window: TimeWindow) -> list[OrderState]:
    """The account's liquidation orders (``forceOrders``, autoCloseType LIQUIDATION)."""
    query = select(Order).where(Order.account_id == account, Order.order_type == "LIQUIDATION")
    if symbol is not None:
        query = query.where(Order.symbol == symbol)
    return _windowed(session, query, Order.created_at, (Order.order_id,), window, order_state)


def margin_changes(session: Session, account: int, symbol: str, adding: bool | None,
                   window: TimeWindow) -> list[MarginChangeState]:
    """The account's isolated-margin adjustments of a symbol (``positionMargin/history``);
    `adding` True: additions only, False: removals only."""
    change = PositionMarginChange
    query = select(change).where(change.account_id == account, change.symbol == symbol)
    if adding is not None:
        query = query.where(change.amount > 0 if adding else change.amount < 0)
    return _windowed(session, query, change.time, (change.seq, change.event_index), window, margin_change_state)


def fee_rates(session: Session, account: int) -> tuple[int, int] | None:
    """The account's own (maker, taker) fee rates (raw), or None: the instruments' rates."""
    row = session.get(AccountFeeRate, account)
    return None if row is None else (row.maker, row.taker)


def adl_fills(session: Session, account: int, symbol: str | None, window: TimeWindow) -> list[AdlState]:
    """The account's auto-deleveraged fills (``forceOrders``, autoCloseType ADL)."""
    query = select(AdlFill).where(AdlFill.account_id == account)
    if symbol is not None:
        query = query.where(AdlFill.symbol == symbol)
    return _windowed(session, query, AdlFill.time, (AdlFill.seq, AdlFill.event_index), window, adl_state)


def accounts_with_income(session: Session, up_to_seq: int | None = None) -> set[int]:
    """Every account whose wallet ever moved (up to command `up_to_seq`, when given)."""
    query = select(Income.account_id).distinct()
    if up_to_seq is not None:
        query = query.where(Income.seq <= up_to_seq)
    return set(session.execute(query).scalars())


def net_transfers(session: Session, up_to_seq: int) -> int:
    """Raw sum of deposits minus withdrawals (``TRANSFER`` income) up to command `up_to_seq`."""
    query = select(func.coalesce(func.sum(Income.amount), 0)).where(
        Income.income_type == "TRANSFER", Income.seq <= up_to_seq)
    return int(session.execute(query).scalar_one())


@dataclass(frozen=True, slots=True)
class Activity:
    """Liquidation activity of every account in a seq range, raw units (1e-8)."""

    liquidation_orders: int
    liquidated_qty_orders: int
    """Liquidation orders that filled something on the book."""
    liquidation_notional: int
    """Σ filled quote value of the liquidation orders."""
    adl_fills: int
    adl_notional: int
    """Σ qty × price of the auto-deleveraged fills, raw² / 1e8 (exact: qty and price at 1e-8)."""
    bad_debt_cleared: int
    """Σ losses beyond a unit's margin the insurance fund covered."""


def activity(session: Session, after_seq: int, up_to_seq: int) -> Activity:
    """Liquidation orders, ADL fills and bad-debt clearances of commands in (`after_seq`, `up_to_seq`]."""
    orders = select(func.count(), func.coalesce(func.sum(Order.cum_quote), 0),
                    func.count().filter(Order.executed_qty > 0)).where(
        Order.order_type == "LIQUIDATION", Order.seq > after_seq, Order.seq <= up_to_seq)
    count, notional, filled = session.execute(orders).one()
    fills = session.execute(select(AdlFill.qty, AdlFill.price).where(
        AdlFill.seq > after_seq, AdlFill.seq <= up_to_seq)).all()
    cleared = select(func.coalesce(func.sum(Income.amount), 0)).where(
        Income.income_type == "INSURANCE_CLEAR", Income.info == "BAD_DEBT_CLEARED",
        Income.seq > after_seq, Income.seq <= up_to_seq, Income.amount > 0)
    return Activity(int(count), int(filled), int(notional), len(fills),
                    sum(qty * price // 100_000_000 for qty, price in fills),
                    int(session.execute(cleared).scalar_one()))
