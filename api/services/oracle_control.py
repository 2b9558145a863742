"""``/admin/oracle``: steering the simulated price feed (``oracle.steering``) for market scenarios.

Where the oracle runs decides the path: in this process (an app that owns its engine) the message
is applied directly; behind a gateway process it is a NATS request on ``{prefix}.oracle.control``,
answered by the risk and mark-price process (``oracle.control``). Either way the answer is the
oracle's reply: the steering state and the latest index and mark per symbol, or an error.

Invariants: an invalid message or a feed that cannot be steered changes nothing and answers
``-1130`` with the oracle's reason; no oracle answering is ``-1001``.
"""

from __future__ import annotations

import json
from typing import Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from api import errors
from api.state import Services
from oracle.control import handle
from oracle.steering import control_subject

REPLY_TIMEOUT_S = 2.0


async def steer(services: Services, message: dict[str, Any]) -> dict[str, Any]:
    """Sends one control message (``{}``: only the state) and returns the oracle's reply."""
    data = json.dumps(message).encode()
    if services.oracle is not None:
        reply = handle(data, services.oracle.source, services.oracle, services.clock_ms())
    else:
        engine = getattr(services.gateway, "engine", None)
        nc, subjects = getattr(engine, "nc", None), getattr(engine, "subjects", None)
        if nc is None or subjects is None:
            raise errors.engine_unavailable()
        try:
            answer = await nc.request(
                control_subject(subjects.prefix), data, timeout=REPLY_TIMEOUT_S
            )
        except (NoRespondersError, NatsTimeout):
            raise errors.engine_unavailable() from None
        reply = json.loads(answer.data)
    if "error" in reply:
        raise errors.admin_invalid(f"Oracle steering refused: {reply['error']}")
    return dict(reply)
