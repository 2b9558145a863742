"""The risk-desk routes over a real socket with the risk services running (SQLite and PostgreSQL):
the insurance fund's balance and history, four-eyes payouts (requester and approvers distinct, bad
input changes nothing), accounts nearest liquidation, and a liquidation seen on
``/risk/ws/liquidations`` and ``/risk/liquidations`` after a mark crash; the installed ADL queues."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from typing import TypeVar

import ccxt
import httpx
import pytest
import websockets

from derivatives import _core
from derivatives.commands import Deposit, PlaceOrder, SetLeverage, SetMarginType, SetMarkPrice
from derivatives.enums import Side
from tests.api.conftest import (
    ADMIN_TOKEN,
    BTC,
    ETH,
    ETH_MARK,
    Trader,
    admin,
    ccxt_config,
    execute,
    make_database,
    make_trader,
    serve,
)
from tests.api.server import RunningServer
from tests.api.staff import make_staff, session
from tests.api.test_auth import call, signed_query
from tests.api.test_liquidation import mark, open_victim

T = TypeVar("T")
FUND = D(1000)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def risk_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = make_database(request.param, tmp_path_factory.mktemp("risk"))
    running = serve(db, risk_services=True)
    execute(running, Deposit(_core.INSURANCE_FUND, FUND))
    yield running
    running.stop()
    db.drop()


def eventually(read: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
    """`read()` once `done` holds (the risk feed follows the engine asynchronously)."""
    deadline = time.monotonic() + 10
    while not done(value := read()):
        assert time.monotonic() < deadline, f"never: {what} (last {value!r})"
        time.sleep(0.02)
    return value


def fund_balance(server: RunningServer) -> D:
    answer = httpx.get(f"{server.base}/fapi/v1/insuranceBalance", params={"symbol": "BTCUSDT"}).json()
    return D(answer["assets"][0]["marginBalance"])


def test_insurance_balance_and_four_eyes_payouts(risk_server: RunningServer) -> None:
    trader = make_trader(risk_server)
    first, second = make_staff(risk_server, "risk"), make_staff(risk_server, "risk")
    before = eventually(lambda: fund_balance(risk_server), lambda b: b >= FUND, "fund credited")
    every = httpx.get(f"{risk_server.base}/fapi/v1/insuranceBalance").json()
    assert isinstance(every, list) and every[0]["assets"][0]["asset"] == "USDT" and "BTCUSDT" in every[0]["symbols"]
    assert httpx.get(f"{risk_server.base}/fapi/v1/insuranceBalance", params={"symbol": "NOPE"}).json()["code"] == -1121

    with session(risk_server, first) as one, session(risk_server, second) as two, admin(risk_server) as boss:
        for bad in ({"account": trader.account, "amount": "1e3", "memo": "x"},
                    {"account": trader.account, "amount": "-5", "memo": "x"},
                    {"account": trader.account, "amount": "1.123456789", "memo": "x"},
                    {"account": trader.account, "amount": "5"},
                    {"account": trader.account, "amount": "0", "memo": "x"}):
            refused = one.post("/risk/insurance/payouts", json=bad)
            assert refused.status_code == 400 and isinstance(refused.json()["code"], int), (bad, refused.text)
        assert one.get("/risk/insurance/payouts").json() == [], "refused requests store nothing"

        payout = one.post("/risk/insurance/payouts",
                          json={"account": trader.account, "amount": "12.5", "memo": "INC-7"}).json()
        assert payout["status"] == "PENDING" and payout["requestedBy"] == first.name and payout["amount"] == "12.50000000"
        own = one.post(f"/risk/insurance/payouts/{payout['id']}/approve")
        assert own.json()["code"] == -1130, "the requester cannot approve"
        assert two.post(f"/risk/insurance/payouts/{payout['id']}/approve").json()["approvals"] == [second.name]
        assert two.post(f"/risk/insurance/payouts/{payout['id']}/approve").json()["code"] == -1130
        assert one.get("/risk/insurance/payouts", params={"status": "PENDING"}).json()[0]["id"] == payout["id"]
        paid = boss.post(f"/risk/insurance/payouts/{payout['id']}/approve").json()
        assert paid["status"] == "PAID" and paid["approvals"] == [second.name, "admin"]
        trail = one.get(f"/risk/insurance/payouts/{payout['id']}/trail").json()
        assert [t["action"] for t in trail] == ["REQUESTED", "APPROVED", "APPROVED", "SUBMITTED", "PAID"]
        assert one.get(f"/risk/insurance/payouts/{payout['id']}").json()["status"] == "PAID"

        denied = two.post("/risk/insurance/payouts", json={"account": trader.account, "amount": "1", "memo": "m"}).json()
        own_deny = two.post(f"/risk/insurance/payouts/{denied['id']}/deny", json={"reason": "OTHER", "note": "no"})
        assert own_deny.json()["code"] == -1130
        deny = one.post(f"/risk/insurance/payouts/{denied['id']}/deny", json={"reason": "DUPLICATE", "note": "dup"})
        assert deny.json()["status"] == "DENIED"
        missing = one.get("/risk/insurance/payouts/999999")
        assert missing.status_code == 404 and missing.json()["code"] == -1130
        assert one.get("/risk/insurance/payouts/999999/trail").status_code == 404

        eventually(lambda: fund_balance(risk_server), lambda b: b == before - D("12.5"), "payout debited")
        history = one.get("/risk/insurance/history").json()
        balances = [D(h["assets"][0]["marginBalance"]) for h in history]
        assert balances[-2:] == [before, before - D("12.5")]


async def test_nearest_accounts_and_a_live_liquidation(risk_server: RunningServer) -> None:
    maker = ccxt.binanceusdm(ccxt_config(risk_server, make_trader(risk_server)))
    victim, _ = await asyncio.to_thread(open_victim, risk_server, maker)
    desk = make_staff(risk_server, "risk")
    client = await asyncio.to_thread(session, risk_server, desk)
    token = client.headers["Authorization"].removeprefix("Bearer ")

    await asyncio.to_thread(mark, risk_server, "49260")
    nearest = await asyncio.to_thread(
        eventually, lambda: client.get("/risk/accounts/nearest", params={"limit": 5}).json(),
        lambda rows: bool(rows) and rows[0]["account"] == victim.account and rows[0]["marginRatio"] is not None
        and D(rows[0]["marginRatio"]) > D("0.8"), "victim nearest liquidation")
    assert nearest[0]["marginRatio"] == f"{(D('19.704') / D('23.5')).quantize(D('1e-8'))}"
    every = client.get("/risk/accounts").json()
    assert victim.account in [row["account"] for row in every]

    async with websockets.connect(f"ws://127.0.0.1:{risk_server.port}/risk/ws/liquidations") as ws:
        await ws.send(json.dumps({"token": token}))
        assert json.loads(await ws.recv()) == {"authenticated": {"name": desk.name, "role": "risk"}}
        await asyncio.to_thread(mark, risk_server, "49200")
        async with asyncio.timeout(10):
            while (event := json.loads(await ws.recv()))["type"] != "LIQUIDATION_STARTED":
                pass
    assert event["account"] == victim.account and D(event["marginBalance"]) < D(event["maintMargin"])
    steps = client.get("/risk/liquidations", params={"account": victim.account}).json()
    assert steps[0]["type"] == "LIQUIDATION_STARTED" and all(s["account"] == victim.account for s in steps)

    queue = client.get("/risk/adl", params={"symbol": "BTCUSDT", "side": "BUY"}).json()
    assert queue["symbol"] == "BTCUSDT" and all(isinstance(a, int) for a in queue["accounts"])
    assert client.get("/risk/adl", params={"symbol": "NOPE", "side": "BUY"}).json()["code"] == -1121
    client.close()


async def test_liquidation_stream_refuses_missing_and_weak_credentials(risk_server: RunningServer) -> None:
    trader = make_staff(risk_server, "trader")
    weak = (await asyncio.to_thread(session, risk_server, trader)).headers["Authorization"].removeprefix("Bearer ")
    url = f"ws://127.0.0.1:{risk_server.port}/risk/ws/liquidations"
    for first in ("", "nonsense", "[[[[" * 5000, json.dumps({"token": "nonsense"}), json.dumps({"token": weak}),
                  b"\x00binary"):
        async with websockets.connect(url) as ws:
            await ws.send(first)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"token": ADMIN_TOKEN}))
        assert json.loads(await ws.recv())["authenticated"]["role"] == "admin"


def test_premium_index_comes_from_the_risk_services(risk_server: RunningServer) -> None:
    risk = risk_server.app.state.risk
    estimate = eventually(lambda: risk.funding.premium_index("BTCUSDT"), lambda e: e is not None, "a funding estimate")
    answer = httpx.get(f"{risk_server.base}/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}).json()
    assert (answer["lastFundingRate"], answer["interestRate"]) == (estimate["lastFundingRate"], estimate["interestRate"])


def test_adl_quantiles_worked_example(risk_server: RunningServer) -> None:
    """Two isolated ETH longs bought at 3,000 (the only ETH longs in this module), marked at 3,030
    (MECHANICS §8.1 BitMEX score; the engine's quantile rule, core_rs/src/adl_quantiles.rs), derived
    by hand, served alike by ``adlQuantile`` and the risk desk's queues:

    - A: 0.3 at 20x, isolated margin 0.3 × 3,000 / 20 = 45, bankruptcy value 900 − 45 = 855; at the
      mark: value 909, PnL% = 9 / 900 = 1 %, effective leverage 909 / (909 − 855) = 16.83, score
      0.1683.
    - B: 0.7 at 2x, margin 1,050, bankruptcy value 2,100 − 1,050 = 1,050; value 2,121, PnL% 1 %,
      effective leverage 2,121 / 1,071 = 1.98, score 0.0198.

    Ranked A, B; the share of the side ahead of each: 0 and 30 %; quantile 4 − floor(share / 20 %):
    4 and 3 (ranked the other way round: B 4, A 4 − floor(70 % / 20 %) = 1).
    """
    a, b, seller = make_trader(risk_server), make_trader(risk_server), make_trader(risk_server)
    for trader, leverage in ((a, 20), (b, 2)):
        execute(risk_server, SetMarginType(trader.account, ETH, True), SetLeverage(trader.account, ETH, leverage))
    execute(risk_server, PlaceOrder(seller.account, ETH, Side.SELL, D("1"), price=D("3000")),
            PlaceOrder(a.account, ETH, Side.BUY, D("0.3"), price=D("3000")),
            PlaceOrder(b.account, ETH, Side.BUY, D("0.7"), price=D("3000")),
            SetMarkPrice(ETH, D("3030"), D("3030")))

    def quantiles(trader: Trader) -> object:
        query = signed_query(trader.secret, symbol="ETHUSDT")
        return call(risk_server, "GET", "/fapi/v1/adlQuantile", trader, query).json()

    try:
        for trader, quantile in ((a, 4), (b, 3)):
            expected = [{"symbol": "ETHUSDT", "adlQuantile": {"LONG": 0, "SHORT": 0, "BOTH": quantile}}]
            eventually(functools.partial(quantiles, trader), expected.__eq__, f"quantile {quantile}")
        with session(risk_server, make_staff(risk_server, "risk")) as desk:
            queues = desk.get("/risk/adl/queues").json()
        [longs] = [q["accounts"] for q in queues if (q["symbol"], q["side"]) == ("ETHUSDT", "LONG")]
        assert longs == [{"account": a.account, "qty": "0.30000000", "quantile": 4},
                         {"account": b.account, "qty": "0.70000000", "quantile": 3}]
    finally:
        execute(risk_server, SetMarkPrice(ETH, ETH_MARK, ETH_MARK))


async def test_mark_price_stream_carries_the_predicted_funding_rate(risk_server: RunningServer) -> None:
    risk = risk_server.app.state.risk
    estimate = eventually(lambda: risk.funding.premium_index("BTCUSDT"), lambda e: e is not None, "a funding estimate")
    async with websockets.connect(f"ws://127.0.0.1:{risk_server.port}/ws/btcusdt@markPrice") as ws:
        await asyncio.to_thread(execute, risk_server, SetMarkPrice(BTC, D("50000"), D("50000")))
        update = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert update["e"] == "markPriceUpdate"
    assert (update["r"], update["T"]) == (estimate["lastFundingRate"], estimate["nextFundingTime"])
