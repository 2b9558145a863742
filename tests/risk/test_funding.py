"""Funding arithmetic: worked examples from Binance's published funding documentation.

Source tags as in MECHANICS.md: [P] published by the exchange, [P*] published but read through a
verbatim third-party copy, [D] derived by us from a published formula (self-consistency only).
"""

from __future__ import annotations

from decimal import Decimal as D
from decimal import localcontext

import pytest

from derivatives.funding_times import next_funding_time
from risk.funding import (
    EIGHT_HOURS_MS,
    HOUR_MS,
    Averaging,
    PremiumSample,
    RateParams,
    average_premium,
    funding_cap,
    funding_rate,
    impact_notional,
    impact_price,
    premium_index,
    round_rate,
)

BTC_CAP = D("0.003")  # 0.75 x 0.4 % (BTCUSDT first bracket)


def test_impact_notional_is_200_usdt_over_the_initial_margin_rate_at_max_leverage() -> None:
    # [P*] Binance funding FAQ, "if the maximum leverage of BNBUSDT perpetual contract is 20x,
    # and its corresponding Initial Margin Rate is 5%, then the Impact Margin Notional (IMN) is
    # 4,000 USDT (200 USDT / 5%)"; copy at
    # https://khajehabdollahansari.com/2024/09/24/revolutionize-your-contract-with-these-easy-peasy-tips
    # (MECHANICS §3.1).
    assert impact_notional(20) == D(4000)
    # [D] BTCUSDT at 125x: IMR 0.8 % -> 25,000 USDT.
    assert impact_notional(125) == D(25000)


def test_capped_rate_is_three_quarters_of_the_maintenance_margin_rate() -> None:
    # [P*] same Binance FAQ copy: ADAUSDT at 75x has IMR 1.3 % and MMR 0.65 %; Binance caps the
    # funding rate at clamp(F, -0.75 x MMR, 0.75 x MMR) (https://www.binance.com/en/feed/post/924700,
    # MECHANICS §3.3) -> +-0.4875 %.
    assert funding_cap(D("0.0065")) == D("0.004875")
    params = RateParams(interest_rate=D("0.0001"), cap=funding_cap(D("0.0065")))
    assert funding_rate(D("0.02"), params) == D("0.00487500")
    assert funding_rate(D("-0.02"), params) == D("-0.00487500")


def test_rate_equals_the_interest_rate_while_the_premium_is_within_the_clamp() -> None:
    # [P] Binance, https://www.binance.com/en/support/articles/360033525031: F = P + clamp(I - P,
    # 0.05 %, -0.05 %); "if (I - P) is within +-0.05 % then F = P + (I - P) = I", I = 0.01 %.
    params = RateParams(interest_rate=D("0.0001"), cap=BTC_CAP)
    for premium in (D("0.0001"), D("0.0005"), D("-0.0004"), D("0.00059999"), D("-0.0003999")):
        assert funding_rate(premium, params) == D("0.00010000"), premium
    # Outside the band the premium shows through, offset by the 0.05 % clamp.
    assert funding_rate(D("0.0010"), params) == D("0.00050000")  # 0.1 % + clamp(-0.09 %) = 0.05 %
    assert funding_rate(D("-0.0010"), params) == D(
        "-0.00050000"
    )  # -0.1 % + clamp(0.11 %) = -0.05 %
    # A zero interest rate (BNBUSDT, [P]) and a zero premium give zero.
    assert funding_rate(D(0), RateParams(interest_rate=D(0), cap=BTC_CAP)) == D("0E-8")


def test_rate_is_rounded_to_eight_places_half_even_before_the_cap() -> None:
    # [P] MECHANICS §10: funding rate 8 dp, half-even, then clamp (Binance prints "0.00010000").
    params = RateParams(interest_rate=D(0), cap=BTC_CAP, clamp=D(0))
    assert funding_rate(D("0.000123445"), params) == D("0.00012344")
    assert funding_rate(D("0.000123455"), params) == D("0.00012346")
    assert funding_rate(D("-0.000123445"), params) == D("-0.00012344")
    assert round_rate(D("0.000000005")) == D("0E-8")
    assert funding_rate(D("0.5"), params) == BTC_CAP


def test_rate_is_scaled_to_intervals_shorter_than_eight_hours() -> None:
    # [P*] Binance since 2025-09-18: F = [P + clamp(I - P, 0.05 %, -0.05 %)] / (8/N); a 4-hour
    # symbol (PUMPUSDT) divides by 2 (MECHANICS §3.3).
    four_hours = RateParams(interest_rate=D("0.0001"), cap=BTC_CAP, interval_ms=4 * HOUR_MS)
    assert funding_rate(D("0.0002"), four_hours) == D("0.00005000")
    assert funding_rate(D("0.0030"), four_hours) == D("0.00125000")  # (0.3 % - 0.05 %) / 2


def test_impact_prices_walk_the_book_to_the_impact_notional() -> None:
    # [D] from Binance's definition ("the average fill price to execute the Impact Margin Notional
    # on the Bid/Ask price"): 25,000 USDT sold into 0.3 BTC @ 50,000 then @ 49,990.
    bids = [(D("50000"), D("0.3")), (D("49990"), D("1")), (D("49900"), D("5"))]
    # 15,000 fills at 50,000 (0.3 BTC); 10,000 more at 49,990 (0.20004... BTC).
    with localcontext(prec=40):
        expected = D(25000) / (D("0.3") + D(10000) / D(49990))
    assert impact_price(bids, D(25000)) == expected
    assert expected.quantize(D("0.00000001")) == D("49995.99951994")
    assert impact_price(bids, D(15000)) == D(50000)
    assert impact_price(bids, D(1_000_000)) is None
    assert impact_price([], D(1)) is None


def test_premium_index_counts_only_the_side_outside_the_index() -> None:
    # [P] Binance: P = [max(0, Impact Bid - Index) - max(0, Index - Impact Ask)] / Index.
    index = D("50000")
    assert premium_index(D("50100"), D("50150"), index) == D("0.002")  # book above the index
    assert premium_index(D("49850"), D("49900"), index) == D("-0.002")  # book below the index
    assert premium_index(D("49990"), D("50010"), index) == D(0)  # index inside the spread
    # dYdX [C memclob.go GetPricePremium]: a side without the depth contributes nothing.
    assert premium_index(None, D("49900"), index) == D("-0.002")
    assert premium_index(D("50100"), None, index) == D("0.002")
    assert premium_index(None, None, index) == D(0)


def test_linear_weighted_average_is_binance_sum_of_i_times_p_over_sum_of_i() -> None:
    # [D] MECHANICS §3.2: Binance-style venues publish sum(i * P_i) / sum(i) (e.g.
    # https://docs.tradoor.io/funding-rate); with samples every 5 s the elapsed-time weights are
    # 5 s x i, the same average.
    premiums = [D("0.001"), D("0.002"), D("0.003"), D("-0.0006")]
    samples = [PremiumSample(1_000 + 5_000 * (i + 1), p) for i, p in enumerate(premiums)]
    weighted = sum((i + 1) * p for i, p in enumerate(premiums)) / sum(range(1, 5))
    assert average_premium(samples, 1_000, Averaging.LINEAR_WEIGHTED) == weighted
    assert average_premium(samples, 1_000, Averaging.SIMPLE) == sum(premiums) / 4
    with pytest.raises(ValueError, match="no premium sample"):
        average_premium([], 0, Averaging.SIMPLE)
    with pytest.raises(ValueError, match="precedes"):
        average_premium([PremiumSample(1_000, D(0))], 1_000, Averaging.SIMPLE)


def test_funding_times_are_00_08_16_utc_for_an_eight_hour_interval() -> None:
    # [P] Binance: funding at 00:00, 08:00 and 16:00 UTC (MECHANICS §3.4).
    midnight = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    assert next_funding_time(midnight, EIGHT_HOURS_MS) == midnight
    assert next_funding_time(midnight + 1, EIGHT_HOURS_MS) == midnight + EIGHT_HOURS_MS
    assert next_funding_time(midnight + 15 * HOUR_MS, EIGHT_HOURS_MS) == midnight + 16 * HOUR_MS
    assert next_funding_time(61_000, 60_000) == 120_000
