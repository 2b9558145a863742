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
import logging
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal

from api import errors
from api.instruments import InstrumentRegistry
from api.services.desk_views import DeskViews
from derivatives.enums import Side
from derivatives.units import format_raw
from oracle import MarkPriceService
from risk import ApprovalError, Payout, PayoutNotFound, PayoutStatus, RiskServices

log = logging.getLogger("api.payouts")

DENY_REASONS = ("NOT_ELIGIBLE", "DUPLICATE", "INSUFFICIENT_EVIDENCE", "EXCEEDS_FUND", "OTHER")
"""Why a payout request is denied; stored as the outcome ``REASON`` or ``REASON: note``."""


def payout_dict(p: Payout, available: Decimal | None = None) -> dict[str, object]:
    """A payout request on the wire; with the fund's `available` amount (margin balance above its
    floor), ``exceedsFund`` warns that an open request cannot be paid in full."""
    reason = None
    if p.status is PayoutStatus.DENIED and p.outcome:
        head = p.outcome.split(":", 1)[0]
        reason = head if head in DENY_REASONS else "OTHER"
    open_request = p.status in (PayoutStatus.PENDING, PayoutStatus.SUBMITTING)
    return {"id": p.id, "account": p.account, "amount": f"{p.amount:f}", "memo": p.memo,
            "requestedBy": p.requested_by, "approvals": list(p.approvals), "status": p.status.value,
            "outcome": p.outcome, "denyReason": reason, "engineSeq": p.engine_seq,
            "exceedsFund": bool(open_request and available is not None and p.amount > available)}


class RiskDesk:
    """Risk queries and payout decisions (built per request; holds no state of its own)."""

    def __init__(self, risk: RiskServices | None, registry: InstrumentRegistry, views: DeskViews | None = None,
                 oracle: MarkPriceService | None = None) -> None:
        self._services = risk
        self.registry = registry
        self._views = views
        self.oracle = oracle

    @property
    def views(self) -> DeskViews:
        """The engine-backed views (-1020 when this process has no engine client)."""
        if self._views is None:
            raise errors.risk_services_off()
        return self._views

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

    async def insurance_unwinds(self, limit: int) -> list[dict[str, object]]:
        """The fund unwinder's stored steps (slices sent and pauses, each with its reason), oldest first."""
        return await self.risk.unwinder.history(limit)

    def insurance_history(self, start_ms: int | None, end_ms: int | None, limit: int) -> list[dict[str, object]]:
        """The fund's balance after each change, oldest first."""
        return self.risk.fund_history.history(start_ms, end_ms, limit)

    def fund_points(self, limit: int) -> list[dict[str, object]]:
        """The fund's wallet after each change with its reason (``LIQUIDATION_FEE``,
        ``INSURANCE_CLEAR`` = bad debt, ``INSURANCE_PAYOUT``, ``FUNDING_FEE`` = funding dust,
        ``TRADE`` = a takeover or its unwinding), oldest first."""
        points = self.risk.fund_history.points[-limit:]
        return [{"seq": p.seq, "time": p.time_ms, "wallet": format_raw(p.wallet), "change": format_raw(p.change),
                 "reason": p.reason} for p in points]

    def fund_available(self) -> Decimal:
        """What the fund can pay now: its margin balance above the configured floor."""
        current = self.risk.fund_history.current(self.risk.view)
        assets = current["assets"]
        assert isinstance(assets, list)
        balance = Decimal(str(assets[0]["marginBalance"]))
        return balance - (self.risk.config.insurance_floor or Decimal(0))

    async def request_payout(self, actor: str, account: int, amount: Decimal, memo: str) -> dict[str, object]:
        """Files a payout request (pending two approvals by others)."""
        return await self._decide(self.risk.insurance.request(account, amount, actor, memo))

    async def approve_payout(self, actor: str, payout_id: int) -> dict[str, object]:
        """Approves; the second approval pays (or the engine refuses: ``REFUSED``)."""
        return await self._decide(self.risk.insurance.approve(payout_id, actor))

    async def deny_payout(self, actor: str, payout_id: int, reason: str, note: str) -> dict[str, object]:
        """Denies a pending request with a typed `reason` (one of ``DENY_REASONS``)."""
        outcome = f"{reason}: {note}" if note else reason
        return await self._decide(self.risk.insurance.deny(payout_id, actor, outcome))

    async def _decide(self, step: Awaitable[Payout]) -> dict[str, object]:
        try:
            payout = await step
        except ApprovalError as refused:
            raise errors.payout_refused(str(refused)) from None
        except PayoutNotFound:
            raise errors.payout_not_found() from None
        log.info("payout", extra={"fields": {"id": payout.id, "account": payout.account, "amount": f"{payout.amount:f}",
                                             "status": payout.status.value, "approvals": list(payout.approvals),
                                             "requested_by": payout.requested_by, "outcome": payout.outcome}})
        return payout_dict(payout, self.fund_available())

    async def payouts(self, status: str | None, limit: int) -> list[dict[str, object]]:
        """Requests, newest first, with their outcome and the over-the-fund warning."""
        chosen = None if status is None else PayoutStatus(status)
        found = await asyncio.to_thread(self.risk.insurance.payouts, chosen, limit)
        available = self.fund_available()
        return [payout_dict(p, available) for p in found]

    async def payout(self, payout_id: int) -> dict[str, object]:
        """One request."""
        try:
            return payout_dict(await asyncio.to_thread(self.risk.insurance.get, payout_id), self.fund_available())
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

    async def nearest_legs(self, limit: int) -> list[dict[str, object]]:
        """Every open leg of the accounts nearest liquidation, with the engine's liquidation price."""
        ranked = [(r.account, r.margin_ratio) for r in self.risk.monitor.nearest(limit)]
        return await asyncio.to_thread(self.views.legs, ranked)

    async def account_detail(self, account: int) -> dict[str, object]:
        """Drill-down of one account: its legs (engine figures), liquidation and ADL steps."""
        ratio = next((r.margin_ratio for r in self.risk.monitor.snapshot() if r.account == account), None)
        legs = await asyncio.to_thread(self.views.legs, [(account, ratio)])
        names = await asyncio.to_thread(self.views.names, [account])
        steps = [e.to_dict() for e in self.risk.monitor.recent(1000, account)]
        return {"account": account, "name": names.get(account), "positions": legs,
                "liquidations": [s for s in steps if s["type"] != "AUTO_DELEVERAGED"],
                "adl": [s for s in steps if s["type"] == "AUTO_DELEVERAGED"]}

    def prices(self, symbol: str) -> dict[str, object]:
        """The oracle's last publication of `symbol`: mark, index, each venue (stale ones marked);
        without an oracle in this process, the engine's mark and index (``source: engine``)."""
        instrument = self.registry.require(symbol)
        latest = None if self.oracle is None else self.oracle.latest(symbol)
        if latest is None:
            engine = self.views.client.prices(instrument.spec.symbol)
            mark, index = (None, None) if engine is None else (engine.mark, engine.index)
            return {"symbol": symbol, "source": "engine", "time": None if mark is None else self.views.clock_ms(),
                    "markPrice": None if mark is None else f"{mark:f}",
                    "indexPrice": None if index is None else f"{index:f}", "stale": False, "venues": []}
        venues = [{"venue": c.venue, "price": f"{c.price:f}", "weight": f"{c.weight:f}", "stale": False}
                  for c in latest.index_result.constituents]
        venues += [{"venue": venue, "price": None, "weight": "0", "stale": True, "reason": str(why)}
                   for venue, why in latest.index_result.excluded]
        return {"symbol": symbol, "source": "oracle", "time": latest.time_ms, "markPrice": f"{latest.mark:f}",
                "indexPrice": f"{latest.index:f}", "stale": latest.flags.stale, "venues": venues}

    def adl_queues(self) -> list[dict[str, object]]:
        """Every ADL queue (symbol, LONG/SHORT) as the engine would deleverage it (the installed
        ranking first, then its own BitMEX order), each position's quantity and quantile (4: first
        out), from ``Engine.adl_queue`` (blocking: engine queries)."""
        out: list[dict[str, object]] = []
        for instrument in self.registry.all():
            for side in (Side.BUY, Side.SELL):
                queue = self.views.client.adl_queue(instrument.spec.symbol, side) or []
                out.append({"symbol": instrument.name, "side": "LONG" if side is Side.BUY else "SHORT",
                            "accounts": [{"account": e.account, "qty": f"{e.qty:f}", "quantile": e.quantile}
                                         for e in queue]})
        return out

    def adl(self, symbol: str, side: str) -> dict[str, object]:
        """The ADL queue installed in the engine for one side of a symbol, first out first."""
        instrument = self.registry.get(symbol)
        if instrument is None:
            raise errors.invalid_symbol()
        queue = self.risk.adl.installed(instrument.spec.symbol, Side[side])
        return {"symbol": symbol, "side": side, "accounts": list(queue)}
