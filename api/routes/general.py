"""``/fapi/v1/ping``, ``/fapi/v1/time``, ``/fapi/v1/exchangeInfo``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.deps import ServicesDep, public
from api.params import Params, Spec
from api.routes.common import ERRORS, ok

router = APIRouter(prefix="/fapi/v1", tags=["general"], responses=ERRORS)
NONE = Spec()
NoParams = Annotated[Params, Depends(public(NONE))]


@router.get("/ping")
async def ping(_params: NoParams) -> JSONResponse:
    """Connectivity check."""
    return ok({})


@router.get("/time")
async def server_time(services: ServicesDep, _params: NoParams) -> JSONResponse:
    """Server time in ms."""
    return ok({"serverTime": services.clock_ms()})


@router.get("/exchangeInfo")
async def exchange_info(services: ServicesDep, _params: NoParams) -> JSONResponse:
    """Symbols, filters, order types and rate limits."""
    return ok(services.market.exchange_info())
