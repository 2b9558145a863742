"""A protocol stand-in for the engine service, for the bus client's unit tests only.

It answers ``{prefix}.engine.commands`` with ``_core.Engine`` (no journal, one request per batch)
and publishes each batch to the JetStream stream exactly as the protocol describes
(``_core.encode_batch_body``, ``Nats-Msg-Id`` = first seq). The topology tests run the real
engine service binary instead.
"""

from __future__ import annotations

from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig

from derivatives import _core
from derivatives.bus.protocol import (
    DEFAULT_SUBJECTS,
    ERROR,
    MSG_ID,
    QUEUE_GROUP,
    SeqRange,
    Subjects,
)


async def ensure_stream(nc: Nats, subjects: Subjects) -> None:
    """Creates the batch stream (file storage, 2-minute duplicate window) unless it exists."""
    js = nc.jetstream()
    try:
        await js.stream_info(subjects.stream)
    except Exception:
        await js.add_stream(
            StreamConfig(
                name=subjects.stream,
                subjects=[subjects.batches],
                storage=StorageType.FILE,
                duplicate_window=120.0,
            )
        )


class StandInEngineService:
    """Executes command batches and publishes them (see the module docstring)."""

    def __init__(
        self, nc: Nats, subjects: Subjects = DEFAULT_SUBJECTS, engine: _core.Engine | None = None
    ) -> None:
        self.nc = nc
        self.subjects = subjects
        self.engine = engine if engine is not None else _core.Engine()
        self.paused = False

    async def start(self) -> None:
        await ensure_stream(self.nc, self.subjects)
        await self.nc.subscribe(self.subjects.commands, queue=QUEUE_GROUP, cb=self._on_request)

    async def _on_request(self, msg: Msg) -> None:
        if self.paused:
            await self.nc.publish(msg.reply, b"stopping", headers={ERROR: "unavailable"})
            return
        try:
            first, last, ts, events = self.engine.execute(msg.data)
        except _core.CommandDecodeError as error:
            await self.nc.publish(msg.reply, str(error).encode(), headers={ERROR: "malformed"})
            return
        seqs = SeqRange(first, last, ts)
        if last >= first:
            body = _core.encode_batch_body(msg.data, first, ts, events)
            await self.nc.jetstream().publish(
                self.subjects.batches, body, headers={MSG_ID: str(first), **seqs.headers()}
            )
        await self.nc.publish(msg.reply, events, headers=seqs.headers())


def main() -> None:
    """``python -m tests.bus.standin``: serve ``DERIVATIVES_NATS_URL`` / ``DERIVATIVES_NATS_PREFIX``
    until SIGTERM (no journal: state lives as long as the process)."""
    import asyncio

    from derivatives.bus.client import connect
    from derivatives.bus.node import run_until_signalled
    from derivatives.bus.protocol import nats_url_from_env

    async def run(stop: asyncio.Event) -> None:
        nc = await connect(nats_url_from_env(), "engine-standin")
        await StandInEngineService(nc, Subjects.from_env()).start()
        await stop.wait()
        await nc.drain()

    run_until_signalled(run)


if __name__ == "__main__":
    main()
