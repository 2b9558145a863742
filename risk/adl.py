"""Auto-deleveraging ranking (MECHANICS §8): scores, the ranked queue and the quantile buckets.

Scores (MECHANICS §8.1):
    * **BitMEX** (default) [P] https://bitmex.com/app/autoDeleveraging::

          PNL%              = (MarkValue - AvgEntryValue) / |AvgEntryValue|
          EffectiveLeverage = |MarkValue| / (MarkValue - BankruptValue)
          Ranking           = PNL% * EffectiveLeverage   if PNL% > 0
                            = PNL% / EffectiveLeverage   if PNL% < 0

      With signed values (``MarkValue = qty * mark``, ``AvgEntryValue = cost``) the same formula
      serves longs and shorts. For a cross account the bankruptcy value of a leg is the value at
      which closing it leaves the margin balance at zero (the engine's bankruptcy price), so
      ``MarkValue - BankruptValue = MB`` and ``EffectiveLeverage = |MarkValue| / MB``.
    * **Binance** [P] (formula as quoted in https://dev.binance.vision/t/17801)::

          PnlPercent  = max(0, UnrealizedProfit) / max(1, WalletBalance)
          MarginRatio = MaintenanceMargin / (WalletBalance + UnrealizedProfit)  if > 0, else 0
          Score       = PnlPercent * MarginRatio

      taken over the cross account, so both legs of a hedge account share one score (Binance
      shows one value for LONG and SHORT in cross hedge mode).

Quantiles are the engine's (``core_rs/src/adl_quantiles.rs``, ``Engine.adl_queue``): the position
of each account in the queue the engine would deleverage, the installed ranking first.

Invariants:
    * Pure and deterministic: scores are exact ratios of raw integers computed in a 40-digit
      context; ties are broken by account id, ascending (as the engine's own fallback does).
    * Quantities and money are raw ``int`` at 1e-8.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal
from enum import StrEnum

from derivatives.enums import PositionSide, Side
from derivatives.units import SCALE
from risk.margin import RawBracket, health
from risk.positions import RESERVED_ACCOUNTS, AccountState, Leg, PositionView

WORK_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)


class AdlMode(StrEnum):
    """Which ranking formula (``adl_rank_mode``, MECHANICS §8.2)."""

    BITMEX = "bitmex"
    BINANCE = "binance"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One position that may be deleveraged.

    Attributes:
        account: Engine account id.
        qty: Absolute quantity of the ranked side (raw, > 0).
        score: The ranking score (higher: deleveraged first).
    """

    account: int
    qty: int
    score: Decimal


def bitmex_score(qty: int, cost: int, mark: int, margin_balance: int) -> Decimal:
    """BitMEX's ranking of one leg.

    Args:
        qty: Signed quantity (raw).
        cost: Signed entry value (raw, ``AvgEntryValue``).
        mark: Mark price (raw).
        margin_balance: The cross account's margin balance (raw, > 0), which is
            ``MarkValue - BankruptValue``.

    Returns:
        ``PNL% * EL`` in profit, ``PNL% / EL`` at a loss, 0 when flat.

    Raises:
        ValueError: If `margin_balance` is not positive or `cost` is zero (no ranking exists).
    """
    if margin_balance <= 0 or cost == 0:
        raise ValueError("a BitMEX score needs a positive margin balance and an entry value")
    mark_value = WORK_CONTEXT.divide(
        WORK_CONTEXT.multiply(Decimal(qty), Decimal(mark)), Decimal(SCALE)
    )
    pnl_pct = WORK_CONTEXT.divide(
        WORK_CONTEXT.subtract(mark_value, Decimal(cost)), Decimal(abs(cost))
    )
    leverage = WORK_CONTEXT.divide(abs(mark_value), Decimal(margin_balance))
    if pnl_pct > 0:
        return WORK_CONTEXT.multiply(pnl_pct, leverage)
    if pnl_pct < 0:
        return WORK_CONTEXT.divide(pnl_pct, leverage)
    return Decimal(0)


def binance_score(wallet: int, unrealised: int, maintenance: int) -> Decimal:
    """Binance's leverage-PnL score of a cross account.

    Args:
        wallet: Wallet balance (raw).
        unrealised: Σ uPnL of the account (raw).
        maintenance: Σ maintenance margin of the account (raw).

    Returns:
        ``max(0, UP) / max(1 USDT, WB) * MM / (WB + UP)`` (0 when ``WB + UP ≤ 0``).
    """
    pnl_pct = WORK_CONTEXT.divide(Decimal(max(0, unrealised)), Decimal(max(SCALE, wallet)))
    balance = wallet + unrealised
    ratio = (
        WORK_CONTEXT.divide(Decimal(maintenance), Decimal(balance)) if balance > 0 else Decimal(0)
    )
    return WORK_CONTEXT.multiply(pnl_pct, ratio)


def rank(candidates: Iterable[Candidate]) -> list[Candidate]:
    """The ADL queue: highest score first, ties by account id.

    Args:
        candidates: The positions of one (symbol, side).

    Returns:
        The candidates in deleveraging order.
    """
    return sorted(candidates, key=lambda c: (-c.score, c.account))


def ranked_leg(state: AccountState, symbol: int, side: Side) -> Leg | None:
    """The leg of `state` that `side` ranks (BUY: longs, SELL: shorts), as ``(qty, cost)``.

    Args:
        state: The account.
        symbol: The symbol.
        side: BUY ranks long positions, SELL short ones (the engine's ``SetAdlRanking`` sides).

    Returns:
        The one-way position or the hedge leg on that side, or None when the account holds
        nothing on that side.
    """
    leg_side = (
        PositionSide.BOTH
        if not state.hedge
        else PositionSide.LONG
        if side is Side.BUY
        else PositionSide.SHORT
    )
    leg = state.legs.get((symbol, leg_side))
    if leg is None or (leg.qty > 0) != (side is Side.BUY):
        return None
    return leg


def side_candidates(
    view: PositionView,
    brackets: Mapping[int, tuple[RawBracket, ...]],
    symbol: int,
    side: Side,
    mode: AdlMode,
) -> list[Candidate]:
    """Scores every position on one side of a symbol (MECHANICS §8.2 step 1).

    The insurance fund, the fee account and accounts under maintenance margin (in, or about to
    be in, liquidation) are left out; the engine appends anything left out after the ranking.

    Args:
        view: Positions, wallets and reference prices.
        brackets: Brackets of every listed symbol.
        symbol: The symbol.
        side: BUY ranks longs, SELL shorts.
        mode: The score formula.

    Returns:
        The unranked candidates (see :func:`rank`).
    """
    mark = view.reference_price(symbol)
    if mark is None:
        return []
    prices = view.reference_prices()
    out: list[Candidate] = []
    for account in view.holders(symbol):
        state = view.accounts[account]
        leg = ranked_leg(state, symbol, side)
        if account in RESERVED_ACCOUNTS or leg is None:
            continue
        qty, cost = leg.qty, leg.cost
        backing, unit_legs = state.unit_of(leg)
        margin = health(backing, ((o.symbol, o.qty, o.cost) for o in unit_legs), prices, brackets)
        if margin.underwater or margin.margin_balance <= 0:
            continue
        score = (
            bitmex_score(qty, cost, mark, margin.margin_balance)
            if mode is AdlMode.BITMEX
            else binance_score(backing, margin.unrealised, margin.maintenance)
        )
        out.append(Candidate(account, abs(qty), score))
    return out
