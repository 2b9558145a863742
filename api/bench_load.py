"""The API benchmark's load generator, run as a separate process (``python -m api.bench_load
CONFIG_JSON``) so that it does not share the server's interpreter; prints one JSON object.

Phases (``phases`` in the config; by default all but ``place_cancel_max``), each for ``seconds``:
    * ``ping_max`` / ``order_max``: closed loop, ``connections`` clients back to back: sustained
      requests per second (unsigned ``/fapi/v1/ping``, the baseline; signed ``POST /fapi/v1/order``);
    * ``ping_open`` / ``order_open``: open loop at ``rate`` per second; latency is measured from the
      *scheduled* send time, so a server that falls behind shows its queueing (no coordinated
      omission);
    * ``place_cancel_max``: closed loop of a signed placement followed by its signed cancel;
    * ``ws``: ``subscribers`` WebSockets on ``btcusdt@depth`` while orders arrive at
      ``depth_rate`` per second; lag = receive time minus the event's ``E`` (the engine batch time).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

PER_ADDRESS = 150
"""Connections per client address, under the server's cap per address (``api.connections``): the
HTTP phases use at most this many, the subscribers spread over loopback addresses 127.0.0.1-.254."""
HANDSHAKES = 50
"""WebSocket handshakes in flight at once while the subscribers connect."""
ORDER_SIDES = (("BUY", "48000"), ("SELL", "52000"))
"""Resting limit orders 4 % from the 50000 mark (inside the 5 % band): the book grows, nothing trades, margin stays bounded."""


def percentiles(values_ms: list[float]) -> dict[str, float]:
    """p50, p99 and max of latencies in ms (empty: zeros)."""
    if not values_ms:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "n": 0}
    ordered = sorted(values_ms)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50_ms": round(pick(0.5), 3), "p99_ms": round(pick(0.99), 3), "max_ms": round(ordered[-1], 3),
            "n": len(ordered)}


class Load:
    """The requests of one run."""

    def __init__(self, config: dict[str, Any], http: aiohttp.ClientSession) -> None:
        self.base = config["base"]
        self.keys = itertools.cycle(config["keys"])
        self.sides = itertools.cycle(ORDER_SIDES)
        self.http = http
        self.failures = 0
        self.first_failure: str | None = None

    def _failed(self, what: str) -> None:
        self.failures += 1
        self.first_failure = self.first_failure or what[:200]

    async def _check(self, answer: aiohttp.ClientResponse) -> None:
        body = await answer.read()
        if answer.status != 200:
            self._failed(body.decode(errors="replace"))

    async def ping(self) -> None:
        try:
            async with self.http.get(self.base + "/fapi/v1/ping") as answer:
                await self._check(answer)
        except aiohttp.ClientError as failure:
            self._failed(repr(failure))

    async def _signed(self, method: str, params: str, key: tuple[str, str]) -> bytes | None:
        api_key, secret = key
        payload = f"{params}&timestamp={time.time_ns() // 1_000_000}"
        signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        try:
            async with self.http.request(method, self.base + "/fapi/v1/order", data=f"{payload}&signature={signature}",
                                         headers={"X-MBX-APIKEY": api_key,
                                                  "Content-Type": "application/x-www-form-urlencoded"}) as answer:
                body = await answer.read()
                if answer.status == 200:
                    return body
                self._failed(body.decode(errors="replace"))
        except aiohttp.ClientError as failure:
            self._failed(repr(failure))
        return None

    async def order(self) -> None:
        side, price = next(self.sides)
        await self._signed("POST", f"symbol=BTCUSDT&side={side}&type=LIMIT&timeInForce=GTC&quantity=0.003"
                                   f"&price={price}", next(self.keys))

    async def place_cancel(self) -> None:
        """A resting order placed, then cancelled by its id (same key)."""
        side, price = next(self.sides)
        key = next(self.keys)
        placed = await self._signed("POST", f"symbol=BTCUSDT&side={side}&type=LIMIT&timeInForce=GTC"
                                            f"&quantity=0.003&price={price}", key)
        if placed is not None:
            await self._signed("DELETE", f"symbol=BTCUSDT&orderId={json.loads(placed)['orderId']}", key)


async def closed_loop(call: Callable[[], Awaitable[None]], clients: int, seconds: float) -> dict[str, float]:
    """Requests per second with `clients` back-to-back callers."""
    done = 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await call()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {"per_s": round(done / (time.perf_counter() - started), 1), "requests": done}


async def open_loop(call: Callable[[], Awaitable[None]], rate: float, seconds: float) -> dict[str, float]:
    """Latency percentiles at an offered `rate`, from each request's scheduled time."""
    latencies: list[float] = []

    async def timed(scheduled: float) -> None:
        await call()
        latencies.append((time.perf_counter() - scheduled) * 1000)

    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed(scheduled)))
    await asyncio.gather(*tasks)
    achieved = len(tasks) / (time.perf_counter() - start)
    return {**percentiles(latencies), "offered_per_s": rate, "achieved_per_s": round(achieved, 1)}


async def fan_out(config: dict[str, Any], load: Load) -> dict[str, float]:
    """Depth-update delivery lag over `subscribers` sockets while orders change the book."""
    lags: list[float] = []
    ready = refused = 0
    stop = asyncio.Event()
    url = config["ws"] + "/btcusdt@depth"

    handshakes = asyncio.Semaphore(HANDSHAKES)

    async def subscriber(session: aiohttp.ClientSession) -> None:
        nonlocal ready, refused
        async with handshakes:
            try:
                ws = await session.ws_connect(url, max_msg_size=0)
            except (aiohttp.ClientError, TimeoutError):
                refused += 1  # counted, so the phase does not wait for it for ever
                return
        async with ws:
            ready += 1
            while not stop.is_set():
                try:
                    message = await asyncio.wait_for(ws.receive(), 0.5)
                except TimeoutError:
                    continue
                if message.type != aiohttp.WSMsgType.TEXT:
                    return
                lags.append(time.time_ns() / 1e6 - json.loads(message.data)["E"])

    addresses = -(-config["subscribers"] // PER_ADDRESS)
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, local_addr=(f"127.0.0.{n + 1}", 0)))
                for n in range(addresses)]
    async with contextlib.AsyncExitStack() as stack:
        for session in sessions:
            await stack.enter_async_context(session)
        tasks = [asyncio.create_task(subscriber(sessions[i % addresses])) for i in range(config["subscribers"])]
        while ready + refused < config["subscribers"]:
            await asyncio.sleep(0.05)
        updates = await open_loop(load.order, config["depth_rate"], config["seconds"])
        await asyncio.sleep(1)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    expected = updates["n"] * ready
    return {**percentiles(lags), "subscribers": ready, "refused": refused, "updates": updates["n"],
            "delivered_share": round(len(lags) / expected, 4) if expected else 0.0}


async def run(config: dict[str, Any]) -> dict[str, Any]:
    """Every phase, in order."""
    seconds, rate, clients = config["seconds"], config["rate"], config["connections"]
    connector = aiohttp.TCPConnector(limit=PER_ADDRESS)
    async with aiohttp.ClientSession(connector=connector) as http:
        load = Load(config, http)
        phases = config.get("phases", ["ping_max", "ping_open", "order_max", "order_open", "ws"])
        calls = {"ping_max": (closed_loop, load.ping, clients), "ping_open": (open_loop, load.ping, rate),
                 "order_max": (closed_loop, load.order, clients), "order_open": (open_loop, load.order, rate),
                 "place_cancel_max": (closed_loop, load.place_cancel, clients)}
        results: dict[str, Any] = {}
        for phase in phases:
            if phase in calls:
                loop, call, size = calls[phase]
                results[phase] = await loop(call, size, seconds)
        if "ws" in phases and config["subscribers"]:
            results["ws"] = await fan_out(config, load)
        results["failures"] = load.failures
        results["first_failure"] = load.first_failure
    return results


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))))
