"""Market statistics under ``/futures/data``: thin adapters over
:class:`api.services.market_statistics.MarketStatistics`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.deps import ServicesDep, public
from api.params import END_TIME, START_TIME, SYMBOL, Kind, Param, Params, Spec
from api.routes.common import ERRORS, ok
from api.services.market_statistics import PERIODS, Crowd

router = APIRouter(prefix="/futures/data", tags=["market statistics"], responses=ERRORS)

PERIOD = Param("period", Kind.CHOICE, True, PERIODS)
LIMIT = Param("limit", Kind.INT, minimum=1, maximum=500, description="default 30")
STATS = Spec((SYMBOL, PERIOD, LIMIT, START_TIME, END_TIME))
BASIS = Spec((Param("pair", Kind.TEXT, True, max_length=20, description="e.g. BTCUSDT"),
              Param("contractType", Kind.CHOICE, True, ("PERPETUAL", "CURRENT_QUARTER", "NEXT_QUARTER")),
              PERIOD, LIMIT, START_TIME, END_TIME))
Stats = Annotated[Params, Depends(public(STATS))]


def _window(params: Params) -> tuple[str | None, str | None, int | None, int | None, int | None]:
    return (params.text("symbol"), params.text("period"), params.int("startTime"), params.int("endTime"),
            params.int("limit"))


@router.get("/openInterestHist", openapi_extra=STATS.openapi(False))
async def open_interest_hist(services: ServicesDep, params: Stats) -> JSONResponse:
    """Open interest and its value at the mark, per period."""
    return ok(await services.statistics.open_interest_hist(*_window(params)))


@router.get("/globalLongShortAccountRatio", openapi_extra=STATS.openapi(False))
async def global_long_short_account_ratio(services: ServicesDep, params: Stats) -> JSONResponse:
    """Net long / net short accounts of all traders."""
    return ok(await services.statistics.long_short_ratio(Crowd.ALL_ACCOUNTS, *_window(params)))


@router.get("/topLongShortAccountRatio", openapi_extra=STATS.openapi(False))
async def top_long_short_account_ratio(services: ServicesDep, params: Stats) -> JSONResponse:
    """Net long / net short accounts of the top 20 % by margin balance."""
    return ok(await services.statistics.long_short_ratio(Crowd.TOP_ACCOUNTS, *_window(params)))


@router.get("/topLongShortPositionRatio", openapi_extra=STATS.openapi(False))
async def top_long_short_position_ratio(services: ServicesDep, params: Stats) -> JSONResponse:
    """Net long / net short quantities of the top 20 % by margin balance."""
    return ok(await services.statistics.long_short_ratio(Crowd.TOP_POSITIONS, *_window(params)))


@router.get("/takerlongshortRatio", openapi_extra=STATS.openapi(False))
async def taker_long_short_ratio(services: ServicesDep, params: Stats) -> JSONResponse:
    """Taker buy and sell volume per period."""
    return ok(await services.statistics.taker_volume(*_window(params)))


@router.get("/basis", openapi_extra=BASIS.openapi(False))
async def basis(services: ServicesDep, params: Annotated[Params, Depends(public(BASIS))]) -> JSONResponse:
    """Mark price minus index price (perpetual only)."""
    return ok(await services.statistics.basis(params.text("pair"), params.text("contractType"),
                                              params.text("period"), params.int("startTime"), params.int("endTime"),
                                              params.int("limit")))
