"""Acceptance: a liquidation and an auto-deleveraging seen through the gateway. A trader with
100 USDT buys 0.1 BTC at 100x; mark prices sent through the gateway (the oracle's job) first
trigger a MARGIN_CALL, then the liquidation: the public ``forceOrder`` stream (ccxt.pro
``watch_liquidations``), the private ORDER_TRADE_UPDATE / ACCOUNT_UPDATE, the income entries,
``forceOrders`` and the closed position. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal as D

import ccxt
import ccxt.pro as ccxtpro
import pytest
import websockets

from derivatives.commands import InsurancePayout, SetMarkPrice
from derivatives.enums import PayoutReason
from derivatives.events import InsurancePaid
from tests.api.conftest import BTC, Trader, ccxt_config, execute, make_trader, publish_marks
from tests.api.server import RunningServer
from tests.api.test_auth import call, signed_query

SYMBOL = "BTC/USDT:USDT"


def mark(server: RunningServer, price: str) -> None:
    execute(server, SetMarkPrice(BTC, D(price), D(price)))


def open_victim(server: RunningServer, maker: ccxt.binanceusdm) -> tuple[Trader, ccxt.binanceusdm]:
    """A 100 USDT account long 0.1 BTC at 50000 with 100x leverage (liquidation below 49221.9)."""
    trader = make_trader(server, funds="100")
    victim = ccxt.binanceusdm(ccxt_config(server, trader))
    victim.load_markets()
    victim.set_leverage(100, SYMBOL)
    maker.create_order(SYMBOL, "limit", "sell", 0.1, 50000)
    victim.create_order(SYMBOL, "limit", "buy", 0.1, 50000, {"timeInForce": "IOC"})
    (position,) = victim.fetch_positions([SYMBOL])
    assert position["liquidationPrice"] == 49221.9
    return trader, victim


async def frames_until(ws: websockets.ClientConnection, **wanted: int) -> list[dict[str, object]]:
    """Private frames until at least ``wanted[e]`` events of each type ``e`` arrived."""
    seen: list[dict[str, object]] = []
    async with asyncio.timeout(10):
        while any(sum(f["e"] == e for f in seen) < n for e, n in wanted.items()):
            seen.append(json.loads(await ws.recv()))
    return seen


async def test_liquidation_through_the_gateway(server: RunningServer) -> None:
    maker = ccxt.binanceusdm(ccxt_config(server, make_trader(server)))
    bidder = ccxt.binanceusdm(ccxt_config(server, make_trader(server)))
    trader, victim = await asyncio.to_thread(open_victim, server, maker)
    await asyncio.to_thread(bidder.create_order, SYMBOL, "limit", "buy", 0.1, 49150)
    public = ccxtpro.binanceusdm(ccxt_config(server))
    listen_key = (await asyncio.to_thread(call, server, "POST", "/fapi/v1/listenKey", trader)).json()["listenKey"]
    try:
        liquidations = asyncio.ensure_future(public.watch_liquidations(SYMBOL))
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/private/ws?listenKey={listen_key}") as ws:
            await asyncio.to_thread(mark, server, "49260")  # margin ratio 19.704 / 23.5 = 84 %
            call_frame = (await frames_until(ws, MARGIN_CALL=1))[-1]
            assert call_frame["cw"] == "97.50000000"
            assert call_frame["p"] == [{"s": "BTCUSDT", "ps": "BOTH", "pa": "0.100", "mt": "CROSSED", "iw": "0",
                                        "mp": "49260.00000000", "up": "-74.00000000", "mm": "19.70400000"}]

            await asyncio.to_thread(mark, server, "49200")  # margin balance 17.5 < maintenance 19.68
            frames = await frames_until(ws, ORDER_TRADE_UPDATE=1, ACCOUNT_UPDATE=2)
        (liquidation,) = await asyncio.wait_for(liquidations, 10)
        assert (liquidation["contracts"], liquidation["price"], liquidation["info"]["S"]) == (0.1, 49150.0, "SELL")
        assert liquidation["info"]["X"] == "FILLED" and liquidation["info"]["p"] == "49025.0"

        order = next(f["o"] for f in frames if f["e"] == "ORDER_TRADE_UPDATE")
        assert isinstance(order, dict)
        assert (order["o"], order["x"], order["X"], order["c"][:10], order["rp"], order["n"]) == (
            "LIQUIDATION", "CALCULATED", "FILLED", "autoclose-", "-85.00000000", "0.00000000")
        updates = [f["a"] for f in frames if f["e"] == "ACCOUNT_UPDATE"]
        assert [(u["m"], u["B"][0]["wb"], u["B"][0]["bc"]) for u in updates] == [  # type: ignore[index]
            ("ORDER", "12.50000000", "0.00000000"), ("INSURANCE_CLEAR", "0.00000000", "-12.50000000")]
        assert updates[0]["P"][0]["pa"] == "0.000"  # type: ignore[index]

        assert await asyncio.to_thread(victim.fetch_positions, [SYMBOL]) == []
        assert (await asyncio.to_thread(victim.fetch_balance))["USDT"]["total"] == 0.0
        (mine,) = await asyncio.to_thread(victim.fetch_my_liquidations, SYMBOL)
        assert (mine["contracts"], mine["price"], mine["info"]["type"]) == (0.1, 49150.0, "LIQUIDATION")
        ledger = await asyncio.to_thread(victim.fetch_ledger)
        assert [(e["info"]["incomeType"], e["info"]["income"]) for e in ledger] == [
            ("TRANSFER", "100.00000000"), ("COMMISSION", "-2.50000000"), ("REALIZED_PNL", "-85.00000000"),
            ("INSURANCE_CLEAR", "-12.50000000")]
        quantiles = call(server, "GET", "/fapi/v1/adlQuantile", _trader(maker), signed_query(maker.secret)).json()
        assert quantiles == [{"symbol": "BTCUSDT", "adlQuantile": {"LONG": 0, "SHORT": 0, "BOTH": 4}}]
    finally:
        await public.close()
        await asyncio.to_thread(publish_marks, server)


async def test_auto_deleveraging_when_nobody_takes_the_position(server: RunningServer,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    maker_trader = make_trader(server, funds="10000")  # the most leveraged short: first in the ADL queue
    maker = ccxt.binanceusdm(ccxt_config(server, maker_trader))
    _, victim = await asyncio.to_thread(open_victim, server, maker)
    # Empty the insurance fund (it holds the first test's liquidation fee) so it cannot take over.
    paid = execute(server, InsurancePayout(maker_trader.account, D("12.5"), PayoutReason.COMPENSATION))
    assert any(isinstance(e.event, InsurancePaid) for e in paid.events)
    listen_key = (await asyncio.to_thread(call, server, "POST", "/fapi/v1/listenKey", maker_trader)).json()["listenKey"]
    try:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/private/ws?listenKey={listen_key}") as ws:
            with caplog.at_level(logging.INFO, logger="derivatives.liquidation"):
                await asyncio.to_thread(mark, server, "49200")  # no bid: the fund cannot take it, the short is ADL'd
            frames = await frames_until(ws, ACCOUNT_UPDATE=1)
        (update,) = [f["a"] for f in frames if f["e"] == "ACCOUNT_UPDATE"]
        assert update["m"] == "ADL" and update["P"][0]["pa"] == "0.000"  # type: ignore[index]
        assert await asyncio.to_thread(victim.fetch_positions, [SYMBOL]) == []
        (adl_line,) = [r for r in caplog.records if r.getMessage() == "auto-deleveraged"]
        fields = adl_line.fields  # type: ignore[attr-defined]
        assert (fields["account"], fields["qty"], fields["price"]) == (maker_trader.account, "0.10000000", "49025.00000000")
        adl = call(server, "GET", "/fapi/v1/forceOrders", maker_trader,
                   signed_query(maker_trader.secret, autoCloseType="ADL")).json()
        assert [(o["clientOrderId"], o["side"], o["executedQty"], o["avgPrice"], o["status"]) for o in adl] == [
            ("adl_autoclose", "BUY", "0.100", "49025.0", "FILLED")]
        incomes = call(server, "GET", "/fapi/v1/income", maker_trader, signed_query(maker_trader.secret)).json()
        assert ("REALIZED_PNL", "97.50000000", "ADL") in [(r["incomeType"], r["income"], r["info"]) for r in incomes]
    finally:
        await asyncio.to_thread(publish_marks, server)


def _trader(exchange: ccxt.binanceusdm) -> Trader:
    return Trader("", 0, exchange.apiKey, exchange.secret)
