"""Batch cancels and edits (``DELETE``/``PUT /fapi/v1/batchOrders``) and the dead man's switch
(``POST /fapi/v1/countdownCancelAll``) on top of :class:`api.services.orders.OrderService`.

Invariants:
    * Each element of a batch succeeds or fails on its own, answered in request order by an order
      object or its ``{code, msg}`` (Binance's shape); a malformed list is one ``-1130``.
    * A countdown cancels every open order of (account, symbol) when it runs out unless it is
      renewed first; ``countdownTime=0`` stops it. Countdowns live in the process (a restart drops
      them, as it drops the WebSocket sessions that keep them alive).
"""

from __future__ import annotations

import asyncio
import json
import logging

from api import errors
from api.errors import ApiError
from api.params import SYMBOL, Kind, Param, Params, Spec
from api.services.orders import AMEND, ORDER_REF, OrderService, batch_items

log = logging.getLogger("api.orders")

CANCEL_LIMIT = 10
COUNTDOWN = (SYMBOL, Param("countdownTime", Kind.INT, True, minimum=0, maximum=10**10,
                          description="Milliseconds; 0 stops the countdown."))
BATCH_CANCEL = (SYMBOL, Param("orderIdList", Kind.TEXT, max_length=1024), Param("orderidlist", Kind.TEXT, max_length=1024),
                Param("origClientOrderIdList", Kind.TEXT, max_length=1024),
                Param("origclientorderidlist", Kind.TEXT, max_length=1024))
BATCH_EDIT = (Param("batchOrders", Kind.TEXT, True, max_length=16_384, description="JSON array of up to 5 edits."),)
_ONE_CANCEL = Spec((SYMBOL, *ORDER_REF))
_ONE_EDIT = Spec(AMEND)


def _id_list(text: str, name: str) -> list[str]:
    try:
        items = json.loads(text)
    except ValueError:
        raise errors.invalid_value(name) from None
    if not isinstance(items, list) or not 1 <= len(items) <= CANCEL_LIMIT:
        raise errors.invalid_value(name)
    if not all(isinstance(i, int | str) and not isinstance(i, bool) for i in items):
        raise errors.invalid_value(name)
    return [str(i) for i in items]


async def cancel_batch(orders: OrderService, account: int, params: Params) -> list[dict[str, object]]:
    """``DELETE /fapi/v1/batchOrders``: up to ten orders by id or client id, each answered."""
    symbol = params.text("symbol") or ""
    orders.instrument(symbol)
    ids, client_ids = params.text("orderIdList") or params.text("orderidlist"), (
        params.text("origClientOrderIdList") or params.text("origclientorderidlist"))
    if (ids is None) == (client_ids is None):
        raise errors.missing_one_of("orderIdList", "origClientOrderIdList")
    name, listed = ("orderId", _id_list(ids, "orderIdList")) if ids is not None else (
        "origClientOrderId", _id_list(client_ids or "", "origClientOrderIdList"))
    answers: list[dict[str, object]] = []
    for value in listed:
        try:
            answers.append(await orders.cancel(account, _ONE_CANCEL.parse([("symbol", symbol), (name, value)]), False))
        except ApiError as error:
            answers.append(error.body())
    return answers


async def edit_batch(orders: OrderService, account: int, params: Params) -> list[dict[str, object]]:
    """``PUT /fapi/v1/batchOrders``: up to five price/quantity edits, each answered."""
    answers: list[dict[str, object]] = []
    for pairs in batch_items(params.text("batchOrders") or ""):
        try:
            answers.append(await orders.amend(account, _ONE_EDIT.parse(pairs)))
        except ApiError as error:
            answers.append(error.body())
    return answers


class Countdowns:
    """The running countdowns of one app, by (account, symbol)."""

    def __init__(self, orders: OrderService) -> None:
        self.orders = orders
        self._timers: dict[tuple[int, str], asyncio.TimerHandle] = {}

    def set(self, account: int, symbol: str, countdown_ms: int) -> dict[str, object]:
        """Starts, renews or (0) stops the countdown of (account, symbol)."""
        self.orders.instrument(symbol)
        key = (account, symbol)
        previous = self._timers.pop(key, None)
        if previous is not None:
            previous.cancel()
        if countdown_ms > 0:
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(countdown_ms / 1000, self._expire, key)
        return {"symbol": symbol, "countdownTime": str(countdown_ms)}

    def _expire(self, key: tuple[int, str]) -> None:
        self._timers.pop(key, None)
        account, symbol = key
        log.info("countdown expired: cancelling open orders", extra={"fields": {"account": account, "symbol": symbol}})
        task = asyncio.ensure_future(self.orders.cancel_all(account, symbol, algo=False))
        task.add_done_callback(_report)


def _report(task: asyncio.Future[dict[str, object]]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("countdown cancel failed: %s", task.exception())
