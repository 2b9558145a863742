"""The ccxt package's own exchange tests (``ccxt/test/exchange/sync``, shipped in the installed
package and run unchanged) against the server with the stock ``binanceusdm`` client: each checks
the structure and consistency of what a method returns (tickers, books, trades, candles,
balances, positions, orders, fees, funding, leverage tiers, margin mode).

The server holds a resting book, trades, marks and a position first, so every method has
something real to check. ``skipped_properties`` is empty: nothing is excused. Not run, because
they check ccxt itself rather than the server: ``test_fetch_ledger`` (ccxt's Binance income
parser never fills ``account``, ``status``, ``before``, ``after``), ``test_load_markets`` and
``test_fetch_markets`` (they check the client class's ``has`` flags for dated futures, which this
venue does not list, and expect a dict where this ccxt version returns a list),
``test_fetch_status`` (it calls Binance's spot ``sapi``, not this API). The ``ccxt.pro`` watch
tests run on a live market in ``test_ccxt_pro_shipped.py``."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import ccxt
import pytest

from derivatives.commands import SetMarkPrice
from tests.api.conftest import BTC, ccxt_config, execute, make_database, make_trader, serve
from tests.api.server import RunningServer

SYMBOL = "BTC/USDT:USDT"
SYNC = "ccxt.test.exchange.sync"

# (module, extra arguments after (exchange, skipped_properties))
REST: list[tuple[str, tuple[Any, ...]]] = [
    ("test_fetch_ticker", (SYMBOL,)),
    ("test_fetch_tickers", (SYMBOL,)),
    ("test_fetch_order_book", (SYMBOL,)),
    ("test_fetch_l2_order_book", (SYMBOL,)),
    ("test_fetch_trades", (SYMBOL,)),
    ("test_fetch_ohlcv", (SYMBOL,)),
    ("test_fetch_balance", ()),
    ("test_fetch_positions", (SYMBOL,)),
    ("test_fetch_my_trades", (SYMBOL,)),
    ("test_fetch_open_orders", (SYMBOL,)),
    ("test_fetch_orders", (SYMBOL,)),
    ("test_fetch_closed_orders", (SYMBOL,)),
    ("test_fetch_trading_fee", (SYMBOL,)),
    ("test_fetch_trading_fees", ()),
    ("test_fetch_funding_rate_history", (SYMBOL,)),
    ("test_fetch_leverage_tiers", (SYMBOL,)),
    ("test_fetch_market_leverage_tiers", (SYMBOL,)),
    ("test_fetch_margin_mode", (SYMBOL,)),
    ("test_fetch_last_prices", (SYMBOL,)),
]



@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, dict[str, Any]]]:
    """A server with a two-sided book, trades, a mark and an open position of the returned trader
    (100 USDT, so its position has a liquidation price, as ccxt's collateral check needs)."""
    db = make_database("sqlite", tmp_path_factory.mktemp("shipped"))
    running = serve(db)
    maker_key, trader_key = make_trader(running), make_trader(running, funds="100")
    maker = ccxt.binanceusdm(ccxt_config(running, maker_key))
    trader = ccxt.binanceusdm(ccxt_config(running, trader_key))
    for exchange in (maker, trader):
        exchange.load_markets()
    execute(running, SetMarkPrice(BTC, D(50000), D(50000)))
    maker.create_order(SYMBOL, "limit", "sell", 0.05, 50100)
    maker.create_order(SYMBOL, "limit", "buy", 0.05, 49900)
    trader.create_order(SYMBOL, "market", "buy", 0.01)
    trader.create_order(SYMBOL, "limit", "buy", 0.01, 49800)
    yield running, ccxt_config(running, trader_key)
    running.stop()


@pytest.mark.parametrize(("name", "args"), REST, ids=[n for n, _ in REST])
def test_shipped_rest_test(market: tuple[RunningServer, dict[str, Any]], name: str, args: tuple[Any, ...]) -> None:
    _, config = market
    exchange = ccxt.binanceusdm(config)
    exchange.load_markets()
    check = getattr(importlib.import_module(f"{SYNC}.{name}"), name)
    check(exchange, {}, *args)
