"""Public market data under ``/fapi``: thin adapters over :class:`api.services.market.MarketService`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.deps import ServicesDep, public
from api.params import END_TIME, OPTIONAL_SYMBOL, START_TIME, SYMBOL, Kind, Param, Params, Spec
from api.persistence_window import window
from api.routes.common import ERRORS, ok
from api.services.klines import INTERVAL_MS
from oracle import PriceKind

router = APIRouter(prefix="/fapi", tags=["market"], responses=ERRORS)

INTERVAL = Param("interval", Kind.CHOICE, True, tuple(INTERVAL_MS))
KLINE_LIMIT = Param("limit", Kind.INT, minimum=1, maximum=1500)
DEPTH = Spec((SYMBOL, Param("limit", Kind.INT, minimum=1, maximum=1000)))
TRADES = Spec((SYMBOL, Param("limit", Kind.INT, minimum=1, maximum=1000)))
AGG = Spec((SYMBOL, Param("fromId", Kind.INT, minimum=0), START_TIME, END_TIME,
            Param("limit", Kind.INT, minimum=1, maximum=1000)))
KLINES = Spec((SYMBOL, INTERVAL, START_TIME, END_TIME, KLINE_LIMIT))
PRICE_KLINES = Spec((Param("pair", Kind.TEXT, True, max_length=20), INTERVAL, START_TIME, END_TIME, KLINE_LIMIT))
MARK_KLINES = Spec((SYMBOL, INTERVAL, START_TIME, END_TIME, KLINE_LIMIT))
ONE_OR_ALL = Spec((OPTIONAL_SYMBOL,))
ONE = Spec((SYMBOL,))
NONE = Spec()
FUNDING = Spec((OPTIONAL_SYMBOL, START_TIME, END_TIME, Param("limit", Kind.INT, minimum=1, maximum=1000)))



@router.get("/v1/depth", openapi_extra=DEPTH.openapi(False))
async def depth(services: ServicesDep, params: Annotated[Params, Depends(public(DEPTH))]) -> JSONResponse:
    """Order book (the same mirror as the diff-depth stream)."""
    return ok(services.market.depth(params.text("symbol"), params.int("limit") or 500))


@router.get("/v1/trades", openapi_extra=TRADES.openapi(False))
async def trades(services: ServicesDep, params: Annotated[Params, Depends(public(TRADES))]) -> JSONResponse:
    """Recent trades."""
    return ok(await services.market.trades(params.text("symbol"), params.int("limit") or 500))


@router.get("/v1/aggTrades", openapi_extra=AGG.openapi(False))
async def agg_trades(services: ServicesDep, params: Annotated[Params, Depends(public(AGG))]) -> JSONResponse:
    """Aggregate trades (one engine trade each)."""
    return ok(await services.market.agg_trades(params.text("symbol"), window(params, 500)))


@router.get("/v1/klines", openapi_extra=KLINES.openapi(False))
async def klines(services: ServicesDep, params: Annotated[Params, Depends(public(KLINES))]) -> JSONResponse:
    """Candles from traded prices."""
    return ok(await services.market.klines(params.text("symbol"), params.text("interval"), params.int("startTime"),
                                           params.int("endTime"), params.int("limit") or 500))


@router.get("/v1/markPriceKlines", openapi_extra=MARK_KLINES.openapi(False))
async def mark_price_klines(services: ServicesDep,
                            params: Annotated[Params, Depends(public(MARK_KLINES))]) -> JSONResponse:
    """Candles of the published mark price."""
    return ok(services.market.price_klines(PriceKind.MARK, params.text("symbol"), params.text("interval"),
                                           params.int("startTime"), params.int("endTime"), params.int("limit") or 500))


@router.get("/v1/indexPriceKlines", openapi_extra=PRICE_KLINES.openapi(False))
async def index_price_klines(services: ServicesDep,
                             params: Annotated[Params, Depends(public(PRICE_KLINES))]) -> JSONResponse:
    """Candles of the published index price."""
    return ok(services.market.price_klines(PriceKind.INDEX, params.text("pair"), params.text("interval"),
                                           params.int("startTime"), params.int("endTime"), params.int("limit") or 500))


@router.get("/v1/constituents", openapi_extra=ONE.openapi(False))
async def constituents(services: ServicesDep, params: Annotated[Params, Depends(public(ONE))]) -> JSONResponse:
    """Index constituents and weights."""
    return ok(services.market.constituents(params.text("symbol")))


@router.get("/v1/premiumIndex", openapi_extra=ONE_OR_ALL.openapi(False))
async def premium_index(services: ServicesDep,
                        params: Annotated[Params, Depends(public(ONE_OR_ALL))]) -> JSONResponse:
    """Mark and index price; lastFundingRate is the last settled rate (no prediction yet)."""
    return ok(services.market.premium_index(params.text("symbol")))


@router.get("/v1/ticker/24hr", openapi_extra=ONE_OR_ALL.openapi(False))
async def ticker_24hr(services: ServicesDep, params: Annotated[Params, Depends(public(ONE_OR_ALL))]) -> JSONResponse:
    """Rolling 24-hour statistics."""
    return ok(await services.market.ticker_24h(params.text("symbol")))


@router.get("/v1/ticker/price", openapi_extra=ONE_OR_ALL.openapi(False))
async def ticker_price(services: ServicesDep, params: Annotated[Params, Depends(public(ONE_OR_ALL))]) -> JSONResponse:
    """Last traded price."""
    return ok(await services.market.ticker_price(params.text("symbol")))


@router.get("/v2/ticker/price", openapi_extra=ONE_OR_ALL.openapi(False))
async def ticker_price_v2(services: ServicesDep,
                          params: Annotated[Params, Depends(public(ONE_OR_ALL))]) -> JSONResponse:
    """Last traded price (v2: same shape)."""
    return ok(await services.market.ticker_price(params.text("symbol")))


@router.get("/v1/ticker/bookTicker", openapi_extra=ONE_OR_ALL.openapi(False))
async def book_ticker(services: ServicesDep, params: Annotated[Params, Depends(public(ONE_OR_ALL))]) -> JSONResponse:
    """Best bid and ask."""
    return ok(services.market.book_ticker(params.text("symbol")))


@router.get("/v1/fundingRate", openapi_extra=FUNDING.openapi(False))
async def funding_rate(services: ServicesDep, params: Annotated[Params, Depends(public(FUNDING))]) -> JSONResponse:
    """Funding rate history (settlements applied by the engine)."""
    return ok(await services.market.funding_rate_history(params.text("symbol"), params.int("startTime"),
                                                         params.int("endTime"), params.int("limit")))


@router.get("/v1/fundingInfo", openapi_extra=NONE.openapi(False))
async def funding_info(services: ServicesDep, _params: Annotated[Params, Depends(public(NONE))]) -> JSONResponse:
    """Funding interval of every symbol."""
    return ok(services.market.funding_info())


@router.get("/v1/openInterest", openapi_extra=ONE.openapi(False))
async def open_interest(services: ServicesDep, params: Annotated[Params, Depends(public(ONE))]) -> JSONResponse:
    """Open interest: the sum of long positions."""
    return ok(await services.market.open_interest(params.text("symbol")))
