"""What a WebSocket client may send: text frames of at most ``MAX_MESSAGE_CHARS`` characters, at
most ``MESSAGES_PER_SECOND`` a second (bursts of ``BURST``), as Binance limits its sockets.

Invariants:
    * A binary frame or an over-long message is answered with an error frame and read no further;
      the connection stays open.
    * A client over its message rate gets one error frame and the connection is closed (code
      1008, policy violation): nothing it sent beyond the budget is answered.
    * Reading never raises anything but ``WebSocketDisconnect``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from starlette.websockets import WebSocket, WebSocketDisconnect

from api.hub import Connection

MESSAGES_PER_SECOND = 10
BURST = 50
MAX_MESSAGE_CHARS = 4096
POLICY_VIOLATION = 1008


def error_frame(code: int, msg: str, request_id: object = None) -> str:
    """Binance's WebSocket error frame."""
    return json.dumps({"error": {"code": code, "msg": msg}, "id": request_id})


class Inbound:
    """The inbound side of one socket: a token bucket and the frame checks. With `conn`, error
    frames queue behind the frames already queued there and the close waits for them."""

    def __init__(self, ws: WebSocket, conn: Connection | None = None,
                 clock_s: Callable[[], float] = time.monotonic) -> None:
        self.ws = ws
        self.conn = conn
        self.clock_s = clock_s
        self.tokens = float(BURST)
        self.stamp = clock_s()

    def _take(self) -> bool:
        now = self.clock_s()
        self.tokens = min(float(BURST), self.tokens + (now - self.stamp) * MESSAGES_PER_SECOND)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    async def receive(self) -> str:
        """The next acceptable text message; answers (or, over the rate, closes on) the rest.

        Raises:
            WebSocketDisconnect: When the client left or was closed for its rate.
        """
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            if not self._take():
                await self._send(error_frame(
                    -1003, f"Too many messages; the limit is {MESSAGES_PER_SECOND} per second."))
                if self.conn is not None:
                    self.conn.close(POLICY_VIOLATION)
                else:
                    await self.ws.close(code=POLICY_VIOLATION)
                raise WebSocketDisconnect(POLICY_VIOLATION)
            text: str | None = message.get("text")
            if text is None:
                await self._send(error_frame(3, "Invalid request: binary frames are not supported"))
            elif len(text) > MAX_MESSAGE_CHARS:
                await self._send(error_frame(3, f"Invalid request: longer than {MAX_MESSAGE_CHARS} characters"))
            else:
                return text

    async def _send(self, text: str) -> None:
        if self.conn is not None:
            self.conn.send(text)
        else:
            await self.ws.send_text(text)
