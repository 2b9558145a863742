"""Request dependencies as ``Annotated`` aliases: the services, public parameters, and signed
(HMAC) or key-only authentication with per-key weight accounting.

Check order for a signed request: the client IP's weight (-1003, charged by
``api.ratelimit.WeightMiddleware`` before any of this), API key header (-2014/-2015), timestamp and
recvWindow (-1102/-1131/-1021), signature (-1102/-1022), then the key's weight (-1003), permission
(-2015), then the parameters (-1100..-1130). Nothing reaches a service before all of them pass.

The key's weight is charged only once the signature proves the caller holds the key's secret:
anyone may learn an API key, and charging it earlier would let them exhaust its owner's budget
with unsigned requests. Key-only (``USER_STREAM``) requests prove nothing beyond the key, so
they are charged per IP only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from api import errors
from api.params import INT_RE, Params, Spec, parse_pairs
from api.ratelimit import request_weight
from api.security import SignedPayload, check_timestamp, split_signature, verify
from api.state import Services
from derivatives.persistence.accounts import KeyView


def get_services(request: HTTPConnection) -> Services:
    """The app's services."""
    services: Services = request.app.state.services
    return services


async def _services(request: HTTPConnection) -> Services:
    """The app's services as a dependency: async, so FastAPI calls it on the event loop (a plain
    function dependency would cost a worker-thread hop on every request)."""
    return get_services(request)


ServicesDep = Annotated[Services, Depends(_services)]



@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request: its key (with owner) and its parsed parameters."""

    key: KeyView
    params: Params

    @property
    def account(self) -> int:
        """The engine account of the key's owner."""
        return self.key.user.account_id


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


async def _raw(request: Request) -> tuple[str, str]:
    query = _decode(request.scope.get("query_string", b""))
    body = _decode(await request.body()) if request.method in ("POST", "PUT", "DELETE") else ""
    return query, body


def public(spec: Spec) -> Callable[[Request], Awaitable[Params]]:
    """Dependency: the parsed parameters of an unsigned endpoint."""

    async def dependency(request: Request) -> Params:
        query, body = await _raw(request)
        return spec.parse(parse_pairs(query, body))

    return dependency


async def _key(request: Request, services: Services) -> KeyView:
    header = request.headers.get("X-MBX-APIKEY", "")
    if not header:
        raise errors.api_key_format()
    key = services.keys.peek(header)
    if key is None:
        key = await anyio.to_thread.run_sync(services.keys.lookup, header)
    return key


def signed(spec: Spec, trade: bool = False) -> Callable[[Request], Awaitable[Caller]]:
    """Dependency: a signed request (``USER_DATA`` or, with `trade`, ``TRADE``)."""

    async def dependency(request: Request) -> Caller:
        services = get_services(request)
        key = await _key(request, services)
        query, body = await _raw(request)
        pairs = parse_pairs(query, body)
        stamp = {name: value for name, value in pairs if name in ("timestamp", "recvWindow")}
        check_timestamp(_int(stamp.get("timestamp"), "timestamp"), _int(stamp.get("recvWindow"), "recvWindow"),
                        services.clock_ms(), services.settings.max_recv_window_ms)
        signed_payload: SignedPayload = split_signature(query, body)
        verify(key.secret, signed_payload)
        weight = request_weight(request.method, request.url.path, query)
        services.limits.charge_key(key.api_key, weight)
        if trade and not key.can_trade:
            raise errors.trading_not_enabled()
        if not key.can_read:
            raise errors.api_key_rejected()
        return Caller(key, spec.parse(pairs))

    return dependency


def _int(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    if not INT_RE.fullmatch(text) or len(text.lstrip("-")) > 18:
        raise errors.illegal_characters(name)
    return int(text)


async def key_only(request: Request) -> KeyView:
    """Dependency: the listenKey endpoints (``USER_STREAM``: API key, no signature)."""
    return await _key(request, get_services(request))


KeyDep = Annotated[KeyView, Depends(key_only)]
