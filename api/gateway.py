"""The single door to the engine: sequences command batches and fans their events out in order.

Every command of the process (orders, the oracle's marks, admin updates, the demo market) goes
through :meth:`EngineGateway.execute`, which:

1. stamps the batch with the gateway clock (ns, never earlier than the previous batch),
2. runs it on the engine thread (``EngineClient.execute``; the GIL is released meanwhile),
3. remembers the batch's time for its sequence range (``time_of``: for events read back
   without their envelope's time), and
4. hands the :class:`~derivatives.persistence.projector.Batch` to every listener, still under
   the lock, so listeners see batches in strictly increasing sequence order.

Listeners must be cheap and non-blocking (they enqueue). This is a pure-Python helper on top of
``EngineClient``; with a journal, step 2 returns only once the batch is durable
(docs/DURABILITY.md).
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Sequence

import anyio.to_thread

from derivatives.commands import Command
from derivatives.engine import EngineClient
from derivatives.persistence.projector import Batch

log = logging.getLogger(__name__)

Listener = Callable[[Batch], None]
MAX_REMEMBERED = 200_000
"""Batches whose time is remembered for back-filled events."""


class EngineGateway:
    """Thread-safe sequencer front of one :class:`EngineClient`."""

    def __init__(self, client: EngineClient, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.client = client
        self.clock_ns = clock_ns
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._starts: list[int] = []
        self._times: list[int] = []
        self._last_ts = 0

    def subscribe(self, listener: Listener) -> None:
        """Adds a listener for every later batch."""
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Removes a listener."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def execute(self, commands: Sequence[Command]) -> Batch:
        """Runs `commands` as one engine batch and returns its events (blocking)."""
        with self._lock:
            ts = max(self.clock_ns(), self._last_ts)
            result = self.client.execute(commands, ts)
            self._last_ts = result.ts
            batch = Batch(result.first_seq, result.last_seq, result.ts, result.events)
            if batch.last_seq >= batch.first_seq:
                self._starts.append(batch.first_seq)
                self._times.append(batch.ts)
                if len(self._starts) > MAX_REMEMBERED:
                    del self._starts[: MAX_REMEMBERED // 2]
                    del self._times[: MAX_REMEMBERED // 2]
            for listener in self._listeners:
                try:
                    listener(batch)
                except Exception:
                    log.exception("gateway listener failed")
            return batch

    async def submit(self, commands: Sequence[Command]) -> Batch:
        """:meth:`execute` from async code, off the event loop."""
        return await anyio.to_thread.run_sync(self.execute, commands)

    def time_of(self, seq: int) -> int | None:
        """The time (ns) of the batch that applied command `seq`, when remembered."""
        with self._lock:
            index = bisect.bisect_right(self._starts, seq) - 1
            return self._times[index] if index >= 0 else None

    def last_seq(self) -> int:
        """The engine's last sequence number."""
        return self.client.last_seq()
