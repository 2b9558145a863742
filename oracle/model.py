"""Value types shared by the sources, the index, the mark and the publisher.

Invariants:
    * Every price is a ``Decimal``; every time is ``int`` Unix milliseconds.
    * A :class:`RawTick` is in its market's own quote currency (USD for ``BTC/USD``); a
      :class:`VenueQuote` is always in USDT terms, ready for the index.
    * Every published price carries :class:`PriceFlags`, including the :class:`FeedKind`, so a
      replayed or simulated price can never pass for a live one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class FeedKind(StrEnum):
    """Where the venue prices come from."""

    LIVE = "live"
    REPLAY = "replay"
    SIMULATED = "simulated"


class IndexMethod(StrEnum):
    """How an index value was obtained (MECHANICS §1, [OURS])."""

    WEIGHTED = "weighted"
    """Weighted mean of the fresh sources within the deviation band."""
    MEDIAN = "median"
    """Two or more sources deviated: median of all fresh sources."""
    HELD = "held"
    """No fresh source: the previous index is held and flagged stale."""


class Exclusion(StrEnum):
    """Why a configured venue did not contribute to an index value."""

    MISSING = "missing"
    """No price was ever received (or its USDT/USD rate is missing)."""
    STALE = "stale"
    """The latest price is older than the staleness threshold."""
    DEVIATION = "deviation"
    """The price is further from the median than the deviation threshold."""


class MarkFallback(StrEnum):
    """Which MECHANICS §2.5 fallback shaped a mark value."""

    NO_BASIS_SAMPLES = "no_basis_samples"
    """The basis moving average had no sample, so Price2 = Price1."""
    NO_LAST_TRADE = "no_last_trade"
    """No trade in the current funding interval, so the last price is replaced by Price1."""


@dataclass(frozen=True, slots=True)
class RawTick:
    """One venue's price for one of its markets, as received.

    Attributes:
        venue: Venue name, e.g. ``"kraken"``.
        market: ccxt unified market, e.g. ``"BTC/USD"``.
        price: Price in the market's quote currency.
        received_ms: When the oracle received it (its own clock, not the venue's).
    """

    venue: str
    market: str
    price: Decimal
    received_ms: int


@dataclass(frozen=True, slots=True)
class VenueQuote:
    """A venue's price for an index symbol, in USDT terms.

    Attributes:
        venue: Venue name.
        market: The venue's native symbol for display, e.g. ``"XBTUSD"``.
        price: Price in USDT (converted for USD-quoted venues).
        received_ms: Receipt time of the oldest input (price or conversion rate).
    """

    venue: str
    market: str
    price: Decimal
    received_ms: int


@dataclass(frozen=True, slots=True)
class PriceFlags:
    """Labels that travel with every published (mark, index) pair.

    Attributes:
        feed: The kind of feed behind the index.
        index_method: How the index was obtained.
        stale: True when the index is held because no source is fresh.
        funding_paused: True when funding accrual must pause for this period; set exactly when
            ``stale`` is (MECHANICS §1 [OURS], Drift-style).
        excluded: Venues left out of the index, with the reason, sorted by venue.
        mark_fallbacks: The MECHANICS §2.5 fallbacks used for the mark, in a fixed order.
    """

    feed: FeedKind
    index_method: IndexMethod
    stale: bool
    funding_paused: bool
    excluded: tuple[tuple[str, Exclusion], ...]
    mark_fallbacks: tuple[MarkFallback, ...]
