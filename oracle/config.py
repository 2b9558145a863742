"""Per-symbol oracle configuration: index constituents and weights, thresholds, mark windows.

Invariants:
    * Every threshold is per symbol (MECHANICS §1 and §2.5 defaults: 10 s staleness, 5 % deviation,
      30 s basis window sampled every 1 s).
    * Weights are positive Decimals; only their ratios matter (the index divides by their sum).
    * Every venue named in a symbol's weights exists in :data:`oracle.venues.VENUES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from oracle.venues import VENUES


@dataclass(frozen=True, slots=True)
class IndexRules:
    """Thresholds of the index rules (MECHANICS §1 [OURS]).

    Attributes:
        stale_after_ms: A source whose latest price is older than this is stale.
        max_deviation: A source further than this fraction from the median of the fresh sources
            is dropped (strictly greater than).
    """

    stale_after_ms: int = 10_000
    max_deviation: Decimal = Decimal("0.05")


@dataclass(frozen=True, slots=True)
class MarkRules:
    """Windows of the mark price's basis moving average (MECHANICS §2.5 [OURS]).

    Attributes:
        basis_window_ms: Samples older than this are evicted from the moving average.
        sample_every_ms: Minimum spacing between two basis samples.
    """

    basis_window_ms: int = 30_000
    sample_every_ms: int = 1_000


DEFAULT_WEIGHTS: Mapping[str, Decimal] = MappingProxyType(
    {
        "binance": Decimal("0.30"),
        "okx": Decimal("0.20"),
        "bybit": Decimal("0.20"),
        "coinbase": Decimal("0.15"),
        "kraken": Decimal("0.15"),
    }
)
"""Default weights, roughly in proportion to spot volume."""


@dataclass(frozen=True, slots=True)
class SymbolConfig:
    """Everything the oracle needs to price one perpetual symbol.

    Attributes:
        symbol: The exchange's symbol, e.g. ``"BTCUSDT"``.
        base: Unified base asset on the spot venues, e.g. ``"BTC"``.
        weights: Index weight per venue name.
        index: Index thresholds.
        mark: Mark basis windows.
    """

    symbol: str
    base: str
    weights: Mapping[str, Decimal] = field(default_factory=lambda: DEFAULT_WEIGHTS)
    index: IndexRules = field(default_factory=IndexRules)
    mark: MarkRules = field(default_factory=MarkRules)

    def __post_init__(self) -> None:
        """Validate venues and weights.

        Raises:
            ValueError: On an unknown venue, a non-positive weight or no venue at all.
        """
        if not self.weights:
            raise ValueError(f"{self.symbol}: no index venue")
        for venue, weight in self.weights.items():
            if venue not in VENUES:
                raise ValueError(f"{self.symbol}: unknown venue {venue!r}")
            if not weight > 0:
                raise ValueError(f"{self.symbol}: weight of {venue} must be positive")


DEFAULT_SYMBOLS: tuple[SymbolConfig, ...] = (
    SymbolConfig(symbol="BTCUSDT", base="BTC"),
    SymbolConfig(symbol="ETHUSDT", base="ETH"),
)
"""The demo instrument set (DESIGN §5)."""
