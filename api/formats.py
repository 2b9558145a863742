"""Binance USD-M wire shapes of orders, algo orders, trades and user-stream events.

Invariants:
    * Money is printed from raw integers as decimal strings, exactly: prices with the symbol's
      tick digits, quantities with its step digits, quote amounts with eight decimals. The only
      rounded figure is ``avgPrice`` (a quotient; half-even at eight decimals, display only).
    * A success payload never has a ``code`` key (CCXT.md gotcha 8), except the two bulk
      cancel answers whose Binance shape is ``{"code": 200, "msg": ...}``.
    * A regular order object has ``orderId`` and ``status``; an algo object has ``algoId`` and
      ``algoStatus`` and neither of the former (ccxt reads ``orderId``/``status`` first).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from api.instruments import Instrument, digits
from derivatives.persistence.projector import OrderChange
from derivatives.persistence.queries import UserTrade
from derivatives.persistence.views import OrderState, TradeState
from derivatives.units import DECIMALS, from_raw

EIGHT = Decimal(1).scaleb(-DECIMALS)
LIMIT_TYPES = ("LIMIT", "STOP", "TAKE_PROFIT")


def fixed(raw: int | None, places: int) -> str:
    """A raw 1e-8 value with exactly `places` decimals (exact: `places` covers its digits)."""
    value = from_raw(raw or 0)
    quantum = Decimal(1).scaleb(-places)
    shown = value.quantize(quantum) if value == value.quantize(quantum) else value
    return f"{shown:f}"


def decimal_text(value: Decimal, places: int) -> str:
    """A Decimal with `places` decimals (half-even)."""
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):f}"


def price(instrument: Instrument, raw: int | None) -> str:
    """A price at the symbol's tick digits."""
    return fixed(raw, digits(instrument.spec.tick_size))


def qty(instrument: Instrument, raw: int | None) -> str:
    """A quantity at the symbol's step digits."""
    return fixed(raw, digits(instrument.spec.step_size))


def quote(raw: int | None) -> str:
    """A quote amount with eight decimals."""
    return fixed(raw, DECIMALS)


def signed_quote(raw: int | None) -> str:
    """A signed quote amount (PnL, income) with eight decimals."""
    return f"{from_raw(raw or 0):f}"


def average(order: OrderState) -> str:
    """Average fill price (``"0"`` before any fill)."""
    if order.executed_qty == 0:
        return "0"
    return decimal_text(Decimal(order.cum_quote) / Decimal(order.executed_qty), DECIMALS)


def child_type(order: OrderState) -> str:
    """The order type of a (triggered) algo child, or the type of a regular order."""
    if not order.is_algo:
        return order.order_type
    return "LIMIT" if order.order_type in LIMIT_TYPES else "MARKET"


def _trigger(order: OrderState) -> int | None:
    return order.stop_price if order.stop_price is not None else order.trigger_price_seen


def percent(rate_raw: int | None) -> str:
    """A callback rate (engine fraction) as Binance's percent text."""
    if rate_raw is None:
        return ""
    return f"{(from_raw(rate_raw) * 100).normalize():f}"


def order_object(instrument: Instrument, order: OrderState) -> dict[str, object]:
    """``/fapi/v1/order`` shape."""
    body: dict[str, object] = {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "status": order.status,
        "clientOrderId": order.client_order_id,
        "price": price(instrument, order.price),
        "avgPrice": average(order),
        "origQty": qty(instrument, order.orig_qty),
        "executedQty": qty(instrument, order.executed_qty),
        "cumQty": qty(instrument, order.executed_qty),
        "cumQuote": quote(order.cum_quote),
        "timeInForce": order.time_in_force,
        "type": child_type(order),
        "reduceOnly": order.reduce_only,
        "closePosition": order.close_position,
        "side": order.side,
        "positionSide": order.position_side,
        "stopPrice": price(instrument, _trigger(order)) if order.is_algo else "0",
        "workingType": order.working_type,
        "priceProtect": False,
        "origType": order.order_type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": order.stp_mode,
        "goodTillDate": order.good_till_ms or 0,
        "time": order.created_at,
        "updateTime": order.updated_at,
    }
    if order.order_type == "TRAILING_STOP_MARKET":
        body["activatePrice"] = price(instrument, order.activation_price)
        body["priceRate"] = percent(order.callback_rate)
    return body


def algo_object(instrument: Instrument, order: OrderState) -> dict[str, object]:
    """``/fapi/v1/algoOrder`` shape."""
    trailing = order.order_type == "TRAILING_STOP_MARKET"
    return {
        "algoId": order.order_id,
        "clientAlgoId": order.client_order_id,
        "algoType": "CONDITIONAL",
        "orderType": order.order_type,
        "symbol": order.symbol,
        "side": order.side,
        "positionSide": order.position_side,
        "timeInForce": order.time_in_force,
        "quantity": qty(instrument, order.orig_qty),
        "algoStatus": order.algo_status,
        "triggerPrice": price(instrument, order.stop_price) if not trailing else "0",
        "price": price(instrument, order.price),
        "icebergQuantity": None,
        "selfTradePreventionMode": order.stp_mode,
        "workingType": order.working_type,
        "priceMatch": "NONE",
        "closePosition": order.close_position,
        "priceProtect": False,
        "reduceOnly": order.reduce_only,
        "activatePrice": price(instrument, order.activation_price) if order.activation_price else "",
        "callbackRate": percent(order.callback_rate),
        "createTime": order.created_at,
        "updateTime": order.updated_at,
        "triggerTime": order.triggered_at or 0,
        "goodTillDate": order.good_till_ms or 0,
        "actualOrderId": str(order.order_id) if order.triggered_at else "",
        "actualPrice": average(order),
        "actualQty": qty(instrument, order.executed_qty),
    }


def user_trade(instrument: Instrument, row: UserTrade, position_side: str) -> dict[str, object]:
    """``/fapi/v1/userTrades`` row (no spot-only keys such as ``isMaker``)."""
    t = row.trade
    return {
        "buyer": row.side == "BUY",
        "commission": quote(row.fee),
        "commissionAsset": "USDT",
        "id": t.trade_id,
        "maker": row.maker,
        "orderId": row.order_id,
        "price": price(instrument, t.price),
        "qty": qty(instrument, t.qty),
        "quoteQty": quote(t.quote_qty),
        "realizedPnl": signed_quote(row.realised_pnl),
        "side": row.side,
        "positionSide": position_side,
        "symbol": t.symbol,
        "time": t.time,
    }


def public_trade(instrument: Instrument, t: TradeState) -> dict[str, object]:
    """``/fapi/v1/trades`` row."""
    return {"id": t.trade_id, "price": price(instrument, t.price), "qty": qty(instrument, t.qty),
            "quoteQty": quote(t.quote_qty), "time": t.time, "isBuyerMaker": t.taker_side == "SELL"}


def agg_trade(instrument: Instrument, t: TradeState) -> dict[str, object]:
    """``/fapi/v1/aggTrades`` row: one engine trade per aggregate (ids ``f == l``)."""
    return {"a": t.trade_id, "p": price(instrument, t.price), "q": qty(instrument, t.qty),
            "f": t.trade_id, "l": t.trade_id, "T": t.time, "m": t.taker_side == "SELL"}


def order_trade_update(instrument: Instrument, change: OrderChange) -> dict[str, object]:
    """User-stream ``ORDER_TRADE_UPDATE`` of one order change."""
    order, fill = change.order, change.fill
    body: dict[str, object] = {
        "s": order.symbol, "c": order.client_order_id, "S": order.side, "o": child_type(order),
        "f": order.time_in_force, "q": qty(instrument, order.orig_qty), "p": price(instrument, order.price),
        "ap": average(order), "sp": price(instrument, _trigger(order)) if order.is_algo else "0",
        "x": change.execution, "X": order.status, "i": order.order_id,
        "l": qty(instrument, fill.qty if fill else 0), "z": qty(instrument, order.executed_qty),
        "L": price(instrument, fill.price if fill else 0), "N": "USDT", "n": quote(fill.fee if fill else 0),
        "T": change.time_ms,
        "t": fill.trade_id if fill else 0, "b": "0", "a": "0", "m": bool(fill and fill.maker),
        "R": order.reduce_only, "wt": order.working_type, "ot": order.order_type,
        "ps": order.position_side, "cp": order.close_position,
        "rp": signed_quote(fill.realised_pnl if fill else 0), "pP": False, "si": 0, "ss": 0,
        "V": order.stp_mode, "pm": "NONE", "gtd": order.good_till_ms or 0,
    }
    if order.order_type == "TRAILING_STOP_MARKET":
        body["AP"] = price(instrument, order.activation_price)
        body["cr"] = percent(order.callback_rate)
    return {"e": "ORDER_TRADE_UPDATE", "E": change.time_ms, "T": change.time_ms, "o": body}


def algo_update(instrument: Instrument, change: OrderChange) -> dict[str, object]:
    """User-stream ``ALGO_UPDATE`` of one algo life-cycle change."""
    order = change.order
    return {"e": "ALGO_UPDATE", "T": change.time_ms, "E": change.time_ms, "o": {
        "caid": order.client_order_id, "aid": order.order_id, "at": "CONDITIONAL", "o": order.order_type,
        "s": order.symbol, "S": order.side, "ps": order.position_side, "f": order.time_in_force,
        "q": qty(instrument, order.orig_qty), "X": order.algo_status,
        "ai": str(order.order_id) if order.triggered_at else "", "ap": average(order),
        "aq": qty(instrument, order.executed_qty), "act": child_type(order) if order.triggered_at else "",
        "tp": price(instrument, order.stop_price), "p": price(instrument, order.price), "V": order.stp_mode,
        "wt": order.working_type, "pm": "NONE", "cp": order.close_position, "pP": False,
        "R": order.reduce_only, "tt": order.triggered_at or 0, "gtd": order.good_till_ms or 0, "rm": "",
    }}
