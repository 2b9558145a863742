"""A process attached to the bus: its NATS connection, a replica view caught up with the stream,
and a :class:`~derivatives.bus.gateway.BusGateway` for commands; the common start of every
process of ``derivatives serve`` except the engine service and the projector."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.client import Client as Nats

from derivatives.bus.client import BusEngine, connect
from derivatives.bus.gateway import BusGateway
from derivatives.bus.protocol import Subjects, nats_url_from_env
from derivatives.bus.stream import BatchReader
from derivatives.bus.view import ReplicaView

log = logging.getLogger(__name__)
HEAD_RETRY_S = 0.2
STOP_GRACE_S = 10.0
"""How long a stopping process may take before it exits regardless."""
CLOSE_TIMEOUT_S = 5.0
READY = "ready"
"""Printed (``<role> ready pid N``) once a process serves; ``derivatives serve`` waits for it."""


async def stream_head(reader: BatchReader) -> int:
    """The engine seq of the stream's newest batch, waiting for the stream to exist."""
    while True:
        try:
            return (await reader.last_stream_seq())[1]
        except Exception:
            await asyncio.sleep(HEAD_RETRY_S)


@dataclass(slots=True)
class Node:
    """One process's bus attachment."""

    nc: Nats
    view: ReplicaView
    gateway: BusGateway
    task: asyncio.Task[None]

    async def close(self) -> None:
        """Stops reading the stream and closes the connection."""
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task
        await close_quietly(self.nc)


async def attach(
    role: str,
    url: str | None = None,
    subjects: Subjects | None = None,
    before_catch_up: Callable[[BusGateway], None] | None = None,
    keep_events: bool = False,
) -> Node:
    """Connects, then reads the stream from its start until the view has the head's seq.

    `before_catch_up` subscribes listeners that must see every batch from the first; with
    `keep_events` the gateway's client also serves ``read_events`` from memory."""
    subjects = subjects or Subjects.from_env()
    nc = await connect(url or nats_url_from_env(), f"{role}-{os.getpid()}")
    view = ReplicaView()
    gateway = BusGateway(BusEngine(nc, subjects), view, keep_events=keep_events)
    if before_catch_up is not None:
        before_catch_up(gateway)
    reader = BatchReader(nc, subjects)
    head = await stream_head(reader)
    task = asyncio.create_task(view.run(reader), name="batch-stream")
    task.add_done_callback(stop_process_on_failure)
    await view.wait_for(head)
    return Node(nc, view, gateway, task)


async def close_quietly(nc: Nats) -> None:
    """Closes a NATS connection, giving up after ``CLOSE_TIMEOUT_S`` (a server already gone)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(nc.close(), CLOSE_TIMEOUT_S)


def stop_process_on_failure(task: asyncio.Task[None]) -> None:
    """Done callback of a process's stream task: a stream that failed (a gap, a damaged batch)
    leaves the process serving a stale state, so it stops the process (SIGTERM to itself, a
    graceful stop); ``derivatives serve`` reports the exit."""
    if not task.cancelled() and task.exception() is not None:
        log.critical("the batch stream failed; stopping", exc_info=task.exception())
        os.kill(os.getpid(), signal.SIGTERM)


def announce_ready(role: str, detail: str = "") -> None:
    """The line ``derivatives serve`` waits for."""
    print(f"{role} {READY} pid {os.getpid()}{detail}", flush=True)


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Runs `main(stop)` on a new event loop; SIGTERM and SIGINT set `stop`. A process whose
    graceful stop hangs (e.g. its NATS server went away first) exits after ``STOP_GRACE_S``."""

    def stopping(stop: asyncio.Event) -> None:
        stop.set()
        watchdog = threading.Timer(STOP_GRACE_S, os._exit, (1,))
        watchdog.daemon = True
        watchdog.start()

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping, stop)
        await main(stop)

    asyncio.run(runner())
