"""The BitMEX ADL score as the engine computes it when it deleverages (``core_rs/src/liquidation.rs``,
``bitmex_score``), for ``GET /fapi/v1/adlQuantile`` until the risk service publishes quantiles.
Pure, no I/O. The quantile rule itself is ``risk.adl.quantiles`` (one rule for the exchange).

Score of a position (engine's figures at the mark, ``value = |qty| x mark``):
    pnl% = uPnL / max(|cost|, 1e-8);  leverage = max(value / max(margin balance, 1e-8), 1e-8)
    score = pnl% x leverage when uPnL >= 0, else pnl% / leverage.

Known difference from the engine: an installed ``SetAdlRanking`` (risk service) goes first in
the engine's queue; it is not queryable yet, so these quantiles follow the BitMEX score only.
"""

from __future__ import annotations

from decimal import Decimal

TINY = Decimal("0.00000001")


def bitmex_score(qty: Decimal, cost: Decimal, unrealised_pnl: Decimal, mark: Decimal, margin_balance: Decimal) -> Decimal:
    """The BitMEX ADL score of one position (MECHANICS §8.1, with the engine's clamps)."""
    value = abs(qty) * mark
    pnl_pct = unrealised_pnl / max(abs(cost), TINY)
    leverage = max(value / max(margin_balance, TINY), TINY)
    return pnl_pct * leverage if unrealised_pnl >= 0 else pnl_pct / leverage
