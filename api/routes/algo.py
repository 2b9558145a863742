"""Algo (conditional) order endpoints, Binance's late-2025 layout that ccxt follows:
``/fapi/v1/algoOrder``, ``openAlgoOrders``, ``allAlgoOrders``, ``algoOpenOrders``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.deps import Caller, ServicesDep, signed
from api.params import OPTIONAL_SYMBOL, SYMBOL, Kind, Param, Spec
from api.routes.common import ERRORS, ok
from api.services import orders as o

router = APIRouter(prefix="/fapi/v1", tags=["algo"], responses=ERRORS)

NEW = Spec(o.NEW_ALGO, signed=True)
REF = Spec((SYMBOL, *o.ALGO_REF), signed=True)
REF_ANY = Spec((Param("symbol", Kind.TEXT, max_length=20), *o.ALGO_REF), signed=True)
OPEN = Spec((OPTIONAL_SYMBOL, Param("algoType", Kind.CHOICE, choices=("CONDITIONAL",)),
             Param("algoId", Kind.INT, minimum=0)), signed=True)
ALL = Spec(o.ALGO_HISTORY, signed=True)
SYMBOL_ONLY = Spec((SYMBOL,), signed=True)


@router.post("/algoOrder", openapi_extra=NEW.openapi(True))
async def new_algo(request: Request, services: ServicesDep,
                   caller: Annotated[Caller, Depends(signed(NEW, trade=True))]) -> JSONResponse:
    """New conditional order: STOP(_MARKET), TAKE_PROFIT(_MARKET), TRAILING_STOP_MARKET."""
    return ok(await services.orders.place(caller.account, caller.params, True, request.state.extra_headers))


@router.delete("/algoOrder", openapi_extra=REF.openapi(False))
async def cancel_algo(services: ServicesDep,
                      caller: Annotated[Caller, Depends(signed(REF, trade=True))]) -> JSONResponse:
    """Cancel an untriggered conditional order."""
    return ok(await services.orders.cancel(caller.account, caller.params, algo=True))


@router.get("/algoOrder", openapi_extra=REF.openapi(False))
async def get_algo(services: ServicesDep, caller: Annotated[Caller, Depends(signed(REF))]) -> JSONResponse:
    """One conditional order."""
    return ok(await services.orders.get(caller.account, caller.params, algo=True))


@router.get("/openAlgoOrders", openapi_extra=OPEN.openapi(False))
async def open_algos(services: ServicesDep, caller: Annotated[Caller, Depends(signed(OPEN))]) -> JSONResponse:
    """Untriggered conditional orders."""
    return ok(await services.orders.open_orders(caller.account, caller.params.text("symbol"), algo=True))


@router.get("/allAlgoOrders", openapi_extra=ALL.openapi(False))
async def all_algos(services: ServicesDep, caller: Annotated[Caller, Depends(signed(ALL))]) -> JSONResponse:
    """Conditional order history."""
    return ok(await services.orders.history(caller.account, caller.params, algo=True))


@router.delete("/algoOpenOrders", openapi_extra=SYMBOL_ONLY.openapi(False))
async def cancel_all_algos(services: ServicesDep,
                           caller: Annotated[Caller, Depends(signed(SYMBOL_ONLY, trade=True))]) -> JSONResponse:
    """Cancel every untriggered conditional order of a symbol."""
    return ok(await services.orders.cancel_all(caller.account, caller.params.text("symbol"), algo=True))
