"""The one door of a process to the engine, as the services see it.

Two implementations: ``api.gateway.EngineGateway`` (the engine in this process: unit tests and
benchmarks) and ``derivatives.bus.gateway.BusGateway`` (the engine service over NATS, with a
replica view: every served process). Services type against :class:`EngineDoor` only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from derivatives.commands import Command
from derivatives.engine import EngineQueries
from derivatives.persistence.projector import Batch

Listener = Callable[[Batch], None]
"""Called with every batch, in seq order, once it is visible to this process."""


class EngineDoor(Protocol):
    """Commands in (one batch, durable when answered), events out to listeners, queries."""

    @property
    def client(self) -> EngineQueries:
        """The engine's read queries (the engine itself, or this process's replica)."""

    def clock_ns(self) -> int:
        """The process clock (Unix ns)."""

    def subscribe(self, listener: Listener) -> None:
        """Adds a listener for every later batch."""

    def unsubscribe(self, listener: Listener) -> None:
        """Removes a listener."""

    async def submit(self, commands: Sequence[Command]) -> Batch:
        """Runs `commands` as one engine batch; returns its events once listeners have seen it."""

    def time_of(self, seq: int) -> int | None:
        """The time (ns) of the batch that applied command `seq`, when remembered."""

    def last_seq(self) -> int:
        """The last seq this process has seen applied."""
