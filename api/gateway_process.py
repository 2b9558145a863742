"""A gateway process: the Binance-compatible app in front of the engine service.

``python -m api.gateway_process`` (started by ``derivatives serve``, one per core) serves the app
on ``DERIVATIVES_HOST:DERIVATIVES_PORT`` with ``SO_REUSEPORT``, so every gateway of the machine
listens on the one printed port and the kernel spreads connections over them. It holds no state
that matters:

* commands go to the engine service by request-reply (``derivatives.bus.client``);
* its live state is a replica of the engine fed by the batch stream from its start, plus the order
  view folded from the same batches (``derivatives.bus.view``, ``derivatives.order_view``); it
  serves only once it has caught up with the stream's head;
* history (allOrders beyond the view, userTrades, income, klines) and users and keys are read from
  the shared database (``DERIVATIVES_DATABASE_URL``), which the projector process writes.

The first gateway (``--first``) also resolves withdrawals a crash left in flight, before it serves.
It lists no instrument and runs no oracle, statistics sampler or reconciliation, and of the risk
services only their read side for the risk desk (the event feed: positions, liquidation monitor,
fund history; ``RiskServices.start_view``): funding, ADL ranking and the fund unwinder act from the
risk process alone (``derivatives.topology``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

from api.door import Door, DoorFactory
from api.main import create_app
from api.state import Services
from derivatives.bus.client import BusEngine, connect
from derivatives.bus.gateway import BusGateway
from derivatives.bus.node import announce_ready, close_quietly, stop_process_on_failure, stream_head
from derivatives.bus.protocol import Subjects, nats_url_from_env
from derivatives.bus.stream import BatchReader
from derivatives.bus.view import ReplicaView
from derivatives.config import Settings


def bus_door(url: str, subjects: Subjects, first: bool) -> DoorFactory:
    """The door of a gateway process (see the module docstring); `first`: the first gateway started
    (``--first``: ``derivatives serve`` starts it alone)."""

    async def make() -> Door:
        nc = await connect(url, f"gateway-{os.getpid()}")
        view = ReplicaView()
        gateway = BusGateway(BusEngine(nc, subjects), view, keep_events=True)  # the risk desk's feed reads them
        reader = BatchReader(nc, subjects)
        tasks: list[asyncio.Task[None]] = []

        async def start() -> None:
            head = await stream_head(reader)
            tasks.append(asyncio.create_task(view.run(reader), name="batch-stream"))
            tasks[-1].add_done_callback(stop_process_on_failure)
            await view.wait_for(head)

        async def close() -> None:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            await close_quietly(nc)

        return Door(gateway, owns_engine=False, first=first, start=start, close=close)

    return make


def main() -> None:
    """Serves one gateway until SIGINT/SIGTERM."""
    import uvicorn

    from api import connections, interpreter
    from derivatives import logs

    logs.configure()
    interpreter.tune()
    settings = Settings.from_env().with_overrides(risk_services=False, demo_market=False)

    async def ready(_services: Services) -> None:
        key = getattr(app.state, "demo_key", None)
        announce_ready("gateway", "" if key is None else f" demo-key {key.api_key} secret {key.secret}")

    first = "--first" in sys.argv[1:]
    app = create_app(settings, bus_door(nats_url_from_env(), Subjects.from_env(), first), background=[ready])
    sock = connections.reuse_port_socket(settings.host, settings.port)
    config = uvicorn.Config(app, log_config=None, access_log=False, ws="websockets-sansio", lifespan="on",
                            **connections.server_options())
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
