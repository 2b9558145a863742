"""How an app reaches the engine: in process (one ``EngineClient``: unit tests, benchmarks) or
over the bus (a gateway process of ``derivatives serve``, ``api.gateway_process``).

A :class:`Door` gives the app its command door, its query client, whether it owns the engine
(then the app also lists the instruments, projects into SQL, runs the oracle, the risk services
and the reconciliation itself), and ``start``: begin handing batches to the listeners the app
has subscribed, returning once this process has caught up with the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from derivatives.door import EngineDoor


async def _nothing() -> None:
    return None


@dataclass(slots=True)
class Door:
    """See the module docstring."""

    gateway: EngineDoor
    owns_engine: bool = True
    first: bool = True
    """The first app of the exchange to start (the only one running then): it resolves the
    withdrawals a crash left in flight before it serves."""
    start: Callable[[], Awaitable[None]] = field(default=_nothing)
    close: Callable[[], Awaitable[None]] = field(default=_nothing)


DoorFactory = Callable[[], Awaitable[Door]]
"""Builds the door on the app's event loop (the lifespan calls it first)."""
