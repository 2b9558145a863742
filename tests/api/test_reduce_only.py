"""Every way a reduce-only order is refused answers Binance's ``-2022`` "ReduceOnly Order is
rejected." exactly, checked with the stock ccxt client: on a local URL ccxt knows only its common
error table, where ``-2022`` is absent (plain ``ExchangeError``); with the linear table of CCXT.md
§5 (what ccxt uses on fapi.binance.com) it is ``InvalidOrder``."""

from __future__ import annotations

import json
from typing import Any

import ccxt
import pytest

from tests.api.conftest import ccxt_config, make_trader, publish_marks
from tests.api.server import RunningServer

SYMBOL = "BTC/USDT:USDT"
REFUSED = {"code": -2022, "msg": "ReduceOnly Order is rejected."}
LINEAR = {"exact": dict(ccxt.binanceusdm().exceptions["linear"]["exact"])}
RO = {"reduceOnly": True}


def clients(server: RunningServer) -> tuple[ccxt.binanceusdm, ccxt.binanceusdm, ccxt.binanceusdm]:
    """A maker, and a trader seen through the stock config and through the linear error table."""
    maker_key, trader_key = make_trader(server), make_trader(server)
    maker = ccxt.binanceusdm(ccxt_config(server, maker_key))
    stock = ccxt.binanceusdm(ccxt_config(server, trader_key))
    linear = ccxt.binanceusdm({**ccxt_config(server, trader_key), "exceptions": LINEAR})
    for exchange in (maker, stock, linear):
        exchange.load_markets()
    return maker, stock, linear


def refused(stock: ccxt.binanceusdm, linear: ccxt.binanceusdm, method: str, *args: Any) -> None:
    """`method(*args)` is refused with exactly -2022 through both clients."""
    with pytest.raises(ccxt.ExchangeError) as plain:
        getattr(stock, method)(*args)
    assert type(plain.value) is ccxt.ExchangeError, "no -2022 in ccxt's common table: plain ExchangeError"
    assert json.loads(stock.last_http_response) == REFUSED
    with pytest.raises(ccxt.InvalidOrder):
        getattr(linear, method)(*args)
    assert json.loads(linear.last_http_response) == REFUSED


def test_every_reduce_only_refusal_is_2022(server: RunningServer) -> None:
    publish_marks(server)
    maker, stock, linear = clients(server)
    # Flat: nothing to reduce, limit or market.
    refused(stock, linear, "create_order", SYMBOL, "limit", "sell", 0.01, 50500, RO)
    refused(stock, linear, "create_order", SYMBOL, "market", "buy", 0.01, None, RO)
    # Long 0.01 BTC.
    maker.create_order(SYMBOL, "limit", "sell", 0.01, 50000)
    stock.create_order(SYMBOL, "market", "buy", 0.01)
    # Same side as the position (it would increase it).
    refused(stock, linear, "create_order", SYMBOL, "limit", "buy", 0.01, 49500, RO)
    # Larger than the position.
    refused(stock, linear, "create_order", SYMBOL, "limit", "sell", 0.02, 50500, RO)
    # Amending a resting reduce-only order above the position.
    resting = stock.create_order(SYMBOL, "limit", "sell", 0.01, 50500, RO)
    refused(stock, linear, "edit_order", resting["id"], SYMBOL, "limit", "sell", 0.02, 50500)
    # One item of a batch: answered in its slot.
    batch = stock.create_orders([
        {"symbol": SYMBOL, "type": "limit", "side": "sell", "amount": 0.02, "price": 50700, "params": RO},
        {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.01, "price": 49000},
    ])
    assert json.loads(stock.last_http_response)[0] == REFUSED
    assert batch[1]["status"] == "open"
    # Hedge mode takes no reduce-only flag (a leg's closing side is implied).
    hedger = ccxt.binanceusdm(ccxt_config(server, make_trader(server)))
    hedger.load_markets()
    hedger.set_position_mode(True)
    hedge_linear = ccxt.binanceusdm({**ccxt_config(server, make_trader(server)), "exceptions": LINEAR})
    hedge_linear.load_markets()
    hedge_linear.set_position_mode(True)
    refused(hedger, hedge_linear, "create_order", SYMBOL, "limit", "sell", 0.01, 50500,
            {"reduceOnly": True, "positionSide": "LONG"})
