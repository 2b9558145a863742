"""Risk-desk routes (docs/RISK.md "routes"): the public ``/fapi/v1/insuranceBalance``, and under
``/risk`` (role ``risk`` or ``admin``) the insurance fund's history, four-eyes compensation
payouts, margin of every account, the accounts nearest liquidation, liquidations (REST and the
``/risk/ws/liquidations`` stream) and the installed ADL queues. Thin: logic in
``api.services.risk_desk``."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from api.auth.roles import RISK, RiskStaff, authorize, identify, staff_auth
from api.deps import get_services, public
from api.errors import ApiError
from api.params import OPTIONAL_SYMBOL, Params, Spec
from api.routes.common import AMOUNT_PATTERN, ERRORS, ok
from api.services.risk_desk import RiskDesk

public_router = APIRouter(prefix="/fapi", tags=["market"], responses=ERRORS)
router = APIRouter(prefix="/risk", tags=["risk"], responses=ERRORS)
ONE_OR_ALL = Spec((OPTIONAL_SYMBOL,))
Limit = Annotated[int, Query(ge=1, le=1000)]
PayoutState = Literal["PENDING", "SUBMITTING", "PAID", "REFUSED", "DENIED"]


def risk_desk(request: HTTPConnection) -> RiskDesk:
    """The desk over the app's risk services (``app.state.risk``; absent when they are off)."""
    return RiskDesk(getattr(request.app.state, "risk", None), get_services(request).registry)


Desk = Annotated[RiskDesk, Depends(risk_desk)]


@public_router.get("/v1/insuranceBalance", openapi_extra=ONE_OR_ALL.openapi(False))
async def insurance_balance(desk: Desk, params: Annotated[Params, Depends(public(ONE_OR_ALL))]) -> JSONResponse:
    """Insurance fund margin balance (wallet + uPnL of what it holds); one fund covers every symbol."""
    return ok(desk.insurance_balance(params.text("symbol")))


@router.get("/insurance/history")
async def insurance_history(desk: Desk, _staff: RiskStaff, limit: Limit = 500,
                            start_time: Annotated[int | None, Query(alias="startTime", ge=0)] = None,
                            end_time: Annotated[int | None, Query(alias="endTime", ge=0)] = None) -> JSONResponse:
    """The fund's balance after each change, oldest first."""
    return ok(desk.insurance_history(start_time, end_time, limit))


class PayoutBody(BaseModel):
    """A compensation payout to request."""

    account: int = Field(ge=1, le=2**63 - 1)
    amount: str = Field(pattern=AMOUNT_PATTERN, description="USDT, at most 8 decimals")
    memo: str = Field(min_length=1, max_length=500)


class DenyBody(BaseModel):
    """Why a payout is denied."""

    note: str = Field(default="", max_length=500)


@router.post("/insurance/payouts")
async def request_payout(desk: Desk, staff: RiskStaff, body: PayoutBody) -> JSONResponse:
    """Request a payout; two other risk users must approve it."""
    return ok(await desk.request_payout(staff.name, body.account, Decimal(body.amount), body.memo))


@router.post("/insurance/payouts/{payout_id}/approve")
async def approve_payout(desk: Desk, staff: RiskStaff, payout_id: int) -> JSONResponse:
    """Approve (neither the requester nor the first approver); the second approval pays."""
    return ok(await desk.approve_payout(staff.name, payout_id))


@router.post("/insurance/payouts/{payout_id}/deny")
async def deny_payout(desk: Desk, staff: RiskStaff, payout_id: int, body: DenyBody) -> JSONResponse:
    """Deny a pending request (not the requester)."""
    return ok(await desk.deny_payout(staff.name, payout_id, body.note))


@router.get("/insurance/payouts")
async def list_payouts(desk: Desk, _staff: RiskStaff, status: Annotated[PayoutState | None, Query()] = None,
                       limit: Limit = 100) -> JSONResponse:
    """Payout requests, newest first."""
    return ok(await desk.payouts(status, limit))


@router.get("/insurance/payouts/{payout_id}")
async def get_payout(desk: Desk, _staff: RiskStaff, payout_id: int) -> JSONResponse:
    """One payout request."""
    return ok(await desk.payout(payout_id))


@router.get("/insurance/payouts/{payout_id}/trail")
async def payout_trail(desk: Desk, _staff: RiskStaff, payout_id: int) -> JSONResponse:
    """Who did what to a payout request, oldest first."""
    return ok(await desk.trail(payout_id))


@router.get("/accounts")
async def accounts(desk: Desk, _staff: RiskStaff, limit: Limit = 1000) -> JSONResponse:
    """Margin of every account holding a position."""
    return ok(desk.accounts(limit))


@router.get("/accounts/nearest")
async def nearest(desk: Desk, _staff: RiskStaff, limit: Limit = 20) -> JSONResponse:
    """Accounts nearest liquidation (highest maintenance / margin balance first)."""
    return ok(desk.nearest(limit))


@router.get("/liquidations")
async def liquidations(desk: Desk, _staff: RiskStaff, limit: Limit = 100,
                       account: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None) -> JSONResponse:
    """The latest liquidation steps, oldest first."""
    return ok(desk.liquidations(account, limit))


@router.get("/adl")
async def adl(desk: Desk, _staff: RiskStaff, symbol: Annotated[str, Query(max_length=20)],
              side: Annotated[Literal["BUY", "SELL"], Query()]) -> JSONResponse:
    """The ADL queue installed in the engine for one side (BUY: longs) of a symbol, first out first."""
    return ok(desk.adl(symbol, side))


@router.websocket("/ws/liquidations")
async def liquidation_stream(websocket: WebSocket, token: str = "") -> None:
    """Every liquidation step as JSON, from the moment of connection (``?token=`` session or admin
    token, role risk or admin; refused: accepted, then closed with code 4401)."""
    desk = risk_desk(websocket)
    await websocket.accept()
    try:
        authorize(identify(token, get_services(websocket).admins, staff_auth(websocket).sessions), RISK)
    except ApiError as refused:
        await websocket.close(code=4401, reason=refused.msg[:120])
        return
    if not desk.running:
        await websocket.close(code=4503, reason="the risk services are not running")
        return

    async def forward() -> None:
        async for event in desk.liquidation_stream():
            await websocket.send_json(event)

    sender = asyncio.create_task(forward())
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(BaseException):
            await sender
