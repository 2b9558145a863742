"""The spot venues behind the index: ccxt ids, symbol mapping and where the price sits in a ticker.

Invariants:
    * A venue quotes an index symbol's base asset either in USDT or in USD. USD venues are read
      together with their own ``USDT/USD`` market, and :func:`usdt_price` converts with it
      (see docs/ORACLE.md, "USD venues").
    * Prices are read from ``ticker["info"]``, the venue's own payload kept verbatim by ccxt, where
      every one of these venues sends prices as JSON strings. ccxt's unified ticker fields are
      floats and are never read.
    * A venue price is the mid of its best bid and ask when both are present; otherwise its last
      trade price. A crossed book or an unparsable field is an error, never a price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from oracle.numeric import WORK_CONTEXT, parse_price

USDT_USD = "USDT/USD"
"""ccxt unified market giving the USD price of one USDT, read on every USD-quoted venue."""

_SPOT_ONLY: Mapping[str, object] = MappingProxyType(
    {"options": {"fetchMarkets": {"types": ["spot"]}}, "has": {"fetchCurrencies": False}}
)
"""ccxt settings that make ``load_markets`` read only the spot instrument list (the oracle needs
no derivatives markets and no currency list, which several venues only serve with API keys)."""


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """How the oracle reads one spot venue.

    Attributes:
        name: Venue name used in configuration, flags and the constituents list.
        ccxt_id: ccxt exchange id (the same in ``ccxt.async_support`` and ``ccxt.pro``).
        quote: Quote currency of the venue's markets used for the index: ``"USDT"`` or ``"USD"``.
        native_format: Format of the venue's own symbol, with ``{base}`` and ``{quote}``.
        bid_fields: Keys of the best bid in ``ticker["info"]`` (REST first, then WebSocket).
        ask_fields: Keys of the best ask in ``ticker["info"]``.
        last_fields: Keys of the last trade price in ``ticker["info"]``.
        batch_rest: Poll all markets with one ``fetch_tickers`` call instead of one
            ``fetch_ticker`` per market (Kraken: its public limit is about one call a second).
        websocket: Use ccxt.pro ``watch_ticker``; False where the stream sends JSON numbers.
        aliases: Venue codes for unified currency codes, e.g. Kraken's ``XBT`` for ``BTC``.
        watch_params: Extra ``watch_ticker`` parameters, e.g. Binance's full ``ticker`` stream
            (which carries the best bid and ask) instead of ccxt's default ``miniTicker``.
        ccxt_config: Extra ccxt constructor settings for this venue.
    """

    name: str
    ccxt_id: str
    quote: str
    native_format: str
    bid_fields: tuple[str, ...]
    ask_fields: tuple[str, ...]
    last_fields: tuple[str, ...]
    batch_rest: bool = False
    websocket: bool = True
    aliases: Mapping[str, str] = field(default_factory=dict)
    watch_params: Mapping[str, str] = field(default_factory=dict)
    ccxt_config: Mapping[str, object] = field(default_factory=lambda: _SPOT_ONLY)

    def market(self, base: str) -> str:
        """Return the ccxt unified market for a base asset, e.g. ``"BTC/USD"``.

        Args:
            base: Unified base currency code, e.g. ``"BTC"``.

        Returns:
            The unified market symbol on this venue.
        """
        return f"{base}/{self.quote}"

    def markets(self, bases: Iterable[str]) -> tuple[str, ...]:
        """Return every market to read for these bases, with ``USDT/USD`` for a USD venue.

        Args:
            bases: Unified base currency codes.

        Returns:
            Sorted, distinct unified markets.
        """
        wanted = {self.market(base) for base in bases}
        if self.quote == "USD":
            wanted.add(USDT_USD)
        return tuple(sorted(wanted))

    def native_symbol(self, base: str) -> str:
        """Return the venue's own symbol for a base asset, e.g. ``"XBTUSD"`` on Kraken.

        Args:
            base: Unified base currency code.

        Returns:
            The symbol as the venue writes it.
        """
        return self.native_format.format(
            base=self.aliases.get(base, base), quote=self.aliases.get(self.quote, self.quote)
        )


VENUES: Mapping[str, VenueSpec] = MappingProxyType(
    {
        "binance": VenueSpec(
            name="binance",
            ccxt_id="binance",
            quote="USDT",
            native_format="{base}{quote}",
            bid_fields=("bidPrice", "b"),
            ask_fields=("askPrice", "a"),
            last_fields=("lastPrice", "c"),
            watch_params=MappingProxyType({"name": "ticker"}),
            ccxt_config=MappingProxyType(
                {
                    "options": {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False},
                    "has": {"fetchCurrencies": False},
                }
            ),
        ),
        "okx": VenueSpec(
            name="okx",
            ccxt_id="okx",
            quote="USDT",
            native_format="{base}-{quote}",
            bid_fields=("bidPx",),
            ask_fields=("askPx",),
            last_fields=("last",),
        ),
        "bybit": VenueSpec(
            name="bybit",
            ccxt_id="bybit",
            quote="USDT",
            native_format="{base}{quote}",
            bid_fields=("bid1Price",),
            ask_fields=("ask1Price",),
            last_fields=("lastPrice",),
        ),
        "coinbase": VenueSpec(
            name="coinbase",
            ccxt_id="coinbaseexchange",
            quote="USD",
            native_format="{base}-{quote}",
            bid_fields=("bid", "best_bid"),
            ask_fields=("ask", "best_ask"),
            last_fields=("price",),
        ),
        "kraken": VenueSpec(
            name="kraken",
            ccxt_id="kraken",
            quote="USD",
            native_format="{base}{quote}",
            bid_fields=("b",),
            ask_fields=("a",),
            last_fields=("c",),
            batch_rest=True,
            websocket=False,
            aliases=MappingProxyType({"BTC": "XBT"}),
        ),
    }
)
"""The five default venues, by name."""


def _field(info: Mapping[str, object], keys: tuple[str, ...]) -> object | None:
    """Return the first present key's value; for Kraken's ``[price, ...]`` arrays, the price.

    Args:
        info: The venue payload.
        keys: Candidate keys, in order.

    Returns:
        The raw value, or None when no key is present.
    """
    for key in keys:
        value = info.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None and value != "":
            return value
    return None


def ticker_price(spec: VenueSpec, info: Mapping[str, object]) -> Decimal:
    """Read a venue price from a ticker payload: the bid/ask mid, else the last price.

    Args:
        spec: The venue.
        info: ``ticker["info"]`` as ccxt returned it.

    Returns:
        The price in the market's quote currency, exact.

    Raises:
        ValueError: If no price field is present, a field is not a positive decimal string, or
            the book is crossed.
    """
    bid, ask = _field(info, spec.bid_fields), _field(info, spec.ask_fields)
    if bid is not None and ask is not None:
        bid_price, ask_price = parse_price(bid), parse_price(ask)
        if bid_price > ask_price:
            raise ValueError(f"{spec.name}: crossed book, bid {bid_price} > ask {ask_price}")
        return WORK_CONTEXT.divide(WORK_CONTEXT.add(bid_price, ask_price), 2)
    last = _field(info, spec.last_fields)
    if last is None:
        raise ValueError(f"{spec.name}: ticker has no bid/ask or last price")
    return parse_price(last)


def usdt_price(usd_price: Decimal, usd_per_usdt: Decimal) -> Decimal:
    """Convert a USD price into USDT terms with the venue's own USDT/USD rate.

    ``usd_per_usdt`` is the USD price of one USDT, so ``price_usdt = price_usd / usd_per_usdt``.

    Args:
        usd_price: Price of the base asset in USD.
        usd_per_usdt: Price of one USDT in USD on the same venue.

    Returns:
        The base asset's price in USDT (unrounded, 40 significant digits).
    """
    return WORK_CONTEXT.divide(usd_price, usd_per_usdt)
