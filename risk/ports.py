"""What the risk services need from the outside world, as narrow protocols.

The services never import the API: the lifespan hands them the engine's read side (an
``EngineClient``), the one command door (``EngineGateway.submit``), a clock and a sleep. Tests
hand them a real engine and a fake clock.

Invariants:
    * Time is an ``int`` of Unix milliseconds (Binance's unit), never a float; nothing in ``risk``
      reads the system clock except :func:`wall_clock_ms`, the production default.
    * Every command leaves through :data:`Submit`, so the API's listeners (projection, WebSocket
      fan-out) see the risk services' batches like any other.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from derivatives.commands import Command, InstrumentSpec
from derivatives.engine import AccountRisk, Depth, Prices
from derivatives.events import EventEnvelope

Clock = Callable[[], int]
"""Zero-argument callable returning the current time in Unix milliseconds."""

Sleep = Callable[[float], Awaitable[None]]
"""Awaitable sleep in seconds (``asyncio.sleep`` in production, a fake in tests)."""

Specs = Callable[[], Iterable[InstrumentSpec]]
"""The listed instruments, read each time (so updates are seen)."""

TimeOf = Callable[[int], int | None]
"""Engine seq -> time (ns) of the batch that applied it, if known (``EngineGateway.time_of``)."""


def wall_clock_ms() -> int:
    """Return the system time in Unix milliseconds.

    Returns:
        Milliseconds since the epoch, from the integer nanosecond clock.
    """
    return time.time_ns() // 1_000_000


class SubmitResult(Protocol):
    """What a submitted batch gives back (``BatchResult`` or the gateway's ``Batch``)."""

    @property
    def events(self) -> Sequence[EventEnvelope]:
        """The events of the batch, in order."""


Submit = Callable[[Sequence[Command]], Awaitable[SubmitResult]]
"""Sequences a batch of commands and resolves to its events (``EngineGateway.submit``)."""


class EngineReader(Protocol):
    """The engine's read side (``derivatives.engine.EngineClient``)."""

    def depth(self, symbol: int, limit: int = 1000) -> Depth | None:
        """L2 depth of `symbol`, best levels first, or None when not listed."""

    def prices(self, symbol: int) -> Prices | None:
        """Last, mark and index price of `symbol`, or None when not listed."""

    def account(self, account: int) -> AccountRisk | None:
        """Wallet, margins and positions of `account` (the engine's figures), or None."""

    def read_events(
        self, after_seq: int, max_bytes: int = 1 << 20, timeout_ms: int = 0
    ) -> list[EventEnvelope]:
        """Events of commands after `after_seq`, whole records only, up to about `max_bytes`."""
