"""A seeded random walk with jumps, seen through the five venues. For demos; labelled simulated.

Model, one step per second (all randomness is integer, all prices Decimal):
    * Each base asset's true USDT price moves by a uniform ``[-250, 250]`` parts per million, and
      jumps by a uniform ``[-200, 200]`` basis points with probability 1/900 (about once every
      15 minutes).
    * The USD price of one USDT wanders in ``[0.99960, 1.00040]`` by steps of 0.00001.
    * Each venue misses a step with probability 1/10, and otherwise quotes the true price
      plus its own uniform ``[-50, 50]`` ppm noise, at a fixed sub-second offset; USD venues quote
      in USD (true price times the USDT rate) and also publish their ``USDT/USD`` market.

Invariants:
    * The same seed, symbols and start prices give the same ticks, whatever the clock readings
      (each step is generated whole, in a fixed order, and released when its time has come).
    * Every tick carries ``FeedKind.SIMULATED`` through the service's flags.
    * ``steering`` (:mod:`oracle.steering`) transforms ticks as they are released; unsteered,
      the series is the walk's own.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from types import MappingProxyType

from oracle.config import SymbolConfig
from oracle.model import FeedKind, RawTick
from oracle.numeric import WORK_CONTEXT
from oracle.sources.base import Source
from oracle.steering import Steering
from oracle.venues import USDT_USD, VENUES

STEP_MS = 1_000
DEFAULT_START_PRICES: Mapping[str, Decimal] = MappingProxyType(
    {"BTC": Decimal("97000.00"), "ETH": Decimal("3400.00")}
)
"""Opening true prices; any other base starts at 100."""
_VENUE_OFFSET_MS: Mapping[str, int] = MappingProxyType(
    {"binance": 110, "okx": 230, "bybit": 340, "coinbase": 460, "kraken": 720}
)
_CENT = Decimal("0.01")
_RATE_TICK = Decimal("0.00001")
_PPM = Decimal("0.000001")
_BP = Decimal("0.0001")


def _scale(price: Decimal, units: int, unit: Decimal) -> Decimal:
    """Return ``price * (1 + units * unit)``, exact.

    Args:
        price: The price to move.
        units: Signed number of units.
        unit: Size of one unit (e.g. one ppm).

    Returns:
        The moved price.
    """
    return WORK_CONTEXT.multiply(price, WORK_CONTEXT.add(1, WORK_CONTEXT.multiply(units, unit)))


def _cents(price: Decimal) -> Decimal:
    """Round a simulated quote to a venue tick of 0.01, half-even.

    Args:
        price: Unrounded price.

    Returns:
        The quoted price.
    """
    return price.quantize(_CENT, rounding=ROUND_HALF_EVEN, context=WORK_CONTEXT)


class RandomWalk:
    """The simulated market: true prices, the USDT rate and the venues' quotes, step by step."""

    def __init__(
        self,
        symbols: Sequence[SymbolConfig],
        seed: int,
        start_prices: Mapping[str, Decimal] = DEFAULT_START_PRICES,
    ) -> None:
        """Seed the walk.

        Args:
            symbols: Symbols whose venues and bases are simulated.
            seed: Random seed.
            start_prices: Opening true USDT price per base asset.
        """
        self._rng = random.Random(seed)
        self._bases = sorted({config.base for config in symbols})
        self._venues = [v for v in VENUES if any(v in config.weights for config in symbols)]
        self._prices = {base: start_prices.get(base, Decimal(100)) for base in self._bases}
        self._usd_per_usdt_steps = 0
        self._step = 0

    def step(self) -> list[RawTick]:
        """Advance one second and return that step's ticks, times relative to the walk's start.

        Returns:
            The ticks of this step, in time order.
        """
        rng = self._rng
        for base in self._bases:
            price = _scale(self._prices[base], rng.randint(-250, 250), _PPM)
            if rng.randint(1, 900) == 1:
                price = _scale(price, rng.randint(-200, 200), _BP)
            self._prices[base] = _cents(price)
        self._usd_per_usdt_steps = max(-40, min(40, self._usd_per_usdt_steps + rng.randint(-1, 1)))
        usd_per_usdt = WORK_CONTEXT.add(
            1, WORK_CONTEXT.multiply(self._usd_per_usdt_steps, _RATE_TICK)
        )
        ticks = []
        for venue in self._venues:
            spec = VENUES[venue]
            time_ms = self._step * STEP_MS + _VENUE_OFFSET_MS[venue]
            if rng.randint(1, 10) == 1:
                continue
            for base in self._bases:
                quote = _scale(self._prices[base], rng.randint(-50, 50), _PPM)
                if spec.quote == "USD":
                    quote = WORK_CONTEXT.multiply(quote, usd_per_usdt)
                ticks.append(RawTick(venue, spec.market(base), _cents(quote), time_ms))
            if spec.quote == "USD":
                ticks.append(RawTick(venue, USDT_USD, usd_per_usdt.quantize(_RATE_TICK), time_ms))
        self._step += 1
        return ticks


class SimulatedSource(Source):
    """A :class:`RandomWalk` released onto the board as the clock passes its ticks."""

    kind = FeedKind.SIMULATED

    def __init__(
        self,
        symbols: Sequence[SymbolConfig],
        *,
        seed: int,
        start_ms: int | None = None,
        start_prices: Mapping[str, Decimal] = DEFAULT_START_PRICES,
    ) -> None:
        """Create the walk.

        Args:
            symbols: Symbols to simulate.
            seed: Random seed; the same seed gives the same series.
            start_ms: Clock time of step 0; default: the first ``advance``.
            start_prices: Opening true USDT price per base asset.
        """
        super().__init__()
        self._walk = RandomWalk(symbols, seed, start_prices)
        self._start_ms = start_ms
        self._steps = 0
        self._pending: deque[RawTick] = deque()
        self.steering = Steering()
        self.bases = frozenset(config.base for config in symbols)

    async def advance(self, now_ms: int) -> None:
        """Generate every step that has begun by ``now_ms`` and record the ticks due.

        Args:
            now_ms: The service's current time.
        """
        if self._start_ms is None:
            self._start_ms = now_ms
        while self._start_ms + self._steps * STEP_MS <= now_ms:
            shift = self._start_ms
            self._pending.extend(
                RawTick(t.venue, t.market, t.price, t.received_ms + shift)
                for t in self._walk.step()
            )
            self._steps += 1
        while self._pending and self._pending[0].received_ms <= now_ms:
            tick = self.steering.apply(self._pending.popleft())
            if tick is not None:
                self.board.record(tick)
