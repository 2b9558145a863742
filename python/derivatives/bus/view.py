"""The engine state one process keeps from the batch stream, with its event feed.

:class:`ReplicaView` applies each stream batch to its replica (``_core.Replica``: the engine's own
code, so its state hash equals the primary's at the same seq), then
hands the decoded :class:`~derivatives.persistence.projector.Batch` to every listener, in seq
order, on the event loop; ``await view.wait_for(seq)`` returns once everything up to `seq` is
applied and every listener has seen it (read-your-writes after a command's reply).

Invariants: listeners see each batch exactly once, in strictly increasing seq order; a batch at
or below the applied seq is skipped; a gap stops the view (``_core.ReplicaGap``) rather than serve a
state the engine never had.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import threading

from derivatives import _core
from derivatives.bus.stream import BatchReader, StreamBatch
from derivatives.codec import decode_events
from derivatives.door import Listener
from derivatives.events import EventEnvelope
from derivatives.persistence.projector import Batch

log = logging.getLogger(__name__)
MAX_REMEMBERED = 200_000
"""Batches whose time is remembered for ``time_of``."""


class ReplicaView:
    """A replica fed by the batch stream, with listeners and seq waits."""

    def __init__(self, replica: _core.Replica | None = None) -> None:
        self.replica = replica if replica is not None else _core.Replica()
        self.applied = self.replica.last_seq()
        self._listeners: list[Listener] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._starts: list[int] = []
        self._times: list[int] = []

    def subscribe(self, listener: Listener) -> None:
        """Adds a listener for every later batch."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Removes a listener."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def apply(self, batch: StreamBatch) -> None:
        """Applies one stream batch and notifies listeners and waiters."""
        seqs = batch.seqs
        previous = self.applied
        if seqs.last_seq <= previous:
            return
        self.replica.apply(batch.body)
        # a message may overlap what is applied (the replica applies only the new frames)
        fresh = [event for event in decode_events(batch.events) if event.seq > previous]
        events = Batch(max(seqs.first_seq, previous + 1), seqs.last_seq, seqs.ts, fresh)
        self.applied = seqs.last_seq
        self._starts.append(seqs.first_seq)
        self._times.append(seqs.ts)
        if len(self._starts) > MAX_REMEMBERED:
            del self._starts[: MAX_REMEMBERED // 2]
            del self._times[: MAX_REMEMBERED // 2]
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:
                log.exception("view listener failed")
        if self._waiters:
            keep = []
            for seq, future in self._waiters:
                if seq <= self.applied:
                    if not future.done():
                        future.set_result(None)
                else:
                    keep.append((seq, future))
            self._waiters = keep

    async def wait_for(self, seq: int, timeout_s: float | None = None) -> bool:
        """True once everything up to `seq` is applied; False on timeout."""
        if seq <= self.applied:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, future))
        try:
            await asyncio.wait_for(future, timeout_s)
            return True
        except TimeoutError:
            return False

    def time_of(self, seq: int) -> int | None:
        """The time (ns) of the batch that applied command `seq`, when remembered."""
        index = bisect.bisect_right(self._starts, seq) - 1
        return self._times[index] if index >= 0 else None

    async def run(self, reader: BatchReader) -> None:
        """Applies the stream for ever (run it as a task; cancel to stop)."""
        async for batches in reader.batches():
            for batch in batches:
                self.apply(batch)


class EventsTooOld(LookupError):
    """Events asked for are older than what the log retains."""


class ViewEventLog:
    """The view's events kept in memory for pull readers (``read_events``, e.g. the risk
    services' feed, which reads on a worker thread): a view listener appends, readers wait on a
    condition. Keeps the newest `max_events` events (at least one whole batch)."""

    def __init__(self, view: ReplicaView, max_events: int = 2_000_000) -> None:
        self.max_events = max_events
        self._events: list[EventEnvelope] = []
        self._seqs: list[int] = []
        self._floor = view.applied
        """Every command after this seq is in the log."""
        self._condition = threading.Condition()
        view.subscribe(self._append)

    def _append(self, batch: Batch) -> None:
        with self._condition:
            self._events.extend(batch.events)
            self._seqs.extend(e.seq for e in batch.events)
            if len(self._events) > self.max_events:
                cut = len(self._events) - self.max_events // 2
                cut = bisect.bisect_right(self._seqs, self._seqs[cut - 1])
                self._floor = self._seqs[cut - 1]
                del self._events[:cut]
                del self._seqs[:cut]
            self._condition.notify_all()

    def read_events(
        self, after_seq: int, max_bytes: int = 1 << 20, timeout_ms: int = 0
    ) -> list[EventEnvelope]:
        """Events of commands after `after_seq` (whole commands, about `max_bytes` at most,
        assuming 256 bytes an event), waiting up to `timeout_ms` for the first."""
        with self._condition:
            if after_seq < self._floor:
                raise EventsTooOld(
                    f"events after seq {after_seq} are no longer in memory (from {self._floor})"
                )
            start = bisect.bisect_right(self._seqs, after_seq)
            if start == len(self._seqs) and timeout_ms > 0:
                self._condition.wait(timeout_ms / 1000)
                start = bisect.bisect_right(self._seqs, after_seq)
            end = min(len(self._seqs), start + max(1, max_bytes // 256))
            if end < len(self._seqs):
                end = bisect.bisect_right(self._seqs, self._seqs[end - 1])
            return self._events[start:end]
