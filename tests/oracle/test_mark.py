"""Mark price worked examples (MECHANICS §2.1 and §2.5), exact to the last Decimal digit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oracle.config import MarkRules
from oracle.mark import (
    BasisWindow,
    MarkInputs,
    compute_mark,
    funding_basis_price,
    sample_basis,
    traded_this_interval,
)
from oracle.model import MarkFallback

D = Decimal
HOUR = 3_600_000
INTERVAL = 8 * HOUR
RULES = MarkRules()
T = 1_760_000_000_000


def window_with(*mids: str, index: str = "65000") -> BasisWindow:
    """A window sampled once a second from books whose mid is each of ``mids``."""
    window = BasisWindow()
    for i, mid in enumerate(mids):
        bid = ask = D(mid)
        window = sample_basis(
            window, time_ms=T + i * 1_000, index=D(index), best_bid=bid, best_ask=ask, rules=RULES
        )
    return window


def inputs(last: str | None, *, rate: str = "0.0001", until: int = 4 * HOUR) -> MarkInputs:
    return MarkInputs(
        index=D("65000.00000000"),
        funding_rate=D(rate),
        time_until_funding_ms=until,
        funding_interval_ms=INTERVAL,
        last_price=None if last is None else D(last),
    )


# Price1 = 65000 * (1 + 0.0001 * 4h / 8h) = 65003.25
# basis samples 10, 12, 14 -> mean 12 -> Price2 = 65012
BASIS = ("65010", "65012", "65014")


def test_price1_is_the_funding_basis_price() -> None:
    assert funding_basis_price(D("65000"), D("0.0001"), 4 * HOUR, INTERVAL) == D("65003.25")
    assert funding_basis_price(D("65000"), D("-0.0003"), 2 * HOUR, INTERVAL) == D("64995.125")


def test_mark_is_price2_when_price1_lt_price2_lt_last() -> None:
    # Binance's tie rule: "If Price 1 < Price 2 < Contract Price, then take Price 2".
    result = compute_mark(inputs("65020"), window_with(*BASIS))
    assert (result.price1, result.price2) == (D("65003.25"), D("65012"))
    assert result.price == D("65012.00000000")
    assert str(result.price) == "65012.00000000"
    assert result.fallbacks == ()


def test_mark_is_price1_when_last_is_below_both() -> None:
    result = compute_mark(inputs("64990"), window_with(*BASIS))
    assert result.price == D("65003.25000000")


def test_mark_is_last_price_when_it_lies_between() -> None:
    result = compute_mark(inputs("65007.5"), window_with(*BASIS))
    assert result.price == D("65007.50000000")


def test_price2_falls_back_to_price1_without_basis_samples() -> None:
    result = compute_mark(inputs("65020"), BasisWindow())
    assert result.price2 == D("65003.25")
    # median(65003.25, 65003.25, 65020)
    assert result.price == D("65003.25000000")
    assert result.fallbacks == (MarkFallback.NO_BASIS_SAMPLES,)


def test_mark_is_price1_without_a_trade_in_the_interval() -> None:
    result = compute_mark(inputs(None), window_with(*BASIS))
    # median(65003.25, 65012, 65003.25)
    assert result.contract_price == D("65003.25")
    assert result.price == D("65003.25000000")
    assert result.fallbacks == (MarkFallback.NO_LAST_TRADE,)


def test_mark_is_index_with_no_book_no_trade_and_zero_funding() -> None:
    result = compute_mark(inputs(None, rate="0"), BasisWindow())
    assert result.price == D("65000.00000000")
    assert result.fallbacks == (MarkFallback.NO_BASIS_SAMPLES, MarkFallback.NO_LAST_TRADE)


def test_time_until_funding_is_clamped_into_the_interval() -> None:
    late = compute_mark(inputs(None, until=-5), BasisWindow())
    early = compute_mark(inputs(None, until=INTERVAL + HOUR), BasisWindow())
    assert late.price == D("65000.00000000")
    assert early.price == D("65006.50000000")


def test_mark_rounds_to_8_places_half_even() -> None:
    def mark(last: str) -> Decimal:
        # Price1 = 100 (zero funding) and Price2 = 101 (basis 1): a last price between them
        # is the median, so it is what gets rounded.
        window = window_with("101", index="100")
        return compute_mark(MarkInputs(D("100"), D(0), HOUR, INTERVAL, D(last)), window).price

    assert mark("100.000000025") == D("100.00000002")
    assert mark("100.000000035") == D("100.00000004")
    assert mark("100.000000025000001") == D("100.00000003")


def test_fraction_of_the_interval_is_exact_before_rounding() -> None:
    # 100.00000001 * (1 + 0.0001 / 3) = 100.0033333433336666...
    result = compute_mark(
        MarkInputs(D("100.00000001"), D("0.0001"), INTERVAL // 3, INTERVAL, None), BasisWindow()
    )
    assert result.price == D("100.00333334")


def test_basis_sample_is_skipped_when_a_side_is_empty() -> None:
    window = window_with(*BASIS)
    for bid, ask in ((None, D("65100")), (D("65100"), None)):
        after = sample_basis(
            window, time_ms=T + 3_000, index=D("65000"), best_bid=bid, best_ask=ask, rules=RULES
        )
        assert after == window


def test_basis_sample_uses_the_mid_of_bid_and_ask() -> None:
    window = sample_basis(
        BasisWindow(),
        time_ms=T,
        index=D("65000"),
        best_bid=D("65009.5"),
        best_ask=D("65010.6"),
        rules=RULES,
    )
    assert window.mean() == D("10.05")


def test_window_keeps_30_samples_of_1_second() -> None:
    window = window_with(*(str(65000 + i) for i in range(40)))
    assert len(window.samples) == 30
    assert window.samples[0].time_ms == T + 10_000
    # basis values 10..39 -> mean 24.5
    assert window.mean() == D("24.5")


def test_window_samples_at_most_once_per_interval() -> None:
    window = window_with("65010")
    again = sample_basis(
        window,
        time_ms=T + 999,
        index=D("65000"),
        best_bid=D("65100"),
        best_ask=D("65100"),
        rules=RULES,
    )
    assert again == window


def test_old_samples_leave_the_window_even_without_new_ones() -> None:
    window = window_with(*BASIS)
    later = sample_basis(
        window, time_ms=T + 31_000, index=D("65000"), best_bid=None, best_ask=None, rules=RULES
    )
    assert later.samples == window.samples[2:]
    assert later.mean() == D("14")


@pytest.mark.parametrize(
    ("last_trade_ms", "expected"),
    [(None, False), (T - INTERVAL - 1, False), (T - INTERVAL, True), (T - 1, True)],
)
def test_last_trade_counts_only_in_the_current_interval(
    last_trade_ms: int | None, expected: bool
) -> None:
    assert traded_this_interval(last_trade_ms, T, INTERVAL) is expected


def test_funding_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        funding_basis_price(D("1"), D("0"), 0, 0)
