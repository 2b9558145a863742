"""Connection-level API-key authentication and request charging, shared by the doors that are not
REST (the Redis-protocol door and GraphQL): the same keys, HMAC, weights, bans and Binance codes.

Authentication: the client proves it holds the key's secret with a hex HMAC-SHA256 of
``apiKey=<apiKey>&timestamp=<timestamp>`` (Unix ms within the REST ``recvWindow`` default of
now); the secret never crosses the wire. Same checks and codes as a signed REST request: -2014
(no key), -2015 (unknown or revoked key, no permission), -1100 (timestamp not a number), -1021
(outside the window), -1022 (wrong signature).

Charging (:func:`charge`): every command or field costs the weight of the REST endpoint it
mirrors (``api.ratelimit.request_weight``), against the client IP and, once authenticated, the
key: the same budgets REST draws from. An IP under a ban gets -1003 "banned" (HTTP 418's error)
for everything; a refusal counts toward a ban exactly as a REST 429 does.
"""

from __future__ import annotations

import asyncio

from api import errors
from api.ratelimit import Limits, request_weight
from api.security import SignedPayload, check_timestamp, verify
from api.state import Services
from derivatives.persistence.accounts import KeyView


def payload(api_key: str, timestamp: str) -> str:
    """What the signature covers."""
    return f"apiKey={api_key}&timestamp={timestamp}"


async def authenticate(services: Services, api_key: str, timestamp: str, signature: str | None) -> KeyView:
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


def charge(limits: Limits, ip: str, key: KeyView | None, method: str, path: str, query: str = "") -> None:
    """Charges one request that mirrors REST ``method path?query``.

    Raises:
        ApiError: -1003 when the IP is banned, over its weight (which may start a ban) or the key
            is over its weight.
    """
    banned = limits.bans.banned_until(ip)
    if banned is not None:
        raise _banned(limits, ip, banned)
    weight = request_weight(method, path, query)
    usage = limits.weight_ip.hit(ip, weight)
    if not usage.allowed:
        ban = limits.bans.refused(ip)
        if ban is not None:
            raise _banned(limits, ip, ban)
        raise errors.too_much_weight(f"IP({ip})", limits.weight_ip.limit, usage.retry_after_s)
    if key is not None:
        limits.charge_key(key.api_key, weight)


def _banned(limits: Limits, ip: str, until_ms: int) -> errors.ApiError:
    retry = max(1, -(-(until_ms - limits.bans.clock()) // 1000))
    return errors.ip_banned(ip, until_ms, retry)
