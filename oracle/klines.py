"""In-memory 1-minute OHLC bars of published prices (for markPriceKlines / indexPriceKlines).

Invariants:
    * Bars are aligned to whole UTC minutes: ``open_time_ms % 60_000 == 0`` and
      ``close_time_ms = open_time_ms + 59_999`` (Binance's kline convention).
    * Bars are kept in time order, at most ``max_bars`` of them (oldest dropped first); a minute
      with no published price has no bar.
    * An update older than the newest bar's minute is ignored, so bars never reopen.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from decimal import Decimal

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Kline:
    """One minute of a price series.

    Attributes:
        open_time_ms: Start of the minute.
        close_time_ms: Last millisecond of the minute.
        open: First price of the minute.
        high: Highest price of the minute.
        low: Lowest price of the minute.
        close: Latest price of the minute.
    """

    open_time_ms: int
    close_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


class KlineSeries:
    """1-minute bars of one price series (e.g. BTCUSDT mark)."""

    def __init__(self, max_bars: int = 1500) -> None:
        """Create an empty series.

        Args:
            max_bars: Bars kept; 1500 is Binance's largest kline page.
        """
        self._bars: deque[Kline] = deque(maxlen=max_bars)

    def update(self, time_ms: int, price: Decimal) -> None:
        """Fold one published price into its minute's bar.

        Args:
            time_ms: Publication time.
            price: Published price.
        """
        open_time = time_ms - time_ms % MINUTE_MS
        if self._bars and self._bars[-1].open_time_ms == open_time:
            bar = self._bars[-1]
            self._bars[-1] = replace(
                bar, high=max(bar.high, price), low=min(bar.low, price), close=price
            )
        elif not self._bars or self._bars[-1].open_time_ms < open_time:
            self._bars.append(
                Kline(open_time, open_time + MINUTE_MS - 1, price, price, price, price)
            )

    def bars(
        self, start_ms: int | None = None, end_ms: int | None = None, limit: int = 500
    ) -> list[Kline]:
        """Return bars opening within ``[start_ms, end_ms]``, oldest first.

        Like Binance, with a start time the earliest ``limit`` matching bars are returned;
        otherwise the latest ``limit``.

        Args:
            start_ms: Earliest open time, inclusive.
            end_ms: Latest open time, inclusive.
            limit: Maximum number of bars.

        Returns:
            The matching bars.
        """
        chosen = [
            bar
            for bar in self._bars
            if (start_ms is None or bar.open_time_ms >= start_ms)
            and (end_ms is None or bar.open_time_ms <= end_ms)
        ]
        if start_ms is not None:
            return chosen[:limit]
        return chosen[max(len(chosen) - limit, 0) :]
