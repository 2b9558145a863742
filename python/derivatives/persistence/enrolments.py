"""Admin enrolments (four eyes for new admins): the API's own table.

Life cycle: ``PENDING`` (requested by one admin identity) -> ``APPROVED`` (by a *different* admin
identity, never the bootstrap token: the admin user now exists, without credentials, and a
one-time enrolment token is issued, stored only as its SHA-256) -> ``ENROLLED`` (the new admin set
their own password and received their own TOTP secret through the token, which then never works
again; it also expires). Each step is a conditional UPDATE, so two approvals or two enrolments
cannot both win. Callers audit each step in the same transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from derivatives.persistence.models import AdminEnrolment

PENDING, APPROVED, ENROLLED = "PENDING", "APPROVED", "ENROLLED"


class EnrolmentError(ValueError):
    """The request is not in a state that allows the step."""


@dataclass(frozen=True, slots=True)
class EnrolmentView:
    """An enrolment as the API shows it (never the token)."""

    id: int
    name: str
    status: str
    requested_by: str
    requested_at: int
    approved_by: str | None
    approved_at: int | None
    user_id: int | None
    expires_at: int | None


def _view(row: AdminEnrolment) -> EnrolmentView:
    return EnrolmentView(row.id, row.name, row.status, row.requested_by, row.requested_at, row.approved_by,
                         row.approved_at, row.user_id, row.expires_at)


def token_hash(token: str) -> str:
    """How a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def request(session: Session, now_ms: int, name: str, actor: str) -> EnrolmentView:
    """Records a pending request for admin `name`."""
    row = AdminEnrolment(name=name, status=PENDING, requested_by=actor, requested_at=now_ms)
    session.add(row)
    session.flush()
    return _view(row)


def find(session: Session, enrolment_id: int) -> EnrolmentView | None:
    """One request."""
    row = session.get(AdminEnrolment, enrolment_id)
    return None if row is None else _view(row)


def listing(session: Session) -> list[EnrolmentView]:
    """Every request, newest first."""
    rows = session.execute(select(AdminEnrolment).order_by(AdminEnrolment.id.desc())).scalars()
    return [_view(r) for r in rows]


def approve(session: Session, enrolment_id: int, actor: str, now_ms: int, user_id: int, token: str,
            expires_at: int) -> EnrolmentView:
    """PENDING -> APPROVED with the admin user and the enrolment token's hash.

    Raises:
        EnrolmentError: It is no longer pending.
    """
    changed = session.execute(
        update(AdminEnrolment).where(AdminEnrolment.id == enrolment_id, AdminEnrolment.status == PENDING)
        .values(status=APPROVED, approved_by=actor, approved_at=now_ms, user_id=user_id,
                token_hash=token_hash(token), expires_at=expires_at))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise EnrolmentError(f"admin request {enrolment_id} is not pending")
    view = find(session, enrolment_id)
    assert view is not None
    return view


def consume(session: Session, token: str, now_ms: int) -> EnrolmentView:
    """APPROVED -> ENROLLED for the request `token` belongs to, if unexpired; the token is spent.

    Raises:
        EnrolmentError: An unknown, spent or expired token.
    """
    row = session.execute(select(AdminEnrolment).where(AdminEnrolment.token_hash == token_hash(token)))\
        .scalar_one_or_none()
    changed = None if row is None else session.execute(
        update(AdminEnrolment)
        .where(AdminEnrolment.id == row.id, AdminEnrolment.status == APPROVED, AdminEnrolment.expires_at > now_ms)
        .values(status=ENROLLED, token_hash=None))
    if row is None or changed is None or changed.rowcount != 1:  # type: ignore[attr-defined]
        raise EnrolmentError("unknown, used or expired enrolment link")
    session.refresh(row)
    return _view(row)
