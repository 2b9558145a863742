"""How an app reaches the engine: in process (one ``EngineClient``, for unit tests and the
benchmark baseline) or over the bus (a gateway process of ``derivatives serve``).

A :class:`Door` gives the app its command gateway (``submit``, listeners, ``time_of``), its
query client, the database it projects into and reads history from, whether it owns the engine
(then the app also lists the instruments, runs the oracle, the risk services and the
reconciliation itself), and ``start``: begin handing batches to the listeners the app has
subscribed, returning once this process has caught up with the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from derivatives.bus.gateway import ReplicaClient
from derivatives.commands import Command
from derivatives.engine import EngineClient
from derivatives.persistence.db import Database
from derivatives.persistence.projector import Batch

Listener = Callable[[Batch], None]


class CommandGateway(Protocol):
    """``api.gateway.EngineGateway`` and ``derivatives.bus.gateway.BusGateway``."""

    def subscribe(self, listener: Listener) -> None: ...
    def unsubscribe(self, listener: Listener) -> None: ...
    async def submit(self, commands: Sequence[Command]) -> Batch: ...
    def time_of(self, seq: int) -> int | None: ...
    def last_seq(self) -> int: ...


async def _nothing() -> None:
    return None


@dataclass(slots=True)
class Door:
    """See the module docstring."""

    gateway: CommandGateway
    client: EngineClient | ReplicaClient
    projection_db: Database | None = None
    """None: the app's own database."""
    owns_engine: bool = True
    start: Callable[[], Awaitable[None]] = field(default=_nothing)
    close: Callable[[], Awaitable[None]] = field(default=_nothing)


DoorFactory = Callable[[], Awaitable[Door]]
"""Builds the door on the app's event loop (the lifespan calls it first)."""
