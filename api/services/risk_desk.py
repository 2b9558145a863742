"""The risk desk: the API's view of ``risk.RiskServices`` (docs/RISK.md) for the risk routes,
the liquidation stream and the dashboard.

Invariants:
    * Money leaves as decimal strings (``to_dict`` of the risk types, ``format_raw``); amounts come
      in as exact ``Decimal`` from decimal strings.
    * The payout actor is the authenticated staff member, never a request field; the two-person
      rule is the insurance service's (``ApprovalError`` -> ``-1130``, unknown id -> 404).
    * With the risk services off (``DERIVATIVES_RISK_SERVICES=false``) every operation answers
      ``-1020`` and nothing else changes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal

from api import errors
from api.instruments import InstrumentRegistry
from derivatives.enums import Side
from risk import ApprovalError, Payout, PayoutNotFound, PayoutStatus, RiskServices


def payout_dict(p: Payout) -> dict[str, object]:
    """A payout request on the wire."""
    return {"id": p.id, "account": p.account, "amount": f"{p.amount:f}", "memo": p.memo,
            "requestedBy": p.requested_by, "approvals": list(p.approvals), "status": p.status.value,
            "outcome": p.outcome, "engineSeq": p.engine_seq}


class RiskDesk:
    """Risk queries and payout decisions (built per request; holds no state of its own)."""

    def __init__(self, risk: RiskServices | None, registry: InstrumentRegistry) -> None:
        self._services = risk
        self.registry = registry

    @property
    def running(self) -> bool:
        """Whether the risk services run in this process."""
        return self._services is not None

    @property
    def risk(self) -> RiskServices:
        """The running risk services.

        Raises:
            ApiError: -1020 when they are not running.
        """
        if self._services is None:
            raise errors.risk_services_off()
        return self._services

    def insurance_balance(self, symbol: str | None) -> object:
        """``GET /fapi/v1/insuranceBalance``: one object for a symbol, else a list (one fund covers
        every symbol here)."""
        current = self.risk.fund_history.current(self.risk.view)
        if symbol is None:
            return [current]
        if self.registry.get(symbol) is None:
            raise errors.invalid_symbol()
        return current

    def insurance_unwinds(self, limit: int) -> list[dict[str, object]]:
        """The fund unwinder's steps (slices sent and pauses, each with its reason), oldest first."""
        return self.risk.unwinder.history(limit)

    def insurance_history(self, start_ms: int | None, end_ms: int | None, limit: int) -> list[dict[str, object]]:
        """The fund's balance after each change, oldest first."""
        return self.risk.fund_history.history(start_ms, end_ms, limit)

    async def request_payout(self, actor: str, account: int, amount: Decimal, memo: str) -> dict[str, object]:
        """Files a payout request (pending two approvals by others)."""
        return await self._decide(self.risk.insurance.request(account, amount, actor, memo))

    async def approve_payout(self, actor: str, payout_id: int) -> dict[str, object]:
        """Approves; the second approval pays (or the engine refuses: ``REFUSED``)."""
        return await self._decide(self.risk.insurance.approve(payout_id, actor))

    async def deny_payout(self, actor: str, payout_id: int, note: str) -> dict[str, object]:
        """Denies a pending request."""
        return await self._decide(self.risk.insurance.deny(payout_id, actor, note))

    @staticmethod
    async def _decide(step: Awaitable[Payout]) -> dict[str, object]:
        try:
            payout = await step
        except ApprovalError as refused:
            raise errors.payout_refused(str(refused)) from None
        except PayoutNotFound:
            raise errors.payout_not_found() from None
        return payout_dict(payout)

    async def payouts(self, status: str | None, limit: int) -> list[dict[str, object]]:
        """Requests, newest first."""
        chosen = None if status is None else PayoutStatus(status)
        found = await asyncio.to_thread(self.risk.insurance.payouts, chosen, limit)
        return [payout_dict(p) for p in found]

    async def payout(self, payout_id: int) -> dict[str, object]:
        """One request."""
        try:
            return payout_dict(await asyncio.to_thread(self.risk.insurance.get, payout_id))
        except PayoutNotFound:
            raise errors.payout_not_found() from None

    async def trail(self, payout_id: int) -> list[dict[str, object]]:
        """The audit trail of one request, oldest first."""
        await self.payout(payout_id)
        entries = await asyncio.to_thread(self.risk.insurance.trail, payout_id)
        return [{"at": e.at, "actor": e.actor, "action": e.action, "details": json.loads(e.details or "null")}
                for e in entries]

    def accounts(self, limit: int) -> list[dict[str, object]]:
        """Every account holding a position, by account id."""
        return [r.to_dict() for r in self.risk.monitor.snapshot()[:limit]]

    def nearest(self, limit: int) -> list[dict[str, object]]:
        """The accounts nearest liquidation, highest margin ratio first."""
        return [r.to_dict() for r in self.risk.monitor.nearest(limit)]

    def liquidations(self, account: int | None, limit: int) -> list[dict[str, object]]:
        """The latest liquidation steps, oldest first."""
        return [e.to_dict() for e in self.risk.monitor.recent(limit, account)]

    async def liquidation_stream(self) -> AsyncIterator[dict[str, object]]:
        """Every liquidation step from now on."""
        async for event in self.risk.monitor.stream():
            yield event.to_dict()

    def adl(self, symbol: str, side: str) -> dict[str, object]:
        """The ADL queue installed in the engine for one side of a symbol, first out first."""
        instrument = self.registry.get(symbol)
        if instrument is None:
            raise errors.invalid_symbol()
        queue = self.risk.adl.installed(instrument.spec.symbol, Side[side])
        return {"symbol": symbol, "side": side, "accounts": list(queue)}
