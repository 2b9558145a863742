"""Withdrawal requests with four-eyes approval (the API's own table, not a projection).

Life cycle: ``PENDING`` (requested by one admin) -> ``APPROVING`` (claimed by a *different*
admin, atomically: a conditional UPDATE, so two approvals cannot both win) -> ``COMPLETED``
(the engine applied the ``Withdraw``) or ``FAILED`` (the engine refused it, e.g. not enough
withdrawable balance); or ``PENDING`` -> ``REJECTED`` by any admin. Callers audit each step in
the same transaction.

Exactly once: the engine's ``Withdraw`` carries :func:`idempotency_key` (a digest of the row's id,
request time, account and amount, so it differs even between rows of two databases that reused
an id), and the engine refuses a key it already withdrew. A request left ``APPROVING`` by a crash
(wallet possibly debited, outcome unrecorded) is resolved at start-up by sending the same
``Withdraw`` again: applied now, or refused as already applied, it ends ``COMPLETED``; refused
for another reason, ``FAILED``.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from derivatives.persistence.models import Withdrawal
from derivatives.persistence.views import WithdrawalState, withdrawal_state

PENDING, APPROVING, COMPLETED, FAILED, REJECTED = "PENDING", "APPROVING", "COMPLETED", "FAILED", "REJECTED"
STATUSES = (PENDING, APPROVING, COMPLETED, FAILED, REJECTED)


class WithdrawalError(ValueError):
    """The request is not in a state that allows the step."""


class SameAdminError(PermissionError):
    """The admin who requested a withdrawal tried to approve it."""


def idempotency_key(withdrawal: WithdrawalState) -> int:
    """The engine idempotency key of a request: non-zero, 63 bits."""
    text = f"{withdrawal.id}:{withdrawal.requested_at}:{withdrawal.account_id}:{withdrawal.amount}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1 | 1


def in_flight(session: Session) -> list[WithdrawalState]:
    """Requests claimed for approval whose engine outcome is not recorded (oldest first)."""
    rows = session.execute(select(Withdrawal).where(Withdrawal.status == APPROVING).order_by(Withdrawal.id))
    return [withdrawal_state(r) for r in rows.scalars()]


def request(session: Session, now_ms: int, user_id: int, account_id: int, amount: int, actor: str) -> WithdrawalState:
    """Records a pending request."""
    row = Withdrawal(user_id=user_id, account_id=account_id, amount=amount, status=PENDING, requested_by=actor,
                     requested_at=now_ms, note="")
    session.add(row)
    session.flush()
    return withdrawal_state(row)


def find(session: Session, withdrawal_id: int) -> WithdrawalState | None:
    """One request."""
    row = session.get(Withdrawal, withdrawal_id)
    return None if row is None else withdrawal_state(row)


def listing(session: Session, status: str | None, limit: int) -> list[WithdrawalState]:
    """Requests, newest first."""
    query = select(Withdrawal).order_by(Withdrawal.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Withdrawal.status == status)
    return [withdrawal_state(r) for r in session.execute(query).scalars()]


def _decide(session: Session, withdrawal_id: int, actor: str, now_ms: int, status: str) -> WithdrawalState:
    changed = session.execute(
        update(Withdrawal)
        .where(Withdrawal.id == withdrawal_id, Withdrawal.status == PENDING)
        .values(status=status, decided_by=actor, decided_at=now_ms)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise WithdrawalError(f"withdrawal {withdrawal_id} is not pending")
    row = session.get(Withdrawal, withdrawal_id, populate_existing=True)
    assert row is not None
    return withdrawal_state(row)


def claim(session: Session, withdrawal_id: int, actor: str, now_ms: int) -> WithdrawalState:
    """Moves a pending request to APPROVING for `actor`, who must not be its requester.

    Raises:
        SameAdminError: `actor` requested it.
        WithdrawalError: It does not exist or is no longer pending.
    """
    current = find(session, withdrawal_id)
    if current is None:
        raise WithdrawalError(f"no withdrawal {withdrawal_id}")
    if current.requested_by == actor:
        raise SameAdminError("the requester cannot approve")
    return _decide(session, withdrawal_id, actor, now_ms, APPROVING)


def reject(session: Session, withdrawal_id: int, actor: str, now_ms: int) -> WithdrawalState:
    """Rejects a pending request.

    Raises:
        WithdrawalError: It does not exist or is no longer pending.
    """
    return _decide(session, withdrawal_id, actor, now_ms, REJECTED)


def finish(session: Session, withdrawal_id: int, status: str, seq: int | None, note: str) -> WithdrawalState:
    """Records the engine's outcome of an APPROVING request (COMPLETED or FAILED)."""
    row = session.get(Withdrawal, withdrawal_id)
    if row is None or row.status != APPROVING:
        raise WithdrawalError(f"withdrawal {withdrawal_id} is not being approved")
    row.status, row.seq, row.note = status, seq, note[:128]
    session.flush()
    return withdrawal_state(row)
