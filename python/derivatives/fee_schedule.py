"""The fee schedule: Binance USD-M's published VIP table (USDT-margined, maker / taker per tier).

Tier 0 (regular) pays the instruments' own rates (``InstrumentSpec.maker_fee``/``taker_fee``; the
demo instruments' 0.02 % / 0.05 % are Binance's regular rates); tiers 1–9 replace them on every
symbol through the engine's ``SetFeeTier`` with the rates below, which are the rows ccxt's
``binanceusdm`` carries in ``fees.linear.trading.tiers``, so its ``fetch_trading_fees`` (which maps
``accountConfig``'s ``feeTier`` through that table) is exact for them. ccxt's row 0 (taker
0.04 %) predates Binance's current regular rate; ``commissionRate`` (ccxt ``fetch_trading_fee``)
is exact for every tier.
"""

from __future__ import annotations

from decimal import Decimal as D

TIERS: dict[int, tuple[D, D]] = {
    1: (D("0.00016"), D("0.0004")),
    2: (D("0.00014"), D("0.00035")),
    3: (D("0.00012"), D("0.00032")),
    4: (D("0.0001"), D("0.0003")),
    5: (D("0.00008"), D("0.00027")),
    6: (D("0.00006"), D("0.00025")),
    7: (D("0.00004"), D("0.00022")),
    8: (D("0.00002"), D("0.0002")),
    9: (D("0"), D("0.00017")),
}
"""(maker, taker) of each VIP tier above 0."""
REGULAR = 0
"""The tier of an account with the instruments' own rates."""


def rates_of(tier: int) -> tuple[D, D] | None:
    """The engine ``SetFeeTier`` rates of `tier` (None: the instruments' own)."""
    return None if tier == REGULAR else TIERS[tier]


def tier_of(rates: tuple[D, D] | None) -> int:
    """The tier whose rates these are (0 for the instruments' own, and for rates of no tier)."""
    return next((tier for tier, row in TIERS.items() if rates == row), REGULAR)
