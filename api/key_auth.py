"""Connection-level API-key authentication, shared by the Redis-protocol and GraphQL doors.

The client proves it holds the key's secret with a hex HMAC-SHA256 of
``apiKey=<apiKey>&timestamp=<timestamp>`` (Unix ms within the REST ``recvWindow`` default of
now); the secret never crosses the wire. Same checks and codes as a signed REST request: -2014
(no key), -2015 (unknown or revoked key, no permission), -1100 (timestamp not a number), -1021
(outside the window), -1022 (wrong signature).
"""

from __future__ import annotations

import asyncio

from api import errors
from api.security import SignedPayload, check_timestamp, verify
from api.state import Services
from derivatives.persistence.accounts import KeyView


def payload(api_key: str, timestamp: str) -> str:
    """What the signature covers."""
    return f"apiKey={api_key}&timestamp={timestamp}"


async def authenticate(
    services: Services, api_key: str, timestamp: str, signature: str | None
) -> KeyView:
    """The key, once every check passed.

    Raises:
        ApiError: see the module docstring.
    """
    if not api_key:
        raise errors.api_key_format()
    key = services.keys.peek(api_key)
    if key is None:
        key = await asyncio.to_thread(services.keys.lookup, api_key)
    if not timestamp.isdigit() or len(timestamp) > 18:
        raise errors.illegal_characters("timestamp")
    check_timestamp(int(timestamp), None, services.clock_ms(), services.settings.max_recv_window_ms)
    verify(key.secret, SignedPayload(payload(api_key, timestamp), signature))
    if not key.can_read:
        raise errors.api_key_rejected()
    return key
