"""ADL quantiles (``GET /fapi/v1/adlQuantile``) until the risk service publishes them: the BitMEX
score as the engine computes it when it deleverages (``core_rs/src/liquidation.rs``,
``bitmex_score``) and the quantile rule of MECHANICS §8.2. Pure functions, no I/O.

Score of a position (engine's figures at the mark, ``value = |qty| x mark``):
    pnl% = uPnL / max(|cost|, 1e-8);  leverage = max(value / max(margin balance, 1e-8), 1e-8)
    score = pnl% x leverage when uPnL >= 0, else pnl% / leverage.
Quantile: positions of one side sorted by score descending (ties: lower account id first, as
the engine's queue); quantile ``= 4 - floor(start_i / 0.2)`` where ``start_i = sum(qty_j, j < i) /
sum(qty)`` is the share of the side's quantity ahead of the position: 4 when the position starts
in the first 20 % of the queue, 0 in the last 20 %.

Deliberate deviation from MECHANICS §8.2, which takes the share *including* the position
(``ceil(sum(qty_j, j <= i) / sum / 0.2)``, quantile ``5 - bucket``): that rule gives a position
holding the whole side (or most of it) quantile 0, "last in line", although ADL would close it
first. Both rules agree when positions are small against the side (e.g. five equal positions:
4, 3, 2, 1, 0).

Known difference from the engine: an installed ``SetAdlRanking`` (risk service) goes first in
the engine's queue; it is not queryable yet, so these quantiles follow the BitMEX score only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

TINY = Decimal("0.00000001")
FIFTH = Decimal("0.2")


@dataclass(frozen=True, slots=True)
class AdlPosition:
    """One position of the side being ranked."""

    account: int
    qty: Decimal
    score: Decimal


def bitmex_score(qty: Decimal, cost: Decimal, unrealised_pnl: Decimal, mark: Decimal, margin_balance: Decimal) -> Decimal:
    """The BitMEX ADL score of one position (MECHANICS §8.1, with the engine's clamps)."""
    value = abs(qty) * mark
    pnl_pct = unrealised_pnl / max(abs(cost), TINY)
    leverage = max(value / max(margin_balance, TINY), TINY)
    return pnl_pct * leverage if unrealised_pnl >= 0 else pnl_pct / leverage


def quantiles(candidates: Iterable[AdlPosition]) -> dict[int, int]:
    """Quantile 0..4 of each account's position on one side (4: first in line)."""
    ranked = sorted((c for c in candidates if c.qty > 0), key=lambda c: (-c.score, c.account))
    total = sum((c.qty for c in ranked), Decimal(0))
    out: dict[int, int] = {}
    ahead = Decimal(0)
    for candidate in ranked:
        bucket = int((ahead / total / FIFTH).to_integral_value(rounding=ROUND_FLOOR))
        out[candidate.account] = max(0, 4 - bucket)
        ahead += candidate.qty
    return out
