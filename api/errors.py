"""Binance error codes and messages: the only module of the API that knows them.

Every failure leaves the API as HTTP 400 ``{"code": <negative int>, "msg": "..."}``, except rate
limits (HTTP 429) and unknown paths (HTTP 404); never a 5xx. Unexpected exceptions become
``-1000`` and are logged with their traceback.

Message choice (CCXT.md §5): on a localhost URL ccxt maps errors with its *common* tables only,
where the message is matched before the code. So, where the honest message can also name the
Binance filter or use a string from ccxt's exact table, it does:

* quantity and price filter failures say ``Filter failure: LOT_SIZE`` / ``PRICE_FILTER``, and
  price-band failures ``PERCENT_PRICE_BY_SIDE`` -> ``InvalidOrder``;
* post-only would take -> ``"Order would immediately match and take."`` ->
  ``OrderImmediatelyFillable`` (a subclass of ``InvalidOrder``);
* a conditional order that would fire at once -> ``"Order would trigger immediately."``;
* a halted symbol -> ``"Market is closed."`` -> ``MarketClosed``;
* an API key without trading permission -> ``"Rest API trading is not enabled."`` ->
  ``PermissionDenied`` (a subclass of ``AuthenticationError``);
* insufficient margin (``-2019``) and insufficient balance (``-2018``) ->
  ``"Account has insufficient balance for requested action."`` -> ``InsufficientFunds`` (the
  code alone would be a plain ``ExchangeError`` on localhost);
* a margin type already set -> ``"No need to change margin type."`` (``-4046``) ->
  ``MarginModeAlreadySet`` (an engine rejection, like the other isolated-margin codes -4047..-4054).

Codes themselves come from the engine (``derivatives.errors.BINANCE_CODES``) for rejections.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from decimal import Decimal

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from derivatives.bus.client import EngineBusError, EngineTimeout
from derivatives.enums import RejectReason
from derivatives.errors import BINANCE_CODES

log = logging.getLogger("api.errors")


class ApiError(Exception):
    """A Binance-shaped failure: HTTP status, code and message."""

    def __init__(self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        """The JSON body."""
        return {"code": self.code, "msg": self.msg}


# Request-level errors (no engine involved).
def unknown_error() -> ApiError:
    """-1000: anything unexpected."""
    return ApiError(-1000, "An unknown error occurred while processing the request.")


def engine_unavailable() -> ApiError:
    """-1001: the engine stopped or the projection is stuck."""
    return ApiError(-1001, "Internal error; unable to process your request. Please try again.")


def backend_timeout() -> ApiError:
    """-1007: the engine answered but the projection did not catch up in time."""
    return ApiError(-1007, "Timeout waiting for response from backend server. Send status unknown; "
                    "execution status unknown.")


def too_much_weight(scope: str, limit: int, retry_after_s: int) -> ApiError:
    """-1003 with HTTP 429."""
    return ApiError(-1003, f"Too many requests; current limit of {scope} is {limit} requests per minute. "
                    "Please use the websocket for live updates to avoid polling the API.", 429,
                    {"Retry-After": str(retry_after_s)})


def ip_banned(ip: str, until_ms: int, retry_after_s: int) -> ApiError:
    """-1003 with HTTP 418: an IP that kept sending after its 429s, banned until `until_ms`."""
    return ApiError(-1003, f"Way too many requests; IP({ip}) banned until {until_ms}. Please use the "
                    "websocket for live updates to avoid bans.", 418, {"Retry-After": str(retry_after_s)})


def too_many_orders(limit: int, window: str, retry_after_s: int) -> ApiError:
    """-1015 with HTTP 429."""
    return ApiError(-1015, f"Too many new orders; current limit is {limit} orders per {window}.", 429,
                    {"Retry-After": str(retry_after_s)})


def timestamp_outside_window() -> ApiError:
    """-1021."""
    return ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")


def bad_signature() -> ApiError:
    """-1022."""
    return ApiError(-1022, "Signature for this request is not valid.")


def illegal_characters(name: str) -> ApiError:
    """-1100 for a malformed number or id."""
    return ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                    "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")


def duplicate_parameter(name: str) -> ApiError:
    """-1101."""
    return ApiError(-1101, f"Duplicate values for parameter '{name}'.")


def missing_parameter(name: str) -> ApiError:
    """-1102."""
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def missing_one_of(first: str, second: str) -> ApiError:
    """-1102 for an either/or pair."""
    return ApiError(-1102, f"Param '{first}' or '{second}' must be sent, but both were empty/null!")


def unread_parameters(read: int, sent: int, names: list[str]) -> ApiError:
    """-1104 for unknown parameters."""
    return ApiError(-1104, f"Not all sent parameters were read; read '{read}' parameter(s) but was sent "
                    f"'{sent}' (unknown: {', '.join(sorted(names))}).")


def not_required(name: str) -> ApiError:
    """-1106."""
    return ApiError(-1106, f"Parameter '{name}' sent when not required.")


def quantity_too_large() -> ApiError:
    """-4005."""
    return ApiError(-4005, "Quantity greater than max quantity.")


def price_too_large() -> ApiError:
    """-4016."""
    return ApiError(-4016, "Price greater than max price.")


def stop_price_too_large() -> ApiError:
    """-4007."""
    return ApiError(-4007, "Stop price greater than max price.")


def too_precise(name: str) -> ApiError:
    """-1111."""
    return ApiError(-1111, f"Precision is over the maximum defined for this asset ('{name}').")


def invalid_tif() -> ApiError:
    """-1115."""
    return ApiError(-1115, "Invalid timeInForce.")


def invalid_order_type() -> ApiError:
    """-1116."""
    return ApiError(-1116, "Invalid orderType.")


def invalid_side() -> ApiError:
    """-1117."""
    return ApiError(-1117, "Invalid side.")


def invalid_interval() -> ApiError:
    """-1120."""
    return ApiError(-1120, "Invalid interval.")


def invalid_symbol() -> ApiError:
    """-1121."""
    return ApiError(-1121, "Invalid symbol.")


def listen_key_unknown() -> ApiError:
    """-1125."""
    return ApiError(-1125, "This listenKey does not exist.")


def bad_combination(detail: str = "") -> ApiError:
    """-1128."""
    return ApiError(-1128, "Combination of optional parameters invalid." + (f" {detail}" if detail else ""))


def invalid_value(name: str) -> ApiError:
    """-1130."""
    return ApiError(-1130, f"Data sent for parameter '{name}' is not valid.")


def recv_window_too_large(limit: int) -> ApiError:
    """-1131."""
    return ApiError(-1131, f"recvWindow must be less than {limit}.")


def order_not_found() -> ApiError:
    """-2013 (queries)."""
    return ApiError(-2013, "Order does not exist.")


def unknown_order() -> ApiError:
    """-2011 (cancel/amend of an order that is not live)."""
    return ApiError(-2011, "Unknown order sent.")


def api_key_format() -> ApiError:
    """-2014: missing or malformed API key header."""
    return ApiError(-2014, "API-key format invalid.")


def api_key_rejected() -> ApiError:
    """-2015: unknown or revoked key."""
    return ApiError(-2015, "Invalid API-key, IP, or permissions for action.")


def trading_not_enabled() -> ApiError:
    """-2015 with ccxt's PermissionDenied message."""
    return ApiError(-2015, "Rest API trading is not enabled.")


def use_algo_endpoint() -> ApiError:
    """-4120: conditional types go to /fapi/v1/algoOrder (Binance since late 2025)."""
    return ApiError(-4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.")


def side_mismatch() -> ApiError:
    """-4xxx for an amendment naming the other side."""
    return ApiError(-1130, "Data sent for parameter 'side' is not valid (it must be the order's side).")


def batch_size(limit: int) -> ApiError:
    """-4082."""
    return ApiError(-4082, f"Invalid number of batch place orders (1 to {limit}).")


def algo_not_found() -> ApiError:
    """-20124 (ccxt: BadRequest) would be Binance's; -2013 gives ccxt's OrderNotFound."""
    return ApiError(-2013, "Order does not exist.")


def unsupported(name: str, value: str) -> ApiError:
    """-1130 for a valid Binance value this exchange does not implement."""
    return ApiError(-1130, f"Data sent for parameter '{name}' is not valid: {value} is not supported.")


def login_failed(detail: str = "invalid user name, password or one-time code") -> ApiError:
    """-1002 (HTTP 401) for a refused dashboard login."""
    return ApiError(-1002, f"You are not authorized to execute this request: {detail}.", 401)


def too_many_logins(retry_after_s: int, scope: str = "") -> ApiError:
    """-1003 with HTTP 429: too many failed logins of one user name (or, with `scope`, too many
    logins from one IP or in progress on the server)."""
    text = f"Too many logins from {scope}" if scope else "Too many failed logins for this user"
    return ApiError(-1003, f"{text}; try again later.", 429, {"Retry-After": str(retry_after_s)})


def session_invalid() -> ApiError:
    """-1002 (HTTP 401): no valid session token or admin token."""
    return ApiError(-1002, "You are not authorized to execute this request: log in again.", 401)


def role_required(roles: tuple[str, ...]) -> ApiError:
    """-1002 (HTTP 403): authenticated, but without a role the route needs."""
    return ApiError(-1002, "You are not authorized to execute this request: role "
                    f"{' or '.join(roles)} required.", 403)


def risk_services_off() -> ApiError:
    """-1020: the risk services are not running in this process."""
    return ApiError(-1020, "This operation is not supported: the risk services are not running.")


def payout_refused(reason: str) -> ApiError:
    """-1130: the payout request or decision breaks a rule (two-person rule, amount, memo)."""
    return ApiError(-1130, f"Payout refused: {reason}.")


def payout_not_found() -> ApiError:
    """-1130 (HTTP 404): no payout request has that id."""
    return ApiError(-1130, "Payout request does not exist.", 404)


def admin_invalid(msg: str) -> ApiError:
    """-1130 for admin input."""
    return ApiError(-1130, msg)


def position_side_unchanged() -> ApiError:
    """-4059."""
    return ApiError(-4059, "No need to change position side.")


def invalid_leverage(leverage: int | None) -> ApiError:
    """-4028."""
    return ApiError(-4028, f"Leverage {leverage} is not valid")


def four_eyes(what: str = "a withdrawal") -> ApiError:
    """-1002 (HTTP 403): the admin who requested something cannot approve it."""
    return ApiError(-1002, f"You are not authorized to execute this request: {what} needs the approval "
                    "of a second admin.", 403)


def bootstrap_cannot_approve() -> ApiError:
    """-1002 (HTTP 403): the bootstrap admin token may request, never approve."""
    return ApiError(-1002, "You are not authorized to execute this request: the bootstrap admin token "
                    "cannot approve; an enrolled admin must.", 403)


def not_found_path(method: str, path: str) -> ApiError:
    """An unknown path (HTTP 404)."""
    return ApiError(-5000, f"Path {path}, Method {method} is invalid", 404)


def _fmt(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def _plain(value: Decimal | None) -> str:
    """A price as given (the band limits come on the tick, with its digits)."""
    return "" if value is None else f"{value:f}"


def reject(reason: RejectReason, *, band: tuple[Decimal | None, Decimal | None] = (None, None),
           min_notional: Decimal | None = None, min_qty: Decimal | None = None,
           max_qty: Decimal | None = None) -> ApiError:
    """The Binance error of an engine rejection (code from the engine, message from here)."""
    code = BINANCE_CODES[reason]
    message = _REJECT_MESSAGES.get(reason)
    if message is None:
        return ApiError(code, reason.name.replace("_", " ").capitalize() + ".")
    text = message(band, min_notional, min_qty, max_qty)
    return ApiError(code, text)


INSUFFICIENT = "Account has insufficient balance for requested action."
"""ccxt's exact-message table maps this to InsufficientFunds on any URL (CCXT.md §5)."""

_Msg = Callable[[tuple[Decimal | None, Decimal | None], Decimal | None, Decimal | None, Decimal | None], str]
R = RejectReason
_REJECT_MESSAGES: dict[RejectReason, _Msg] = {
    R.UNKNOWN_SYMBOL: lambda *_: "Invalid symbol.",
    R.SYMBOL_HALTED: lambda *_: "Market is closed.",
    R.SYMBOL_EXISTS: lambda *_: "Symbol already listed.",
    R.INVALID_INSTRUMENT: lambda *_: "Invalid instrument specification.",
    R.QUANTITY_NOT_POSITIVE: lambda *_: "Filter failure: LOT_SIZE (quantity less than or equal to zero).",
    R.QUANTITY_BELOW_MIN: lambda b, n, lo, hi: f"Filter failure: LOT_SIZE (quantity less than minimum {_fmt(lo)}).",
    R.QUANTITY_ABOVE_MAX: lambda b, n, lo, hi: f"Filter failure: LOT_SIZE (quantity greater than maximum {_fmt(hi)}).",
    R.QUANTITY_OFF_STEP: lambda *_: "Filter failure: LOT_SIZE (quantity not a multiple of the step size).",
    R.PRICE_NOT_POSITIVE: lambda *_: "Filter failure: PRICE_FILTER (price less than or equal to zero).",
    R.PRICE_OFF_TICK: lambda *_: "Filter failure: PRICE_FILTER (price not a multiple of the tick size).",
    R.NOTIONAL_BELOW_MIN: lambda b, n, lo, hi: (
        f"Order's notional must be no smaller than {_fmt(n)} (unless you choose reduce only)."),
    R.PRICE_ABOVE_BAND: lambda b, n, lo, hi: (
        f"Limit price can't be higher than {_plain(b[1])}. Filter failure: PERCENT_PRICE_BY_SIDE"),
    R.PRICE_BELOW_BAND: lambda b, n, lo, hi: (
        f"Limit price can't be lower than {_plain(b[0])}. Filter failure: PERCENT_PRICE_BY_SIDE"),
    R.PRICE_NOT_ALLOWED: lambda *_: "Parameter 'price' sent when not required.",
    R.INVALID_STOP_PRICE: lambda *_: "Stop price less than zero, missing or not a multiple of the tick size.",
    R.WOULD_IMMEDIATELY_TRIGGER: lambda *_: "Order would trigger immediately.",
    R.INVALID_CALLBACK_RATE: lambda *_: "Invalid callbackRate (0.1 to 10, trailing stops only).",
    R.INVALID_TIME_IN_FORCE: lambda *_: "Invalid timeInForce.",
    R.INVALID_GOOD_TILL: lambda *_: "goodTillDate must be later than the current time.",
    R.INVALID_CLOSE_POSITION: lambda *_: (
        "closePosition is only for STOP_MARKET and TAKE_PROFIT_MARKET, without quantity or reduceOnly."),
    R.DUPLICATE_CLIENT_ORDER_ID: lambda *_: "Duplicated clientOrderId.",
    R.UNKNOWN_ORDER: lambda *_: "Unknown order sent.",
    R.POST_ONLY_WOULD_TAKE: lambda *_: "Order would immediately match and take.",
    R.AMEND_NO_CHANGE: lambda *_: "No need to modify the order.",
    R.NOT_AMENDABLE: lambda *_: "Only resting limit orders can be modified.",
    R.AMEND_BELOW_FILLED: lambda *_: "Quantity less than or equal to the executed quantity.",
    R.ARITHMETIC_OVERFLOW: lambda *_: "Precision is over the maximum defined for this asset.",
    R.INSUFFICIENT_MARGIN: lambda *_: INSUFFICIENT,
    R.INSUFFICIENT_BALANCE: lambda *_: INSUFFICIENT,
    R.AMOUNT_NOT_POSITIVE: lambda *_: "Amount must be positive.",
    R.INVALID_LEVERAGE: lambda *_: "Leverage is not valid for the current position and brackets.",
    R.POSITION_MODE_LOCKED: lambda *_: "Position side cannot be changed if there exists position or open orders.",
    R.REDUCE_ONLY_REJECTED: lambda *_: "ReduceOnly Order is rejected.",
    R.POSITION_SIDE_MISMATCH: lambda *_: "Order's position side does not match user's setting.",
    R.MAX_POSITION_EXCEEDED: lambda *_: "Exceeded the maximum allowable position at current leverage.",
    R.SAME_ACCOUNT: lambda *_: "Cannot transfer to the same account.",
    R.INSURANCE_FLOOR_BREACHED: lambda *_: "The insurance fund cannot pay below its floor.",
    R.INVALID_FUNDING_RATE: lambda *_: "Invalid funding rate.",
    R.MARGIN_TYPE_UNCHANGED: lambda *_: "No need to change margin type.",
    R.MARGIN_TYPE_ORDERS_OPEN: lambda *_: "Margin type cannot be changed if there exists open orders.",
    R.MARGIN_TYPE_POSITION_OPEN: lambda *_: "Margin type cannot be changed if there exists position.",
    R.NOT_ISOLATED: lambda *_: "Add margin only support for isolated position.",
    R.CROSS_BALANCE_INSUFFICIENT: lambda *_: "Cross balance insufficient.",
    R.ISOLATED_BALANCE_INSUFFICIENT: lambda *_: "Isolated balance insufficient.",
    R.NO_POSITION: lambda *_: "Cannot add position margin: position is 0.",
    R.RESERVED_ACCOUNT: lambda *_: "This account keeps cross margin.",
    R.DUPLICATE_PAYOUT: lambda *_: "This payout was already paid.",
    R.WITHDRAWALS_SUSPENDED: lambda *_: "Withdrawals are suspended until an uncovered account loss is settled.",
    R.DUPLICATE_WITHDRAWAL: lambda *_: "This withdrawal was already made.",
    R.INVALID_ACCOUNT_OWNER: lambda *_: "An account owner needs a name of 1 to 64 and a role of 1 to 16 bytes.",
}


class CatchAllMiddleware:
    """Pure ASGI middleware: any exception that escapes the app becomes ``-1000`` (HTTP 400),
    logged with its traceback; never a 5xx. Responses already started are left alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                return
            error = unknown_error()
            body = json.dumps(error.body()).encode()
            await send({"type": "http.response.start", "status": error.status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


STAFF_PATHS = ("/admin/", "/risk/")
"""Paths of staff actions: a refused one is logged (``api.errors``, WARNING)."""


def error_response(error: ApiError) -> JSONResponse:
    """The HTTP response of an :class:`ApiError`."""
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def install_handlers(app: FastAPI) -> None:
    """Registers the Binance-shaped handlers for our errors, validation errors and HTTP errors."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        if request.method != "GET" and request.url.path.startswith(STAFF_PATHS):
            log.warning("staff action refused", extra={"fields": {
                "method": request.method, "path": request.url.path, "code": exc.code, "reason": exc.msg}})
        return error_response(exc)

    async def on_validation(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        name = str(first.get("loc", ["", "?"])[-1])
        if first.get("type") == "missing":
            return error_response(missing_parameter(name))
        return error_response(invalid_value(name))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_response(not_found_path(request.method, request.url.path))
        if exc.status_code == 405:
            return error_response(ApiError(-5000, f"Path {request.url.path}, Method {request.method} is invalid", 405))
        if exc.status_code == 400:  # a body the framework could not parse (bad or too deeply nested JSON)
            return error_response(invalid_value("body"))
        return error_response(ApiError(-1000, str(exc.detail), 400))

    async def on_engine_bus(_request: Request, exc: Exception) -> Response:
        """The engine service did not answer (gateway processes): -1007 when the command may have
        been applied (no reply in time), -1001 when it was not (nobody listens, or it refused)."""
        log.warning("engine service: %s", exc)
        return error_response(backend_timeout() if isinstance(exc, EngineTimeout) else engine_unavailable())

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(EngineBusError, on_engine_bus)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
