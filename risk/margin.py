"""Cross-margin arithmetic on raw integers, mirroring the engine's.

The formulas are those of ``core_rs/src/accounts/margin.rs`` (``health`` among them), so that
the monitor and the ADL ranking see what the engine sees.

Formulas (MECHANICS §4.1, Binance leverage brackets):
    * ``uPnL = floor(qty * price) - cost`` per leg (signed qty and cost; PnL rounds toward -∞);
    * ``MM = ceil(|qty| * price) * MMR_bracket - cum``, rounded up, never negative, the bracket
      being the first whose cap is not below the notional (the last beyond every cap);
    * ``MB = wallet + Σ uPnL``; ``margin ratio = MM / MB`` (Binance ``accountMaintMargin /
      marginBalance``); the engine liquidates when ``MM > 0 and MB < MM``.

Invariants:
    * Money is raw ``int`` at 1e-8 (``derivatives.units``); every division names its rounding.
    * A symbol without a reference price or an instrument is left out of MB and MM, as the
      engine does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from derivatives.commands import InstrumentSpec
from derivatives.units import SCALE, to_raw

RATIO_QUANTUM = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class RawBracket:
    """One leverage bracket in raw units.

    Attributes:
        notional_cap: Largest notional of the bracket (raw quote).
        maint_margin_rate: MMR (raw rate).
        cum: Maintenance amount (raw quote).
    """

    notional_cap: int
    maint_margin_rate: int
    cum: int


def raw_brackets(spec: InstrumentSpec) -> tuple[RawBracket, ...]:
    """The instrument's brackets in raw units.

    Args:
        spec: The instrument.

    Returns:
        Its brackets, lowest first.
    """
    return tuple(
        RawBracket(to_raw(b.notional_cap), to_raw(b.maint_margin_rate), to_raw(b.cum))
        for b in spec.brackets
    )


def mul_div_floor(a: int, b: int, d: int) -> int:
    """``floor(a * b / d)`` exactly (the engine's ``mul_div(.., Floor)``)."""
    return (a * b) // d


def mul_div_ceil(a: int, b: int, d: int) -> int:
    """``ceil(a * b / d)`` exactly (the engine's ``mul_div(.., Ceil)``)."""
    return -((-a * b) // d)


def unrealised_pnl(qty: int, cost: int, price: int) -> int:
    """Unrealised PnL of a leg at `price`, rounded toward -∞.

    Args:
        qty: Signed quantity (raw).
        cost: Signed entry value (raw).
        price: Reference price (raw).

    Returns:
        ``floor(qty * price) - cost`` (raw quote).
    """
    return mul_div_floor(qty, price, SCALE) - cost


def maintenance_margin(brackets: tuple[RawBracket, ...], qty: int, price: int) -> int:
    """Maintenance margin of one leg: ``notional * MMR - cum``, rounded up, never negative.

    Args:
        brackets: The instrument's brackets (at least one).
        qty: Signed quantity (raw).
        price: Reference price (raw).

    Returns:
        The maintenance margin (raw quote).
    """
    notional = mul_div_ceil(abs(qty), price, SCALE)
    bracket = next((b for b in brackets if notional <= b.notional_cap), brackets[-1])
    return max(0, mul_div_ceil(notional, bracket.maint_margin_rate, SCALE) - bracket.cum)


@dataclass(frozen=True, slots=True)
class Health:
    """An account's margin at the reference prices (raw quote).

    Attributes:
        wallet: Wallet balance.
        unrealised: Σ uPnL over the priced legs.
        maintenance: Σ MM over the priced legs.
    """

    wallet: int
    unrealised: int
    maintenance: int

    @property
    def margin_balance(self) -> int:
        """``wallet + Σ uPnL``."""
        return self.wallet + self.unrealised

    @property
    def underwater(self) -> bool:
        """The engine's liquidation trigger: ``MM > 0 and MB < MM``."""
        return self.maintenance > 0 and self.margin_balance < self.maintenance

    @property
    def margin_ratio(self) -> Decimal | None:
        """``MM / MB`` (8 dp, half-even); None when MB ≤ 0 (bankrupt: beyond any ratio)."""
        if self.margin_balance <= 0:
            return None
        ratio = Decimal(self.maintenance) / Decimal(self.margin_balance)
        return ratio.quantize(RATIO_QUANTUM, rounding=ROUND_HALF_EVEN)


def health(
    wallet: int,
    legs: Iterable[tuple[int, int, int]],
    prices: Mapping[int, int],
    brackets: Mapping[int, tuple[RawBracket, ...]],
) -> Health:
    """Margin balance and maintenance margin of one cross account.

    Args:
        wallet: Wallet balance (raw).
        legs: ``(symbol, qty, cost)`` of every open leg (raw).
        prices: Reference price per symbol (raw).
        brackets: Brackets per listed symbol.

    Returns:
        The account's health.
    """
    unrealised = 0
    maintenance = 0
    for symbol, qty, cost in legs:
        price = prices.get(symbol)
        tiers = brackets.get(symbol)
        if price is None or tiers is None or qty == 0:
            continue
        unrealised += unrealised_pnl(qty, cost, price)
        maintenance += maintenance_margin(tiers, qty, price)
    return Health(wallet, unrealised, maintenance)
