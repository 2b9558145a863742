"""The engine's event stream, pulled by sequence number and handed on in whole commands.

``EngineClient.read_events(after)`` returns whole event records, but a read may stop inside one
command's events when it reaches its byte budget. The feed therefore hands on only commands it
knows to be complete: in a read that spans several commands the last one is held back and read
again next time; a read holding a single command is widened (at least fourfold, at least 64 KiB)
until it stops growing or reaches the next command.

Invariants:
    * Consumers receive ``(after_seq, events)`` with every event of the commands
      ``after_seq+1 ..= events[-1].seq``, in order, each command whole, and successive calls
      contiguous (the next ``after_seq`` is the previous last seq).
    * :attr:`EventFeed.caught_up` turns true once a read found nothing newer: until then the
      consumers' views are behind the engine (services acting on them should wait).
    * Consumers run on the caller's thread (the event loop in :meth:`EventFeed.run`); only the
      blocking read runs in a worker thread.
    * Events the engine no longer retains (``EventsEvicted``), or a consumer that raises, stop the
      feed: its consumers are then stale and :attr:`EventFeed.failure` says why (the views cannot
      be rebuilt without the engine's account queries).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from derivatives.events import EventEnvelope
from risk.ports import EngineReader

log = logging.getLogger(__name__)

_WIDE_BYTES = 1 << 16
"""Smallest widened read. A record is a few hundred bytes, so a read at least four times wider
(and at least this wide) that brings no further record proves the command complete."""

Consumer = Callable[[int, Sequence[EventEnvelope]], object]
"""Receives ``(after_seq, events)``: the whole commands following `after_seq`."""


class EventFeed:
    """Pulls events after a cursor and dispatches whole commands to consumers."""

    def __init__(
        self,
        reader: EngineReader,
        consumers: Sequence[Consumer] = (),
        *,
        max_bytes: int = 1 << 20,
        poll_timeout_ms: int = 200,
    ) -> None:
        """Wire the feed.

        Args:
            reader: The engine's read side.
            consumers: Called in order with each chunk.
            max_bytes: Byte budget of one read.
            poll_timeout_ms: How long one read waits for new events.
        """
        self.reader = reader
        self.consumers = list(consumers)
        self.max_bytes = max_bytes
        self.poll_timeout_ms = poll_timeout_ms
        self.after = 0
        self.caught_up = False
        self.failure: str | None = None

    def read(self, timeout_ms: int = 0) -> list[EventEnvelope]:
        """Reads the complete commands after the cursor (without dispatching them).

        Args:
            timeout_ms: How long to wait for a first event.

        Returns:
            Events of whole commands, possibly none.

        Raises:
            LookupError: If the engine no longer holds the events after the cursor.
        """
        budget = self.max_bytes
        chunk = self.reader.read_events(self.after, budget, timeout_ms)
        while chunk and chunk[0].seq == chunk[-1].seq:
            budget = max(4 * budget, _WIDE_BYTES)
            wider = self.reader.read_events(self.after, budget)
            if len(wider) == len(chunk):
                return chunk
            chunk = wider
        last = chunk[-1].seq if chunk else 0
        return [e for e in chunk if e.seq < last]

    def dispatch(self, events: Sequence[EventEnvelope]) -> None:
        """Hands `events` (whole commands after the cursor) to every consumer and moves the cursor.

        Args:
            events: Output of :meth:`read`.
        """
        if not events:
            return
        for consumer in self.consumers:
            consumer(self.after, events)
        self.after = events[-1].seq

    def catch_up(self) -> int:
        """Reads and dispatches everything available now.

        Returns:
            How many events were dispatched.
        """
        total = 0
        while events := self.read():
            self.dispatch(events)
            total += len(events)
        self.caught_up = True
        return total

    async def run(self) -> None:
        """Follow the stream until cancelled or until the engine evicts events not yet read."""
        while True:
            try:
                events = await asyncio.to_thread(
                    self.read, self.poll_timeout_ms if self.caught_up else 0
                )
                self.dispatch(events)
                self.caught_up = self.caught_up or not events
            except LookupError as evicted:
                self.failure = f"events after seq {self.after} are gone: {evicted}"
            except Exception as error:  # a broken consumer must not look like a healthy feed
                log.exception("risk feed consumer failed")
                self.failure = f"consumer failed after seq {self.after}: {error!r}"
            if self.failure is not None:
                log.error("risk feed stopped, its views are stale: %s", self.failure)
                return
