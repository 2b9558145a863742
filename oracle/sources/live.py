"""Live venue prices through stock ccxt: ccxt.pro WebSocket where used, REST polling otherwise.

Invariants:
    * Prices come only from ``ticker["info"]`` strings (see :func:`oracle.venues.ticker_price`);
      ccxt's float fields are never read.
    * A tick's ``received_ms`` is the injected clock's time when the answer arrived, so a slow or
      hung venue ages out by the index's staleness rule without any special case.
    * A venue that errs, times out or sends garbage yields no tick and never stops the other
      venues: every failure is logged and contained to that venue's request.
    * A WebSocket stream that fails falls back to one REST poll before it is resubscribed.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from oracle.clock import Clock
from oracle.config import SymbolConfig
from oracle.model import FeedKind, RawTick
from oracle.sources.base import Source
from oracle.venues import VENUES, VenueSpec, ticker_price

logger = logging.getLogger(__name__)


def create_client(
    spec: VenueSpec, *, websocket: bool, timeout_ms: int, overrides: Mapping[str, Any]
) -> ccxt_async.Exchange:
    """Construct the stock ccxt client of a venue.

    Args:
        spec: The venue.
        websocket: Use the ccxt.pro class (which also has every REST method).
        timeout_ms: ccxt's per-request timeout.
        overrides: Extra constructor settings, deep-merged last (e.g. ``{"urls": ...}``).

    Returns:
        An unopened ccxt client.
    """
    module = ccxt_pro if websocket else ccxt_async
    config = ccxt_async.Exchange.deep_extend(
        {key: copy.deepcopy(value) for key, value in spec.ccxt_config.items()},
        {"timeout": timeout_ms},
        copy.deepcopy(dict(overrides)),
    )
    client: ccxt_async.Exchange = getattr(module, spec.ccxt_id)(config)
    return client


class LiveSource(Source):
    """The configured venues read live through ccxt."""

    kind = FeedKind.LIVE

    def __init__(
        self,
        symbols: Sequence[SymbolConfig],
        *,
        clock: Clock,
        websocket: bool = True,
        poll_interval_ms: int = 1_000,
        request_timeout_ms: int = 3_000,
        retry_delay_ms: int = 1_000,
        client_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Plan which markets to read on which venue.

        Args:
            symbols: The index symbols; their venues and bases decide the markets.
            clock: Injected time source.
            websocket: Stream through ccxt.pro on venues that support it (``VenueSpec.websocket``).
            poll_interval_ms: Pause between two REST polls of a venue.
            request_timeout_ms: ccxt's HTTP timeout: a venue silent this long has failed.
            retry_delay_ms: Pause before resubscribing a failed WebSocket stream.
            client_overrides: Extra ccxt constructor settings per venue name.
        """
        super().__init__()
        self._clock = clock
        self._websocket = websocket
        self._poll_interval_ms = poll_interval_ms
        self._timeout_ms = request_timeout_ms
        self._retry_delay_ms = retry_delay_ms
        self._overrides = client_overrides or {}
        bases: dict[str, set[str]] = {}
        for config in symbols:
            for venue in config.weights:
                bases.setdefault(venue, set()).add(config.base)
        self._markets = {venue: VENUES[venue].markets(found) for venue, found in bases.items()}
        self._clients: dict[str, ccxt_async.Exchange] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def _streams(self, venue: str) -> bool:
        """Tell whether a venue is read through ccxt.pro ``watch_ticker``.

        Args:
            venue: Venue name.

        Returns:
            True when WebSocket is enabled here and supported by the venue.
        """
        return self._websocket and VENUES[venue].websocket

    def _client(self, venue: str) -> ccxt_async.Exchange:
        """Return the venue's client, creating it on first use (inside the event loop).

        Args:
            venue: Venue name.

        Returns:
            The ccxt client.
        """
        if venue not in self._clients:
            self._clients[venue] = create_client(
                VENUES[venue],
                websocket=self._streams(venue),
                timeout_ms=self._timeout_ms,
                overrides=self._overrides.get(venue, {}),
            )
        return self._clients[venue]

    def _record(self, venue: str, market: str, ticker: object) -> None:
        """Turn one ccxt ticker into a tick from its ``info`` payload, or log why it is refused.

        Args:
            venue: Venue name.
            market: ccxt unified market.
            ticker: The ccxt ticker structure (None when the venue sent none for the market).
        """
        info = ticker.get("info") if isinstance(ticker, Mapping) else None
        try:
            if not isinstance(info, Mapping):
                raise ValueError("no venue payload in the ticker")
            price = ticker_price(VENUES[venue], info)
        except ValueError as exc:
            logger.warning("oracle: %s %s refused: %s", venue, market, exc)
            return
        self.board.record(RawTick(venue, market, price, self._clock()))

    async def _request(self, venue: str, call: Awaitable[Any]) -> Any:
        """Await one ccxt call, containing every failure.

        ccxt bounds the HTTP exchange itself with its ``timeout`` setting (``RequestTimeout``);
        its rate-limit wait before sending is not a venue failure and is not cut short. Any
        exception is caught on purpose: a misbehaving venue (an outage, a timeout, a payload ccxt
        cannot parse) must cost only its own tick, never the oracle.

        Args:
            venue: Venue name, for the log.
            call: The ccxt coroutine.

        Returns:
            The call's result, or None when it failed.
        """
        try:
            return await call
        except Exception as exc:  # contained on purpose, see the docstring
            logger.warning("oracle: %s request failed: %s: %s", venue, type(exc).__name__, exc)
            return None

    async def poll_venue(self, venue: str) -> None:
        """Read every market of one venue once over REST and record the ticks.

        Args:
            venue: Venue name.
        """
        client, markets = self._client(venue), self._markets[venue]
        if VENUES[venue].batch_rest:
            tickers = await self._request(venue, client.fetch_tickers(list(markets)))
            if isinstance(tickers, Mapping):
                for market in markets:
                    self._record(venue, market, tickers.get(market))
            return
        for market in markets:
            ticker = await self._request(venue, client.fetch_ticker(market))
            if ticker is not None:
                self._record(venue, market, ticker)

    async def poll_once(self) -> None:
        """Read every venue once over REST, concurrently."""
        await asyncio.gather(*(self.poll_venue(venue) for venue in self._markets))

    async def _poll_forever(self, venue: str) -> None:
        """Poll one venue over REST until cancelled.

        Args:
            venue: Venue name.
        """
        while True:
            await self.poll_venue(venue)
            await asyncio.sleep(self._poll_interval_ms / 1000)

    async def _watch_forever(self, venue: str, market: str) -> None:
        """Stream one market through ccxt.pro until cancelled, with REST as the fallback.

        Args:
            venue: Venue name.
            market: ccxt unified market.
        """
        client, params = self._client(venue), dict(VENUES[venue].watch_params)
        while True:
            try:
                ticker = await client.watch_ticker(market, params)
            except Exception as exc:  # a broken stream must not stop the oracle
                logger.warning("oracle: %s %s stream failed: %s", venue, market, exc)
                ticker = await self._request(venue, client.fetch_ticker(market))
                await asyncio.sleep(self._retry_delay_ms / 1000)
            if ticker is not None:
                self._record(venue, market, ticker)

    async def start(self) -> None:
        """Start one streaming task per market on WebSocket venues, one polling task otherwise."""
        for venue, markets in self._markets.items():
            if self._streams(venue):
                self._tasks.extend(
                    asyncio.create_task(self._watch_forever(venue, market)) for market in markets
                )
            else:
                self._tasks.append(asyncio.create_task(self._poll_forever(venue)))

    async def close(self) -> None:
        """Cancel the background tasks and close every ccxt client."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await asyncio.gather(*(client.close() for client in self._clients.values()))
        self._clients.clear()
