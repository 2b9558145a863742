"""Index rules (MECHANICS §1 [OURS]) on plain quotes, with exact expected Decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle.config import IndexRules, SymbolConfig
from oracle.index import IndexResult, compute_index, constituents_payload
from oracle.model import Exclusion, IndexMethod, VenueQuote
from oracle.numeric import decimal_sum, round_price

BTC = SymbolConfig(symbol="BTCUSDT", base="BTC")
T = 1_760_000_000_000
HEALTHY = {
    "binance": "65000.10",
    "okx": "65001.00",
    "bybit": "64999.50",
    "coinbase": "65002.00",
    "kraken": "64998.00",
}
"""Weights 0.30/0.20/0.20/0.15/0.15: the weighted mean is exactly 65000.13."""


def quotes(prices: dict[str, str], received_ms: int = T) -> list[VenueQuote]:
    return [VenueQuote(v, f"{v}-BTC", Decimal(p), received_ms) for v, p in prices.items()]


def test_weighted_mean_when_all_sources_agree() -> None:
    result = compute_index(BTC, quotes(HEALTHY), T, None)
    assert result is not None
    assert result.price == Decimal("65000.13000000")
    assert str(result.price) == "65000.13000000"
    assert result.method is IndexMethod.WEIGHTED
    assert result.excluded == ()
    assert (result.stale, result.funding_paused) == (False, False)
    assert [c.weight for c in result.constituents] == [
        Decimal("0.3"),
        Decimal("0.2"),
        Decimal("0.2"),
        Decimal("0.15"),
        Decimal("0.15"),
    ]


def test_weights_renormalise_when_a_source_is_missing() -> None:
    prices = {k: v for k, v in HEALTHY.items() if k != "okx"}
    result = compute_index(BTC, quotes(prices), T, None)
    assert result is not None
    # (19500.03 + 12999.90 + 9750.30 + 9749.70) / 0.80
    assert result.price == Decimal("64999.91250000")
    assert result.excluded == (("okx", Exclusion.MISSING),)


def test_source_is_fresh_at_exactly_the_threshold_and_stale_one_ms_later() -> None:
    old = quotes({"okx": HEALTHY["okx"]}, received_ms=T - 10_000)
    rest = quotes({k: v for k, v in HEALTHY.items() if k != "okx"})
    at_limit = compute_index(BTC, old + rest, T, None)
    past_limit = compute_index(BTC, old + rest, T + 1, None)
    assert at_limit is not None
    assert past_limit is not None
    assert at_limit.price == Decimal("65000.13000000")
    assert past_limit.price == Decimal("64999.91250000")
    assert past_limit.excluded == (("okx", Exclusion.STALE),)


def test_one_deviating_source_is_dropped() -> None:
    result = compute_index(BTC, quotes({**HEALTHY, "okx": "71501.10"}), T, None)
    assert result is not None
    assert result.price == Decimal("64999.91250000")
    assert result.method is IndexMethod.WEIGHTED
    assert result.excluded == (("okx", Exclusion.DEVIATION),)
    assert [c.weight for c in result.constituents if c.venue == "okx"] == [Decimal(0)]


def test_deviation_band_is_strict() -> None:
    # median 100; 105 is exactly 5 % away (kept), 94.99 is beyond (dropped).
    config = SymbolConfig(
        symbol="X",
        base="X",
        weights={"binance": Decimal(1), "okx": Decimal(1), "bybit": Decimal(1)},
    )
    prices = {"binance": "100", "okx": "105", "bybit": "94.99"}
    result = compute_index(config, quotes(prices), T, None)
    assert result is not None
    assert result.excluded == (("bybit", Exclusion.DEVIATION),)
    assert result.price == Decimal("102.50000000")


def test_median_of_all_fresh_sources_when_two_deviate() -> None:
    prices = {**HEALTHY, "okx": "71501.10", "bybit": "58499.55"}
    result = compute_index(BTC, quotes(prices), T, None)
    assert result is not None
    assert result.method is IndexMethod.MEDIAN
    assert result.price == Decimal("65000.10000000")
    assert result.excluded == ()
    weights = {c.venue: c.weight for c in result.constituents}
    assert weights == {
        "binance": Decimal(1),
        "okx": Decimal(0),
        "bybit": Decimal(0),
        "coinbase": Decimal(0),
        "kraken": Decimal(0),
    }


def test_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    prices = {"binance": "100", "okx": "130", "bybit": "70", "kraken": "101"}
    result = compute_index(BTC, quotes(prices), T, None)
    assert result is not None
    assert result.method is IndexMethod.MEDIAN
    assert result.price == Decimal("100.50000000")
    weights = {c.venue: c.weight for c in result.constituents if c.weight}
    assert weights == {"binance": Decimal("0.5"), "kraken": Decimal("0.5")}


def test_last_index_held_and_funding_paused_when_nothing_is_fresh() -> None:
    previous = compute_index(BTC, quotes(HEALTHY), T, None)
    result = compute_index(BTC, quotes(HEALTHY), T + 10_001, previous)
    assert result is not None
    assert result.price == Decimal("65000.13000000")
    assert result.method is IndexMethod.HELD
    assert (result.stale, result.funding_paused) == (True, True)
    assert result.time_ms == T + 10_001
    assert result.constituents == ()
    assert result.excluded == tuple((v, Exclusion.STALE) for v in sorted(HEALTHY))


def test_nothing_to_publish_before_the_first_fresh_source() -> None:
    assert compute_index(BTC, [], T, None) is None


def test_index_rounds_half_even_to_8_places() -> None:
    config = SymbolConfig(symbol="X", base="X", weights={"binance": Decimal(1), "okx": Decimal(1)})
    down = compute_index(config, quotes({"binance": "1.000000005", "okx": "1.000000005"}), T, None)
    up = compute_index(config, quotes({"binance": "1.000000015", "okx": "1.000000015"}), T, None)
    assert down is not None
    assert up is not None
    assert down.price == Decimal("1.00000000")
    assert up.price == Decimal("1.00000002")


def test_thresholds_are_per_symbol() -> None:
    loose = SymbolConfig(
        symbol="BTCUSDT",
        base="BTC",
        index=IndexRules(stale_after_ms=60_000, max_deviation=Decimal("0.20")),
    )
    result = compute_index(loose, quotes({**HEALTHY, "okx": "71501.10"}, T - 30_000), T, None)
    assert result is not None
    assert result.excluded == ()
    # (19500.03 + 14300.22 + 12999.90 + 9750.30 + 9749.70) / 1
    assert result.price == Decimal("66300.15000000")


def test_constituents_payload_has_binance_shape() -> None:
    result = compute_index(BTC, quotes({**HEALTHY, "okx": "71501.10"}), T, None)
    assert result is not None
    payload = constituents_payload(result)
    assert payload == {
        "symbol": "BTCUSDT",
        "time": T,
        "constituents": [
            {
                "exchange": "binance",
                "symbol": "binance-BTC",
                "price": "65000.10000000",
                "weight": "0.37500000",
            },
            {
                "exchange": "okx",
                "symbol": "okx-BTC",
                "price": "71501.10000000",
                "weight": "0.00000000",
            },
            {
                "exchange": "bybit",
                "symbol": "bybit-BTC",
                "price": "64999.50000000",
                "weight": "0.25000000",
            },
            {
                "exchange": "coinbase",
                "symbol": "coinbase-BTC",
                "price": "65002.00000000",
                "weight": "0.18750000",
            },
            {
                "exchange": "kraken",
                "symbol": "kraken-BTC",
                "price": "64998.00000000",
                "weight": "0.18750000",
            },
        ],
    }


def test_unknown_venue_or_bad_weight_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown venue"):
        SymbolConfig(symbol="X", base="X", weights={"nowhere": Decimal(1)})
    with pytest.raises(ValueError, match="positive"):
        SymbolConfig(symbol="X", base="X", weights={"okx": Decimal(0)})


prices_strategy = st.decimals(
    min_value=Decimal("1000"), max_value=Decimal("100000"), places=2, allow_nan=False
)


@given(st.lists(prices_strategy, min_size=1, max_size=5))
def test_index_lies_within_the_fresh_prices(prices: list[Decimal]) -> None:
    venues = list(HEALTHY)[: len(prices)]
    result = compute_index(BTC, quotes(dict(zip(venues, map(str, prices), strict=True))), T, None)
    assert isinstance(result, IndexResult)
    assert min(prices) <= result.price <= max(prices)
    assert round_price(decimal_sum(c.weight for c in result.constituents)) == 1
