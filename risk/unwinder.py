"""Working the insurance fund's taken-over positions out in the market: the slice plan.

Each step, for each symbol where the fund holds a position, :func:`plan` decides one of:

* ``SLICE``: a reduce-only IOC limit order closing part of the position, at a limit price never
  worse than ``max_slippage`` from the mark (a sell at ``mark x (1 - slippage)`` rounded up to the
  tick, a buy at ``mark x (1 + slippage)`` rounded down), of at most ``slice_notional`` at the mark
  (rounded down to the step), and never more than the book shows within that limit;
* ``PAUSED_THIN_BOOK``: the opposite side of the book within the limit holds less than
  ``min_book_notional``; nothing is sent (selling into a thin book would move the mark against
  every holder);
* ``PAUSED_NO_MARK``: no mark price yet.

Pure and deterministic: quantities and prices are ``Decimal`` on the instrument's grid; every
rounding is explicit and against the fund (never a worse price than the cap, never a larger slice
than planned). The service (:class:`risk.unwinder_service.FundUnwinder`) sends the orders and
records every decision with its reason in the fund's unwind history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from derivatives.commands import InstrumentSpec
from derivatives.enums import Side


class UnwindReason(StrEnum):
    """Why a step did (or did not) send an order."""

    SLICE = "SLICE"
    PAUSED_THIN_BOOK = "PAUSED_THIN_BOOK"
    PAUSED_NO_MARK = "PAUSED_NO_MARK"


@dataclass(frozen=True, slots=True)
class UnwindConfig:
    """How the fund works its positions out.

    Attributes:
        period_ms: Time between two steps.
        slice_notional: Largest slice, in USDT at the mark.
        max_slippage: Worst limit price as a fraction of the mark (0.005 = 0.5 %).
        min_book_notional: Opposite-side depth (USDT) within the limit below which the unwinder
            pauses.
    """

    period_ms: int = 10_000
    slice_notional: Decimal = Decimal(10_000)
    max_slippage: Decimal = Decimal("0.005")
    min_book_notional: Decimal = Decimal(20_000)


@dataclass(frozen=True, slots=True)
class UnwindDecision:
    """One step's decision for one symbol.

    Attributes:
        symbol: Symbol name.
        reason: What was decided.
        side: The closing side.
        qty: Quantity to send (0 when paused).
        limit_price: The order's limit (the slippage cap), or None without a mark.
        position: The fund's signed position before the step.
        book_notional: Opposite-side depth within the limit (USDT).
    """

    symbol: str
    reason: UnwindReason
    side: Side
    qty: Decimal
    limit_price: Decimal | None
    position: Decimal
    book_notional: Decimal


def limit_price(side: Side, mark: Decimal, spec: InstrumentSpec, slippage: Decimal) -> Decimal:
    """The slippage cap on the tick, rounded toward the mark (never worse than the cap)."""
    if side is Side.SELL:
        raw, rounding = mark * (1 - slippage), ROUND_CEILING
    else:
        raw, rounding = mark * (1 + slippage), ROUND_FLOOR
    return (raw / spec.tick_size).to_integral_value(rounding=rounding) * spec.tick_size


def plan(
    spec: InstrumentSpec,
    position: Decimal,
    mark: Decimal | None,
    opposite: Sequence[tuple[Decimal, Decimal]],
    config: UnwindConfig,
) -> UnwindDecision:
    """The decision for one symbol where the fund holds `position` (signed, non-zero).

    Args:
        spec: The instrument.
        position: The fund's signed position.
        mark: The published mark price, if any.
        opposite: The book side the closing order takes from (bids for a long), best first.
        config: The unwinder's settings.

    Returns:
        A slice to send, or a pause with its reason.
    """
    side = Side.SELL if position > 0 else Side.BUY
    if mark is None:
        return UnwindDecision(
            spec.name, UnwindReason.PAUSED_NO_MARK, side, Decimal(0), None, position, Decimal(0)
        )
    limit = limit_price(side, mark, spec, config.max_slippage)
    within = [(p, q) for p, q in opposite if (p >= limit if side is Side.SELL else p <= limit)]
    depth_qty = sum((q for _, q in within), Decimal(0))
    depth_notional = sum((p * q for p, q in within), Decimal(0))
    thin_book = UnwindDecision(
        spec.name, UnwindReason.PAUSED_THIN_BOOK, side, Decimal(0), limit, position, depth_notional
    )
    if depth_notional < config.min_book_notional:
        return thin_book
    steps = (config.slice_notional / mark / spec.step_size).to_integral_value(rounding=ROUND_FLOOR)
    qty = min(abs(position), steps * spec.step_size, depth_qty)
    if qty < spec.min_qty:
        return thin_book
    return UnwindDecision(spec.name, UnwindReason.SLICE, side, qty, limit, position, depth_notional)
