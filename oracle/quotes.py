"""The latest raw tick per (venue, market), and its view in USDT terms per index symbol.

Invariants:
    * The board keeps, per (venue, market), the tick with the greatest ``received_ms``; a late,
      older tick never replaces a newer one.
    * A USD-quoted venue yields a quote only when both its price and its own ``USDT/USD`` rate are
      on the board; the quote's age is that of the older of the two.
    * Every source kind (live, replay, simulated) feeds a board, so conversion and ageing are the
      same code for all of them.
"""

from __future__ import annotations

from oracle.config import SymbolConfig
from oracle.model import RawTick, VenueQuote
from oracle.venues import USDT_USD, VENUES, usdt_price


class QuoteBoard:
    """Latest raw tick per (venue, market)."""

    def __init__(self) -> None:
        """Create an empty board."""
        self._ticks: dict[tuple[str, str], RawTick] = {}

    def record(self, tick: RawTick) -> None:
        """Store a tick unless a newer one for the same venue and market is already held.

        Args:
            tick: The tick to store.
        """
        key = (tick.venue, tick.market)
        held = self._ticks.get(key)
        if held is None or held.received_ms <= tick.received_ms:
            self._ticks[key] = tick

    def latest(self, venue: str, market: str) -> RawTick | None:
        """Return the latest tick of a venue's market, if any.

        Args:
            venue: Venue name.
            market: ccxt unified market.

        Returns:
            The tick, or None if none was recorded.
        """
        return self._ticks.get((venue, market))

    def quotes(self, config: SymbolConfig) -> list[VenueQuote]:
        """Return the USDT-terms quote of every configured venue that has one, in weight order.

        Args:
            config: The index symbol.

        Returns:
            One quote per venue with data, however old (ageing is the index's job).
        """
        result = []
        for venue in config.weights:
            spec = VENUES[venue]
            tick = self.latest(venue, spec.market(config.base))
            if tick is None:
                continue
            price, received_ms = tick.price, tick.received_ms
            if spec.quote == "USD":
                rate = self.latest(venue, USDT_USD)
                if rate is None:
                    continue
                price = usdt_price(price, rate.price)
                received_ms = min(received_ms, rate.received_ms)
            result.append(VenueQuote(venue, spec.native_symbol(config.base), price, received_ms))
        return result
