"""The Redis-protocol door (``api.resp.door``) and its place in an app's life: ``install(app)``
starts the door once the app's services exist and stops it before they go (settings
``resp_port``: 0, the default, is off; -1, what ``derivatives serve`` uses, is the HTTP port + 1).
One call per serving process: a gateway process of a multi-process topology calls it the same way.
A port already taken leaves the door closed (logged); the app serves on."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from api.resp.door import start
from derivatives.bus.gateway import BusGateway

log = logging.getLogger("api.resp")


def install(app: FastAPI) -> None:
    """Wraps the app's lifespan so the door serves while the app does."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            services = app.state.services
            port = services.settings.door_port(services.settings.port)
            server = None
            if port is not None:
                try:
                    server = await start(services, services.settings.host, port)
                except OSError as error:  # the port is taken: the HTTP door still serves
                    log.warning("redis protocol door not started on port %d: %s", port, error)
            if server is not None:
                url = f"redis://{services.settings.host}:{port}"
                if isinstance(services.gateway, BusGateway):  # derivatives serve prints it once for all gateways
                    log.info("redis protocol door listening on %s", url)
                else:
                    print(f"redis protocol door listening on {url}", flush=True)
            try:
                yield
            finally:
                if server is not None:
                    server.close()

    app.router.lifespan_context = lifespan
