"""The load of ``derivatives bench resp`` (``python -m api.resp.bench_load CONFIG_JSON``, its own
process): signed resting orders for ``seconds`` from ``connections`` back-to-back clients, through
REST (``POST /fapi/v1/order``, as ``api.bench_load``) or the Redis-protocol door (``ORDER.PLACE``
on connections authenticated once); prints one JSON object."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from typing import Any

import aiohttp

from api.bench_load import ORDER_SIDES, Load, closed_loop
from api.security import sign


class RespClient:
    """One authenticated connection sending one command at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = b""

    async def call(self, *args: str) -> bytes:
        """Sends a command; returns its raw reply line (first line of the reply)."""
        self.writer.write(
            b"".join(
                [b"*%d\r\n" % len(args), *(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)]
            )
        )
        return await self._reply()

    async def _reply(self) -> bytes:
        # the door answers one reply per command; read until a complete top-level reply
        while True:
            end = _reply_end(self.buffer)
            if end:
                reply, self.buffer = self.buffer[:end], self.buffer[end:]
                return reply
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk


def _reply_end(data: bytes, at: int = 0) -> int:
    """The end offset of one complete RESP reply starting at `at`, or 0 when incomplete."""
    line_end = data.find(b"\r\n", at)
    if line_end < 0:
        return 0
    kind, head, after = data[at : at + 1], data[at + 1 : line_end], line_end + 2
    if kind in (b"+", b"-", b":", b"_", b"#", b","):
        return after
    if kind == b"$":
        size = int(head)
        return (
            after + size + 2
            if size >= 0 and len(data) >= after + size + 2
            else (after if size < 0 else 0)
        )
    count = int(head) * (2 if kind == b"%" else 1)
    for _ in range(count):
        after = _reply_end(data, after)
        if not after:
            return 0
    return after


async def resp_phase(config: dict[str, Any]) -> dict[str, Any]:
    """ORDER.PLACE through the door."""
    clients: asyncio.Queue[RespClient] = asyncio.Queue()
    keys = itertools.cycle(config["keys"])
    for _ in range(config["connections"]):
        api_key, secret = next(keys)
        reader, writer = await asyncio.open_connection("127.0.0.1", config["resp_port"])
        client = RespClient(reader, writer)
        now = str(time.time_ns() // 1_000_000)
        answer = await client.call(
            "AUTH", api_key, now, sign(secret, f"apiKey={api_key}&timestamp={now}")
        )
        if not answer.startswith(b"+OK"):
            raise RuntimeError(f"AUTH refused: {answer!r}")
        clients.put_nowait(client)
    sides = itertools.cycle(ORDER_SIDES)
    failures = 0
    first: str | None = None

    async def order() -> None:
        nonlocal failures, first
        client = await clients.get()
        side, price = next(sides)
        try:
            reply = await client.call(
                "ORDER.PLACE",
                "symbol",
                "BTCUSDT",
                "side",
                side,
                "type",
                "LIMIT",
                "timeInForce",
                "GTC",
                "quantity",
                "0.003",
                "price",
                price,
            )
            if reply.startswith(b"-"):
                failures += 1
                first = first or reply.decode(errors="replace")[:200]
        finally:
            clients.put_nowait(client)

    result = await closed_loop(order, config["connections"], config["seconds"])
    return {**result, "failures": failures, "first_failure": first}


async def rest_phase(config: dict[str, Any]) -> dict[str, Any]:
    """POST /fapi/v1/order, as the API benchmark sends it."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as http:
        load = Load(config, http)
        result = await closed_loop(load.order, config["connections"], config["seconds"])
        return {**result, "failures": load.failures, "first_failure": load.first_failure}


if __name__ == "__main__":
    settings = json.loads(sys.argv[1])
    phase = resp_phase if settings["door"] == "resp" else rest_phase
    print(json.dumps(asyncio.run(phase(settings))))
