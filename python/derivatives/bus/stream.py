"""Reading the batch stream by sequence: a JetStream pull consumer that survives server restarts.

:class:`BatchReader` yields :class:`StreamBatch` lists in stream order, from a given stream
sequence. It uses an ephemeral consumer without acknowledgements and remembers the last stream
sequence it delivered; whenever the consumer is lost (server restart, reconnect) it creates a new
one starting right after it. A reader whose position lives elsewhere (the projector's SQL cursor)
finds where to start with :meth:`BatchReader.stream_seq_after` (a binary search over the
stream's seq headers).

Decision: no durable JetStream consumer. The projector's position must be its SQL cursor,
written in the transaction of its rows; a durable consumer's acknowledgement state would be a
second, weaker copy, and after a crash it redelivers the unacknowledged messages only once
their ack wait expires, *after* newer ones: out of seq order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from nats.aio.client import Client as Nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from derivatives import _core
from derivatives.bus.protocol import DEFAULT_SUBJECTS, SeqRange, Subjects

log = logging.getLogger(__name__)
RETRY_S = 0.2
FETCH_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class StreamBatch:
    """One batch-stream message: its stream sequence, engine seq range, and body."""

    stream_seq: int
    seqs: SeqRange
    body: bytes

    @property
    def events(self) -> bytes:
        """The batch's encoded event envelopes."""
        return _core.split_batch_body(self.body)[2]


class BatchReader:
    """Pulls batch-stream messages in order (see the module docstring)."""

    def __init__(
        self,
        nc: Nats,
        subjects: Subjects = DEFAULT_SUBJECTS,
        *,
        start_stream_seq: int = 1,
        fetch: int = 512,
    ) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.subjects = subjects
        self.next_stream_seq = start_stream_seq
        self.fetch = fetch

    def _config(self) -> ConsumerConfig:
        return ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.next_stream_seq,
            inactive_threshold=30,
            mem_storage=True,
        )

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        while True:
            try:
                return await self.js.pull_subscribe(
                    self.subjects.batches,
                    durable=None,
                    stream=self.subjects.stream,
                    config=self._config(),
                )
            except Exception as error:
                log.debug("batch stream not readable yet (%s); retrying", error)
                await asyncio.sleep(RETRY_S)

    async def batches(self) -> AsyncIterator[list[StreamBatch]]:
        """Yields the stream's batches in order, for ever (cancel the consuming task to stop)."""
        subscription = await self._subscribe()
        while True:
            try:
                messages = await subscription.fetch(self.fetch, timeout=FETCH_WAIT_S)
            except TimeoutError:  # nothing new within the wait (nats' own and asyncio's timeouts)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.info(
                    "batch stream consumer lost (%s); resuming at stream seq %d",
                    error,
                    self.next_stream_seq,
                )
                await _quietly_unsubscribe(subscription)
                await asyncio.sleep(RETRY_S)
                subscription = await self._subscribe()
                continue
            out: list[StreamBatch] = []
            for message in messages:
                stream_seq = message.metadata.sequence.stream
                if stream_seq < self.next_stream_seq:
                    continue  # redelivered after a consumer was re-created
                out.append(
                    StreamBatch(stream_seq, SeqRange.from_headers(message.headers), message.data)
                )
                self.next_stream_seq = stream_seq + 1
            if out:
                yield out

    async def stream_seq_after(self, engine_seq: int) -> int:
        """The stream sequence of the first batch with commands after `engine_seq` (one past the
        newest message when there is none). Raises when the stream does not exist."""
        state = (await self.js.stream_info(self.subjects.stream)).state
        low, high = max(state.first_seq, 1), state.last_seq + 1
        while low < high:
            middle = (low + high) // 2
            message = await self.js.get_msg(self.subjects.stream, middle)
            if SeqRange.from_headers(message.headers).last_seq <= engine_seq:
                low = middle + 1
            else:
                high = middle
        return low

    async def last_stream_seq(self) -> tuple[int, int]:
        """(stream sequence, engine last seq) of the stream's newest message; (0, 0) when empty."""
        info = await self.js.stream_info(self.subjects.stream)
        if info.state.messages == 0:
            return 0, 0
        last = await self.js.get_last_msg(self.subjects.stream, self.subjects.batches)
        return info.state.last_seq, SeqRange.from_headers(last.headers).last_seq


async def _quietly_unsubscribe(subscription: JetStreamContext.PullSubscription) -> None:
    with contextlib.suppress(Exception):
        await subscription.unsubscribe()
