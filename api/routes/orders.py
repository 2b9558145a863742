"""Trading endpoints under ``/fapi/v1`` (signed): orders, batch orders, open orders, history,
user trades. Thin adapters over :class:`api.services.orders.OrderService`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.deps import Caller, ServicesDep, signed
from api.params import OPTIONAL_SYMBOL, SYMBOL, Spec
from api.routes.common import ERRORS, ok
from api.services import order_batches as b
from api.services import orders as o

router = APIRouter(prefix="/fapi/v1", tags=["trade"], responses=ERRORS)

NEW = Spec(o.NEW_ORDER, signed=True)
AMEND = Spec(o.AMEND, signed=True)
REF = Spec((SYMBOL, *o.ORDER_REF), signed=True)
BATCH = Spec(o.BATCH, signed=True)
OPEN = Spec((OPTIONAL_SYMBOL,), signed=True)
ALL = Spec(o.HISTORY, signed=True)
SYMBOL_ONLY = Spec((SYMBOL,), signed=True)
TRADES = Spec(o.USER_TRADES, signed=True)
BATCH_CANCEL = Spec(b.BATCH_CANCEL, signed=True)
BATCH_EDIT = Spec(b.BATCH_EDIT, signed=True)
COUNTDOWN = Spec(b.COUNTDOWN, signed=True)

def _headers(request: Request) -> dict[str, str]:
    headers: dict[str, str] = request.state.extra_headers
    return headers


@router.post("/order", openapi_extra=NEW.openapi(True))
async def new_order(request: Request, services: ServicesDep, caller: Annotated[Caller, Depends(signed(NEW, trade=True))]) -> JSONResponse:
    """New LIMIT or MARKET order (conditional types: ``/fapi/v1/algoOrder``)."""
    return ok(await services.orders.place(caller.account, caller.params, False, _headers(request)))


@router.put("/order", openapi_extra=AMEND.openapi(True))
async def amend_order(services: ServicesDep, caller: Annotated[Caller, Depends(signed(AMEND, trade=True))]) -> JSONResponse:
    """Modify a resting limit order's price and quantity."""
    return ok(await services.orders.amend(caller.account, caller.params))


@router.delete("/order", openapi_extra=REF.openapi(False))
async def cancel_order(services: ServicesDep, caller: Annotated[Caller, Depends(signed(REF, trade=True))]) -> JSONResponse:
    """Cancel one order."""
    return ok(await services.orders.cancel(caller.account, caller.params, algo=False))


@router.get("/order", openapi_extra=REF.openapi(False))
async def get_order(services: ServicesDep, caller: Annotated[Caller, Depends(signed(REF))]) -> JSONResponse:
    """One order, any status."""
    return ok(await services.orders.get(caller.account, caller.params, algo=False))


@router.get("/openOrder", openapi_extra=REF.openapi(False))
async def get_open_order(services: ServicesDep, caller: Annotated[Caller, Depends(signed(REF))]) -> JSONResponse:
    """One live order."""
    return ok(await services.orders.get(caller.account, caller.params, algo=False, open_only=True))


@router.get("/openOrders", openapi_extra=OPEN.openapi(False))
async def open_orders(services: ServicesDep, caller: Annotated[Caller, Depends(signed(OPEN))]) -> JSONResponse:
    """Live orders, of one symbol or all."""
    return ok(await services.orders.open_orders(caller.account, caller.params.text("symbol"), algo=False))


@router.get("/allOrders", openapi_extra=ALL.openapi(False))
async def all_orders(services: ServicesDep, caller: Annotated[Caller, Depends(signed(ALL))]) -> JSONResponse:
    """Order history."""
    return ok(await services.orders.history(caller.account, caller.params, algo=False))


@router.delete("/allOpenOrders", openapi_extra=SYMBOL_ONLY.openapi(False))
async def cancel_all(services: ServicesDep, caller: Annotated[Caller, Depends(signed(SYMBOL_ONLY, trade=True))]) -> JSONResponse:
    """Cancel every live (non-algo) order of a symbol."""
    return ok(await services.orders.cancel_all(caller.account, caller.params.text("symbol"), algo=False))


@router.post("/batchOrders", openapi_extra=BATCH.openapi(True))
async def batch_orders(request: Request, services: ServicesDep, caller: Annotated[Caller, Depends(signed(BATCH, trade=True))]) -> JSONResponse:
    """Up to five new orders in one engine batch; each answered by an order or an error."""
    return ok(await services.orders.place_batch(caller.account, caller.params, _headers(request)))


@router.delete("/batchOrders", openapi_extra=BATCH_CANCEL.openapi(False))
async def cancel_batch(services: ServicesDep,
                       caller: Annotated[Caller, Depends(signed(BATCH_CANCEL, trade=True))]) -> JSONResponse:
    """Cancel up to ten orders (``orderIdList`` or ``origClientOrderIdList``); each answered."""
    return ok(await b.cancel_batch(services.orders, caller.account, caller.params))


@router.put("/batchOrders", openapi_extra=BATCH_EDIT.openapi(True))
async def edit_batch(services: ServicesDep,
                     caller: Annotated[Caller, Depends(signed(BATCH_EDIT, trade=True))]) -> JSONResponse:
    """Modify up to five resting limit orders; each answered."""
    return ok(await b.edit_batch(services.orders, caller.account, caller.params))


@router.post("/countdownCancelAll", openapi_extra=COUNTDOWN.openapi(True))
async def countdown_cancel_all(request: Request, services: ServicesDep,
                               caller: Annotated[Caller, Depends(signed(COUNTDOWN, trade=True))]) -> JSONResponse:
    """Cancel every open order of the symbol unless renewed within ``countdownTime`` ms (0 stops it)."""
    countdowns = getattr(request.app.state, "countdowns", None)
    if countdowns is None:
        countdowns = request.app.state.countdowns = b.Countdowns(services.orders)
    return ok(countdowns.set(caller.account, caller.params.text("symbol") or "", caller.params.int("countdownTime") or 0))


@router.get("/userTrades", openapi_extra=TRADES.openapi(False))
async def user_trades(services: ServicesDep, caller: Annotated[Caller, Depends(signed(TRADES))]) -> JSONResponse:
    """The account's fills on a symbol."""
    return ok(await services.orders.user_trades(caller.account, caller.params))
