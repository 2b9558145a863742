"""Who calls ``/graphql``, and what it costs: the REST door's keys, HMAC, weights and codes.

* API keys: headers ``X-MBX-APIKEY``, ``X-MBX-TIMESTAMP`` (Unix ms, within the REST
  ``recvWindow`` default of now) and ``X-MBX-SIGNATURE`` = hex HMAC-SHA256 under the key's secret
  of ``apiKey=<apiKey>&timestamp=<timestamp>`` (the Redis-protocol door's AUTH payload); for
  subscriptions the same three values in the ``connection_init`` payload (``apiKey``,
  ``timestamp``, ``signature``). The checks are ``api.key_auth``'s.
* Dashboard sessions: ``Authorization: Bearer <session token>`` (``POST /api/v1/auth/login``)
  for the risk desk's views (role ``risk`` or ``admin``).
* Every field is charged the weight of the REST endpoint it mirrors, against the client IP and,
  when a key is used, the key (``api.key_auth.charge``: bans too); orders count against the
  account's order limits.
* A refusal is a GraphQL error whose ``extensions`` carry the Binance ``code`` (and ``msg``);
  the field is null and nothing changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError

from api import errors, key_auth
from api.errors import ApiError
from api.state import Services
from derivatives.persistence.accounts import KeyView


def graphql_error(error: ApiError) -> GraphQLError:
    """The GraphQL form of an API error (Binance code and message in ``extensions``)."""
    return GraphQLError(error.msg, extensions={"code": error.code, "msg": error.msg})


@dataclass(slots=True)
class Caller:
    """The request's identity, resolved lazily (a public query needs none)."""

    services: Services
    ip: str
    credentials: Mapping[str, str]
    bearer: str | None
    key: KeyView | None = None

    async def authenticate(self) -> KeyView:
        """The API key, checked once per request (-2014/-2015/-1021/-1022 otherwise)."""
        if self.key is not None:
            return self.key
        c = self.credentials
        key = await key_auth.authenticate(
            self.services, c.get("apiKey", ""), c.get("timestamp", ""), c.get("signature")
        )
        self.key = key
        return key

    async def account(self, trade: bool = False) -> int:
        """The key owner's engine account (-2015 without the TRADE permission for `trade`)."""
        key = await self.authenticate()
        if trade and not key.can_trade:
            raise errors.trading_not_enabled()
        return key.user.account_id

    def charge(self, method: str, path: str, query: str = "") -> None:
        """The mirrored REST endpoint's weight against the IP (and the key once known)."""
        key_auth.charge(self.services.limits, self.ip, self.key, method, path, query)


def credentials_from(headers: Mapping[str, Any]) -> dict[str, str]:
    """The three API-key values from HTTP headers."""
    return {
        "apiKey": headers.get("x-mbx-apikey", ""),
        "timestamp": headers.get("x-mbx-timestamp", ""),
        "signature": headers.get("x-mbx-signature", ""),
    }
