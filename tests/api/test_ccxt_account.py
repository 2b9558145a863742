"""Acceptance: the account group with the stock ccxt ``binanceusdm`` client (CCXT.md §3c): balance,
positions (one-way and hedge), leverage, margin and position mode, trades with fees and realised
PnL, funding, income/ledger, open interest, insufficient margin; four-eyes withdrawals through the
admin API. SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal as D

import ccxt
import pytest

from api.services.account import DEFAULT_LEVERAGE
from derivatives.commands import ApplyFunding
from tests.api.conftest import (
    ADMINS,
    BTC,
    TRADER_FUNDS,
    Trader,
    admin,
    ccxt_config,
    execute,
    make_trader,
)
from tests.api.server import Endpoint
from tests.api.test_auth import call, signed_query
from tests.topology import (
    TopologyServer,
    topology_server,  # noqa: F401 - fixture `server`: the real topology, per backend
)

SYMBOL = "BTC/USDT:USDT"
IOC = {"timeInForce": "IOC"}


def client(server: Endpoint, funds: str = TRADER_FUNDS) -> ccxt.binanceusdm:
    exchange = ccxt.binanceusdm(ccxt_config(server, make_trader(server, funds=funds)))
    exchange.load_markets()
    return exchange


def cross(maker: ccxt.binanceusdm, taker: ccxt.binanceusdm, taker_side: str, amount: float, price: float,
          maker_params: dict[str, object] | None = None, taker_params: dict[str, object] | None = None) -> None:
    """The maker rests the other side, the taker crosses it (IOC)."""
    maker.create_order(SYMBOL, "limit", "sell" if taker_side == "buy" else "buy", amount, price, maker_params or {})
    taker.create_order(SYMBOL, "limit", taker_side, amount, price, {**IOC, **(taker_params or {})})


def test_balance_positions_and_trades_with_fees_and_realised_pnl(server: TopologyServer) -> None:
    maker, taker = client(server), client(server)
    assert taker.fetch_balance()["USDT"] == {"free": 1_000_000.0, "used": 0.0, "total": 1_000_000.0}
    cross(maker, taker, "buy", 0.1, 50000)

    balance = taker.fetch_balance()["USDT"]
    assert balance == {"free": 999_747.5, "used": 250.0, "total": 999_997.5}  # fee 2.5; IM 5000 / 20
    (long,) = taker.fetch_positions([SYMBOL])
    assert (long["side"], long["contracts"], long["entryPrice"], long["notional"], long["leverage"]) == (
        "long", 0.1, 50000.0, 5000.0, DEFAULT_LEVERAGE)
    assert (long["marginMode"], long["hedged"], long["maintenanceMargin"], long["liquidationPrice"]) == (
        "cross", False, 20.0, None)
    (short,) = maker.fetch_positions([SYMBOL])
    assert short["side"] == "short" and short["info"]["positionAmt"] == "-0.100"
    assert short["info"]["notional"] == "-5000.00000000" and short["info"]["isolatedMargin"] == "0.00000000"

    cross(maker, taker, "sell", 0.1, 50100)  # the taker closes 10 USDT higher
    assert taker.fetch_positions([SYMBOL]) == [] and maker.fetch_positions([SYMBOL]) == []
    trades = taker.fetch_my_trades(SYMBOL)
    assert [(t["side"], t["fee"]["cost"], t["info"]["realizedPnl"]) for t in trades] == [
        ("buy", 2.5, "0.00000000"), ("sell", 2.505, "10.00000000")]
    assert [(t["fee"]["cost"], t["info"]["realizedPnl"]) for t in maker.fetch_my_trades(SYMBOL)] == [
        (1.0, "0.00000000"), (1.002, "-10.00000000")]
    assert taker.fetch_balance()["USDT"]["total"] == 1_000_000 - 2.5 + 10 - 2.505

    every = call(server, "GET", "/fapi/v2/positionRisk", _trader(taker), signed_query(taker.secret)).json()
    assert sorted((r["symbol"], r["positionSide"], r["positionAmt"], r["leverage"]) for r in every) == [
        ("BTCUSDT", "BOTH", "0.000", "20"), ("ETHUSDT", "BOTH", "0.000", "20")]
    account = call(server, "GET", "/fapi/v2/account", _trader(taker), signed_query(taker.secret)).json()
    assert account["totalWalletBalance"] == "1000004.99500000" and len(account["positions"]) == 2
    assert account["assets"][0]["updateTime"] > 0


def _trader(exchange: ccxt.binanceusdm) -> Trader:
    """The key of a ccxt client, for raw signed calls."""
    return Trader("", 0, exchange.apiKey, exchange.secret)


def test_hedge_mode_shows_both_legs(server: TopologyServer) -> None:
    hedger, other = client(server), client(server)
    assert hedger.fetch_position_mode()["hedged"] is False
    hedger.set_position_mode(True)
    assert hedger.fetch_position_mode()["hedged"] is True
    cross(other, hedger, "buy", 0.1, 50000, taker_params={"hedged": True})
    cross(other, hedger, "sell", 0.04, 50000, taker_params={"hedged": True})
    legs = sorted(hedger.fetch_positions([SYMBOL]), key=lambda p: p["side"])
    assert [(p["side"], p["contracts"], p["hedged"], p["info"]["positionSide"], p["info"]["positionAmt"])
            for p in legs] == [("long", 0.1, True, "LONG", "0.100"), ("short", 0.04, True, "SHORT", "-0.040")]
    with pytest.raises(ccxt.OperationRejected, match="-4068"):
        hedger.set_position_mode(False)  # positions are open
    with pytest.raises(ccxt.OperationRejected, match="-4061"):
        hedger.create_order(SYMBOL, "limit", "buy", 0.01, 49000, {"positionSide": "BOTH"})
    with pytest.raises(ccxt.OperationRejected, match="-4059"):
        hedger.set_position_mode(True)


def test_leverage_margin_mode_and_rejections(server: TopologyServer) -> None:
    trader = client(server)
    assert trader.set_leverage(50, SYMBOL) == {"leverage": 50, "maxNotionalValue": "3000000.00000000",
                                               "symbol": "BTCUSDT"}
    leverage = trader.fetch_leverage(SYMBOL)
    assert (leverage["longLeverage"], leverage["marginMode"]) == (50, "cross")
    assert trader.fetch_margin_mode(SYMBOL)["marginMode"] == "cross"
    with pytest.raises(ccxt.MarginModeAlreadySet):
        trader.set_margin_mode("cross", SYMBOL)
    with pytest.raises(ccxt.BadRequest, match="-4049"):
        trader.add_margin(SYMBOL, 10)  # cross: no isolated margin to add to
    too_high = call(server, "POST", "/fapi/v1/leverage", _trader(trader), "",
                    signed_query(trader.secret, symbol="BTCUSDT", leverage=126))
    assert too_high.json() == {"code": -4028, "msg": "Leverage 126 is not valid"}
    with pytest.raises(ccxt.ExchangeError, match="-2022"):
        trader.create_order(SYMBOL, "limit", "sell", 0.01, 51000, {"reduceOnly": True})  # nothing to reduce


def test_isolated_margin_mode_with_add_and_reduce_margin(server: TopologyServer) -> None:
    maker, taker = client(server), client(server)
    assert taker.set_margin_mode("isolated", SYMBOL)["msg"] == "success"
    with pytest.raises(ccxt.MarginModeAlreadySet):
        taker.set_margin_mode("isolated", SYMBOL)
    assert taker.fetch_margin_mode(SYMBOL)["marginMode"] == "isolated"
    with pytest.raises(ccxt.OperationRejected, match="-4054"):
        taker.add_margin(SYMBOL, 10)  # no position yet
    taker.set_leverage(10, SYMBOL)
    cross(maker, taker, "buy", 0.1, 50000)  # IM 5,000 / 10 = 500 moves into the position; fee 2.5

    (long,) = taker.fetch_positions([SYMBOL])
    assert (long["marginMode"], long["info"]["isolatedWallet"], long["info"]["isolatedMargin"]) == (
        "isolated", "500.00000000", "500.00000000")
    assert long["liquidationPrice"] == 45180.8  # (5,000 − 500) / (0.1 × (1 − 0.4 %)), up to the tick
    assert taker.fetch_balance()["USDT"] == {"free": 999_497.5, "used": 500.0, "total": 999_997.5}
    added = taker.add_margin(SYMBOL, 100)
    assert (added["type"], added["amount"], added["status"]) == ("add", 100.0, "ok")
    (long,) = taker.fetch_positions([SYMBOL])
    assert (long["info"]["isolatedWallet"], long["liquidationPrice"]) == ("600.00000000", 44176.8)
    with pytest.raises(ccxt.InsufficientFunds, match="-4051"):
        taker.reduce_margin(SYMBOL, 200)  # 600 − 500 of initial margin: only 100 can go
    assert taker.reduce_margin(SYMBOL, 100)["type"] == "reduce"
    assert taker.fetch_positions([SYMBOL])[0]["info"]["isolatedWallet"] == "500.00000000"
    with pytest.raises(ccxt.InsufficientFunds, match="-4050"):
        taker.add_margin(SYMBOL, 1_000_000)  # more than the cross part holds
    with pytest.raises(ccxt.OperationRejected, match="-4048"):
        taker.set_margin_mode("cross", SYMBOL)  # a position is open
    with pytest.raises(ccxt.BadRequest, match="-4049"):
        maker.add_margin(SYMBOL, 10)  # the maker is cross

    cross(maker, taker, "sell", 0.1, 50100)  # closing releases the margin and the +10 PnL
    assert taker.fetch_balance()["USDT"]["free"] == taker.fetch_balance()["USDT"]["total"] == 1_000_000 - 2.5 + 10 - 2.505
    assert taker.set_margin_mode("cross", SYMBOL)["msg"] == "success"


def test_insufficient_margin_raises_insufficient_funds(server: TopologyServer) -> None:
    poor = client(server, funds="100")
    with pytest.raises(ccxt.InsufficientFunds):
        poor.create_order(SYMBOL, "limit", "buy", 1, 50000)
    assert poor.fetch_open_orders(SYMBOL) == []


def test_funding_rate_history_income_and_open_interest(server: TopologyServer) -> None:
    longer, shorter = client(server), client(server)
    before = float(longer.fetch_open_interest(SYMBOL)["openInterestAmount"])
    cross(shorter, longer, "buy", 0.2, 50000)
    assert float(longer.fetch_open_interest(SYMBOL)["openInterestAmount"]) == pytest.approx(before + 0.2)

    execute(server, ApplyFunding(BTC, D("0.0002"), D("50000")))
    assert longer.fetch_funding_rate(SYMBOL)["fundingRate"] == 0.0002
    history = longer.fetch_funding_rate_history(SYMBOL)
    assert history[-1]["fundingRate"] == 0.0002 and history[-1]["timestamp"] > 0
    assert [f["amount"] for f in longer.fetch_funding_history(SYMBOL)] == [-2.0]  # 0.2 x 50000 x 0.0002
    assert [f["amount"] for f in shorter.fetch_funding_history(SYMBOL)] == [2.0]
    assert longer.fetch_funding_intervals([SYMBOL])[SYMBOL]["interval"] == "8h"

    ledger = longer.fetch_ledger()
    assert [(e["type"], e["direction"], e["amount"]) for e in ledger] == [
        ("transfer", "in", 1_000_000.0), ("commission", "out", 5.0), ("fee", "out", 2.0)]
    income = call(server, "GET", "/fapi/v1/income", _trader(longer),
                  signed_query(longer.secret, incomeType="COMMISSION")).json()
    assert [(r["incomeType"], r["income"], r["symbol"], r["asset"]) for r in income] == [
        ("COMMISSION", "-5.00000000", "BTCUSDT", "USDT")]
    assert income[0]["tradeId"] != "" and isinstance(income[0]["tranId"], int)


def test_withdrawals_need_a_second_admin(server: TopologyServer) -> None:
    trader = make_trader(server)
    with admin(server, ADMINS["alice"]) as alice, admin(server, ADMINS["bob"]) as bob:
        request = alice.post(f"/admin/users/{trader.user_id}/withdrawals", json={"amount": "1234.5"}).json()
        assert (request["status"], request["requestedBy"], request["amount"]) == ("PENDING", "alice", "1234.50000000")
        own = alice.post(f"/admin/withdrawals/{request['id']}/approve").json()
        assert own["code"] == -1002 and "second admin" in own["msg"]
        done = bob.post(f"/admin/withdrawals/{request['id']}/approve").json()
        assert (done["status"], done["decidedBy"]) == ("COMPLETED", "bob") and done["seq"] > 0
        assert bob.post(f"/admin/withdrawals/{request['id']}/approve").json()["code"] == -1130
        too_much = alice.post(f"/admin/users/{trader.user_id}/withdrawals", json={"amount": "2000000"}).json()
        refused = bob.post(f"/admin/withdrawals/{too_much['id']}/approve").json()
        assert refused["code"] == -2018
        listed = {w["id"]: w["status"] for w in bob.get("/admin/withdrawals").json()}
        assert (listed[request["id"]], listed[too_much["id"]]) == ("COMPLETED", "FAILED")
        actions = [(e["actor"], e["action"]) for e in alice.get("/admin/audit-log", params={"limit": 4}).json()]
        assert actions == [("bob", "withdrawal.failed"), ("bob", "withdrawal.approve"),
                           ("alice", "withdrawal.request"), ("bob", "withdrawal.completed")]
    exchange = ccxt.binanceusdm(ccxt_config(server, trader))
    assert exchange.fetch_balance()["USDT"]["total"] == 1_000_000 - 1234.5
    assert [(e["type"], e["amount"], e["info"]["info"]) for e in exchange.fetch_ledger()][-1] == (
        "transfer", 1234.5, "WITHDRAWAL")
