"""The steering control channel of a running oracle: NATS request-reply on
:func:`oracle.steering.control_subject`.

Each request is one JSON control message (:mod:`oracle.steering`); the reply is JSON:
``{"steering": <state>, "prices": {symbol: {"index", "mark", "method", "stale", "excluded"}}}``
with the latest publication per symbol, or ``{"error": "<why>"}`` (nothing changed) when the
message is invalid or the feed is not the simulated one (a live feed cannot be steered).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from oracle.clock import Clock
from oracle.service import MarkPriceService
from oracle.sources.base import Source
from oracle.sources.simulated import SimulatedSource
from oracle.steering import SteeringError, control_subject

log = logging.getLogger(__name__)


def handle(
    message: bytes, source: Source, service: MarkPriceService, now_ms: int
) -> dict[str, Any]:
    """The reply to one control message (see the module docstring)."""
    if not isinstance(source, SimulatedSource):
        return {"error": f"the {source.kind.value} feed cannot be steered (only the simulated one)"}
    try:
        body = json.loads(message or b"{}")
        if not isinstance(body, dict):
            raise SteeringError("a control message is a JSON object")
        source.steering.control(body, now_ms, source.bases)
    except (ValueError, SteeringError) as error:
        return {"error": str(error)}
    prices: dict[str, object] = {}
    for symbol in service.symbols():
        latest = service.latest(symbol)
        if latest is not None:
            prices[symbol] = {
                "index": f"{latest.index:f}",
                "mark": f"{latest.mark:f}",
                "method": latest.flags.index_method.value,
                "stale": latest.flags.stale,
                "excluded": {venue: why.value for venue, why in latest.flags.excluded},
            }
    return {"steering": source.steering.state(now_ms), "prices": prices}


async def serve_control(
    nc: Nats, prefix: str, source: Source, service: MarkPriceService, clock: Clock
) -> Subscription:
    """Answers control messages on the subject of `prefix` until the subscription ends."""

    async def on_message(msg: Msg) -> None:
        reply = handle(msg.data, source, service, clock())
        if "error" not in reply and msg.data.strip() not in (b"", b"{}"):
            log.warning("oracle steered: %s", msg.data.decode("utf-8", "replace"))
        await msg.respond(json.dumps(reply).encode())

    return await nc.subscribe(control_subject(prefix), cb=on_message)
