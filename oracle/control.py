"""Steering a running oracle: one control message (:mod:`oracle.steering`, a JSON object) in, a JSON-ready
reply out. The admin API (``POST /admin/oracle/steer``) calls :func:`handle` in the process that
runs the oracle; where the oracle runs in a process of its own (the risk and mark-price process of
``derivatives serve``), :func:`serve_control` answers the same messages as NATS requests on the
control subject (``derivatives.bus.protocol.Subjects.oracle_control``), JSON both ways.

The reply is ``{"steering": <state>, "prices": {symbol: {"index", "mark", "method", "stale",
"excluded"}}}`` with the latest publication per symbol, or ``{"error": "<why>"}`` (nothing
changed) when the message is invalid or the feed is not the simulated one (a live feed cannot be
steered).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from nats.aio.client import Client as Nats
from nats.aio.subscription import Subscription

from derivatives.bus.health import serve_json
from oracle.service import MarkPriceService
from oracle.sources.simulated import SimulatedSource
from oracle.steering import SteeringError

log = logging.getLogger(__name__)


def handle(message: Mapping[str, object], service: MarkPriceService, now_ms: int) -> dict[str, Any]:
    """The reply to one control message (see the module docstring)."""
    source = service.source
    if not isinstance(source, SimulatedSource):
        return {"error": f"the {source.kind.value} feed cannot be steered (only the simulated one)"}
    try:
        source.steering.control(message, now_ms, source.bases)
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


def handle_json(data: bytes, service: MarkPriceService, now_ms: int) -> dict[str, Any]:
    """:func:`handle` of a message as JSON bytes (an empty body asks for the state only)."""
    try:
        message = json.loads(data or b"{}")
    except ValueError as error:
        return {"error": f"a control message is a JSON object ({error})"}
    if not isinstance(message, dict):
        return {"error": "a control message is a JSON object"}
    return handle(message, service, now_ms)


async def serve_control(nc: Nats, subject: str, service: MarkPriceService,
                        clock_ms: Callable[[], int]) -> Subscription:
    """Answers control messages on `subject` (request-reply) until the subscription ends."""

    def answer(data: bytes) -> dict[str, Any]:
        reply = handle_json(data, service, clock_ms())
        if "error" not in reply and data.strip() not in (b"", b"{}"):
            log.warning("oracle steered: %s", data.decode("utf-8", "replace"))
        return reply

    return await serve_json(nc, subject, answer)
