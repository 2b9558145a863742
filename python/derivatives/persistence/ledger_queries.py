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
