"""Four eyes for new admins: one admin identity requests, a different one approves (never the
bootstrap token), and only the new admin ever sees their password and TOTP secret, by enrolling
through a one-time link (``api.services.staff.StaffAuth.enrol``).

Invariants:
    * ``POST /admin/users`` cannot create an admin, and ``POST /admin/users/{id}/credentials``
      cannot set an admin's credentials: this is the only way to a new admin.
    * The enrolment token goes to the approver once (to hand to the new admin); the database keeps
      only its SHA-256; it works once, within ``ENROLMENT_TTL_MS``.
    * Every step is in the audit log: ``admin.request``, ``admin.approve`` (and the
      ``user.create`` of the engine account), ``admin.enrol``.
"""

from __future__ import annotations

import secrets

import anyio.to_thread

from api import errors
from api.auth.roles import Staff
from api.services.admin import AdminService
from derivatives.persistence import accounts, enrolments
from derivatives.persistence.enrolments import EnrolmentView

ENROLMENT_TTL_MS = 24 * 3_600_000


class AdminEnrolments:
    """Requests and approvals of new admins."""

    def __init__(self, admin: AdminService) -> None:
        self.admin = admin
        self.db = admin.db
        self.clock_ms = admin.clock_ms

    async def request(self, actor: Staff, name: str) -> EnrolmentView:
        """A pending request for a new admin named `name`, audited."""

        def run() -> EnrolmentView:
            with self.db.session() as session:
                if accounts.find_user(session, name=name) is not None:
                    raise errors.admin_invalid(f"user {name!r} exists")
                view = enrolments.request(session, self.clock_ms(), name, actor.name)
                accounts.audit(session, self.clock_ms(), actor.name, "admin.request", f"enrolment:{view.id}",
                               name=name, bootstrap=actor.bootstrap)
                return view

        return await anyio.to_thread.run_sync(run)

    async def listing(self) -> list[EnrolmentView]:
        """Every request, newest first."""

        def run() -> list[EnrolmentView]:
            with self.db.reader() as session:
                return enrolments.listing(session)

        return await anyio.to_thread.run_sync(run)

    async def approve(self, actor: Staff, enrolment_id: int) -> tuple[EnrolmentView, str]:
        """Approves a request of another identity: the admin user is created (an engine account)
        and the one-time enrolment token returned, audited.

        Raises:
            ApiError: -1002 (403) for the bootstrap token or the requester; -1130 for a request
                that is not pending.
        """
        if actor.bootstrap:
            raise errors.bootstrap_cannot_approve()

        def pending() -> EnrolmentView:
            with self.db.reader() as session:
                view = enrolments.find(session, enrolment_id)
            if view is None or view.status != enrolments.PENDING:
                raise errors.admin_invalid(f"admin request {enrolment_id} is not pending")
            if view.requested_by == actor.name:
                raise errors.four_eyes("a new admin")
            return view

        view = await anyio.to_thread.run_sync(pending)
        user = await self.admin.create_user(actor.name, view.name, "admin")
        token = secrets.token_urlsafe(32)

        def run() -> EnrolmentView:
            with self.db.session() as session:
                now = self.clock_ms()
                try:
                    approved = enrolments.approve(session, enrolment_id, actor.name, now, user.id, token,
                                                  now + ENROLMENT_TTL_MS)
                except enrolments.EnrolmentError as exc:
                    raise errors.admin_invalid(str(exc)) from None
                accounts.audit(session, now, actor.name, "admin.approve", f"enrolment:{enrolment_id}",
                               name=view.name, user_id=user.id, requested_by=view.requested_by)
                return approved

        return await anyio.to_thread.run_sync(run), token
