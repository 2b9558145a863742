"""The engine-backed desk views over a real socket and PostgreSQL: the public liquidation map (REST
and ``<symbol>@liquidationMap``), stress tests on a copy of the engine, positions nearest
liquidation with the engine's liquidation price, typed payout denials and the over-the-fund
warning, the fund's history with reasons and the ADL queues with quantiles.

Worked figures: the victim of ``open_victim`` (100 USDT, long 0.1 BTC at 50,000, 100x, taker fee
2.5 so wallet 97.5) has the liquidation price 49,221.9 (``test_liquidation``) and the bankruptcy
price ``50,000 − 97.5 / 0.1 = 49,025``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal as D

import ccxt
import httpx
import pytest
import websockets

from derivatives import _core
from derivatives.commands import Deposit
from tests.api.conftest import ccxt_config, execute, make_database, make_trader, serve
from tests.api.server import RunningServer
from tests.api.staff import make_staff, session
from tests.api.test_liquidation import open_victim
from tests.api.test_risk_routes import eventually

FUND = D(1000)


@pytest.fixture(scope="module")
def desk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, int]]:
    db = make_database("postgresql", tmp_path_factory.mktemp("desk"))
    running = serve(db, risk_services=True)
    execute(running, Deposit(_core.INSURANCE_FUND, FUND))
    maker = ccxt.binanceusdm(ccxt_config(running, make_trader(running)))
    victim, _ = open_victim(running, maker)
    yield running, victim.account
    running.stop()
    db.drop()


def test_public_liquidation_map_places_the_victim_at_its_liquidation_price(
        desk_server: tuple[RunningServer, int]) -> None:
    server, _ = desk_server
    answer = httpx.get(f"{server.base}/fapi/v1/liquidationMap", params={"symbol": "BTCUSDT", "step": "100"}).json()
    assert answer["symbol"] == "BTCUSDT" and answer["step"] == "100.0"
    bucket = next(b for b in answer["buckets"] if b["price"] == "49200.0")
    assert D(bucket["longNotional"]) == D("4922.19"), "0.1 × 49,221.9"
    assert set(bucket) == {"price", "longNotional", "shortNotional"}, "anonymous: no counts"
    default = httpx.get(f"{server.base}/fapi/v1/liquidationMap", params={"symbol": "BTCUSDT"}).json()
    assert default["step"] == "200.0", "the first 1-2-5 tick multiple ≥ 50,000 / 400 = 125"
    for params, code in (({"symbol": "NOPE"}, -1121), ({"symbol": "BTCUSDT", "step": "0.05"}, -1130),
                         ({"symbol": "BTCUSDT", "step": "0"}, -1130), ({}, -1102)):
        refused = httpx.get(f"{server.base}/fapi/v1/liquidationMap", params=params)
        assert refused.status_code == 400 and refused.json()["code"] == code, (params, refused.text)


async def test_liquidation_map_stream(desk_server: tuple[RunningServer, int]) -> None:
    server, _ = desk_server
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws/btcusdt@liquidationMap") as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert frame["e"] == "liquidationMap" and frame["symbol"] == "BTCUSDT"
    assert any(D(b["longNotional"]) >= D("4922.19") for b in frame["buckets"])


def test_stress_runs_on_a_copy_and_reports_hand_derived_figures(desk_server: tuple[RunningServer, int]) -> None:
    server, victim = desk_server
    with session(server, make_staff(server, "risk")) as desk:
        hash_before = server.services.gateway.client.state_hash()
        report = desk.post("/risk/stress", json={"shocks": [{"symbol": "BTCUSDT", "price": "49000"}]}).json()
        assert server.services.gateway.client.state_hash() == hash_before, "the live engine is untouched"
        (btc,) = report["symbols"]
        assert (D(btc["markBefore"]), D(btc["markAfter"])) == (D(50000), D(49000))
        victim_row = next(a for a in report["accounts"] if a["account"] == victim)
        assert victim_row["closed"] and D(victim_row["offeredNotional"]) == D("4902.5"), "0.1 × 49,025"
        assert D(report["totals"]["offeredNotional"]) >= D("4902.5")
        assert report["totals"]["accountsLiquidated"] >= 1

        moved = desk.post("/risk/stress", json={"shocks": [{"symbol": "BTCUSDT", "movePercent": "-2"}]}).json()
        assert D(moved["symbols"][0]["markAfter"]) == D(49000), "50,000 × 0.98"

        for shocks, code in (([{"symbol": "BTCUSDT", "price": "49000", "movePercent": "-1"}], -1128),
                             ([{"symbol": "NOPE", "price": "1"}], -1121),
                             ([{"symbol": "BTCUSDT", "price": "49000.05"}], -1130),
                             ([{"symbol": "BTCUSDT", "movePercent": "-100"}], -1130)):
            refused = desk.post("/risk/stress", json={"shocks": shocks})
            assert refused.status_code == 400 and refused.json()["code"] == code, (shocks, refused.text)


def test_positions_nearest_liquidation_show_engine_prices(desk_server: tuple[RunningServer, int]) -> None:
    server, victim = desk_server
    with session(server, make_staff(server, "risk")) as desk:
        rows = eventually(lambda: desk.get("/risk/positions/nearest", params={"limit": 5}).json(),
                          lambda r: any(x["account"] == victim for x in r), "the victim's leg")
        row = next(x for x in rows if x["account"] == victim)
        assert (row["symbol"], row["side"], D(row["size"]), row["leverage"], row["marginType"]) == \
            ("BTCUSDT", "LONG", D("0.1"), 100, "cross")
        assert D(row["liquidationPrice"]) == D("49221.9") and row["name"]
        assert D(row["distancePercent"]) == D("1.56"), "(50,000 − 49,221.9) / 50,000 = 1.556 %"
        detail = desk.get(f"/risk/account/{victim}").json()
        assert detail["account"] == victim and detail["positions"][0]["liquidationPrice"] == row["liquidationPrice"]
        assert detail["openOrders"] == [] and {i["incomeType"] for i in detail["income"]} >= {"COMMISSION"}


def test_typed_denial_warning_fund_points_and_adl_queues(desk_server: tuple[RunningServer, int]) -> None:
    server, victim = desk_server
    first, second = make_staff(server, "risk"), make_staff(server, "risk")
    with session(server, first) as one, session(server, second) as two:
        points = one.get("/risk/insurance/points").json()
        assert points["points"][0]["reason"] == "DEPOSIT" and D(points["available"]) == FUND
        big = one.post("/risk/insurance/payouts", json={"account": victim, "amount": "5000", "memo": "INC-9"}).json()
        assert big["exceedsFund"] is True
        small = one.post("/risk/insurance/payouts", json={"account": victim, "amount": "5", "memo": "INC-10"}).json()
        assert small["exceedsFund"] is False
        untyped = two.post(f"/risk/insurance/payouts/{big['id']}/deny", json={"note": "no"})
        assert untyped.status_code == 400
        denied = two.post(f"/risk/insurance/payouts/{big['id']}/deny",
                          json={"reason": "EXCEEDS_FUND", "note": "ask finance"}).json()
        assert (denied["status"], denied["denyReason"], denied["outcome"]) == \
            ("DENIED", "EXCEEDS_FUND", "EXCEEDS_FUND: ask finance")
        history = one.get("/risk/insurance/payouts").json()
        assert [p["id"] for p in history[:2]] == [small["id"], big["id"]], "denied requests stay listed"
        queues = one.get("/risk/adl/queues").json()
        assert {(q["symbol"], q["side"]) for q in queues} >= {("BTCUSDT", "LONG"), ("BTCUSDT", "SHORT")}
        for queue in queues:
            assert all(0 <= a["quantile"] <= 4 for a in queue["accounts"])
