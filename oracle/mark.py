"""Mark price: median of the funding-basis price, the book-basis price and the last price. Pure.

MECHANICS §2.1 (Binance, since 2025-09-18) with our §2.5 fallbacks::

    Price1 = index * (1 + funding_rate * time_until_funding / funding_interval)
    Price2 = index + mean(basis samples),  basis = (best_bid + best_ask) / 2 - index
    mark   = median(Price1, Price2, last_price)

Fallbacks (§2.5):
    * A tick with either side of the book empty adds no basis sample; with no sample in the
      window, Price2 = Price1.
    * With no trade in the current funding interval, the last price is replaced by Price1, so
      ``mark = median(Price1, Price2, Price1) = Price1``.

Invariants:
    * The window holds at most one sample per ``sample_every_ms`` and none older than
      ``basis_window_ms`` (30 samples by default: 30 s sampled every 1 s).
    * All intermediates are exact (40 significant digits); only the mark is rounded, 8 dp
      half-even (MECHANICS §10). The index passed in is the published (already rounded) index.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from oracle.config import MarkRules
from oracle.model import MarkFallback
from oracle.numeric import WORK_CONTEXT, decimal_sum, median, round_price


@dataclass(frozen=True, slots=True)
class BasisSample:
    """One book-basis observation.

    Attributes:
        time_ms: When it was taken.
        basis: ``(best_bid + best_ask) / 2 - index`` at that time.
    """

    time_ms: int
    basis: Decimal


@dataclass(frozen=True, slots=True)
class BasisWindow:
    """The moving-average state of the book basis, oldest sample first.

    Attributes:
        samples: The samples inside the window.
    """

    samples: tuple[BasisSample, ...] = ()

    def mean(self) -> Decimal | None:
        """Return the mean basis, or None for an empty window.

        Returns:
            The exact mean (40 significant digits) or None.
        """
        if not self.samples:
            return None
        total = decimal_sum(sample.basis for sample in self.samples)
        return WORK_CONTEXT.divide(total, len(self.samples))


@dataclass(frozen=True, slots=True)
class MarkInputs:
    """Plain inputs of one mark computation.

    Attributes:
        index: The published index.
        funding_rate: The last funding rate (e.g. ``Decimal("0.0001")``).
        time_until_funding_ms: Time left to the next funding; clamped into
            ``[0, funding_interval_ms]``.
        funding_interval_ms: Length of the funding interval, positive.
        last_price: The engine's last traded price in the current funding interval, or None
            when nothing traded in it (see :func:`traded_this_interval`).
    """

    index: Decimal
    funding_rate: Decimal
    time_until_funding_ms: int
    funding_interval_ms: int
    last_price: Decimal | None


@dataclass(frozen=True, slots=True)
class MarkResult:
    """A mark value and its three components.

    Attributes:
        price: The mark, 8 dp half-even.
        price1: Funding-basis price (unrounded).
        price2: Index plus mean book basis, or Price1 when the window is empty (unrounded).
        contract_price: The last price used, or Price1 when there was no trade.
        fallbacks: The §2.5 fallbacks that applied, in enum order.
    """

    price: Decimal
    price1: Decimal
    price2: Decimal
    contract_price: Decimal
    fallbacks: tuple[MarkFallback, ...]


def sample_basis(
    window: BasisWindow,
    *,
    time_ms: int,
    index: Decimal,
    best_bid: Decimal | None,
    best_ask: Decimal | None,
    rules: MarkRules,
) -> BasisWindow:
    """Evict old samples and add the current book basis if due and the book has both sides.

    Args:
        window: The current window.
        time_ms: Now.
        index: The published index at ``time_ms``.
        best_bid: Best bid of the engine's book, or None when the bid side is empty.
        best_ask: Best ask of the engine's book, or None when the ask side is empty.
        rules: Window length and sampling interval.

    Returns:
        The new window (the input is not modified).
    """
    horizon = time_ms - rules.basis_window_ms
    kept = tuple(sample for sample in window.samples if sample.time_ms > horizon)
    if best_bid is None or best_ask is None:
        return BasisWindow(kept)
    if kept and time_ms - kept[-1].time_ms < rules.sample_every_ms:
        return BasisWindow(kept)
    mid = WORK_CONTEXT.divide(WORK_CONTEXT.add(best_bid, best_ask), 2)
    return BasisWindow((*kept, BasisSample(time_ms, WORK_CONTEXT.subtract(mid, index))))


def traded_this_interval(
    last_trade_ms: int | None, next_funding_ms: int, funding_interval_ms: int
) -> bool:
    """Tell whether the last trade happened in the current funding interval.

    Args:
        last_trade_ms: Time of the engine's last trade, or None if it never traded.
        next_funding_ms: Time of the next funding settlement.
        funding_interval_ms: Length of the funding interval.

    Returns:
        True when ``last_trade_ms >= next_funding_ms - funding_interval_ms``.
    """
    return last_trade_ms is not None and last_trade_ms >= next_funding_ms - funding_interval_ms


def funding_basis_price(
    index: Decimal, funding_rate: Decimal, time_until_funding_ms: int, funding_interval_ms: int
) -> Decimal:
    """Return Price1 = index * (1 + rate * time_until_funding / interval) (BitMEX fair price).

    Args:
        index: The published index.
        funding_rate: The last funding rate.
        time_until_funding_ms: Time left to the next funding, clamped into ``[0, interval]``.
        funding_interval_ms: Length of the funding interval.

    Returns:
        Price1, unrounded.

    Raises:
        ValueError: If the funding interval is not positive.
    """
    if funding_interval_ms <= 0:
        raise ValueError("funding interval must be positive")
    remaining = min(max(time_until_funding_ms, 0), funding_interval_ms)
    fraction = WORK_CONTEXT.divide(Decimal(remaining), Decimal(funding_interval_ms))
    basis = WORK_CONTEXT.multiply(funding_rate, fraction)
    return WORK_CONTEXT.multiply(index, WORK_CONTEXT.add(Decimal(1), basis))


def compute_mark(inputs: MarkInputs, window: BasisWindow) -> MarkResult:
    """Compute the mark price from plain inputs and the basis window (MECHANICS §2.5).

    Args:
        inputs: Index, funding and last-trade inputs.
        window: The basis window, already sampled for this tick (see :func:`sample_basis`).

    Returns:
        The mark, its components and the fallbacks used.
    """
    price1 = funding_basis_price(
        inputs.index,
        inputs.funding_rate,
        inputs.time_until_funding_ms,
        inputs.funding_interval_ms,
    )
    fallbacks: list[MarkFallback] = []
    mean_basis = window.mean()
    if mean_basis is None:
        price2 = price1
        fallbacks.append(MarkFallback.NO_BASIS_SAMPLES)
    else:
        price2 = WORK_CONTEXT.add(inputs.index, mean_basis)
    if inputs.last_price is None:
        contract = price1
        fallbacks.append(MarkFallback.NO_LAST_TRADE)
    else:
        contract = inputs.last_price
    mark = round_price(median((price1, price2, contract)))
    return MarkResult(mark, price1, price2, contract, tuple(fallbacks))
