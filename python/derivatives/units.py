"""Exact conversion between decimal values and the engine's raw 1e-8 integers.

Invariants: no float is ever accepted (``TypeError``); a value that is not exact at eight
decimals or does not fit in a signed 64-bit integer is refused (``ValueError``). The scale is read
from the compiled engine so there is one source of truth.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from derivatives import _core

SCALE: int = _core.SCALE
DECIMALS: int = _core.DECIMALS
_I64_MAX = 2**63 - 1
_QUANTUM = Decimal(1).scaleb(-DECIMALS)


def to_raw(value: Decimal | str | int) -> int:
    """Converts a decimal value to raw 1e-8 units, exactly.

    Raises:
        TypeError: for floats, bools and other non-decimal types.
        ValueError: for malformed text, more than eight decimals, or out-of-range values.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise TypeError(f"expected Decimal, str or int, got {type(value).__name__}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    scaled = number.scaleb(DECIMALS)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"more than {DECIMALS} decimal places: {value!r}")
    raw = int(scaled)
    if not -_I64_MAX <= raw <= _I64_MAX:
        raise ValueError(f"out of range: {value!r}")
    return raw


def from_raw(raw: int) -> Decimal:
    """Raw 1e-8 units as an exact Decimal with eight decimal places."""
    return Decimal(raw).scaleb(-DECIMALS).quantize(_QUANTUM)


def format_raw(raw: int) -> str:
    """Raw units as Binance prints them, e.g. ``"0.00010000"``."""
    return f"{from_raw(raw):f}"
