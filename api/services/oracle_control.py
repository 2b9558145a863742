"""``/admin/oracle``: steering the simulated price feed (``oracle.steering``) for market scenarios.

The oracle runs in this process (``Services.oracle``), so a message is applied directly
(``oracle.control.handle``); the answer is the oracle's reply: the steering state and the latest
index and mark per symbol.

Invariants: an invalid message or a feed that cannot be steered changes nothing and answers
``-1130`` with the oracle's reason; an app without an oracle answers ``-1001``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api import errors
from api.state import Services
from oracle.control import handle


def steer(services: Services, message: Mapping[str, object]) -> dict[str, Any]:
    """Applies one control message (``{}``: only the state) and returns the oracle's reply."""
    if services.oracle is None:
        raise errors.engine_unavailable()
    reply = handle(message, services.oracle, services.clock_ms())
    if "error" in reply:
        raise errors.admin_invalid(f"Oracle steering refused: {reply['error']}")
    return reply
