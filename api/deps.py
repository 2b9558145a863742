"""Request dependencies as ``Annotated`` aliases: the services, public parameters, and signed
(HMAC) or key-only authentication with per-key weight accounting.

Check order for a signed request (Binance's): API key header (-2014/-2015), per-key weight
(-1003), timestamp and recvWindow (-1102/-1131/-1021), signature (-1102/-1022), permission
(-2015), then the parameters (-1100..-1130). Nothing reaches a service before all of them pass.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Path, Request
from starlette.requests import HTTPConnection

from api import errors
from api.params import Params, Spec, parse_pairs
from api.ratelimit import request_weight
from api.security import SignedPayload, check_timestamp, split_signature, verify
from api.state import Services
from derivatives.persistence.accounts import KeyView


def get_services(request: HTTPConnection) -> Services:
    """The app's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
"""A database row id in a path: a positive 64-bit integer (anything else is an invalid-value
error, never a query the database cannot run)."""


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
    query = request.scope.get("query_string", b"").decode("latin-1")
    services.limits.charge_key(key.api_key, request_weight(request.method, request.url.path, query))
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
        if trade and not key.can_trade:
            raise errors.trading_not_enabled()
        if not key.can_read:
            raise errors.api_key_rejected()
        return Caller(key, spec.parse(pairs))

    return dependency


def _int(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    stripped = text.lstrip("-")
    if not stripped.isdigit() or len(stripped) > 18:
        raise errors.illegal_characters(name)
    return int(text)


async def key_only(request: Request) -> KeyView:
    """Dependency: the listenKey endpoints (``USER_STREAM``: API key, no signature)."""
    return await _key(request, get_services(request))


KeyDep = Annotated[KeyView, Depends(key_only)]
