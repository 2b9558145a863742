"""The simulator's admin door: users, keys and deposits, the ledger and the oracle steering, over
the exchange's admin REST API (a bearer admin token), nothing else."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp

RETRIES = 5


class AdminError(RuntimeError):
    """The admin API answered with an error."""


@dataclass(frozen=True, slots=True)
class Account:
    """A funded simulator account and its API key."""

    name: str
    account_id: int
    api_key: str
    secret: str
    funds: Decimal


class AdminClient:
    """``/admin`` calls with one admin token."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base.rstrip("/")
        self.session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {token}"}, timeout=aiohttp.ClientTimeout(total=30)
        )

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """One call, retried on a connection failure; AdminError on an error answer."""
        for attempt in range(RETRIES):
            try:
                async with self.session.request(
                    method, self.base + path, json=body, params=params
                ) as response:
                    answer = await response.json(content_type=None)
                    if response.status != 200:
                        raise AdminError(f"{method} {path}: HTTP {response.status} {answer}")
                    return answer
            except aiohttp.ClientConnectionError:
                if attempt == RETRIES - 1:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def create_account(self, name: str, funds: Decimal) -> Account:
        """A new trader with a trading key, credited with `funds` USDT."""
        user = await self.call("POST", "/admin/users", {"name": name})
        key = await self.call(
            "POST", f"/admin/users/{user['id']}/api-keys", {"label": "simulator", "trade": True}
        )
        await self.call("POST", f"/admin/users/{user['id']}/deposits", {"amount": f"{funds:f}"})
        return Account(name, int(user["accountId"]), key["apiKey"], key["secret"], funds)

    async def ledger(self, since_seq: int = 0) -> dict[str, Any]:
        """``GET /admin/ledger``."""
        return dict(await self.call("GET", "/admin/ledger", params={"sinceSeq": str(since_seq)}))

    async def oracle(self) -> dict[str, Any]:
        """``GET /admin/oracle``: the steering and the latest index and mark per symbol."""
        return dict(await self.call("GET", "/admin/oracle"))

    async def steer(self, **message: Any) -> dict[str, Any]:
        """``POST /admin/oracle/steer``."""
        return dict(await self.call("POST", "/admin/oracle/steer", message))

    async def close(self) -> None:
        """Closes the HTTP session."""
        await self.session.close()
