"""Funding rate arithmetic (MECHANICS §3): impact prices, premium index, averaging, rate, cap.

Pure functions over ``Decimal``; the sampling loop and the engine I/O live in
:mod:`risk.funding_service`.

Formulas and sources:
    * Impact notional (Binance): ``IMN = 200 USDT / IMR at the maximum leverage``, i.e.
      ``200 * max_leverage`` (BNBUSDT 20x → IMR 5 % → 4,000 USDT).
    * Impact bid / ask: the average fill price of a market sell / buy of ``IMN`` quote against the
      book. A side without that much depth contributes nothing to the premium (dYdX treats the
      impact bid as 0 and the impact ask as ∞, ``memclob.go GetPricePremium``).
    * Premium index: ``P = [max(0, ImpactBid - Index) - max(0, Index - ImpactAsk)] / Index``.
    * Averaging [OURS, MECHANICS §3.2]: ``linear_weighted`` (default) weights each sample by the
      time elapsed since the window opened, which for regular samples is Binance's
      ``Σ i·P_i / Σ i``; ``simple`` is the arithmetic mean (BitMEX).
    * Rate (Binance): ``F = [P + clamp(I - P, -0.05 %, 0.05 %)] * N / 8`` for an N-hour interval
      (the ``/ (8/N)`` rule in force since 2025-09-18; *1 for 8 h), rounded to 8 dp half-even,
      then capped to ``±cap`` (MECHANICS §10: "8 dp, half-even, then clamp").
    * Cap (Binance): ``cap = 0.75 * MMR`` of the first leverage bracket unless set per symbol.

Invariants:
    * No float anywhere; intermediate values are computed in :data:`WORK_CONTEXT` (40
      significant digits), and the only rounding of a rate is the final 8 dp half-even one.
    * ``|funding_rate(...)| ≤ cap`` always (MECHANICS §9.10), and ``cap`` has at most 8 dp.
    * Funding times are the multiples of the interval since the Unix epoch, so an 8-hour
      interval settles at 00:00, 08:00 and 16:00 UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal
from enum import StrEnum

WORK_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)
"""Context of every intermediate computation."""

RATE_QUANTUM = Decimal("0.00000001")
"""Funding rates carry exactly 8 decimal places (Binance prints ``"0.00010000"``)."""

HOUR_MS = 3_600_000
EIGHT_HOURS_MS = 8 * HOUR_MS
DEFAULT_INTEREST_RATE = Decimal("0.0001")
"""Binance: 0.01 % per 8 hours (0.03 % a day)."""
DEFAULT_CLAMP = Decimal("0.0005")
"""Binance: the interest/premium difference is clamped to ±0.05 %."""
DEFAULT_CAP_MULTIPLIER = Decimal("0.75")
"""Binance: capped funding rate = clamp(F, -0.75 * MMR, 0.75 * MMR)."""
IMPACT_MARGIN = Decimal(200)
"""Binance: the impact notional is what 200 USDT of margin buys at the maximum leverage."""


class Averaging(StrEnum):
    """How the premium samples of one interval are averaged (MECHANICS §3.2)."""

    LINEAR_WEIGHTED = "linear_weighted"
    SIMPLE = "simple"


@dataclass(frozen=True, slots=True)
class PremiumSample:
    """One premium index observation.

    Attributes:
        time_ms: When it was taken.
        premium: The premium index at that time (unrounded).
    """

    time_ms: int
    premium: Decimal


@dataclass(frozen=True, slots=True)
class RateParams:
    """What turns an average premium into a funding rate.

    Attributes:
        interest_rate: ``I`` per 8 hours.
        cap: Largest absolute rate (8 dp at most).
        interval_ms: The funding interval of the symbol.
        clamp: Bound of ``I - P`` (±).
    """

    interest_rate: Decimal
    cap: Decimal
    interval_ms: int = EIGHT_HOURS_MS
    clamp: Decimal = DEFAULT_CLAMP


def impact_notional(max_leverage: int, margin: Decimal = IMPACT_MARGIN) -> Decimal:
    """Binance's impact margin notional: ``margin / IMR`` with ``IMR = 1 / max_leverage``.

    Args:
        max_leverage: The symbol's highest leverage (first bracket).
        margin: The impact margin (200 USDT).

    Returns:
        The quote notional whose average fill price defines the impact prices.
    """
    return margin * max_leverage


def impact_price(levels: Sequence[tuple[Decimal, Decimal]], notional: Decimal) -> Decimal | None:
    """Average fill price of a market order of `notional` quote against one book side.

    Args:
        levels: ``(price, quantity)`` best first (bids for the impact bid, asks for the ask).
        notional: The quote amount to fill (> 0).

    Returns:
        ``notional / quantity filled``, or None when the side holds less than `notional`.
    """
    remaining = notional
    filled = Decimal(0)
    for price, qty in levels:
        value = WORK_CONTEXT.multiply(price, qty)
        if value >= remaining:
            filled = WORK_CONTEXT.add(filled, WORK_CONTEXT.divide(remaining, price))
            return WORK_CONTEXT.divide(notional, filled)
        filled = WORK_CONTEXT.add(filled, qty)
        remaining = WORK_CONTEXT.subtract(remaining, value)
    return None


def premium_index(
    impact_bid: Decimal | None, impact_ask: Decimal | None, index: Decimal
) -> Decimal:
    """``[max(0, ImpactBid - Index) - max(0, Index - ImpactAsk)] / Index``.

    Args:
        impact_bid: Impact bid price, None when the bids are too thin (contributes 0).
        impact_ask: Impact ask price, None when the asks are too thin (contributes 0).
        index: The index price (> 0).

    Returns:
        The premium index, unrounded.
    """
    above = max(Decimal(0), impact_bid - index) if impact_bid is not None else Decimal(0)
    below = max(Decimal(0), index - impact_ask) if impact_ask is not None else Decimal(0)
    return WORK_CONTEXT.divide(above - below, index)


def average_premium(
    samples: Sequence[PremiumSample], window_start_ms: int, averaging: Averaging
) -> Decimal:
    """The average premium of one funding window.

    Args:
        samples: Samples taken in ``(window_start_ms, window_end]``, oldest first (at least one).
        window_start_ms: Start of the window (exclusive).
        averaging: ``linear_weighted`` (weight = time since the window opened) or ``simple``.

    Returns:
        The weighted average, unrounded.

    Raises:
        ValueError: For no samples, or a sample outside the window.
    """
    if not samples:
        raise ValueError("no premium sample in the funding window")
    if any(s.time_ms <= window_start_ms for s in samples):
        raise ValueError("a premium sample precedes its funding window")
    weights = [
        Decimal(s.time_ms - window_start_ms)
        if averaging is Averaging.LINEAR_WEIGHTED
        else Decimal(1)
        for s in samples
    ]
    total = Decimal(0)
    for weight, sample in zip(weights, samples, strict=True):
        total = WORK_CONTEXT.add(total, WORK_CONTEXT.multiply(weight, sample.premium))
    weight_sum = Decimal(0)
    for weight in weights:
        weight_sum = WORK_CONTEXT.add(weight_sum, weight)
    return WORK_CONTEXT.divide(total, weight_sum)


def clamp(value: Decimal, bound: Decimal) -> Decimal:
    """Clamp `value` into ``[-|bound|, |bound|]``.

    Args:
        value: The value.
        bound: The bound (its sign is ignored, as Binance writes ``clamp(x, 0.05 %, -0.05 %)``).

    Returns:
        The clamped value.
    """
    limit = abs(bound)
    return min(max(value, -limit), limit)


def round_rate(value: Decimal) -> Decimal:
    """Round a rate to 8 dp, half-even (MECHANICS §10).

    Args:
        value: An unrounded rate.

    Returns:
        The rate with exactly 8 decimal places.
    """
    return value.quantize(RATE_QUANTUM, rounding=ROUND_HALF_EVEN, context=WORK_CONTEXT)


def funding_cap(
    maint_margin_rate: Decimal, multiplier: Decimal = DEFAULT_CAP_MULTIPLIER
) -> Decimal:
    """Binance's cap ``multiplier * MMR``, truncated to 8 dp so that ``|F| ≤ cap`` stays exact.

    Args:
        maint_margin_rate: Maintenance margin rate of the first leverage bracket.
        multiplier: Cap multiplier (0.75 by default).

    Returns:
        The absolute cap.
    """
    return (multiplier * maint_margin_rate).quantize(
        RATE_QUANTUM, rounding=ROUND_DOWN, context=WORK_CONTEXT
    )


def funding_rate(premium: Decimal, params: RateParams) -> Decimal:
    """``clamp(round8([P + clamp(I - P, ±0.05 %)] * N/8), ±cap)``.

    Args:
        premium: The average premium of the interval.
        params: Interest rate, cap, interval and clamp.

    Returns:
        The funding rate to settle, 8 dp.
    """
    unscaled = WORK_CONTEXT.add(
        premium, clamp(WORK_CONTEXT.subtract(params.interest_rate, premium), params.clamp)
    )
    scaled = WORK_CONTEXT.divide(
        WORK_CONTEXT.multiply(unscaled, Decimal(params.interval_ms)), Decimal(EIGHT_HOURS_MS)
    )
    return clamp(round_rate(scaled), params.cap)

