"""Account endpoints (signed): balances, positions, leverage, margin type, position mode,
isolated-margin adjustments and their history, income, ADL quantiles, forced closes, commission
rates and leverage brackets. Thin adapters over :class:`api.services.account.AccountService`;
``/fapi/v2`` and ``/fapi/v3`` serve the same handlers (v3 lists open positions only, v2 every
symbol's legs)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.deps import Caller, ServicesDep, signed
from api.params import END_TIME, OPTIONAL_SYMBOL, PAGE, START_TIME, SYMBOL, Kind, Param, Spec
from api.routes.common import ERRORS, ok

router = APIRouter(prefix="/fapi/v1", tags=["account"], responses=ERRORS)
versioned = APIRouter(prefix="/fapi", tags=["account"], responses=ERRORS)

ONE = Spec((SYMBOL,), signed=True)
ONE_OR_ALL = Spec((OPTIONAL_SYMBOL,), signed=True)
NONE = Spec(signed=True)
LEVERAGE = Spec((SYMBOL, Param("leverage", Kind.INT, True, minimum=0, description="1 to the bracket maximum")),
                signed=True)
MARGIN_TYPE = Spec((SYMBOL, Param("marginType", Kind.CHOICE, True, ("ISOLATED", "CROSSED"))), signed=True)
DUAL = Spec((Param("dualSidePosition", Kind.BOOL, True, description="true: hedge mode"),), signed=True)
POSITION_MARGIN = Spec((SYMBOL, Param("positionSide", Kind.CHOICE, choices=("BOTH", "LONG", "SHORT")),
                        Param("amount", Kind.DECIMAL, True), Param("type", Kind.INT, True, minimum=1, maximum=2)),
                       signed=True)
INCOME_TYPES = ("TRANSFER", "WELCOME_BONUS", "REALIZED_PNL", "FUNDING_FEE", "COMMISSION", "INSURANCE_CLEAR",
                "REFERRAL_KICKBACK", "COMMISSION_REBATE", "API_REBATE", "CONTEST_REWARD", "CROSS_COLLATERAL_TRANSFER",
                "OPTIONS_PREMIUM_FEE", "OPTIONS_SETTLE_PROFIT", "INTERNAL_TRANSFER", "AUTO_EXCHANGE",
                "DELIVERED_SETTELMENT", "COIN_SWAP_DEPOSIT", "COIN_SWAP_WITHDRAW", "POSITION_LIMIT_INCREASE_FEE",
                "STRATEGY_UMFUTURES_TRANSFER", "FEE_RETURN", "BFUSD_REWARD", "INSURANCE_PAYOUT")
INCOME = Spec((OPTIONAL_SYMBOL, Param("incomeType", Kind.CHOICE, choices=INCOME_TYPES), START_TIME, END_TIME,
               PAGE, Param("limit", Kind.INT, minimum=1, maximum=1000)), signed=True)
FORCE_ORDERS = Spec((OPTIONAL_SYMBOL, Param("autoCloseType", Kind.CHOICE, choices=("LIQUIDATION", "ADL")),
                     START_TIME, END_TIME, Param("limit", Kind.INT, minimum=1, maximum=100)), signed=True)

MARGIN_HISTORY = Spec((SYMBOL, Param("type", Kind.INT, minimum=1, maximum=2, description="1: added, 2: removed"),
                       START_TIME, END_TIME, Param("limit", Kind.INT, minimum=1, maximum=1000)), signed=True)

def _text(value: Decimal) -> str:
    return f"{value.normalize():f}"


# Balances and positions (v2 and v3) -------------------------------------------------------------
@versioned.get("/v3/account", openapi_extra=NONE.openapi(False))
async def account_v3(services: ServicesDep, caller: Annotated[Caller, Depends(signed(NONE))]) -> JSONResponse:
    """Account totals, the USDT asset and open positions (cross margin)."""
    return ok(await services.account.account(caller.account, v2=False))


@versioned.get("/v2/account", openapi_extra=NONE.openapi(False))
async def account_v2(services: ServicesDep, caller: Annotated[Caller, Depends(signed(NONE))]) -> JSONResponse:
    """Account totals, the USDT asset and every symbol's position legs (v2 superset)."""
    return ok(await services.account.account(caller.account, v2=True))


@versioned.get("/v3/balance", openapi_extra=NONE.openapi(False))
async def balance_v3(services: ServicesDep, caller: Annotated[Caller, Depends(signed(NONE))]) -> JSONResponse:
    """The USDT balance."""
    return ok(await services.account.balance(caller.account, caller.key.user.name))


@versioned.get("/v2/balance", openapi_extra=NONE.openapi(False))
async def balance_v2(services: ServicesDep, caller: Annotated[Caller, Depends(signed(NONE))]) -> JSONResponse:
    """The USDT balance (v2: same shape)."""
    return ok(await services.account.balance(caller.account, caller.key.user.name))


@versioned.get("/v3/positionRisk", openapi_extra=ONE_OR_ALL.openapi(False))
async def position_risk_v3(services: ServicesDep, caller: Annotated[Caller, Depends(signed(ONE_OR_ALL))]) -> JSONResponse:
    """Open position legs with mark, uPnL, liquidation price and signed notional."""
    return ok(await services.account.position_risk(caller.account, caller.params.text("symbol"), v2=False))


@versioned.get("/v2/positionRisk", openapi_extra=ONE_OR_ALL.openapi(False))
async def position_risk_v2(services: ServicesDep, caller: Annotated[Caller, Depends(signed(ONE_OR_ALL))]) -> JSONResponse:
    """Every symbol's position legs (empty ones too), with leverage and margin type."""
    return ok(await services.account.position_risk(caller.account, caller.params.text("symbol"), v2=True))


# Settings -----------------------------------------------------------------------------------------
@router.post("/leverage", openapi_extra=LEVERAGE.openapi(True))
async def set_leverage(services: ServicesDep, caller: Annotated[Caller, Depends(signed(LEVERAGE, trade=True))]) -> JSONResponse:
    """Set the leverage of a symbol (engine ``SetLeverage``)."""
    return ok(await services.account.set_leverage(caller.account, caller.params.text("symbol"),
                                                  caller.params.int("leverage")))


@router.post("/marginType", openapi_extra=MARGIN_TYPE.openapi(True))
async def set_margin_type(services: ServicesDep,
                          caller: Annotated[Caller, Depends(signed(MARGIN_TYPE, trade=True))]) -> JSONResponse:
    """Switch a symbol between CROSSED and ISOLATED margin (engine ``SetMarginType``)."""
    return ok(await services.account.margin_type(caller.account, caller.params.text("symbol"),
                                                 caller.params.text("marginType")))


@router.post("/positionMargin", openapi_extra=POSITION_MARGIN.openapi(True))
async def position_margin(services: ServicesDep,
                          caller: Annotated[Caller, Depends(signed(POSITION_MARGIN, trade=True))]) -> JSONResponse:
    """Add (type 1) or remove (type 2) margin of an isolated position (engine ``AdjustIsolatedMargin``)."""
    params = caller.params
    return ok(await services.account.position_margin(caller.account, params.text("symbol"), params.text("positionSide"),
                                                     params.decimal("amount"), params.int("type")))


@router.post("/positionSide/dual", openapi_extra=DUAL.openapi(True))
async def set_position_mode(services: ServicesDep, caller: Annotated[Caller, Depends(signed(DUAL, trade=True))]) -> JSONResponse:
    """Switch between one-way (false) and hedge (true) mode (engine ``SetPositionMode``)."""
    return ok(await services.account.set_position_mode(caller.account, caller.params.bool("dualSidePosition")))


@router.get("/positionSide/dual", openapi_extra=NONE.openapi(False))
async def position_mode(services: ServicesDep, caller: Annotated[Caller, Depends(signed(NONE))]) -> JSONResponse:
    """The current position mode."""
    return ok(await services.account.position_mode(caller.account))


@router.get("/accountConfig", openapi_extra=NONE.openapi(False))
async def account_config(services: ServicesDep, caller: Annotated[Caller, Depends(signed(NONE))]) -> JSONResponse:
    """Fee tier of the published schedule (0: the instruments' own rates), permissions and position mode."""
    return ok(await services.account.account_config(caller.account, caller.key.can_trade))


@router.get("/symbolConfig", openapi_extra=ONE_OR_ALL.openapi(False))
async def symbol_config(services: ServicesDep, caller: Annotated[Caller, Depends(signed(ONE_OR_ALL))]) -> JSONResponse:
    """Margin type (always CROSSED) and leverage per symbol."""
    return ok(await services.account.symbol_config(caller.account, caller.params.text("symbol")))


# History and risk ---------------------------------------------------------------------------------
@router.get("/income", openapi_extra=INCOME.openapi(False))
async def income(services: ServicesDep, caller: Annotated[Caller, Depends(signed(INCOME))]) -> JSONResponse:
    """Realised PnL, commissions, funding, transfers and insurance clearances."""
    p = caller.params
    return ok(await services.account.income(caller.account, p.text("symbol"), p.text("incomeType"), p.int("startTime"),
                                            p.int("endTime"), p.int("page"), p.int("limit")))


@router.get("/forceOrders", openapi_extra=FORCE_ORDERS.openapi(False))
async def force_orders(services: ServicesDep, caller: Annotated[Caller, Depends(signed(FORCE_ORDERS))]) -> JSONResponse:
    """The account's liquidation orders and auto-deleveraging fills."""
    p = caller.params
    return ok(await services.account.force_orders(caller.account, p.text("symbol"), p.text("autoCloseType"),
                                                  p.int("startTime"), p.int("endTime"), p.int("limit")))


@router.get("/positionMargin/history", openapi_extra=MARGIN_HISTORY.openapi(False))
async def margin_history(services: ServicesDep, caller: Annotated[Caller, Depends(signed(MARGIN_HISTORY))]) -> JSONResponse:
    """The account's isolated-margin adjustments of a symbol (``positionMargin`` type 1 and 2)."""
    p = caller.params
    return ok(await services.account.margin_history(caller.account, p.text("symbol"), p.int("type"),
                                                    p.int("startTime"), p.int("endTime"), p.int("limit")))


@router.get("/adlQuantile", openapi_extra=ONE_OR_ALL.openapi(False))
async def adl_quantile(services: ServicesDep, caller: Annotated[Caller, Depends(signed(ONE_OR_ALL))]) -> JSONResponse:
    """ADL queue quantiles (0..4, 4 = first) of the account's positions, BitMEX score."""
    return ok(await services.account.adl_quantile(caller.account, caller.params.text("symbol")))


# Fees and the instrument specification -----------------------------------------------------------
@router.get("/commissionRate", openapi_extra=ONE.openapi(False))
async def commission_rate(services: ServicesDep, caller: Annotated[Caller, Depends(signed(ONE))]) -> JSONResponse:
    """Maker and taker fee rates the account pays on a symbol (its fee tier's, else the symbol's)."""
    return ok(await services.account.commission_rate(caller.account, caller.params.text("symbol")))


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
