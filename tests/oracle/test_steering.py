"""Steering of the simulated feed: scripted moves and venue faults, worked by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oracle.model import RawTick
from oracle.steering import Steering, SteeringError

BASES = frozenset({"BTC", "ETH"})


def tick(venue: str, market: str, price: str, at_ms: int) -> RawTick:
    return RawTick(venue, market, Decimal(price), at_ms)


def steered(steering: Steering, raw: RawTick) -> Decimal:
    """The price of a tick the steering lets through."""
    out = steering.apply(raw)
    assert out is not None
    return out.price


def test_a_crash_ramps_linearly_to_its_target_and_stays_there() -> None:
    steering = Steering()
    steering.control({"base": "BTC", "change": "-0.20", "overMs": 60_000}, 1_000, BASES)
    assert steering.apply(tick("binance", "BTC/USDT", "100000.00", 1_000)) == tick(
        "binance", "BTC/USDT", "100000.00", 1_000
    )
    assert steered(steering, tick("binance", "BTC/USDT", "100000.00", 31_000)) == Decimal(
        "90000.00"
    )
    assert steered(steering, tick("kraken", "BTC/USD", "100000.00", 61_000)) == Decimal("80000.00")
    assert steered(steering, tick("kraken", "BTC/USD", "100000.00", 900_000)) == Decimal("80000.00")
    assert steered(steering, tick("binance", "ETH/USDT", "3000.00", 61_000)) == Decimal("3000.00")


def test_a_second_move_starts_from_where_the_first_stands() -> None:
    steering = Steering()
    steering.control({"change": "-0.20", "overMs": 0}, 0, BASES)
    steering.control({"change": "0.20", "overMs": 10_000}, 5_000, BASES)
    assert steering.factor("ETH", 5_000) == Decimal("0.80")
    assert steering.factor("ETH", 10_000) == Decimal("0.88")
    assert steering.factor("BTC", 20_000) == Decimal("0.96")


def test_venue_faults_silence_and_offset_venues_but_never_the_usdt_rate() -> None:
    steering = Steering()
    steering.control(
        {"stale": ["okx", "kraken"], "offsets": {"bybit": "0.10", "coinbase": "0.10"}}, 0, BASES
    )
    assert steering.apply(tick("okx", "BTC/USDT", "100.00", 5)) is None
    assert steering.apply(tick("kraken", "USDT/USD", "1.0001", 5)) is None
    assert steered(steering, tick("bybit", "BTC/USDT", "100.00", 5)) == Decimal("110.00")
    assert steered(steering, tick("coinbase", "USDT/USD", "1.0001", 5)) == Decimal("1.0001")
    steering.control({"reset": True}, 10, BASES)
    assert steered(steering, tick("okx", "BTC/USDT", "100.00", 11)) == Decimal("100.00")
    assert steering.state(11) == {"factors": {}, "targets": {}, "stale": [], "offsets": {}}


@pytest.mark.parametrize(
    "message",
    [
        {"change": "-0.95"},
        {"change": "abc"},
        {"change": -0.2},
        {"change": "-0.2", "overMs": -1},
        {"change": "-0.2", "base": "DOGE"},
        {"stale": ["nowhere"]},
        {"offsets": {"bybit": "0.1", "nowhere": "0.1"}},
        {"crash": True},
    ],
)
def test_an_invalid_message_is_refused_and_changes_nothing(message: dict[str, object]) -> None:
    steering = Steering()
    steering.control({"stale": ["okx"], "change": "-0.10", "overMs": 0}, 0, BASES)
    before = steering.state(0)
    with pytest.raises(SteeringError):
        steering.control(message, 0, BASES)
    assert steering.state(0) == before
