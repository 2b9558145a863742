"""Reads and writes of ``market_statistics`` (the 5-minute samples behind ``/futures/data``).

Invariants: one row per (symbol, bucket start); :func:`store` replaces the snapshot figures of a
bucket already sampled (the latest sample of a bucket wins); taker volumes are recomputed from the
projected one-minute bars, so re-running a sample is idempotent. Figures are ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from derivatives.persistence.models import Kline1m, MarketStatistic
from derivatives.units import from_raw


@dataclass(frozen=True, slots=True)
class Positioning:
    """Who is long and short on a symbol at one moment (net positions)."""

    long_accounts: int
    short_accounts: int
    top_long_accounts: int
    top_short_accounts: int
    top_long_position: Decimal
    top_short_position: Decimal


@dataclass(frozen=True, slots=True)
class Sample(Positioning):
    """One symbol's figures in one bucket (see :class:`MarketStatistic`)."""

    symbol: str
    bucket: int
    sampled_at: int
    open_interest: Decimal
    mark_price: Decimal
    index_price: Decimal
    taker_buy_volume: Decimal = Decimal(0)
    taker_sell_volume: Decimal = Decimal(0)


_COLUMNS = [f.name for f in fields(Sample)]


def taker_volumes(session: Session, symbol: str, start: int, end: int) -> tuple[Decimal, Decimal]:
    """(taker buy, taker sell) base volume of the trades in [start, end), from ``klines_1m``."""
    rows = session.execute(select(Kline1m.volume, Kline1m.taker_buy_volume).where(
        Kline1m.symbol == symbol, Kline1m.open_time >= start, Kline1m.open_time < end)).all()
    buy = sum((row.taker_buy_volume for row in rows), 0)
    return from_raw(buy), from_raw(sum((row.volume for row in rows), 0) - buy)


def store(session: Session, sample: Sample) -> None:
    """Inserts or replaces the row of (symbol, bucket)."""
    row = session.get(MarketStatistic, (sample.symbol, sample.bucket))
    if row is None:
        session.add(MarketStatistic(**{name: getattr(sample, name) for name in _COLUMNS}))
        return
    for name in _COLUMNS:
        setattr(row, name, getattr(sample, name))


def refresh_volumes(session: Session, symbol: str, bucket: int, length: int) -> None:
    """Recomputes the taker volumes of an already sampled bucket (no row: nothing to do)."""
    row = session.get(MarketStatistic, (symbol, bucket))
    if row is not None:
        row.taker_buy_volume, row.taker_sell_volume = taker_volumes(session, symbol, bucket, bucket + length)


def prune(session: Session, before: int) -> None:
    """Deletes the buckets that start before `before`."""
    session.execute(delete(MarketStatistic).where(MarketStatistic.bucket < before))


def samples(session: Session, symbol: str, start: int, end: int) -> Sequence[Sample]:
    """The samples of `symbol` with bucket in [start, end], oldest first."""
    rows = session.execute(select(MarketStatistic).where(
        MarketStatistic.symbol == symbol, MarketStatistic.bucket >= start, MarketStatistic.bucket <= end,
    ).order_by(MarketStatistic.bucket)).scalars()
    return [Sample(**{name: getattr(row, name) for name in _COLUMNS}) for row in rows]
