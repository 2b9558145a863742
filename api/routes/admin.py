"""``/admin``: users, API keys, fee tiers, instrument halt/resume, deposits, withdrawals, the audit log,
the ledger (``GET /admin/ledger``) and the steering of the simulated price feed (``/admin/oracle``),
for the ``admin`` role: an admin dashboard session (password + TOTP, ``POST /api/v1/auth/login``) or
a named admin bearer token (``DERIVATIVES_ADMIN_TOKENS`` = ``name:token,...``, and
``DERIVATIVES_ADMIN_TOKEN`` as the identity ``admin``, the one ``derivatives serve`` prints); see
``api.auth.roles``.

Withdrawals need two identities: one requests (``POST /admin/users/{id}/withdrawals``), another
approves (``POST /admin/withdrawals/{id}/approve``, never the bootstrap token), which runs the
engine's ``Withdraw``. New admins need two as well (``POST /admin/admins``, then
``/admin/admins/{id}/approve``) and enrol their own password and TOTP through a one-time link.
Staff logins: ``POST /admin/users/{id}/credentials`` sets a trader's or risk officer's password."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth.roles import AdminStaff, StaffAuthDep
from api.deps import ServicesDep
from api.routes.common import AMOUNT_PATTERN, ERRORS, INT64_MAX, RowId, ok
from api.services.admin_enrolment import AdminEnrolments
from api.services.ledger import LedgerService
from api.services.oracle_control import steer
from derivatives.persistence.accounts import KeyView, UserView
from derivatives.persistence.enrolments import EnrolmentView
from derivatives.persistence.views import WithdrawalState
from derivatives.units import from_raw

router = APIRouter(prefix="/admin", tags=["admin"], responses=ERRORS)


async def admin_actor(staff: AdminStaff) -> str:
    """The acting admin's name (an admin token's identity, or an admin session's user)."""
    return staff.name


Actor = Annotated[str, Depends(admin_actor)]
SIGNED_FRACTION = r"^-?[0-9](\.[0-9]{1,8})?$"
WithdrawalStatus = Literal["PENDING", "APPROVING", "COMPLETED", "FAILED", "REJECTED"]


class NewUser(BaseModel):
    """A user to create."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    role: Literal["trader", "risk"] = "trader"


class NewKey(BaseModel):
    """An API key to issue."""

    label: str = Field(default="", max_length=64)
    trade: bool = Field(default=True, description="Grant the TRADE permission (read is always granted).")


def _user(u: UserView) -> dict[str, object]:
    return {"id": u.id, "name": u.name, "accountId": u.account_id, "role": u.role, "active": u.active,
            "createdAt": u.created_at}


def _key(k: KeyView, with_secret: bool) -> dict[str, object]:
    body: dict[str, object] = {"apiKey": k.api_key, "label": k.label, "userId": k.user.id,
                               "permissions": ["read", "trade"] if k.can_trade else ["read"], "revoked": k.revoked}
    if with_secret:
        body["secret"] = k.secret
    return body


@router.post("/users")
async def create_user(services: ServicesDep, actor: Actor, body: NewUser) -> JSONResponse:
    """Create a trader or risk officer (the engine opens the account); admins are requested with
    ``POST /admin/admins``."""
    return ok(_user(await services.admin.create_user(actor, body.name, body.role)))


class NewCredentials(BaseModel):
    """A dashboard password to set."""

    password: str = Field(min_length=8, max_length=256)


@router.post("/users/{user_id}/credentials")
async def set_credentials(services: ServicesDep, staff: StaffAuthDep, actor: Actor, user_id: RowId,
                          body: NewCredentials) -> JSONResponse:
    """Set a user's dashboard password; an admin also gets a new TOTP secret (shown only here)."""
    return ok(await staff.set_credentials(services.db, actor, user_id, body.password))


@router.get("/users")
async def list_users(services: ServicesDep, _actor: Actor) -> JSONResponse:
    """Every user."""
    return ok([_user(u) for u in await services.admin.users()])


@router.post("/users/{user_id}/api-keys")
async def create_key(services: ServicesDep, actor: Actor, user_id: RowId, body: NewKey) -> JSONResponse:
    """Issue an API key; the secret is shown only in this answer."""
    return ok(_key(await services.admin.create_key(actor, user_id, body.label, body.trade), with_secret=True))


@router.get("/users/{user_id}/api-keys")
async def list_keys(services: ServicesDep, _actor: Actor, user_id: RowId) -> JSONResponse:
    """A user's keys (no secrets)."""
    return ok([_key(k, with_secret=False) for k in await services.admin.keys_of(user_id)])


@router.delete("/api-keys/{api_key}")
async def revoke_key(services: ServicesDep, actor: Actor, api_key: str) -> JSONResponse:
    """Revoke a key (effective at once)."""
    await services.admin.revoke_key(actor, api_key)
    return ok({"apiKey": api_key, "revoked": True})


class Amount(BaseModel):
    """A deposit or withdrawal amount, as a decimal string."""

    amount: str = Field(pattern=AMOUNT_PATTERN, description="USDT, at most 8 decimals")


@router.post("/users/{user_id}/deposits")
async def credit_deposit(services: ServicesDep, actor: Actor, user_id: RowId, body: Amount) -> JSONResponse:
    """Credit a deposit to the user's account; answered once the engine has applied it."""
    return ok(await services.admin.deposit(actor, user_id, Decimal(body.amount)))


class FeeTier(BaseModel):
    """A tier of the published fee schedule (``derivatives.fee_schedule``)."""

    tier: int = Field(ge=0, le=9, description="0: the instruments' own rates; 1-9: Binance's VIP rates")


@router.post("/users/{user_id}/feeTier")
async def set_fee_tier(services: ServicesDep, actor: Actor, user_id: RowId, body: FeeTier) -> JSONResponse:
    """Put the user's account on a fee tier (engine ``SetFeeTier``); answered once projected."""
    return ok(await services.admin.set_fee_tier(actor, user_id, body.tier))


def _withdrawal(w: WithdrawalState) -> dict[str, object]:
    return {"id": w.id, "userId": w.user_id, "accountId": w.account_id, "amount": f"{from_raw(w.amount):f}",
            "status": w.status, "requestedBy": w.requested_by, "requestedAt": w.requested_at,
            "decidedBy": w.decided_by, "decidedAt": w.decided_at, "seq": w.seq, "note": w.note}


@router.post("/users/{user_id}/withdrawals")
async def request_withdrawal(services: ServicesDep, actor: Actor, user_id: RowId, body: Amount) -> JSONResponse:
    """Request a withdrawal from the user's account; it waits for a second admin's approval."""
    return ok(_withdrawal(await services.admin.request_withdrawal(actor, user_id, Decimal(body.amount))))


@router.get("/withdrawals")
async def list_withdrawals(services: ServicesDep, _actor: Actor,
                           status: Annotated[WithdrawalStatus | None, Query()] = None,
                           limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> JSONResponse:
    """Withdrawal requests, newest first."""
    return ok([_withdrawal(w) for w in await services.admin.withdrawals(status, limit)])


@router.post("/withdrawals/{withdrawal_id}/approve")
async def approve_withdrawal(services: ServicesDep, staff: AdminStaff, withdrawal_id: RowId) -> JSONResponse:
    """Approve (a different admin than the requester, never the bootstrap token): the engine
    debits the wallet, up to what is withdrawable; a refusal leaves the request FAILED with the
    engine's reason."""
    return ok(_withdrawal(await services.admin.approve_withdrawal(staff.name, withdrawal_id, staff.bootstrap)))


class NewAdmin(BaseModel):
    """A new admin to request."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


def _enrolment(e: EnrolmentView) -> dict[str, object]:
    return {"id": e.id, "name": e.name, "status": e.status, "requestedBy": e.requested_by,
            "requestedAt": e.requested_at, "approvedBy": e.approved_by, "approvedAt": e.approved_at,
            "userId": e.user_id, "expiresAt": e.expires_at}


@router.post("/admins")
async def request_admin(services: ServicesDep, staff: AdminStaff, body: NewAdmin) -> JSONResponse:
    """Request a new admin (any admin identity, the bootstrap token included); a second admin
    approves."""
    return ok(_enrolment(await AdminEnrolments(services.admin).request(staff, body.name)))


@router.get("/admins")
async def list_admin_requests(services: ServicesDep, _actor: Actor) -> JSONResponse:
    """Admin requests, newest first."""
    return ok([_enrolment(e) for e in await AdminEnrolments(services.admin).listing()])


@router.post("/admins/{enrolment_id}/approve")
async def approve_admin(services: ServicesDep, staff: AdminStaff, enrolment_id: RowId) -> JSONResponse:
    """Approve another identity's request (never the bootstrap token): the admin user is created
    and the one-time enrolment token returned, for the new admin alone to use at
    ``POST /api/v1/auth/enrol`` (the dashboard's ``#enrol=<token>`` link)."""
    view, token = await AdminEnrolments(services.admin).approve(staff, enrolment_id)
    return ok({**_enrolment(view), "enrolmentToken": token, "link": f"/dashboard#enrol={token}"})


@router.post("/withdrawals/{withdrawal_id}/reject")
async def reject_withdrawal(services: ServicesDep, actor: Actor, withdrawal_id: RowId) -> JSONResponse:
    """Reject a pending withdrawal."""
    return ok(_withdrawal(await services.admin.reject_withdrawal(actor, withdrawal_id)))


@router.post("/instruments/{symbol}/halt")
async def halt(services: ServicesDep, actor: Actor, symbol: str) -> JSONResponse:
    """Stop trading a symbol (new orders refused with "Market is closed."; cancels still work)."""
    return ok(await services.admin.set_trading(actor, symbol, False))


@router.post("/instruments/{symbol}/resume")
async def resume(services: ServicesDep, actor: Actor, symbol: str) -> JSONResponse:
    """Resume trading a symbol."""
    return ok(await services.admin.set_trading(actor, symbol, True))


@router.get("/audit-log")
async def audit_log(services: ServicesDep, _actor: Actor,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                    before_id: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None) -> JSONResponse:
    """Administrative actions, newest first."""
    entries = await services.admin.audit_log(limit, before_id)
    return ok([{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "target": e.target,
                "details": e.details} for e in entries])


@router.get("/ledger")
async def ledger(services: ServicesDep, _actor: Actor,
                 since_seq: Annotated[int, Query(alias="sinceSeq", ge=0)] = 0) -> JSONResponse:
    """The exchange's money at one engine seq: every wallet and unrealised PnL summed against the net
    deposits, the insurance fund and fee account, any margin unit under maintenance, and the
    liquidation activity after ``sinceSeq``."""
    return ok(await LedgerService(services.account.client, services.account.db, services.worker,
                                  services.settings.projection_wait_ms / 1000).ledger(since_seq))


class SteerBody(BaseModel):
    """A steering message of the simulated price feed (docs/ORACLE.md, "Steering")."""

    base: str | None = Field(default=None, max_length=16, description="Base asset to move; omitted: every base.")
    change: str | None = Field(default=None, pattern=SIGNED_FRACTION,
                               description="Relative move, e.g. -0.20 for a 20 % fall.")
    overMs: int | None = Field(default=None, ge=0, le=3_600_000, description="Duration of the move (linear).")
    stale: list[str] | None = Field(default=None, description="Venues that stop quoting (replaces the set).")
    offsets: dict[str, str] | None = Field(default=None, description="Venue -> relative offset of its quotes.")
    reset: bool = Field(default=False, description="Clear the venue faults first; the price level stays.")


@router.get("/oracle")
async def oracle_state(services: ServicesDep, _actor: Actor) -> JSONResponse:
    """The steering of the simulated feed and the latest index and mark per symbol."""
    return ok(await steer(services, {}))


@router.post("/oracle/steer")
async def oracle_steer(services: ServicesDep, actor: Actor, body: SteerBody) -> JSONResponse:
    """Steers the simulated feed (a scripted move or venue faults); audited."""
    message = body.model_dump(exclude_none=True, exclude_defaults=True)
    reply = await steer(services, message)
    await services.admin.record(actor, "oracle.steer", "oracle", message)
    return ok(reply)
