"""An app served in this process on a free local port (uvicorn in a daemon thread): the real-socket
tests and the API benchmark use it."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from api import connections
from api.state import Services


class Endpoint:
    """The URLs of a server listening on 127.0.0.1:`port` (in this process or another)."""

    port: int

    @property
    def base(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        """ws://127.0.0.1:PORT/ws"""
        return f"ws://127.0.0.1:{self.port}/ws"


@dataclass
class RunningServer(Endpoint):
    """A started server and its app."""

    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread
    port: int

    @property
    def services(self) -> Services:
        """The app's services (available once started)."""
        services: Services = self.app.state.services
        return services

    def stop(self) -> None:
        """Stops the server and waits for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start(app: FastAPI, **config: Any) -> RunningServer:
    """Serves `app` on 127.0.0.1:<free port> in a daemon thread; returns once it accepts requests.

    Args:
        app: The app.
        **config: ``uvicorn.Config`` options over the defaults (warning logs, sans-io WebSockets).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options: dict[str, Any] = {"log_level": "warning", "ws": "websockets-sansio", "lifespan": "on",
                               **connections.server_options(), **config}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    return RunningServer(app, server, thread, port)
