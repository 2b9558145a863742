"""Fixtures: a real engine with the demo instruments, funded accounts, a fake clock, and helpers
that trade through it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal as D

import pytest

from derivatives.commands import AddInstrument, Command, Deposit, PlaceOrder, SetMarkPrice
from derivatives.demo import BTCUSDT, DEMO_INSTRUMENTS
from derivatives.engine import BatchResult, EngineClient
from derivatives.enums import PositionSide, Side, TimeInForce
from derivatives.events import Event, EventEnvelope
from tests.api.conftest import db

__all__ = ["db"]

BTC = BTCUSDT.symbol
START_MS = 1_767_225_600_000 + 1_000
"""2026-01-01T00:00:01Z: one second into an 8-hour funding window."""


@dataclass
class FakeClock:
    """A settable clock in Unix milliseconds, and a sleep that advances it."""

    now: int = START_MS
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Advances the clock instead of waiting (and lets other tasks run)."""
        self.slept.append(seconds)
        self.now += int(D(str(seconds)) * 1000)
        await asyncio.sleep(0)


class Exchange:
    """A real engine driven at the fake clock's time."""

    def __init__(self, clock: FakeClock) -> None:
        self.client = EngineClient()
        self.clock = clock

    def run(self, *commands: Command) -> list[Event]:
        """Executes one batch at the clock's time; returns its events."""
        return [e.event for e in self.batch(commands).events]

    def batch(self, commands: Sequence[Command]) -> BatchResult:
        """Executes one batch at the clock's time."""
        return self.client.execute(commands, ts=self.clock() * 1_000_000)

    async def submit(self, commands: Sequence[Command]) -> BatchResult:
        """The risk services' command door."""
        return self.batch(commands)

    def all_events(self) -> list[EventEnvelope]:
        """Every event so far."""
        return self.client.read_events(0, 1 << 30)

    def mark(self, price: str, index: str | None = None, symbol: int = BTC) -> list[Event]:
        """Publishes a mark (and index) price."""
        return self.run(SetMarkPrice(symbol, D(price), D(index or price)))

    def cross(
        self,
        maker: int,
        taker: int,
        taker_side: Side,
        qty: str,
        price: str,
        symbol: int = BTC,
        maker_leg: PositionSide = PositionSide.BOTH,
        taker_leg: PositionSide = PositionSide.BOTH,
    ) -> list[Event]:
        """A resting limit order of `maker` filled completely by an IOC limit order of `taker`."""
        maker_side = Side.SELL if taker_side is Side.BUY else Side.BUY
        return self.run(
            PlaceOrder(maker, symbol, maker_side, D(qty), price=D(price), position_side=maker_leg),
            PlaceOrder(
                taker,
                symbol,
                taker_side,
                D(qty),
                price=D(price),
                time_in_force=TimeInForce.IOC,
                position_side=taker_leg,
            ),
        )


@pytest.fixture
def clock() -> FakeClock:
    """The fake clock."""
    return FakeClock()


@pytest.fixture
def exchange(clock: FakeClock) -> Exchange:
    """BTCUSDT and ETHUSDT listed; accounts 1..=9 hold 1,000,000 USDT; BTC mark 50,000."""
    exchange = Exchange(clock)
    exchange.run(
        *(AddInstrument(spec) for spec in DEMO_INSTRUMENTS),
        *(Deposit(account, D(1_000_000)) for account in range(1, 10)),
    )
    exchange.mark("50000")
    return exchange

