"""The listed instruments as the API sees them: name <-> engine id, the current specification
(kept in step with every ``UpdateInstrument`` the API sends), and the derived Binance filters.

Invariants: the registry changes only after the engine accepted the change; ``QUOTE_ASSET`` is
the settlement asset of every contract (USDT-margined).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from api import errors
from derivatives.commands import InstrumentSpec
from derivatives.units import DECIMALS

QUOTE_ASSET = "USDT"
I64_MAX_QUOTE = Decimal(2**63 - 1).scaleb(-DECIMALS)


def digits(step: Decimal) -> int:
    """Decimal places of a tick or step size (``0.001`` -> 3)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@dataclass(frozen=True, slots=True)
class Instrument:
    """One listed contract."""

    spec: InstrumentSpec
    onboard_ms: int

    @property
    def name(self) -> str:
        """Symbol name, e.g. ``BTCUSDT``."""
        return self.spec.name

    @property
    def base_asset(self) -> str:
        """Base asset, e.g. ``BTC``."""
        return self.spec.name.removesuffix(QUOTE_ASSET)

    @property
    def max_price(self) -> Decimal:
        """Largest price whose maximum-quantity notional the engine can represent, on tick."""
        ceiling = I64_MAX_QUOTE / self.spec.max_qty
        return (ceiling // self.spec.tick_size) * self.spec.tick_size

    def band(self, reference: Decimal | None) -> tuple[Decimal | None, Decimal | None]:
        """Limit-price band around a reference price, for error messages: the lowest and highest
        prices on the tick the engine accepts (``low`` rounded up, ``high`` down)."""
        if reference is None:
            return None, None
        band, tick = self.spec.limit_price_band, self.spec.tick_size
        low = (reference * (1 - band) / tick).to_integral_value(ROUND_CEILING) * tick
        high = (reference * (1 + band) / tick).to_integral_value(ROUND_FLOOR) * tick
        return low, high


class InstrumentRegistry:
    """Thread-safe map of the listed instruments."""

    def __init__(self, specs: Iterable[InstrumentSpec], onboard_ms: int) -> None:
        self._lock = threading.Lock()
        self._by_name = {s.name: Instrument(s, onboard_ms) for s in specs}
        self._by_id = {i.spec.symbol: i for i in self._by_name.values()}

    def all(self) -> list[Instrument]:
        """Every instrument, by engine id."""
        with self._lock:
            return [self._by_id[k] for k in sorted(self._by_id)]

    def get(self, name: str) -> Instrument | None:
        """By symbol name (case-sensitive, as Binance)."""
        with self._lock:
            return self._by_name.get(name)

    def require(self, name: str | None) -> Instrument:
        """By symbol name, or the Binance error -1121 when it is not listed.

        Raises:
            ApiError: -1121 (invalid symbol).
        """
        instrument = self.get(name or "")
        if instrument is None:
            raise errors.invalid_symbol()
        return instrument

    def by_id(self, symbol: int) -> Instrument | None:
        """By engine id."""
        with self._lock:
            return self._by_id.get(symbol)

    def name_of(self, symbol: int) -> str:
        """Symbol name of an engine id (``#<id>`` for an unknown id)."""
        instrument = self.by_id(symbol)
        return instrument.name if instrument else f"#{symbol}"

    def with_trading(self, name: str, trading: bool) -> InstrumentSpec | None:
        """The spec of `name` with its trading flag set (not yet applied)."""
        instrument = self.get(name)
        return None if instrument is None else replace(instrument.spec, trading=trading)

    def update(self, spec: InstrumentSpec) -> None:
        """Records a spec the engine accepted."""
        with self._lock:
            current = self._by_id[spec.symbol]
            updated = Instrument(spec, current.onboard_ms)
            self._by_id[spec.symbol] = updated
            self._by_name[spec.name] = updated
