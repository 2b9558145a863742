"""Command batches to the engine service over NATS request-reply.

``BusEngine.execute`` sends one batch in the canonical codec and returns the same
:class:`~derivatives.engine.BatchResult` as ``EngineClient.execute``; the reply comes only once
the batch is durable. Every failure is a typed :class:`EngineBusError`: the batch was refused as
malformed (nothing applied), the service said it is unavailable (nothing applied), nobody
answers the subject, or no answer came in time (the batch may or may not have been applied: the
caller cannot tell, so it must not report success).
"""

from __future__ import annotations

from collections.abc import Sequence

import nats
from nats.aio.client import Client as Nats
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from derivatives.bus.protocol import DEFAULT_SUBJECTS, ERROR, SeqRange, Subjects
from derivatives.codec import decode_events, encode_commands
from derivatives.commands import Command
from derivatives.engine import BatchResult

DEFAULT_TIMEOUT_S = 5.0


class EngineBusError(RuntimeError):
    """A command batch got no success reply."""


class EngineMalformed(EngineBusError, ValueError):
    """The service could not decode the batch; nothing was applied."""


class EngineUnavailable(EngineBusError):
    """The service is stopping or its journal failed; nothing was applied."""


class EngineNoResponder(EngineUnavailable):
    """No engine service listens on the command subject (down, or a standby not yet promoted)."""


class EngineTimeout(EngineBusError, TimeoutError):
    """No reply in time: the batch may or may not have been applied."""


async def connect(url: str, name: str) -> Nats:
    """A NATS connection that keeps reconnecting for ever (a restarted server is found again)."""
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        allow_reconnect=True,
        connect_timeout=2,
    )


class BusEngine:
    """Sends command batches to the engine service on `nc`."""

    def __init__(
        self, nc: Nats, subjects: Subjects = DEFAULT_SUBJECTS, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.nc = nc
        self.subjects = subjects
        self.timeout_s = timeout_s

    async def execute_raw(self, batch: bytes) -> tuple[SeqRange, bytes]:
        """One encoded batch: its seq range and its encoded events."""
        try:
            reply = await self.nc.request(self.subjects.commands, batch, timeout=self.timeout_s)
        except NoRespondersError as error:
            raise EngineNoResponder(
                "no engine service answers " + self.subjects.commands
            ) from error
        except NatsTimeout as error:
            raise EngineTimeout(
                f"no reply from the engine service in {self.timeout_s} s"
            ) from error
        headers = reply.headers or {}
        kind = headers.get(ERROR)
        if kind is not None:
            message = reply.data.decode("utf-8", "replace")
            if kind == "malformed":
                raise EngineMalformed(message)
            raise EngineUnavailable(f"{kind}: {message}")
        try:
            return SeqRange.from_headers(headers), reply.data
        except ValueError as error:
            raise EngineUnavailable(
                f"engine reply without its sequence headers: {error}"
            ) from error

    async def execute(self, commands: Sequence[Command]) -> BatchResult:
        """Applies `commands` as one batch (durable when this returns) and returns their events."""
        seqs, events = await self.execute_raw(encode_commands(commands))
        return BatchResult(seqs.first_seq, seqs.last_seq, seqs.ts, decode_events(events))
