"""Pure kline and 24-hour ticker arithmetic over projected one-minute bars.

Invariants: bars are folded exactly (raw integers); an interval's bar opens at Binance's
alignment (UTC; weeks on Monday 00:00; months on the 1st) and closes 1 ms before the next opens;
a period with no trade has no bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from derivatives.persistence.models import Kline1m
from derivatives.persistence.views import KlineState

MINUTE = 60_000
INTERVAL_MS = {
    "1m": MINUTE, "3m": 3 * MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE, "30m": 30 * MINUTE,
    "1h": 60 * MINUTE, "2h": 120 * MINUTE, "4h": 240 * MINUTE, "6h": 360 * MINUTE, "8h": 480 * MINUTE,
    "12h": 720 * MINUTE, "1d": 1440 * MINUTE, "3d": 3 * 1440 * MINUTE, "1w": 7 * 1440 * MINUTE,
    "1M": 31 * 1440 * MINUTE,
}
"""Interval lengths (1M: its longest month, used only to size queries)."""
MONDAY_OFFSET = 4 * 1440 * MINUTE
"""1970-01-05, the first Monday, is four days after the epoch."""


def bucket(open_time: int, interval: str) -> tuple[int, int]:
    """(open, close) of the interval bar containing `open_time`."""
    if interval == "1M":
        moment = datetime.fromtimestamp(open_time / 1000, UTC)
        first = datetime(moment.year, moment.month, 1, tzinfo=UTC)
        following = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
        return int(first.timestamp()) * 1000, int(following.timestamp()) * 1000 - 1
    length = INTERVAL_MS[interval]
    offset = MONDAY_OFFSET if interval == "1w" else 0
    start = (open_time - offset) // length * length + offset
    return start, start + length - 1


def fold(rows: Sequence[Kline1m], interval: str) -> list[KlineState]:
    """Folds 1-minute rows (ascending) into bars of `interval`."""
    bars: list[KlineState] = []
    for row in rows:
        start, end = bucket(row.open_time, interval)
        if bars and bars[-1].open_time == start:
            last = bars[-1]
            bars[-1] = KlineState(
                start, end, last.open, max(last.high, row.high), min(last.low, row.low), row.close,
                last.volume + row.volume, last.quote_volume + row.quote_volume, last.trades + row.trades,
                last.taker_buy_volume + row.taker_buy_volume,
                last.taker_buy_quote_volume + row.taker_buy_quote_volume,
            )
        else:
            bars.append(KlineState(start, end, row.open, row.high, row.low, row.close, row.volume,
                                   row.quote_volume, row.trades, row.taker_buy_volume,
                                   row.taker_buy_quote_volume))
    return bars


class _Opened(Protocol):
    @property
    def open_time(self) -> int: ...


Bar = TypeVar("Bar", bound=_Opened)


def select_bars(bars: Sequence[Bar], start: int | None, end: int | None, limit: int) -> list[Bar]:
    """Binance's selection: from `start` the first `limit` bars (or period rows), else the last `limit`."""
    chosen = [b for b in bars if (start is None or b.open_time >= start) and (end is None or b.open_time <= end)]
    return chosen[:limit] if start is not None else chosen[-limit:]


def query_range(interval: str, start: int | None, end: int | None, limit: int, now_ms: int) -> tuple[int, int]:
    """The 1-minute rows needed for a kline request (bounded by `limit` bars)."""
    span = INTERVAL_MS[interval] * (limit + 1)
    if start is not None:
        return bucket(start, interval)[0], min(end if end is not None else start + span, start + span)
    upper = end if end is not None else now_ms
    return bucket(upper - span, interval)[0], upper


def rolling_day(rows: Sequence[Kline1m]) -> KlineState | None:
    """One bar over every row given (the 24-hour ticker's window), or None."""
    if not rows:
        return None
    folded = fold(rows, "1m")
    first, last = folded[0], folded[-1]
    return KlineState(
        first.open_time, last.close_time, first.open, max(b.high for b in folded), min(b.low for b in folded),
        last.close, sum(b.volume for b in folded), sum(b.quote_volume for b in folded),
        sum(b.trades for b in folded), sum(b.taker_buy_volume for b in folded),
        sum(b.taker_buy_quote_volume for b in folded),
    )
