"""Steering a running oracle: one control message (:mod:`oracle.steering`, a JSON object) in, a JSON-ready
reply out. The admin API (``POST /admin/oracle/steer``) calls :func:`handle` in the process that
runs the oracle.

The reply is ``{"steering": <state>, "prices": {symbol: {"index", "mark", "method", "stale",
"excluded"}}}`` with the latest publication per symbol, or ``{"error": "<why>"}`` (nothing
changed) when the message is invalid or the feed is not the simulated one (a live feed cannot be
steered).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oracle.service import MarkPriceService
from oracle.sources.simulated import SimulatedSource
from oracle.steering import SteeringError


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
