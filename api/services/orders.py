"""Trading: new, batch, amend, cancel and query of orders and algo (conditional) orders.

Invariants:
    * Every state change is an engine command sent through the door; the answer is built only
      after the engine returned the command's events *and* this process's order view applied them
      (in process: after the SQL projection too), so an immediate query (or the user stream)
      agrees with the answer.
    * Live reads (an order by id or client id, open orders, cancel-all) come from the in-memory
      order view (``derivatives.order_view``); SQL only for what the view no longer holds (finished
      orders beyond its window) and for history (``allOrders``, ``userTrades``).
    * An order's identity in answers: ``orderId`` = engine order id; ``algoId`` = the engine id of
      a conditional order, whose triggered child order keeps the same id (``actualOrderId``).
    * ``clientOrderId`` is always present: a client that sends none gets ``srv-`` + 28 random hex
      characters, generated here and given to the engine, so it works for cancels too.
    * Conditional types are refused on ``/fapi/v1/order`` with ``-4120`` (Binance since late 2025);
      they are placed with ``/fapi/v1/algoOrder`` (CCXT.md gotcha 3).
    * Parameters are validated before anything is sent; a refused request changes nothing.
    * A client-chosen id resent within the retention window answers the order it created
      (``api.services.client_ids``); only server-generated ids skip the lookup.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import anyio.to_thread

from api import errors, formats
from api.errors import ApiError
from api.instruments import Instrument, InstrumentRegistry
from api.params import (
    END_TIME,
    MAX_DECIMALS,
    MAX_TIME_MS,
    PAGE,
    START_TIME,
    SYMBOL,
    Kind,
    Param,
    Params,
    Spec,
)
from api.projection import ProjectionProgress, ProjectionWorker, caught_up
from api.ratelimit import Limits
from api.services.client_ids import RETENTION_MS, KeyedLocks
from derivatives.commands import AmendOrder, CancelOrder, Command, PlaceOrder
from derivatives.door import EngineDoor
from derivatives.engine import EngineQueries
from derivatives.enums import (
    OrderType,
    PositionSide,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
    TriggerSource,
)
from derivatives.events import Event, OrderAccepted, OrderRejected
from derivatives.order_view import OrderView
from derivatives.persistence import queries
from derivatives.persistence.db import Database
from derivatives.persistence.projector import Batch
from derivatives.persistence.queries import Window
from derivatives.persistence.views import OrderState

BATCH_LIMIT = 5
GTD_MIN_MS = 600_000
"""Binance's minimum lifetime of a GTD order: ``goodTillDate`` at least now + 600 s."""
REGULAR_TYPES = ("LIMIT", "MARKET")
ALGO_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
PRICED_TYPES = ("LIMIT", "STOP", "TAKE_PROFIT")

_SIDE = Param("side", Kind.CHOICE, True, ("BUY", "SELL"), on_bad_choice=errors.invalid_side)
_COMMON = (
    SYMBOL,
    _SIDE,
    Param("positionSide", Kind.CHOICE, choices=("BOTH", "LONG", "SHORT")),
    Param("timeInForce", Kind.CHOICE, choices=("GTC", "IOC", "FOK", "GTX", "GTD"), on_bad_choice=errors.invalid_tif),
    Param("quantity", Kind.DECIMAL, description="Base quantity, a multiple of LOT_SIZE stepSize.",
          too_large=errors.quantity_too_large),
    Param("reduceOnly", Kind.BOOL),
    Param("price", Kind.DECIMAL, too_large=errors.price_too_large),
    Param("closePosition", Kind.BOOL),
    Param("workingType", Kind.CHOICE, choices=("MARK_PRICE", "CONTRACT_PRICE")),
    Param("priceProtect", Kind.BOOL),
    Param("newOrderRespType", Kind.CHOICE, choices=("ACK", "RESULT")),
    Param("priceMatch", Kind.CHOICE, choices=("NONE", "OPPONENT", "OPPONENT_5", "OPPONENT_10", "OPPONENT_20",
                                              "QUEUE", "QUEUE_5", "QUEUE_10", "QUEUE_20")),
    Param("selfTradePreventionMode", Kind.CHOICE, choices=("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")),
    Param("goodTillDate", Kind.INT, minimum=0, maximum=MAX_TIME_MS),
)
NEW_ORDER = (
    *_COMMON,
    Param("type", Kind.CHOICE, True, REGULAR_TYPES + ALGO_TYPES, on_bad_choice=errors.invalid_order_type),
    Param("newClientOrderId", Kind.CLIENT_ID),
    Param("stopPrice", Kind.DECIMAL, too_large=errors.stop_price_too_large),
    Param("activationPrice", Kind.DECIMAL, too_large=errors.price_too_large),
    Param("callbackRate", Kind.DECIMAL),
)
NEW_ALGO = (
    *_COMMON,
    Param("algoType", Kind.CHOICE, True, ("CONDITIONAL",)),
    Param("type", Kind.CHOICE, True, ALGO_TYPES + REGULAR_TYPES, on_bad_choice=errors.invalid_order_type),
    Param("clientAlgoId", Kind.CLIENT_ID),
    Param("triggerPrice", Kind.DECIMAL, too_large=errors.stop_price_too_large),
    Param("activatePrice", Kind.DECIMAL, too_large=errors.price_too_large),
    Param("callbackRate", Kind.DECIMAL, description="Trailing callback in percent, 0.1 to 10."),
)
ORDER_REF = (Param("orderId", Kind.INT, minimum=0), Param("origClientOrderId", Kind.CLIENT_ID))
ALGO_REF = (Param("algoId", Kind.INT, minimum=0), Param("clientAlgoId", Kind.CLIENT_ID))
AMEND = (SYMBOL, _SIDE, Param("quantity", Kind.DECIMAL, True, too_large=errors.quantity_too_large),
         Param("price", Kind.DECIMAL, True, too_large=errors.price_too_large),
         Param("priceMatch", Kind.CHOICE, choices=("NONE",)), *ORDER_REF)
BATCH = (Param("batchOrders", Kind.TEXT, True, max_length=16_384, description="JSON array of up to 5 orders."),)
HISTORY = (Param("symbol", Kind.TEXT, max_length=20), Param("orderId", Kind.INT, minimum=0), START_TIME, END_TIME,
           Param("limit", Kind.INT, minimum=1, maximum=1000))
ALGO_HISTORY = (SYMBOL, Param("algoId", Kind.INT, minimum=0), START_TIME, END_TIME,
                PAGE, Param("limit", Kind.INT, minimum=1, maximum=100))
USER_TRADES = (SYMBOL, Param("orderId", Kind.INT, minimum=0), START_TIME, END_TIME, Param("fromId", Kind.INT, minimum=0),
               Param("limit", Kind.INT, minimum=1, maximum=1000))
NEW_ORDER_SPEC = Spec(NEW_ORDER)
CANCEL_ALL_DONE = {"code": 200, "msg": "The operation of cancel all open order is done."}


BatchItem = tuple[str | None, Instrument, PlaceOrder]
"""A ``batchOrders`` element ready to send: its client order id (if the client chose one) and command."""


def generated_client_id() -> str:
    """``srv-`` + 28 random hex characters (32 in all, within Binance's pattern)."""
    return "srv-" + secrets.token_hex(14)


def _outcomes(batch: Batch) -> dict[int, list[Event]]:
    out: dict[int, list[Event]] = {}
    for envelope in batch.events:
        out.setdefault(envelope.seq, []).append(envelope.event)
    return out


class OrderService:
    """Order entry and order queries for one account at a time."""

    def __init__(self, registry: InstrumentRegistry, gateway: EngineDoor, worker: ProjectionWorker | None,
                 db: Database, limits: Limits, client: EngineQueries, projection_wait_ms: int,
                 clock_ms: Callable[[], int], orders: OrderView, history: ProjectionProgress | None = None) -> None:
        """`worker`: the in-process SQL projection to wait for after each command (None in a
        gateway process, whose door returns only once `orders` has the command's events);
        `history`: the projector process's progress, waited for before a SQL read (a gateway
        process: history shows what this process has seen applied)."""
        self.registry = registry
        self.gateway = gateway
        self.worker = worker
        self.orders = orders
        self.projection = history
        self.db = db
        self.limits = limits
        self.client = client
        self.wait_s = projection_wait_ms / 1000
        self.clock_ms = clock_ms
        self.client_ids = KeyedLocks()

    def instrument(self, symbol: str | None) -> Instrument:
        """The listed instrument `symbol`, or -1121."""
        return self.registry.require(symbol)

    async def _run(self, commands: Sequence[Command]) -> Batch:
        batch = await self.gateway.submit(commands)
        await self._projected(batch.last_seq)
        return batch

    async def _projected(self, seq: int) -> None:
        """In process: waits until the SQL projection (and so the order view) has `seq` (-1007)."""
        if self.worker is not None and not await self.worker.wait_for(seq, self.wait_s):
            raise errors.backend_timeout()

    async def _order(self, account: int, instrument: Instrument, order_id: int | None, client_id: str | None,
                     algo: bool) -> OrderState | None:
        """One order of the account: from the view, else (finished long ago) from SQL."""
        order = self.orders.find(account, instrument.name, order_id, client_id, algo)
        if order is None:
            order = await self._read(queries.find_order, account, instrument.name, order_id, client_id, algo)
        return order

    def _reject(self, instrument: Instrument, reason: RejectReason) -> ApiError:
        prices = self.client.prices(instrument.spec.symbol)
        reference = None if prices is None else (prices.mark if prices.mark is not None else prices.last)
        spec = instrument.spec
        return errors.reject(reason, band=instrument.band(reference), min_notional=spec.min_notional,
                             min_qty=spec.min_qty, max_qty=spec.max_qty)

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        await caught_up(self.projection, self.gateway.last_seq(), self.wait_s)

        def run() -> Any:
            with self.db.reader() as session:
                return fn(session, *args)

        return await anyio.to_thread.run_sync(run)

    # Placement ---------------------------------------------------------------------------------
    def build(self, account: int, params: Params, algo: bool) -> tuple[Instrument, PlaceOrder]:
        """The engine command of a new-order request.

        Raises:
            ApiError: For anything the request itself gets wrong (nothing was sent).
        """
        instrument = self.instrument(params.text("symbol"))
        kind = params.text("type") or ""
        if algo and kind in REGULAR_TYPES:
            raise errors.invalid_order_type()
        if not algo and kind in ALGO_TYPES:
            raise errors.use_algo_endpoint()
        if params.text("priceMatch") not in (None, "NONE"):
            raise errors.unsupported("priceMatch", params.text("priceMatch") or "")
        if params.bool("priceProtect"):
            raise errors.unsupported("priceProtect", "true")
        close_position = params.bool("closePosition")
        qty = params.decimal("quantity")
        if qty is None and not close_position:
            raise errors.missing_parameter("quantity")
        price = params.decimal("price")
        if kind in PRICED_TYPES and price is None:
            raise errors.missing_parameter("price")
        trigger = params.decimal("triggerPrice" if algo else "stopPrice")
        activation = params.decimal("activatePrice" if algo else "activationPrice")
        callback = params.decimal("callbackRate")
        if kind == "TRAILING_STOP_MARKET" and callback is None:
            raise errors.missing_parameter("callbackRate")
        if callback is not None and (callback / 100).normalize().as_tuple().exponent < -MAX_DECIMALS:  # type: ignore[operator]
            raise self._reject(instrument, RejectReason.INVALID_CALLBACK_RATE)  # finer than the engine's 1e-8
        if kind in ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET") and trigger is None:
            raise errors.missing_parameter("triggerPrice" if algo else "stopPrice")
        client_id = params.text("clientAlgoId" if algo else "newClientOrderId") or generated_client_id()
        good_till = params.int("goodTillDate")
        if params.text("timeInForce") == "GTD":
            earliest = self.gateway.clock_ns() // 1_000_000 + GTD_MIN_MS
            if good_till is None:
                raise errors.missing_parameter("goodTillDate")
            if good_till < earliest:
                raise ApiError(-1130, f"goodTillDate must be at least {GTD_MIN_MS // 1000} s after the "
                                      f"current time (earliest {earliest}).")
        return instrument, PlaceOrder(
            account=account,
            symbol=instrument.spec.symbol,
            side=Side[params.text("side") or "BUY"],
            qty=qty if qty is not None else Decimal(0),
            order_type=OrderType[kind],
            price=price,
            time_in_force=TimeInForce[params.text("timeInForce") or "GTC"],
            client_order_id=client_id,
            stop_price=trigger,
            trigger_source=TriggerSource[params.text("workingType") or "CONTRACT_PRICE"],
            callback_rate=None if callback is None else callback / 100,
            activation_price=activation,
            good_till=None if good_till is None else good_till * 1_000_000,
            reduce_only=params.bool("reduceOnly"),
            close_position=close_position,
            position_side=PositionSide[params.text("positionSide") or "BOTH"],
            stp=StpMode[params.text("selfTradePreventionMode") or "NONE"],
        )

    async def place(self, account: int, params: Params, algo: bool, headers: dict[str, str]) -> dict[str, object]:
        """``POST /fapi/v1/order`` or ``POST /fapi/v1/algoOrder`` (order-count headers into `headers`)."""
        instrument, command = self.build(account, params, algo)
        supplied = params.text("clientAlgoId" if algo else "newClientOrderId")
        async with self.client_ids.hold_all([] if supplied is None else [(account, supplied)]):
            previous = None if supplied is None else await self._previous(account, instrument, supplied, algo)
            if previous is not None:
                return previous
            headers.update(self.limits.charge_orders(account, 1))
            batch = await self._run([command])
            return await self._placed(account, instrument, supplied, _outcomes(batch).get(batch.first_seq, []), algo)

    async def _previous(self, account: int, instrument: Instrument, client_id: str,
                        algo: bool) -> dict[str, object] | None:
        """The answer for the order `client_id` already names (None if it names none).

        Raises:
            ApiError: -4116 when it names an order of another symbol or kind; -1007 when the
                projection does not catch up in time.
        """
        await self._projected(self.gateway.last_seq())
        since = self.clock_ms() - RETENTION_MS
        order: OrderState | None
        if since >= self.orders.complete_since_ms:  # the view holds every order of the window
            order = self.orders.by_client_id(account, client_id)
            if order is not None and order.created_at < since:
                order = None
        else:
            order = await self._read(queries.order_by_client_id, account, client_id, since)
        if order is None:
            return None
        if order.symbol != instrument.name or (order.algo_status is not None) != algo:
            raise self._reject(instrument, RejectReason.DUPLICATE_CLIENT_ORDER_ID)
        return formats.algo_object(instrument, order) if algo else formats.order_object(instrument, order)

    async def _placed(self, account: int, instrument: Instrument, supplied: str | None, events: list[Event],
                      algo: bool) -> dict[str, object]:
        """The answer to a placement from its events (a client id the engine found taken: the order
        holding it)."""
        for event in events:
            if isinstance(event, OrderRejected):
                if supplied is not None and event.reason is RejectReason.DUPLICATE_CLIENT_ORDER_ID:
                    previous = await self._previous(account, instrument, supplied, algo)
                    if previous is not None:
                        return previous
                raise self._reject(instrument, event.reason)
            if isinstance(event, OrderAccepted):
                order = await self._order(event.order.account, instrument, event.order_id, None, algo)
                if order is None:
                    raise errors.engine_unavailable()
                return formats.algo_object(instrument, order) if algo else formats.order_object(instrument, order)
        raise errors.engine_unavailable()

    async def place_batch(self, account: int, params: Params, headers: dict[str, str]) -> list[dict[str, object]]:
        """``POST /fapi/v1/batchOrders``: each item answered by an order or its own error (an item
        whose client order id names an order already: that order). The locks of every client id
        in the batch are held throughout, so a batch racing its own retry places once."""
        parsed: list[BatchItem | ApiError] = []
        for item in batch_items(params.text("batchOrders") or ""):
            try:
                item_params = NEW_ORDER_SPEC.parse(item)
                client_id = item_params.text("newClientOrderId")
                instrument, command = self.build(account, item_params, algo=False)
                if client_id is not None and any(not isinstance(p, ApiError) and p[0] == client_id for p in parsed):
                    raise self._reject(instrument, RejectReason.DUPLICATE_CLIENT_ORDER_ID)  # twice in one batch
                parsed.append((client_id, instrument, command))
            except ApiError as error:
                parsed.append(error)
        supplied = [(account, entry[0]) for entry in parsed if not isinstance(entry, ApiError) and entry[0] is not None]
        async with self.client_ids.hold_all(supplied):
            return await self._place_items(account, parsed, headers)

    async def _place_items(self, account: int, parsed: list[BatchItem | ApiError],
                           headers: dict[str, str]) -> list[dict[str, object]]:
        built: list[BatchItem | ApiError | dict[str, object]] = []
        for entry in parsed:
            try:
                previous = None if isinstance(entry, ApiError) or entry[0] is None else (
                    await self._previous(account, entry[1], entry[0], False))
                built.append(entry if previous is None else previous)
            except ApiError as error:
                built.append(error)
        commands = [b[2] for b in built if isinstance(b, tuple)]
        outcomes: dict[int, list[Event]] = {}
        first_seq = 0
        if commands:
            headers.update(self.limits.charge_orders(account, len(commands)))
            batch = await self._run(commands)
            outcomes, first_seq = _outcomes(batch), batch.first_seq
        answers: list[dict[str, object]] = []
        seq_offset = 0
        for item in built:
            if isinstance(item, ApiError):
                answers.append(item.body())
                continue
            if isinstance(item, dict):  # a client order id resent: the order it created
                answers.append(item)
                continue
            events = outcomes.get(first_seq + seq_offset, [])
            seq_offset += 1
            try:
                answers.append(await self._placed(account, item[1], item[0], events, algo=False))
            except ApiError as error:
                answers.append(error.body())
        return answers

    # Changes of live orders --------------------------------------------------------------------
    async def _find(self, account: int, instrument: Instrument, params: Params, algo: bool,
                    not_found: Callable[[], ApiError]) -> OrderState:
        id_name, cid_name = ("algoId", "clientAlgoId") if algo else ("orderId", "origClientOrderId")
        order_id, client_id = params.int(id_name), params.text(cid_name)
        if order_id is None and client_id is None:
            raise errors.missing_one_of(id_name, cid_name)
        order = await self._order(account, instrument, order_id, client_id, algo)
        if order is None:
            raise not_found()
        return order

    async def amend(self, account: int, params: Params) -> dict[str, object]:
        """``PUT /fapi/v1/order``: new price and total quantity of a resting limit order."""
        instrument = self.instrument(params.text("symbol"))
        order = await self._find(account, instrument, params, False, errors.order_not_found)
        if order.side != params.text("side"):
            raise errors.side_mismatch()
        price, qty = params.decimal("price"), params.decimal("quantity")
        assert price is not None and qty is not None
        batch = await self._run([AmendOrder(account, instrument.spec.symbol, price, qty, order_id=order.order_id)])
        for event in _outcomes(batch).get(batch.first_seq, []):
            if isinstance(event, OrderRejected):
                raise self._reject(instrument, event.reason)
        return await self._order_answer(account, instrument, order.order_id, algo=False)

    async def _order_answer(self, account: int, instrument: Instrument, order_id: int, algo: bool) -> dict[str, object]:
        order = await self._order(account, instrument, order_id, None, algo)
        if order is None:
            raise errors.order_not_found()
        return formats.algo_object(instrument, order) if algo else formats.order_object(instrument, order)

    async def cancel(self, account: int, params: Params, algo: bool) -> dict[str, object]:
        """``DELETE /fapi/v1/order`` or ``DELETE /fapi/v1/algoOrder``."""
        instrument = self.instrument(params.text("symbol"))
        order = await self._find(account, instrument, params, algo, errors.unknown_order)
        live = order.algo_status == "NEW" and order.triggered_at is None if algo else order.is_live
        if not live:
            raise errors.unknown_order()
        batch = await self._run([CancelOrder(account, instrument.spec.symbol, order_id=order.order_id)])
        for event in _outcomes(batch).get(batch.first_seq, []):
            if isinstance(event, OrderRejected):
                raise self._reject(instrument, event.reason)
        if algo:
            return {"algoId": order.order_id, "clientAlgoId": order.client_order_id, "code": "200", "msg": "success"}
        return await self._order_answer(account, instrument, order.order_id, algo=False)

    async def cancel_all(self, account: int, symbol: str | None, algo: bool) -> dict[str, object]:
        """``DELETE /fapi/v1/allOpenOrders`` / ``algoOpenOrders``: every live order of one kind."""
        instrument = self.instrument(symbol)
        ids = [order.order_id for order in self.orders.open_orders(account, instrument.name, algo)]
        if ids:
            await self._run([CancelOrder(account, instrument.spec.symbol, order_id=i) for i in ids])
        return dict(CANCEL_ALL_DONE)

    # Queries -----------------------------------------------------------------------------------
    async def get(self, account: int, params: Params, algo: bool, open_only: bool = False) -> dict[str, object]:
        """``GET /fapi/v1/order``, ``openOrder`` or ``algoOrder``."""
        instrument = self.instrument(params.text("symbol"))
        order = await self._find(account, instrument, params, algo, errors.order_not_found)
        if open_only and not order.is_live:
            raise errors.order_not_found()
        return formats.algo_object(instrument, order) if algo else formats.order_object(instrument, order)

    async def open_orders(self, account: int, symbol: str | None, algo: bool) -> list[dict[str, object]]:
        """``GET /fapi/v1/openOrders`` / ``openAlgoOrders``."""
        if symbol is not None:
            self.instrument(symbol)
        return self._shapes(self.orders.open_orders(account, symbol, algo), algo)

    async def history(self, account: int, params: Params, algo: bool) -> list[dict[str, object]]:
        """``GET /fapi/v1/allOrders`` / ``allAlgoOrders``."""
        symbol = params.text("symbol")
        if symbol is not None:
            self.instrument(symbol)
        _check_range(params)
        default = 100 if algo else 500
        window = Window(params.int("limit") or default, params.int("algoId" if algo else "orderId"),
                        params.int("startTime"), params.int("endTime"))
        orders = await self._read(queries.all_orders, account, symbol, window, algo)
        return self._shapes(orders, algo)

    def _shapes(self, orders: list[OrderState], algo: bool) -> list[dict[str, object]]:
        out = []
        for order in orders:
            instrument = self.registry.get(order.symbol)
            if instrument is not None:
                out.append(formats.algo_object(instrument, order) if algo else formats.order_object(instrument, order))
        return out

    async def user_trades(self, account: int, params: Params) -> list[dict[str, object]]:
        """``GET /fapi/v1/userTrades``."""
        instrument = self.instrument(params.text("symbol"))
        _check_range(params, max_ms=7 * 24 * 3600 * 1000)
        window = Window(params.int("limit") or 500, params.int("fromId"), params.int("startTime"), params.int("endTime"))

        def read(session: Any) -> tuple[list[queries.UserTrade], dict[int, str]]:
            rows = queries.user_trades(session, account, instrument.name, window)
            order_id = params.int("orderId")
            if order_id is not None:
                rows = [r for r in rows if r.order_id == order_id]
            return rows, queries.position_sides(session, [r.order_id for r in rows])

        rows, sides = await self._read(read)
        return [formats.user_trade(instrument, r, sides.get(r.order_id, "BOTH")) for r in rows]


def _check_range(params: Params, max_ms: int | None = None) -> None:
    start, end = params.int("startTime"), params.int("endTime")
    if start is not None and end is not None:
        if end < start:
            raise errors.bad_combination("endTime is before startTime.")
        if max_ms is not None and end - start > max_ms:
            raise errors.bad_combination("The time between startTime and endTime must be less than 7 days.")


def batch_items(text: str) -> list[list[tuple[str, str]]]:
    """The parameter pairs of each ``batchOrders`` element (JSON numbers read as Decimal)."""
    try:
        items = json.loads(text, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise errors.invalid_value("batchOrders") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise errors.invalid_value("batchOrders")
    if not 1 <= len(items) <= BATCH_LIMIT:
        raise errors.batch_size(BATCH_LIMIT)
    out = []
    for item in items:
        pairs = []
        for name, value in item.items():
            text_value = ("true" if value else "false") if isinstance(value, bool) else str(value)
            pairs.append((str(name), text_value))
        out.append(pairs)
    return out
