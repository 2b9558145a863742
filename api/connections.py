"""Connection-level limits of the HTTP server (uvicorn's httptools protocol, guarded): a slow or
greedy client cannot hold the server's sockets.

Invariants:
    * A request must arrive complete (request line, headers and body) within
      ``REQUEST_TIMEOUT_S`` of the connection opening or of its first byte; otherwise the client
      gets HTTP 408 ``{"code": -1000, ...}`` (or, if an answer already started, nothing more) and
      the connection is closed. Idle keep-alive connections close after ``KEEP_ALIVE_S``.
    * At most ``MAX_CONNECTIONS`` connections in all and ``MAX_CONNECTIONS_PER_IP`` from one client
      address are open (WebSockets included); a connection beyond either is answered HTTP 429
      ``-1003`` and closed before anything is read.
    * A WebSocket upgrade ends the request deadline (the socket's own limits are
      ``api.ws_inbound``'s).
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REQUEST_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5
MAX_CONNECTIONS = 2_000
MAX_CONNECTIONS_PER_IP = 200


def _raw_response(status: str, code: int, msg: str) -> bytes:
    body = json.dumps({"code": code, "msg": msg}).encode()
    head = (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode()
    return head + body


TIMED_OUT = _raw_response("408 Request Timeout", -1000,
                          f"The request did not arrive complete within {REQUEST_TIMEOUT_S:g} seconds.")
TOO_MANY = _raw_response("429 Too Many Requests", -1003, "Too many open connections; close some and retry.")


def _ip(protocol: object) -> str | None:
    client = getattr(protocol, "client", None)
    return str(client[0]) if client else None


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a per-request deadline and connection caps."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ip = _ip(self)
        same_ip = sum(1 for c in self.connections if _ip(c) == ip)
        if len(self.connections) > MAX_CONNECTIONS or same_ip > MAX_CONNECTIONS_PER_IP:
            transport.write(TOO_MANY)
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(REQUEST_TIMEOUT_S, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(TIMED_OUT)
        self.transport.close()


def server_options() -> dict[str, Any]:
    """The ``uvicorn.Config`` options that install these limits."""
    return {"http": GuardedHttpToolsProtocol, "timeout_keep_alive": KEEP_ALIVE_S}


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket several processes can bind to the same port (``SO_REUSEPORT``): the
    gateways' HTTP port and their Redis-protocol door."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock
