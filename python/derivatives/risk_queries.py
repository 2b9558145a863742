"""Typed answers of the engine's risk queries (``core_rs/src/liquidation_map.rs``, ``stress.rs``
and ``adl_quantiles.rs``): the liquidation map of a symbol, a stress test run on a copy of the
state, and the ADL queues with each position's quantile.

The engine owns every number here; this module only turns its raw 1e-8 integers into exact
``Decimal`` values (``derivatives.units.from_raw``) and its shocks into raw tuples.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from derivatives.units import from_raw, to_raw


@dataclass(frozen=True, slots=True)
class MapBucket:
    """Notional liquidated when the mark reaches ``[price, price + step)``."""

    price: Decimal
    long_notional: Decimal
    short_notional: Decimal
    long_legs: int
    short_legs: int


@dataclass(frozen=True, slots=True)
class LiquidationMap:
    """Every open leg of a symbol bucketed at its liquidation price, ascending."""

    symbol: int
    mark: Decimal | None
    step: Decimal
    buckets: list[MapBucket]
    unpriced: int
    """Open legs that cannot be liquidated at a positive price (not on the map)."""


@dataclass(frozen=True, slots=True)
class Shock:
    """A symbol's stressed mark: ``price``, or the current mark moved by ``move`` (-0.1: -10 %)."""

    symbol: int
    price: Decimal | None = None
    move: Decimal | None = None

    def raw(self) -> tuple[int, int, bool]:
        """The binding's ``(symbol, raw value, is_move)``.

        Raises:
            ValueError: unless exactly one of ``price`` and ``move`` is given.
        """
        if (self.price is None) == (self.move is None):
            raise ValueError("a shock sets either a price or a move")
        if self.price is not None:
            return self.symbol, to_raw(self.price), False
        assert self.move is not None
        return self.symbol, to_raw(self.move), True


@dataclass(frozen=True, slots=True)
class SymbolStress:
    """One shocked symbol: its marks and the notional each liquidation step handled."""

    symbol: int
    mark_before: Decimal | None
    mark_after: Decimal
    offered: Decimal
    """Liquidation orders at their bankruptcy prices."""
    filled: Decimal
    """What of them filled in the book."""
    taken_over: Decimal
    deleveraged: Decimal


@dataclass(frozen=True, slots=True)
class StressedAccount:
    """An account the stress liquidates (``closed`` False: cancelling its orders sufficed)."""

    account: int
    margin_balance: Decimal
    maintenance: Decimal
    closed: bool
    offered: Decimal


@dataclass(frozen=True, slots=True)
class StressReport:
    """What the liquidation sequence did on the copy at the stressed marks."""

    symbols: list[SymbolStress]
    accounts: list[StressedAccount]
    fund_deleveraged: bool
    adl_accounts: int
    bad_debt: Decimal
    fees: Decimal
    fund_before: Decimal
    fund_after: Decimal

    @property
    def fund_drawdown(self) -> Decimal:
        """What the fund loses (negative: it gains)."""
        return self.fund_before - self.fund_after


@dataclass(frozen=True, slots=True)
class AdlQueueEntry:
    """One position of an ADL queue (first out first)."""

    account: int
    qty: Decimal
    """The quantity on the ranked side (positive)."""
    quantile: int
    """0..4, 4 first in line: ``4 - floor(5 * quantity ahead / side's quantity)``."""


@dataclass(frozen=True, slots=True)
class AdlQuantiles:
    """An account's ADL quantiles in one symbol it holds (Binance's ``adlQuantile`` values)."""

    symbol: int
    long: int
    """The hedge-mode long leg's (0 in one-way mode)."""
    short: int
    """The hedge-mode short leg's (0 in one-way mode)."""
    both: int
    """The one-way position's (0 in hedge mode)."""
    cross_hedge: bool
    """Cross margin in hedge mode (Binance's ``HEDGE`` flag; both open legs share one value)."""


def adl_queue(raw: list[tuple[int, int, int]]) -> list[AdlQueueEntry]:
    """The typed queue from the binding's tuples."""
    return [AdlQueueEntry(account, from_raw(qty), quantile) for account, qty, quantile in raw]


def adl_quantiles(raw: list[tuple[int, int, int, int, bool]]) -> list[AdlQuantiles]:
    """The typed quantiles from the binding's tuples."""
    return [AdlQuantiles(*row) for row in raw]


def liquidation_map(raw: dict[str, Any]) -> LiquidationMap:
    """The typed map from the binding's dict."""
    buckets = [MapBucket(from_raw(p), from_raw(ln), from_raw(sn), lc, sc) for p, ln, sn, lc, sc in raw["buckets"]]
    mark = raw["mark"]
    return LiquidationMap(raw["symbol"], None if mark is None else from_raw(mark), from_raw(raw["step"]), buckets,
                          raw["unpriced"])


def stress_report(raw: dict[str, Any]) -> StressReport:
    """The typed report from the binding's dict."""
    symbols = [
        SymbolStress(s["symbol"], from_raw(s["mark_before"]) if s["mark_before"] else None, from_raw(s["mark_after"]),
                     *(from_raw(s[k]) for k in ("offered", "filled", "taken_over", "deleveraged")))
        for s in raw["symbols"]
    ]
    accounts = [StressedAccount(a, from_raw(mb), from_raw(mm), closed, from_raw(offered))
                for a, mb, mm, closed, offered in raw["accounts"]]
    return StressReport(symbols, accounts, raw["fund_deleveraged"], raw["adl_accounts"],
                        *(from_raw(raw[k]) for k in ("bad_debt", "fees", "fund_before", "fund_after")))
