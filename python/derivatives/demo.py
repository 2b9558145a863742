"""The embedded demo: Binance-shaped BTCUSDT and ETHUSDT instruments and a demo account.

Filters and brackets follow Binance USD-M's published values for these symbols (first tiers).
"""

from __future__ import annotations

from decimal import Decimal as D

from derivatives.commands import InstrumentSpec, LeverageBracket

DEMO_ACCOUNT = 1000
"""The account `derivatives serve` prints at start-up."""

MARKET_MAKER_ACCOUNT = 1
"""The account that quotes the demo books."""

NOISE_ACCOUNT = 2
"""The account of the demo noise taker."""

DEMO_FUNDING = {MARKET_MAKER_ACCOUNT: D("100000000"), NOISE_ACCOUNT: D("1000000"), DEMO_ACCOUNT: D("100000")}
"""USDT deposited into the demo accounts when the demo instruments are first listed."""


def _brackets(*tiers: tuple[str, int, str, str]) -> tuple[LeverageBracket, ...]:
    return tuple(LeverageBracket(D(cap), lev, D(mmr), D(cum)) for cap, lev, mmr, cum in tiers)


BTCUSDT = InstrumentSpec(
    symbol=1,
    name="BTCUSDT",
    tick_size=D("0.1"),
    step_size=D("0.001"),
    min_qty=D("0.001"),
    max_qty=D("1000"),
    min_notional=D("100"),
    limit_price_band=D("0.05"),
    market_price_band=D("0.05"),
    maker_fee=D("0.0002"),
    taker_fee=D("0.0005"),
    liquidation_fee=D("0.0125"),
    brackets=_brackets(
        ("50000", 125, "0.004", "0"),
        ("250000", 100, "0.005", "50"),
        ("3000000", 50, "0.01", "1300"),
        ("15000000", 20, "0.025", "46300"),
    ),
)

ETHUSDT = InstrumentSpec(
    symbol=2,
    name="ETHUSDT",
    tick_size=D("0.01"),
    step_size=D("0.001"),
    min_qty=D("0.001"),
    max_qty=D("10000"),
    min_notional=D("20"),
    limit_price_band=D("0.05"),
    market_price_band=D("0.05"),
    maker_fee=D("0.0002"),
    taker_fee=D("0.0005"),
    liquidation_fee=D("0.0125"),
    brackets=_brackets(
        ("50000", 125, "0.004", "0"),
        ("250000", 100, "0.005", "50"),
        ("2000000", 50, "0.01", "1300"),
    ),
)

DEMO_INSTRUMENTS = (BTCUSDT, ETHUSDT)
DEMO_START_PRICES = {BTCUSDT.symbol: D("50000"), ETHUSDT.symbol: D("3000")}
