"""The 1 Hz publisher: index and mark for every symbol, handed to an injected callback.

Each round, at time ``now`` from the injected clock:
    1. the source brings its board up to ``now``;
    2. per symbol, the index is computed (:func:`oracle.index.compute_index`), the engine's book
       state is read through the injected provider, the basis window is sampled and the mark
       computed (:mod:`oracle.mark`);
    3. ``publish(symbol, mark, index, flags)`` is awaited and the 1-minute klines updated.

Invariants:
    * This module holds all the state (previous index, basis windows, klines) and all the I/O;
      the arithmetic lives in the pure modules.
    * A symbol with no index yet (no venue ever fresh) is not published.
    * Flags carry the source kind, the index method, staleness and ``funding_paused``.
    * A failing round is logged and the loop goes on; the source is closed when the loop ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from derivatives.commands import DEFAULT_FUNDING_INTERVAL_MS
from derivatives.funding_times import next_funding_time
from oracle.clock import Clock, wall_clock_ms
from oracle.config import DEFAULT_SYMBOLS, SymbolConfig
from oracle.index import IndexResult, compute_index, constituents_payload
from oracle.klines import Kline, KlineSeries
from oracle.mark import (
    BasisWindow,
    MarkInputs,
    MarkResult,
    compute_mark,
    sample_basis,
    traded_this_interval,
)
from oracle.model import PriceFlags
from oracle.sources.base import Source

logger = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class BookState:
    """What the mark needs from the engine for one symbol.

    Attributes:
        best_bid: Best bid, or None when the bid side is empty.
        best_ask: Best ask, or None when the ask side is empty.
        last_price: Last traded price, or None if the symbol never traded.
        last_trade_ms: Time of that trade, or None.
        funding_rate: The last funding rate.
        next_funding_ms: Time of the next funding settlement.
        funding_interval_ms: Length of the funding interval.
    """

    best_bid: Decimal | None
    best_ask: Decimal | None
    last_price: Decimal | None
    last_trade_ms: int | None
    funding_rate: Decimal
    next_funding_ms: int
    funding_interval_ms: int


BookProvider = Callable[[str, int], Awaitable[BookState]]
"""``(symbol, now_ms) -> BookState``, to be wired to the engine."""

Publish = Callable[[str, Decimal, Decimal, PriceFlags], Awaitable[None]]
"""``(symbol, mark, index, flags)``, to be wired to the engine's SetMarkPrice command."""


async def idle_book(symbol: str, now_ms: int) -> BookState:
    """Book state of a market with no book, no trade and zero funding (mark = index).

    Args:
        symbol: The symbol (unused: every market looks the same).
        now_ms: The current time, to place the next funding time (default 8-hour interval).

    Returns:
        An empty book state.
    """
    del symbol
    interval = DEFAULT_FUNDING_INTERVAL_MS
    return BookState(None, None, None, None, Decimal(0), next_funding_time(now_ms, interval), interval)


class PriceKind(StrEnum):
    """The two published price series."""

    MARK = "mark"
    INDEX = "index"


@dataclass(frozen=True, slots=True)
class Publication:
    """One published (mark, index) pair and how it was obtained.

    Attributes:
        symbol: The symbol.
        time_ms: Publication time.
        mark: The mark price, 8 dp.
        index: The index price, 8 dp.
        flags: The flags handed to the callback.
        index_result: The index details (constituents, exclusions).
        mark_result: The mark components.
    """

    symbol: str
    time_ms: int
    mark: Decimal
    index: Decimal
    flags: PriceFlags
    index_result: IndexResult
    mark_result: MarkResult


class MarkPriceService:
    """Computes and publishes index and mark prices once per interval."""

    def __init__(
        self,
        source: Source,
        publish: Publish,
        *,
        symbols: Sequence[SymbolConfig] = DEFAULT_SYMBOLS,
        clock: Clock = wall_clock_ms,
        book: BookProvider = idle_book,
        interval_ms: int = 1_000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_bars: int = 1500,
    ) -> None:
        """Wire the service.

        Args:
            source: The venue feed.
            publish: Receives ``(symbol, mark, index, flags)`` each round.
            symbols: The symbols to price.
            clock: Injected time.
            book: Reads the engine's book state for a symbol.
            interval_ms: Publication period.
            sleep: Injected sleep, in seconds.
            max_bars: Kline bars kept per series.
        """
        self._source = source
        self._publish = publish
        self._symbols = {config.symbol: config for config in symbols}
        self._clock = clock
        self._book = book
        self._interval_ms = interval_ms
        self._sleep = sleep
        self._latest: dict[str, Publication] = {}
        self._windows = {symbol: BasisWindow() for symbol in self._symbols}
        self._klines = {
            (symbol, kind): KlineSeries(max_bars) for symbol in self._symbols for kind in PriceKind
        }

    async def publish_once(self) -> list[Publication]:
        """Run one round: advance the source, price every symbol, publish.

        Returns:
            The publications of this round (symbols with no index yet are absent).
        """
        now = self._clock()
        await self._source.advance(now)
        published = []
        for symbol, config in self._symbols.items():
            previous = self._latest.get(symbol)
            index = compute_index(
                config,
                self._source.board.quotes(config),
                now,
                previous.index_result if previous else None,
            )
            if index is None:
                logger.info("oracle: no fresh venue for %s yet; nothing published", symbol)
                continue
            publication = await self._price(config, index, now)
            await self._publish(symbol, publication.mark, publication.index, publication.flags)
            self._latest[symbol] = publication
            self._klines[symbol, PriceKind.MARK].update(now, publication.mark)
            self._klines[symbol, PriceKind.INDEX].update(now, publication.index)
            published.append(publication)
        return published

    async def _price(self, config: SymbolConfig, index: IndexResult, now: int) -> Publication:
        """Compute the mark for an index value and assemble the publication.

        Args:
            config: The symbol.
            index: This round's index.
            now: This round's time.

        Returns:
            The publication.
        """
        book = await self._book(config.symbol, now)
        window = sample_basis(
            self._windows[config.symbol],
            time_ms=now,
            index=index.price,
            best_bid=book.best_bid,
            best_ask=book.best_ask,
            rules=config.mark,
        )
        self._windows[config.symbol] = window
        traded = traded_this_interval(
            book.last_trade_ms, book.next_funding_ms, book.funding_interval_ms
        )
        mark = compute_mark(
            MarkInputs(
                index=index.price,
                funding_rate=book.funding_rate,
                time_until_funding_ms=book.next_funding_ms - now,
                funding_interval_ms=book.funding_interval_ms,
                last_price=book.last_price if traded else None,
            ),
            window,
        )
        flags = PriceFlags(
            feed=self._source.kind,
            index_method=index.method,
            stale=index.stale,
            funding_paused=index.funding_paused,
            excluded=index.excluded,
            mark_fallbacks=mark.fallbacks,
        )
        return Publication(config.symbol, now, mark.price, index.price, flags, index, mark)

    async def run(self) -> None:
        """Start the source and publish every interval, aligned to the clock, until cancelled."""
        await self._source.start()
        try:
            while True:
                try:
                    await self.publish_once()
                except Exception:  # one bad round must not stop the prices
                    logger.exception("oracle: publication round failed")
                await self._sleep((self._interval_ms - self._clock() % self._interval_ms) / 1000)
        finally:
            await self._source.close()

    @property
    def source(self) -> Source:
        """The venue feed this service prices from."""
        return self._source

    def symbols(self) -> list[str]:
        """Return the priced symbols, in configuration order.

        Returns:
            The symbols.
        """
        return list(self._symbols)

    def latest(self, symbol: str) -> Publication | None:
        """Return the symbol's last publication, if any.

        Args:
            symbol: The symbol.

        Returns:
            The publication or None.
        """
        return self._latest.get(symbol)

    def constituents(self, symbol: str) -> dict[str, object] | None:
        """Return the index constituents in Binance's ``/fapi/v1/constituents`` shape.

        Args:
            symbol: The symbol.

        Returns:
            The payload of the last index value, or None before the first one.
        """
        publication = self._latest.get(symbol)
        return constituents_payload(publication.index_result) if publication else None

    def klines(
        self,
        symbol: str,
        kind: PriceKind,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        """Return 1-minute bars of the mark or index series.

        Args:
            symbol: The symbol.
            kind: Mark or index.
            start_ms: Earliest bar open time, inclusive.
            end_ms: Latest bar open time, inclusive.
            limit: Maximum number of bars.

        Returns:
            The bars, oldest first.

        Raises:
            KeyError: If the symbol is not configured.
        """
        return self._klines[symbol, kind].bars(start_ms, end_ms, limit)
