"""Read queries over the projection (orders, trades, klines). Every function takes an open
session and returns immutable snapshots; none writes.

Conventions (Binance): with a start id or start time, the oldest matching rows come first up to
``limit``; without, the newest ``limit`` rows, still returned oldest first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from derivatives.persistence.models import Kline1m, Order, Trade
from derivatives.persistence.views import OrderState, TradeState, order_state, trade_state

LIVE = ("NEW", "PARTIALLY_FILLED")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Window:
    """Row selection: ids from `from_id`, times within [start, end], at most `limit` rows."""

    limit: int
    from_id: int | None = None
    start: int | None = None
    end: int | None = None

    @property
    def oldest_first(self) -> bool:
        """True when a start id or time anchors the window at its oldest row."""
        return self.from_id is not None or self.start is not None


def _visible_as_order() -> object:
    """Regular orders, and algo orders once their child order is live."""
    return or_(Order.algo_status.is_(None), Order.triggered_at.is_not(None))


def find_order(session: Session, account: int, symbol: str, order_id: int | None,
               client_order_id: str | None, algo: bool) -> OrderState | None:
    """One order of the account by engine id or (latest) client id; algo or regular view."""
    query = select(Order).where(Order.account_id == account, Order.symbol == symbol)
    if order_id is not None:
        query = query.where(Order.order_id == order_id)
    if client_order_id is not None:
        query = query.where(Order.client_order_id == client_order_id)
    query = query.where(Order.algo_status.is_not(None) if algo else _visible_as_order())  # type: ignore[arg-type]
    row = session.execute(query.order_by(Order.order_id.desc()).limit(1)).scalar_one_or_none()
    return None if row is None else order_state(row)


def order_by_client_id(session: Session, account: int, client_order_id: str, since_ms: int) -> OrderState | None:
    """The newest order of the account created at or after `since_ms` with that client id (any
    symbol, regular or algo)."""
    query = select(Order).where(Order.account_id == account, Order.client_order_id == client_order_id,
                                Order.created_at >= since_ms)
    row = session.execute(query.order_by(Order.order_id.desc()).limit(1)).scalar_one_or_none()
    return None if row is None else order_state(row)


def open_orders(session: Session, account: int, symbol: str | None, algo: bool) -> list[OrderState]:
    """Live orders (regular view) or untriggered algo orders of the account, oldest first."""
    query = select(Order).where(Order.account_id == account)
    if symbol is not None:
        query = query.where(Order.symbol == symbol)
    if algo:
        query = query.where(Order.algo_status == "NEW")
    else:
        query = query.where(_visible_as_order(), Order.status.in_(LIVE))  # type: ignore[arg-type]
    return [order_state(r) for r in session.execute(query.order_by(Order.order_id)).scalars()]


def _windowed(session: Session, query: Select[Any], id_col: Any, time_col: Any, window: Window,
              snapshot: Callable[[Any], T]) -> list[T]:
    if window.from_id is not None:
        query = query.where(id_col >= window.from_id)
    if window.start is not None:
        query = query.where(time_col >= window.start)
    if window.end is not None:
        query = query.where(time_col <= window.end)
    if window.oldest_first:
        rows = session.execute(query.order_by(id_col).limit(window.limit)).scalars()
        return [snapshot(r) for r in rows]
    rows = session.execute(query.order_by(id_col.desc()).limit(window.limit)).scalars()
    return [snapshot(r) for r in reversed(list(rows))]


def all_orders(session: Session, account: int, symbol: str | None, window: Window, algo: bool) -> list[OrderState]:
    """Every order of the account (regular or algo view) in the window."""
    query = select(Order).where(Order.account_id == account)
    if symbol is not None:
        query = query.where(Order.symbol == symbol)
    query = query.where(Order.algo_status.is_not(None) if algo else _visible_as_order())  # type: ignore[arg-type]
    return _windowed(session, query, Order.order_id, Order.created_at, window, order_state)


def live_order_ids(session: Session, account: int, symbol: str, algo: bool) -> list[int]:
    """Engine ids of the account's live orders (regular) or untriggered algo orders."""
    return [o.order_id for o in open_orders(session, account, symbol, algo)]


@dataclass(frozen=True, slots=True)
class UserTrade:
    """One account's side of a trade."""

    trade: TradeState
    order_id: int
    side: str
    maker: bool
    fee: int
    realised_pnl: int


def user_trades(session: Session, account: int, symbol: str, window: Window) -> list[UserTrade]:
    """The account's fills on `symbol` (a self-trade gives two rows: maker then taker)."""
    query = select(Trade).where(
        Trade.symbol == symbol, or_(Trade.maker_account == account, Trade.taker_account == account)
    )
    trades = _windowed(session, query, Trade.trade_id, Trade.time, window, trade_state)
    out: list[UserTrade] = []
    for t in trades:
        maker_side = "SELL" if t.taker_side == "BUY" else "BUY"
        if t.maker_account == account:
            out.append(UserTrade(t, t.maker_order_id, maker_side, True, t.maker_fee, t.maker_realised_pnl))
        if t.taker_account == account:
            out.append(UserTrade(t, t.taker_order_id, t.taker_side, False, t.taker_fee, t.taker_realised_pnl))
    return out[: window.limit] if window.oldest_first else out[-window.limit:]


def market_trades(session: Session, symbol: str, window: Window) -> list[TradeState]:
    """Public trades of a symbol in the window."""
    query = select(Trade).where(Trade.symbol == symbol)
    return _windowed(session, query, Trade.trade_id, Trade.time, window, trade_state)


def last_trade(session: Session, symbol: str, upto: int | None = None) -> TradeState | None:
    """The newest trade of a symbol (with an id at most `upto`, when given)."""
    query = select(Trade).where(Trade.symbol == symbol)
    if upto is not None:
        query = query.where(Trade.trade_id <= upto)
    row = session.execute(query.order_by(Trade.trade_id.desc()).limit(1)).scalar_one_or_none()
    return None if row is None else trade_state(row)


def minute_bars(session: Session, symbol: str, start: int | None, end: int | None) -> Sequence[Kline1m]:
    """1-minute rows with open time in [start, end], oldest first (detached snapshots)."""
    conditions = [Kline1m.symbol == symbol]
    if start is not None:
        conditions.append(Kline1m.open_time >= start)
    if end is not None:
        conditions.append(Kline1m.open_time <= end)
    rows = list(session.execute(select(Kline1m).where(and_(*conditions)).order_by(Kline1m.open_time)).scalars())
    for row in rows:
        session.expunge(row)
    return rows


def position_sides(session: Session, order_ids: Sequence[int]) -> dict[int, str]:
    """Position side of each order id (orders of trades)."""
    if not order_ids:
        return {}
    rows = session.execute(select(Order.order_id, Order.position_side).where(Order.order_id.in_(set(order_ids))))
    return {order_id: side for order_id, side in rows}
