"""Risk-desk routes (docs/RISK.md "routes"): the public ``/fapi/v1/insuranceBalance``, and under
``/risk`` (role ``risk`` or ``admin``) the insurance fund's history, four-eyes compensation
payouts, margin of every account, the accounts nearest liquidation, liquidations (REST and the
``/risk/ws/liquidations`` stream) and the installed ADL queues. Thin: logic in
``api.services.risk_desk``."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from api.auth.roles import RISK, RiskStaff, authorize, identify, socket_credential
from api.deps import get_services, public
from api.errors import ApiError
from api.params import OPTIONAL_SYMBOL, SYMBOL, Kind, Param, Params, Spec
from api.routes.common import AMOUNT_PATTERN, ERRORS, RowId, ok
from api.services.desk_views import DeskViews, ShockRequest
from api.services.risk_desk import DENY_REASONS, RiskDesk
from api.ws_inbound import Inbound

public_router = APIRouter(prefix="/fapi", tags=["market"], responses=ERRORS)
router = APIRouter(prefix="/risk", tags=["risk"], responses=ERRORS)
ONE_OR_ALL = Spec((OPTIONAL_SYMBOL,))
STEP = Param("step", Kind.DECIMAL, description="Bucket width, a multiple of the tick (default about 0.25 % of the mark)")
MAP = Spec((SYMBOL, STEP))
DenyReason = Literal["NOT_ELIGIBLE", "DUPLICATE", "INSUFFICIENT_EVIDENCE", "EXCEEDS_FUND", "OTHER"]
assert DenyReason.__args__ == DENY_REASONS  # type: ignore[attr-defined]
Limit = Annotated[int, Query(ge=1, le=1000)]
AUTH_TIMEOUT_S = 10
"""How long a new liquidation socket may take to send its credential."""
PayoutState = Literal["PENDING", "SUBMITTING", "PAID", "REFUSED", "DENIED"]


def risk_desk(request: HTTPConnection) -> RiskDesk:
    """The desk over the app's risk services (``app.state.risk``; absent when they are off)."""
    services = get_services(request)
    views = DeskViews(services.gateway.client, services.registry, services.db, services.clock_ms)
    return RiskDesk(getattr(request.app.state, "risk", None), services.registry, views, services.oracle)


Desk = Annotated[RiskDesk, Depends(risk_desk)]


@public_router.get("/v1/insuranceBalance", openapi_extra=ONE_OR_ALL.openapi(False))
async def insurance_balance(desk: Desk, params: Annotated[Params, Depends(public(ONE_OR_ALL))]) -> JSONResponse:
    """Insurance fund margin balance (wallet + uPnL of what it holds); one fund covers every symbol."""
    return ok(desk.insurance_balance(params.text("symbol")))


@public_router.get("/v1/liquidationMap", openapi_extra=MAP.openapi(False))
async def liquidation_map(desk: Desk, params: Annotated[Params, Depends(public(MAP))]) -> JSONResponse:
    """Our extension: notional that would be liquidated per price bucket, long and short, from the
    engine's own liquidation prices; aggregated and anonymous (docs/API.md)."""
    map_of = partial(desk.views.liquidation_map, params.text("symbol"), params.decimal("step"), public=True)
    return ok(await asyncio.to_thread(map_of))


@router.get("/liquidationMap")
async def desk_liquidation_map(desk: Desk, _staff: RiskStaff, symbol: Annotated[str, Query(max_length=20)],
                               step: Annotated[Decimal | None, Query(gt=0, max_digits=28, decimal_places=8)] = None,
                               ) -> JSONResponse:
    """The liquidation map with the number of positions per bucket."""
    return ok(await asyncio.to_thread(partial(desk.views.liquidation_map, symbol, step, public=False)))


class ShockBody(BaseModel):
    """One symbol's stressed mark: `price`, or the current mark moved by `movePercent`."""

    symbol: str = Field(max_length=20)
    price: str | None = Field(default=None, pattern=AMOUNT_PATTERN)
    movePercent: str | None = Field(default=None, pattern=r"^-?[0-9]{1,4}(\.[0-9]{1,6})?$")


class StressBody(BaseModel):
    """A stress test: one to twenty shocked symbols."""

    shocks: list[ShockBody] = Field(min_length=1, max_length=20)


@router.post("/stress")
async def stress(desk: Desk, _staff: RiskStaff, body: StressBody) -> JSONResponse:
    """Run the liquidation sequence at the stressed marks on a copy of the engine state."""
    shocks = [ShockRequest(s.symbol, None if s.price is None else Decimal(s.price),
                           None if s.movePercent is None else Decimal(s.movePercent)) for s in body.shocks]
    return ok(await asyncio.to_thread(desk.views.stress, shocks))


@router.get("/positions/nearest")
async def nearest_positions(desk: Desk, _staff: RiskStaff, limit: Limit = 50) -> JSONResponse:
    """Open legs of the accounts nearest liquidation: name, side, size, leverage, margin type,
    ratio, the engine's liquidation price and the distance to it."""
    return ok(await desk.nearest_legs(limit))


@router.get("/account/{account}")
async def account_detail(request: Request, desk: Desk, _staff: RiskStaff,
                         account: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> JSONResponse:
    """One account: positions, open orders, recent income, liquidation steps and ADL events."""
    services = get_services(request)
    detail = await desk.account_detail(account)
    detail["openOrders"] = await services.orders.open_orders(account, None, False)
    detail["income"] = await services.account.income(account, None, None, None, None, None, 100)
    return ok(detail)


@router.get("/prices")
async def prices(desk: Desk, _staff: RiskStaff, symbol: Annotated[str, Query(max_length=20)]) -> JSONResponse:
    """Mark, index and each venue's price (stale venues marked) from the oracle's last publication."""
    return ok(desk.prices(symbol))


@router.get("/adl/queues")
async def adl_queues(desk: Desk, _staff: RiskStaff) -> JSONResponse:
    """Every ADL queue as the engine would deleverage it, each account's quantile (4: first out)."""
    return ok(await asyncio.to_thread(desk.adl_queues))


@router.get("/insurance/points")
async def insurance_points(desk: Desk, _staff: RiskStaff, limit: Limit = 500) -> JSONResponse:
    """The fund's wallet after each change, with the reason, oldest first."""
    return ok({"points": desk.fund_points(limit), "available": f"{desk.fund_available():f}"})


@router.get("/insurance/history")
async def insurance_history(desk: Desk, _staff: RiskStaff, limit: Limit = 500,
                            start_time: Annotated[int | None, Query(alias="startTime", ge=0)] = None,
                            end_time: Annotated[int | None, Query(alias="endTime", ge=0)] = None) -> JSONResponse:
    """The fund's balance after each change, oldest first."""
    return ok(desk.insurance_history(start_time, end_time, limit))


@router.get("/insurance/unwinds")
async def insurance_unwinds(desk: Desk, _staff: RiskStaff, limit: Limit = 500) -> JSONResponse:
    """The fund unwinder's steps: each slice sent (and what filled) or pause, with its reason."""
    return ok(await desk.insurance_unwinds(limit))


class PayoutBody(BaseModel):
    """A compensation payout to request."""

    account: int = Field(ge=1, le=2**63 - 1)
    amount: str = Field(pattern=AMOUNT_PATTERN, description="USDT, at most 8 decimals")
    memo: str = Field(min_length=1, max_length=500)


class DenyBody(BaseModel):
    """Why a payout is denied: a typed reason and an optional note."""

    reason: DenyReason
    note: str = Field(default="", max_length=500)


@router.post("/insurance/payouts")
async def request_payout(desk: Desk, staff: RiskStaff, body: PayoutBody) -> JSONResponse:
    """Request a payout; two other risk users must approve it."""
    return ok(await desk.request_payout(staff.name, body.account, Decimal(body.amount), body.memo))


@router.post("/insurance/payouts/{payout_id}/approve")
async def approve_payout(desk: Desk, staff: RiskStaff, payout_id: RowId) -> JSONResponse:
    """Approve (neither the requester nor the first approver); the second approval pays."""
    return ok(await desk.approve_payout(staff.name, payout_id))


@router.post("/insurance/payouts/{payout_id}/deny")
async def deny_payout(desk: Desk, staff: RiskStaff, payout_id: RowId, body: DenyBody) -> JSONResponse:
    """Deny a pending request (not the requester)."""
    return ok(await desk.deny_payout(staff.name, payout_id, body.reason, body.note))


@router.get("/insurance/payouts")
async def list_payouts(desk: Desk, _staff: RiskStaff, status: Annotated[PayoutState | None, Query()] = None,
                       limit: Limit = 100) -> JSONResponse:
    """Payout requests, newest first."""
    return ok(await desk.payouts(status, limit))


@router.get("/insurance/payouts/{payout_id}")
async def get_payout(desk: Desk, _staff: RiskStaff, payout_id: RowId) -> JSONResponse:
    """One payout request."""
    return ok(await desk.payout(payout_id))


@router.get("/insurance/payouts/{payout_id}/trail")
async def payout_trail(desk: Desk, _staff: RiskStaff, payout_id: RowId) -> JSONResponse:
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
async def liquidation_stream(websocket: WebSocket) -> None:
    """Every liquidation step as JSON, from the acknowledgement ``{"authenticated": {"name",
    "role"}}`` on. The first message authenticates: ``{"token": "<session or admin token>"}``
    within ``AUTH_TIMEOUT_S`` (role risk or admin; refused: closed with code 4401)."""
    desk = risk_desk(websocket)
    await websocket.accept()
    try:
        async with asyncio.timeout(AUTH_TIMEOUT_S):
            first_message = await websocket.receive()
        if first_message["type"] == "websocket.disconnect":
            return
        credential = socket_credential(first_message.get("text") or "")
        staff = authorize(await identify(credential, websocket), RISK)
    except ApiError as refused:
        await websocket.close(code=4401, reason=refused.msg[:120])
        return
    except TimeoutError:
        await websocket.close(code=4401, reason="no credential sent")
        return
    if not desk.running:
        await websocket.close(code=4503, reason="the risk services are not running")
        return
    stream = desk.liquidation_stream()
    first = asyncio.ensure_future(anext(stream))  # subscribes before the acknowledgement goes out
    await asyncio.sleep(0)
    await websocket.send_json({"authenticated": {"name": staff.name, "role": staff.role}})

    async def forward() -> None:
        await websocket.send_json(await first)
        async for event in stream:
            await websocket.send_json(event)

    sender = asyncio.create_task(forward())
    inbound = Inbound(websocket)
    try:
        while True:
            await inbound.receive()
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        first.cancel()
        with contextlib.suppress(BaseException):
            await sender
