"""Compensation payouts with two-person approval, stored with an audit trail.

A request approved twice is submitted to the engine as ``InsurancePayout``.

Storage (``derivatives.persistence.models``): ``insurance_payouts`` holds each request and its
approvals; ``insurance_payout_actions`` is the append-only trail (REQUESTED, APPROVED, SUBMITTED,
PAID, REFUSED, DENIED), written in the same transaction as the change it records.

Invariants:
    * The rules are :mod:`risk.insurance`'s; this module only loads, applies and stores them, one
      transition at a time per process and with the request's row locked (``SELECT ... FOR
      UPDATE`` on PostgreSQL; SQLite refuses a write from a stale snapshot), so two concurrent
      approvals cannot both submit: only the transaction that moves a request to SUBMITTING does.
    * A request is SUBMITTING from the second approval until the engine's answer is stored. The
      command carries the request id as its idempotency key, so the engine pays it at most once:
      a request left SUBMITTING by a crash is simply sent again (:meth:`InsuranceService.resume`,
      at start-up), and the engine's ``DUPLICATE_PAYOUT`` answer means it was paid before.
    * Database work runs in worker threads, off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from derivatives.commands import InsurancePayout
from derivatives.enums import PayoutReason
from derivatives.persistence.db import Database
from derivatives.persistence.models import PayoutAction, PayoutRequest
from derivatives.units import from_raw, to_raw
from risk.insurance import Payout, PayoutStatus, approve, deny, new_payout, settle
from risk.ports import Clock, Submit, wall_clock_ms

_Change = Callable[[Payout], Payout]
"""A transition of :mod:`risk.insurance`."""


class PayoutNotFound(LookupError):
    """No payout request has that id."""


@dataclass(frozen=True, slots=True)
class ActionEntry:
    """One row of the audit trail.

    Attributes:
        at: Unix ms.
        actor: Who (normalised identity, or ``engine``).
        action: REQUESTED, APPROVED, SUBMITTED, PAID, REFUSED or DENIED.
        details: JSON text.
    """

    at: int
    actor: str
    action: str
    details: str


class InsuranceService:
    """Requests, approves, denies and pays compensation from the insurance fund."""

    def __init__(self, db: Database, submit: Submit, *, clock: Clock = wall_clock_ms) -> None:
        """Wire the service.

        Args:
            db: The database (migrated).
            submit: The engine's command door.
            clock: Injected time (Unix ms).
        """
        self._db = db
        self._submit = submit
        self._clock = clock
        self._lock = threading.Lock()

    async def request(self, account: int, amount: Decimal, requested_by: str, memo: str) -> Payout:
        """Files a pending request.

        Args:
            account: The account to pay.
            amount: USDT, > 0, at most 8 decimal places.
            requested_by: The requester.
            memo: Why.

        Returns:
            The stored request.

        Raises:
            ApprovalError: If the request is invalid.
        """
        payout = new_payout(account, amount, requested_by, memo)
        return await asyncio.to_thread(self._insert, payout)

    async def approve(self, payout_id: int, approver: str) -> Payout:
        """Approves a request; the second distinct approval submits it to the engine.

        Args:
            payout_id: The request.
            approver: Who approves (neither the requester nor the first approver).

        Returns:
            The request after the approval, and after the engine's answer when it was submitted.

        Raises:
            ApprovalError: If the two-person rule forbids it.
            PayoutNotFound: For an unknown id.
        """
        payout = await asyncio.to_thread(
            self._transition, payout_id, lambda p: approve(p, approver), approver
        )
        if payout.status is not PayoutStatus.SUBMITTING:
            return payout
        return await self._pay(payout)

    async def resume(self) -> list[Payout]:
        """Sends again every request a crash left SUBMITTING (safe: the engine pays a request
        id once) and stores the answers.

        Returns:
            The requests after their answers.
        """
        stuck = await asyncio.to_thread(self.payouts, PayoutStatus.SUBMITTING, 10_000)
        return [await self._pay(payout) for payout in sorted(stuck, key=lambda p: p.id)]

    async def _pay(self, payout: Payout) -> Payout:
        command = InsurancePayout(payout.account, payout.amount, PayoutReason.COMPENSATION, key=payout.id)
        batch = await self._submit([command])
        return await asyncio.to_thread(
            self._transition, payout.id, lambda p: settle(p, batch.events), "engine"
        )

    async def deny(self, payout_id: int, approver: str, note: str) -> Payout:
        """Denies a pending request.

        Args:
            payout_id: The request.
            approver: Who denies it (not the requester).
            note: Why.

        Returns:
            The denied request.

        Raises:
            ApprovalError: If the request is not pending or the approver is the requester.
            PayoutNotFound: For an unknown id.
        """
        return await asyncio.to_thread(
            self._transition, payout_id, lambda p: deny(p, approver, note), approver
        )

    def get(self, payout_id: int) -> Payout:
        """One request.

        Raises:
            PayoutNotFound: For an unknown id.
        """
        with self._db.reader() as session:
            return _payout(_row(session, payout_id, lock=False))

    def payouts(self, status: PayoutStatus | None = None, limit: int = 100) -> list[Payout]:
        """Requests, newest first.

        Args:
            status: Only requests in this state, or all.
            limit: At most this many.

        Returns:
            The requests.
        """
        query = select(PayoutRequest).order_by(PayoutRequest.id.desc()).limit(limit)
        if status is not None:
            query = query.where(PayoutRequest.status == status.value)
        with self._db.reader() as session:
            return [_payout(row) for row in session.scalars(query)]

    def trail(self, payout_id: int) -> list[ActionEntry]:
        """The audit trail of one request, oldest first."""
        query = (
            select(PayoutAction)
            .where(PayoutAction.payout_id == payout_id)
            .order_by(PayoutAction.id)
        )
        with self._db.reader() as session:
            return [ActionEntry(a.at, a.actor, a.action, a.details) for a in session.scalars(query)]

    def _insert(self, payout: Payout) -> Payout:
        now = self._clock()
        with self._db.session() as session:
            row = PayoutRequest(
                account_id=payout.account,
                amount=to_raw(payout.amount),
                memo=payout.memo,
                status=payout.status.value,
                requested_by=payout.requested_by,
                requested_at=now,
            )
            session.add(row)
            session.flush()
            _record(
                session,
                row.id,
                now,
                payout.requested_by,
                "REQUESTED",
                {"account": payout.account, "amount": f"{payout.amount:f}", "memo": payout.memo},
            )
            return _payout(row)

    def _transition(self, payout_id: int, change: _Change, actor: str) -> Payout:
        """Loads the request locked, applies `change`, stores the result and its trail rows."""
        now = self._clock()
        with self._lock, self._db.session() as session:
            row = _row(session, payout_id, lock=True)
            before = _payout(row)
            after = change(before)
            row.status = after.status.value
            for slot, who in enumerate(
                after.approvals[len(before.approvals) :], start=len(before.approvals)
            ):
                _store_approval(row, slot, who, now)
                _record(session, payout_id, now, who, "APPROVED", {})
            if after.status is PayoutStatus.SUBMITTING:
                _record(
                    session, payout_id, now, "engine", "SUBMITTED", {"command": "InsurancePayout"}
                )
            if after.status in (PayoutStatus.PAID, PayoutStatus.REFUSED, PayoutStatus.DENIED):
                row.decided_at, row.outcome, row.engine_seq = now, after.outcome, after.engine_seq
                _record(
                    session,
                    payout_id,
                    now,
                    actor if after.status is PayoutStatus.DENIED else "engine",
                    after.status.value,
                    {"outcome": after.outcome, "engine_seq": after.engine_seq},
                )
            return _payout(row)


def _row(session: Session, payout_id: int, *, lock: bool) -> PayoutRequest:
    query = select(PayoutRequest).where(PayoutRequest.id == payout_id)
    row = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise PayoutNotFound(f"no payout request {payout_id}")
    return row


def _store_approval(row: PayoutRequest, slot: int, who: str, now: int) -> None:
    if slot == 0:
        row.first_approver, row.first_approved_at = who, now
    else:
        row.second_approver, row.second_approved_at = who, now


def _record(
    session: Session, payout_id: int, at: int, actor: str, action: str, details: dict[str, object]
) -> None:
    session.add(
        PayoutAction(
            payout_id=payout_id,
            at=at,
            actor=actor,
            action=action,
            details=json.dumps(details, sort_keys=True),
        )
    )


def _payout(row: PayoutRequest) -> Payout:
    approvals = tuple(who for who in (row.first_approver, row.second_approver) if who is not None)
    return Payout(
        row.id,
        row.account_id,
        from_raw(row.amount),
        row.memo,
        row.requested_by,
        approvals,
        PayoutStatus(row.status),
        row.outcome,
        row.engine_seq,
    )
