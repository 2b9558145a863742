"""Index price: weighted mean of fresh, agreeing spot venues (MECHANICS §1 [OURS]). Pure.

Rules, in order, for one symbol at time ``now_ms``:
    1. A venue is *fresh* when its quote is at most ``stale_after_ms`` old; others are excluded
       (``missing`` or ``stale``).
    2. No fresh venue: the previous index is held, flagged stale, and funding is paused. With no
       previous index there is nothing to publish (None).
    3. A fresh venue *deviates* when ``|p - median| > max_deviation * median``, the median taken
       over the fresh venues.
    4. At most one deviates: ``index = sum(w_i p_i) / sum(w_i)`` over the fresh venues that do not
       deviate (the deviating one is excluded, ``deviation``).
    5. Two or more deviate: ``index = median`` of all fresh venues (Binance's multi-source rule).

Invariants:
    * No float anywhere; sums and the division run in 40 significant digits and the index is
      rounded once, 8 dp half-even (MECHANICS §10).
    * Constituent weights are the effective shares used for this value and sum to 1 (the median
      is expressed as weight 1 on the middle venue, or 1/2 on each of the two middle ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from oracle.config import SymbolConfig
from oracle.model import Exclusion, IndexMethod, VenueQuote
from oracle.numeric import WORK_CONTEXT, decimal_sum, median, round_price


@dataclass(frozen=True, slots=True)
class Constituent:
    """One fresh venue's part in an index value.

    Attributes:
        venue: Venue name.
        market: The venue's own symbol.
        price: The venue's price in USDT.
        weight: Its effective share of this index value (0 when dropped).
    """

    venue: str
    market: str
    price: Decimal
    weight: Decimal


@dataclass(frozen=True, slots=True)
class IndexResult:
    """One index value and how it was obtained.

    Attributes:
        symbol: The exchange symbol.
        price: The index, 8 dp.
        time_ms: When it was computed.
        method: Weighted mean, median or held.
        constituents: Every fresh venue, in configuration order, with its effective weight.
        excluded: Venues left out of the value and why, sorted by venue.
    """

    symbol: str
    price: Decimal
    time_ms: int
    method: IndexMethod
    constituents: tuple[Constituent, ...]
    excluded: tuple[tuple[str, Exclusion], ...]

    @property
    def stale(self) -> bool:
        """True when no venue was fresh and the previous value is held."""
        return self.method is IndexMethod.HELD

    @property
    def funding_paused(self) -> bool:
        """True when funding accrual must pause: exactly when the index is stale."""
        return self.stale


def compute_index(
    config: SymbolConfig,
    quotes: Iterable[VenueQuote],
    now_ms: int,
    previous: IndexResult | None,
) -> IndexResult | None:
    """Compute the index of one symbol from its venues' latest quotes.

    Args:
        config: The symbol's venues, weights and thresholds.
        quotes: The latest USDT-terms quote of each venue that has one (unknown venues ignored).
        now_ms: The current time.
        previous: The last index value, held when no venue is fresh.

    Returns:
        The new index value, or None when no venue is fresh and there is no previous value.
    """
    by_venue = {quote.venue: quote for quote in quotes}
    fresh: list[VenueQuote] = []
    excluded: dict[str, Exclusion] = {}
    for venue in config.weights:
        quote = by_venue.get(venue)
        if quote is None:
            excluded[venue] = Exclusion.MISSING
        elif now_ms - quote.received_ms > config.index.stale_after_ms:
            excluded[venue] = Exclusion.STALE
        else:
            fresh.append(quote)
    if not fresh:
        if previous is None:
            return None
        return IndexResult(
            config.symbol, previous.price, now_ms, IndexMethod.HELD, (), _sorted(excluded)
        )
    middle = median(quote.price for quote in fresh)
    band = WORK_CONTEXT.multiply(config.index.max_deviation, middle)
    deviating = {
        q.venue for q in fresh if WORK_CONTEXT.abs(WORK_CONTEXT.subtract(q.price, middle)) > band
    }
    if len(deviating) >= 2:
        weights = _median_weights(fresh)
        return IndexResult(
            config.symbol,
            round_price(middle),
            now_ms,
            IndexMethod.MEDIAN,
            _constituents(fresh, weights),
            _sorted(excluded),
        )
    excluded.update(dict.fromkeys(deviating, Exclusion.DEVIATION))
    kept = [quote for quote in fresh if quote.venue not in deviating]
    total = decimal_sum(config.weights[quote.venue] for quote in kept)
    weighted = decimal_sum(WORK_CONTEXT.multiply(config.weights[q.venue], q.price) for q in kept)
    shares = {q.venue: WORK_CONTEXT.divide(config.weights[q.venue], total) for q in kept}
    return IndexResult(
        config.symbol,
        round_price(WORK_CONTEXT.divide(weighted, total)),
        now_ms,
        IndexMethod.WEIGHTED,
        _constituents(fresh, shares),
        _sorted(excluded),
    )


def _median_weights(fresh: list[VenueQuote]) -> dict[str, Decimal]:
    """Express the median of the fresh quotes as weights on the middle venue(s).

    Args:
        fresh: At least one quote.

    Returns:
        Weight 1 on the middle venue (odd count) or 1/2 on each of the two middle venues.
    """
    ordered = sorted(fresh, key=lambda quote: (quote.price, quote.venue))
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return {ordered[middle].venue: Decimal(1)}
    half = Decimal("0.5")
    return {ordered[middle - 1].venue: half, ordered[middle].venue: half}


def _constituents(fresh: list[VenueQuote], weights: dict[str, Decimal]) -> tuple[Constituent, ...]:
    """Pair every fresh quote with its effective weight (0 when it did not contribute).

    Args:
        fresh: The fresh quotes, in configuration order.
        weights: Effective weight per contributing venue.

    Returns:
        One constituent per fresh quote.
    """
    return tuple(
        Constituent(q.venue, q.market, q.price, weights.get(q.venue, Decimal(0))) for q in fresh
    )


def _sorted(excluded: dict[str, Exclusion]) -> tuple[tuple[str, Exclusion], ...]:
    """Return exclusions as a tuple sorted by venue name.

    Args:
        excluded: Reason per excluded venue.

    Returns:
        ``(venue, reason)`` pairs sorted by venue.
    """
    return tuple(sorted(excluded.items()))


def constituents_payload(result: IndexResult) -> dict[str, object]:
    """Shape an index value like Binance's ``GET /fapi/v1/constituents`` response.

    Prices and weights are decimal strings with 8 places (weights rounded half-even).

    Args:
        result: The index value to describe.

    Returns:
        ``{"symbol", "time", "constituents": [{"exchange", "symbol", "price", "weight"}]}``.
    """
    return {
        "symbol": result.symbol,
        "time": result.time_ms,
        "constituents": [
            {
                "exchange": item.venue,
                "symbol": item.market,
                "price": format(round_price(item.price), "f"),
                "weight": format(round_price(item.weight), "f"),
            }
            for item in result.constituents
        ],
    }
