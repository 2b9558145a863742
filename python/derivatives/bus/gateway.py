"""The engine door of a process that talks to the engine service over the bus.

:class:`BusGateway` has the interface of the in-process ``api.gateway.EngineGateway`` (``submit``,
``subscribe``, ``time_of``, ``last_seq``, ``client`` for queries), so the services built on it do
not know which one they have:

* ``submit(commands)`` sends one batch by request-reply and returns once the reply came (the
  batch is durable) *and* this process's view has applied it, so every listener (market hub,
  projection, user streams) has seen the batch before the caller answers: read-your-writes.
* ``client`` answers the engine's queries from the view's replica.
"""

from __future__ import annotations

from collections.abc import Sequence

from derivatives.bus.client import BusEngine, EngineTimeout
from derivatives.bus.view import Listener, ReplicaView, ViewEventLog
from derivatives.commands import Command
from derivatives.engine import EngineQueries
from derivatives.events import EventEnvelope
from derivatives.persistence.projector import Batch

VIEW_WAIT_S = 5.0
"""How long a reply's batch may take to reach this process's view."""


class ReplicaClient(EngineQueries):
    """The engine's queries answered by a view's replica (``EngineClient``'s query half)."""

    def __init__(self, view: ReplicaView) -> None:
        super().__init__(view.replica)
        self.log = ViewEventLog(view)

    def read_events(
        self, after_seq: int, max_bytes: int = 1 << 20, timeout_ms: int = 0
    ) -> list[EventEnvelope]:
        """Events of commands after `after_seq` from the view's in-memory log (``ViewEventLog``)."""
        return self.log.read_events(after_seq, max_bytes, timeout_ms)


class BusGateway:
    """Commands over the bus, events and queries from the local view."""

    def __init__(
        self, engine: BusEngine, view: ReplicaView, view_wait_s: float = VIEW_WAIT_S
    ) -> None:
        self.engine = engine
        self.view = view
        self.client = ReplicaClient(view)
        self.view_wait_s = view_wait_s

    def subscribe(self, listener: Listener) -> None:
        """Adds a listener for every later batch (in seq order, on the event loop)."""
        self.view.subscribe(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Removes a listener."""
        self.view.unsubscribe(listener)

    async def submit(self, commands: Sequence[Command]) -> Batch:
        """Runs `commands` as one engine batch; returns its events once the view has them.

        Raises:
            EngineBusError: No success reply (see ``derivatives.bus.client``), or the view did not
                reach the reply's seq in time (``EngineTimeout``: the batch is durable, but this
                process cannot show its effect yet).
        """
        result = await self.engine.execute(commands)
        if not await self.view.wait_for(result.last_seq, self.view_wait_s):
            raise EngineTimeout(
                f"the batch stream did not bring seq {result.last_seq} in {self.view_wait_s} s"
            )
        return Batch(result.first_seq, result.last_seq, result.ts, result.events)

    def time_of(self, seq: int) -> int | None:
        """The time (ns) of the batch that applied command `seq`, when remembered."""
        return self.view.time_of(seq)

    def last_seq(self) -> int:
        """The last seq this process's view has applied."""
        return self.view.applied
