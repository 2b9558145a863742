"""Exact decimal arithmetic shared by the index and mark computations.

Invariants:
    * Prices are ``decimal.Decimal`` from end to end; no function here accepts or returns ``float``.
    * Intermediate results are computed in :data:`WORK_CONTEXT` (40 significant digits, far
      beyond any price we handle), so they are exact for sums, means and products of venue prices;
      only a published value is rounded, once, by :func:`round_price` (8 dp, ROUND_HALF_EVEN,
      MECHANICS §10).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from functools import reduce

WORK_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)
"""Context for every intermediate price computation."""

PRICE_QUANTUM = Decimal("0.00000001")
"""Published prices (index and mark) carry exactly 8 decimal places."""


def round_price(value: Decimal) -> Decimal:
    """Round a price for publication: 8 decimal places, half-even.

    Args:
        value: An unrounded price.

    Returns:
        ``value`` quantized to ``0.00000001`` with ``ROUND_HALF_EVEN``.
    """
    return value.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN, context=WORK_CONTEXT)


def decimal_sum(values: Iterable[Decimal]) -> Decimal:
    """Add decimals in :data:`WORK_CONTEXT` (the builtin ``sum`` would use the 28-digit default).

    Args:
        values: Decimals to add.

    Returns:
        Their sum; ``Decimal(0)`` for no values.
    """
    return reduce(WORK_CONTEXT.add, values, Decimal(0))


def median(values: Iterable[Decimal]) -> Decimal:
    """Return the median; for an even count, the mean of the two middle values.

    Args:
        values: At least one decimal.

    Returns:
        The exact median (computed in :data:`WORK_CONTEXT`).

    Raises:
        ValueError: If ``values`` is empty.
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of no values")
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return WORK_CONTEXT.divide(WORK_CONTEXT.add(ordered[middle - 1], ordered[middle]), 2)


def parse_price(raw: object) -> Decimal:
    """Parse a venue price string into a positive, finite Decimal.

    Venues send prices as JSON strings, which ccxt keeps verbatim in ``ticker["info"]``. A JSON
    number would already have passed through ``float`` inside ``json.loads``, so it is refused
    rather than silently made inexact.

    Args:
        raw: The value found in the venue payload.

    Returns:
        The price as an exact Decimal.

    Raises:
        ValueError: If ``raw`` is not a string, not a number, not finite or not positive.
    """
    if not isinstance(raw, str):
        raise ValueError(f"price must be a decimal string, got {type(raw).__name__}")
    try:
        price = Decimal(raw.strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal price: {raw!r}") from exc
    if not price.is_finite() or price <= 0:
        raise ValueError(f"price must be finite and positive: {raw!r}")
    return price
