"""Exact money conversion: no float, no silent rounding."""

from decimal import Decimal

import pytest

from derivatives.units import SCALE, format_raw, from_raw, to_raw


@pytest.mark.parametrize(
    ("value", "raw"),
    [("0.00000001", 1), ("1", SCALE), ("-12.5", -1_250_000_000), (Decimal("3.10000000000"), 310_000_000), (7, 7 * SCALE)],
)
def test_to_raw_is_exact(value: Decimal | str | int, raw: int) -> None:
    assert to_raw(value) == raw
    assert from_raw(raw) == Decimal(value)


@pytest.mark.parametrize("value", ["1.000000001", "abc", "NaN", "Infinity", "92233720368.54775808"])
def test_to_raw_refuses_inexact_or_malformed(value: str) -> None:
    with pytest.raises(ValueError):
        to_raw(value)


@pytest.mark.parametrize("value", [0.1, 1.0, True])
def test_to_raw_refuses_floats_and_bools(value: object) -> None:
    with pytest.raises(TypeError):
        to_raw(value)  # type: ignore[arg-type]


def test_format_raw_prints_eight_decimals() -> None:
    assert format_raw(10_000) == "0.00010000"
    assert format_raw(-150_000_000) == "-1.50000000"
