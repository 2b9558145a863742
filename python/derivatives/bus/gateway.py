"""The engine door of a process that talks to the engine service over the bus.

:class:`BusGateway` is an :class:`~derivatives.door.EngineDoor`:

* ``submit(commands)`` sends one batch by request-reply and returns once the reply came (the
  batch is durable) *and* this process's view has applied it, so every listener (order view,
  market hub, user streams) has seen the batch before the caller answers: read-your-writes. The
  returned events are the reply's own (exactly this request's commands, with their seqs).
* ``client`` answers the engine's queries from the view's replica (the engine's own code), and
  ``read_events`` from the view's in-memory event log (the risk services' feed).

Failures are :class:`~derivatives.bus.client.EngineBusError`; the API turns them into -1001 /
-1007 answers. Nothing is retried here: a command without a reply may have been applied.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from derivatives.bus.client import BusEngine, EngineTimeout
from derivatives.bus.view import ReplicaView, ViewEventLog
from derivatives.commands import Command
from derivatives.door import Listener
from derivatives.engine import EngineQueries
from derivatives.events import EventEnvelope
from derivatives.persistence.projector import Batch

VIEW_WAIT_S = 5.0
"""How long a reply's batch may take to reach this process's view."""


class ReplicaClient(EngineQueries):
    """The engine's queries on a view's replica, and its events from the view's memory."""

    def __init__(self, view: ReplicaView, keep_events: bool = False) -> None:
        super().__init__(view.replica)
        self.log = ViewEventLog(view) if keep_events else None

    def read_events(self, after_seq: int, max_bytes: int = 1 << 20, timeout_ms: int = 0) -> list[EventEnvelope]:
        """Events of commands after `after_seq` (only with `keep_events`: ``ViewEventLog``)."""
        if self.log is None:
            return super().read_events(after_seq, max_bytes, timeout_ms)
        return self.log.read_events(after_seq, max_bytes, timeout_ms)


class BusGateway:
    """Commands over the bus, events and queries from the local view."""

    def __init__(self, engine: BusEngine, view: ReplicaView, *, keep_events: bool = False,
                 view_wait_s: float = VIEW_WAIT_S, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.engine = engine
        self.view = view
        self.client = ReplicaClient(view, keep_events)
        self.view_wait_s = view_wait_s
        self.clock_ns = clock_ns

    def subscribe(self, listener: Listener) -> None:
        """Adds a listener for every later batch (in seq order, on the event loop)."""
        self.view.subscribe(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Removes a listener."""
        self.view.unsubscribe(listener)

    async def submit(self, commands: Sequence[Command]) -> Batch:
        """Runs `commands` as one engine batch; returns the reply's events once the view has them.

        Raises:
            EngineBusError: No success reply (see ``derivatives.bus.client``), or the view did not
                reach the reply's seq in time (``EngineTimeout``: the batch is durable, but this
                process cannot show its effect yet).
        """
        result = await self.engine.execute(commands)
        if not await self.view.wait_for(result.last_seq, self.view_wait_s):
            raise EngineTimeout(f"the batch stream did not bring seq {result.last_seq} in {self.view_wait_s} s")
        return Batch(result.first_seq, result.last_seq, result.ts, result.events)

    def time_of(self, seq: int) -> int | None:
        """The time (ns) of the batch that applied command `seq`, when remembered."""
        return self.view.time_of(seq)

    def last_seq(self) -> int:
        """The last seq this process's view has applied."""
        return self.view.applied
