"""The margin and liquidation rules where a trader meets them, through the stock ccxt
``binanceusdm`` client: a thin long closes below the mark, a 125x market order is margined at
its expected fill, and the funding interval is the symbol's own (set per symbol in settings:
BTCUSDT every 4 hours here). Numbers derived by hand beside each step (BTCUSDT mark 50,000, taker
0.05 %, default leverage 20)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest

from oracle.service import BookState
from tests.api.conftest import ccxt_config, make_database, make_trader, serve
from tests.api.server import RunningServer

SYMBOL = "BTC/USDT:USDT"
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose BTCUSDT funds every 4 hours (``DERIVATIVES_FUNDING_INTERVALS``)."""
    db = make_database("sqlite", tmp_path_factory.mktemp("db"))
    running = serve(db, funding_intervals="BTCUSDT:4")
    yield running
    running.stop()
    db.drop()


def client(server: RunningServer, funds: str) -> ccxt.binanceusdm:
    exchange = ccxt.binanceusdm(ccxt_config(server, make_trader(server, funds=funds)))
    exchange.load_markets()
    return exchange


def position_size(exchange: ccxt.binanceusdm) -> float:
    return sum(float(p["contracts"] or 0) for p in exchange.fetch_positions([SYMBOL]))


def test_a_thin_long_closes_below_the_mark(server: RunningServer) -> None:
    maker = client(server, "1000000")
    # 100 USDT buys 0.04 at 50,000: IM 2,000 / 20 = 100 exactly; the taker fee 1 leaves
    # available −1: any order that needs margin is refused.
    trader = client(server, "100")
    maker.create_order(SYMBOL, "limit", "sell", 0.04, 50000)
    trader.create_order(SYMBOL, "limit", "buy", 0.04, 50000, {"timeInForce": "IOC"})
    assert position_size(trader) == 0.04
    with pytest.raises(ccxt.InsufficientFunds):  # -2019: opening a short needs margin
        trader.create_order(SYMBOL, "limit", "sell", 0.05, 49900)
    # Reduce-only 100 under the mark: closing is never margined.
    order = trader.create_order(SYMBOL, "limit", "sell", 0.04, 49900, {"reduceOnly": True})
    assert order["status"] == "open"
    trader.cancel_order(order["id"], SYMBOL)
    # A market close into a 49,900 bid fills.
    bid = maker.create_order(SYMBOL, "limit", "buy", 0.04, 49900)
    trader.create_order(SYMBOL, "market", "sell", 0.04, None, {"reduceOnly": True})
    assert position_size(trader) == 0
    assert maker.fetch_order(bid["id"], SYMBOL)["status"] == "closed"


def test_a_125x_market_order_is_margined_at_its_expected_fill(server: RunningServer) -> None:
    maker = client(server, "1000000")
    trader = client(server, "25")
    trader.set_leverage(125, SYMBOL)
    asks = [maker.create_order(SYMBOL, "limit", "sell", 0.03, price) for price in (50000, 50100)]
    # 0.06 walks both asks: average 50,050; IM 3,000 / 125 = 24 plus open loss 50 × 0.06 = 3 > 25.
    with pytest.raises(ccxt.InsufficientFunds):
        trader.create_order(SYMBOL, "market", "buy", 0.06)
    # 0.05: average 50,040; IM 20 plus open loss 2 = 22 ≤ 25: filled (at the band edge it needed 145).
    order = trader.create_order(SYMBOL, "market", "buy", 0.05)
    assert trader.fetch_order(order["id"], SYMBOL)["filled"] == 0.05
    assert position_size(trader) == 0.05
    maker.cancel_order(asks[1]["id"], SYMBOL)


def test_the_funding_interval_is_the_symbols_own(server: RunningServer) -> None:
    public = ccxt.binanceusdm(ccxt_config(server))
    public.load_markets()
    intervals = {symbol: i["interval"] for symbol, i in public.fetch_funding_intervals().items()}
    assert intervals == {"BTC/USDT:USDT": "4h", "ETH/USDT:USDT": "8h"}
    btc, eth = (public.fetch_funding_rate(s) for s in ("BTC/USDT:USDT", "ETH/USDT:USDT"))
    assert btc["fundingTimestamp"] % (4 * HOUR_MS) == 0
    assert eth["fundingTimestamp"] % (8 * HOUR_MS) == 0
    assert btc["fundingTimestamp"] - btc["timestamp"] <= 4 * HOUR_MS


def test_the_mark_price_basis_is_the_live_funding_estimate_at_the_symbols_interval(tmp_path: Path) -> None:
    """What the oracle's mark price reads for its funding basis (MECHANICS §2.5 Price1): the risk
    service's live estimate and the time to the symbol's own next funding (4 hours for BTCUSDT)."""
    db = make_database("sqlite", tmp_path)
    running = serve(db, funding_intervals="BTCUSDT:4", oracle="simulated", risk_services=True)
    try:
        oracle, risk = running.services.oracle, running.app.state.risk
        assert oracle is not None
        now = int(time.time() * 1000)
        before = risk.funding.estimate("BTCUSDT")

        async def read() -> BookState:
            return await oracle._book("BTCUSDT", now)  # the provider the service is wired with

        state = asyncio.run(read())
        after = risk.funding.estimate("BTCUSDT")
        assert before is not None and after is not None
        assert state.funding_rate in (before.rate, after.rate), "a sample may land in between"
        assert state.funding_interval_ms == 4 * HOUR_MS
        assert state.next_funding_ms % (4 * HOUR_MS) == 0 and 0 < state.next_funding_ms - now <= 4 * HOUR_MS
    finally:
        running.stop()
        db.drop()
