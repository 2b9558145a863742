"""Request-reply answered with JSON (:func:`serve_json`: the oracle's steering subject too), and
readiness over the bus: a process without an HTTP port of its own (the risk and mark-price process)
answers health requests on ``{prefix}.health.{role}``; a gateway's ``/ready`` asks it.

Invariants:
    * A request's body is ignored; the reply is one JSON object ``{"ok": bool, ...}`` built by the
      answering process from its own state at that moment. Asking never changes anything.
    * No reply within the timeout (the process is down, or stuck) reads as ``None``: not ready.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

HEALTH_TIMEOUT_S = 0.5


async def serve_json(nc: Nats, subject: str, answer: Callable[[bytes], dict[str, Any]]) -> Subscription:
    """Answers every request on `subject` with ``answer(body)`` as JSON (request-reply)."""

    async def on_message(msg: Msg) -> None:
        await msg.respond(json.dumps(answer(msg.data)).encode())

    return await nc.subscribe(subject, cb=on_message)


async def serve_health(nc: Nats, subject: str, report: Callable[[], dict[str, Any]]) -> Subscription:
    """Answers every health request on `subject` with ``report()`` as JSON."""
    return await serve_json(nc, subject, lambda _body: report())


async def ask_health(nc: Nats, subject: str, timeout_s: float = HEALTH_TIMEOUT_S) -> dict[str, Any] | None:
    """The report of the process answering `subject`, or None when none answers in time."""
    try:
        reply = await nc.request(subject, b"", timeout=timeout_s)
    except (NoRespondersError, NatsTimeout):
        return None
    answer: dict[str, Any] = json.loads(reply.data)
    return answer
