"""Account endpoints that are honest without balances and positions (issue 4): commission rates
and leverage brackets come from the instrument specification."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.deps import Caller, ServicesDep, signed
from api.params import OPTIONAL_SYMBOL, SYMBOL, Spec
from api.routes.common import ERRORS, ok

router = APIRouter(prefix="/fapi/v1", tags=["account"], responses=ERRORS)
ONE = Spec((SYMBOL,), signed=True)
ONE_OR_ALL = Spec((OPTIONAL_SYMBOL,), signed=True)


def _text(value: Decimal) -> str:
    return f"{value.normalize():f}"


@router.get("/commissionRate", openapi_extra=ONE.openapi(False))
async def commission_rate(services: ServicesDep, caller: Annotated[Caller, Depends(signed(ONE))]) -> JSONResponse:
    """Maker and taker fee rates of a symbol (from its specification)."""
    spec = services.market.instrument(caller.params.text("symbol")).spec
    return ok({"symbol": spec.name, "makerCommissionRate": _text(spec.maker_fee),
               "takerCommissionRate": _text(spec.taker_fee), "rpiCommissionRate": "0"})


@router.get("/leverageBracket", openapi_extra=ONE_OR_ALL.openapi(False))
async def leverage_bracket(services: ServicesDep,
                           caller: Annotated[Caller, Depends(signed(ONE_OR_ALL))]) -> JSONResponse:
    """Notional brackets (MECHANICS §4.1) of one symbol or all, as strings (no floats)."""
    symbol = caller.params.text("symbol")
    chosen = [services.market.instrument(symbol)] if symbol else services.registry.all()
    answer = []
    for instrument in chosen:
        floor = Decimal(0)
        brackets = []
        for number, b in enumerate(instrument.spec.brackets, start=1):
            brackets.append({"bracket": number, "initialLeverage": b.max_leverage, "notionalCap": _text(b.notional_cap),
                             "notionalFloor": _text(floor), "maintMarginRatio": _text(b.maint_margin_rate),
                             "cum": _text(b.cum)})
            floor = b.notional_cap
        answer.append({"symbol": instrument.name, "notionalCoef": "1", "brackets": brackets})
    return ok(answer)
