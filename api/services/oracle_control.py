"""``/admin/oracle``: steering the simulated price feed (``oracle.steering``) for market scenarios.

Where the oracle runs decides the path: in this process (``Services.oracle``: an app that owns its
engine) the message is applied directly (``oracle.control.handle``); in a gateway process of the
served topology it is a NATS request on the control subject, answered by the risk and mark-price
process (``oracle.control.serve_control``). Either way the answer is the oracle's reply: the
steering state and the latest index and mark per symbol.

Invariants: an invalid message or a feed that cannot be steered changes nothing and answers
``-1130`` with the oracle's reason; no oracle answering (none in this process and no bus, or no
reply on the bus within ``REPLY_TIMEOUT_S``) answers ``-1001``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from api import errors
from api.state import Services
from derivatives.bus.gateway import BusGateway
from oracle.control import handle

REPLY_TIMEOUT_S = 2.0


async def steer(services: Services, message: Mapping[str, object]) -> dict[str, Any]:
    """Applies one control message (``{}``: only the state) and returns the oracle's reply."""
    if services.oracle is not None:
        reply = handle(message, services.oracle, services.clock_ms())
    elif isinstance(services.gateway, BusGateway):
        engine = services.gateway.engine
        try:
            answer = await engine.nc.request(engine.subjects.oracle_control, json.dumps(dict(message)).encode(),
                                             timeout=REPLY_TIMEOUT_S)
        except (NoRespondersError, NatsTimeout):
            raise errors.engine_unavailable() from None
        reply = json.loads(answer.data)
    else:
        raise errors.engine_unavailable()
    if "error" in reply:
        raise errors.admin_invalid(f"Oracle steering refused: {reply['error']}")
    return reply
