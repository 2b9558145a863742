"""Raw WebSocket protocol (acks, errors, combined frames, the per-symbol U/u/pu chain against the
REST snapshot, listenKey streams) and the admin API with its audit log."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
import websockets

from derivatives.commands import Deposit, PlaceOrder
from derivatives.enums import Side
from tests.api.conftest import ADMIN_TOKEN, BTC, ETH, admin, execute, make_database, serve
from tests.api.server import RunningServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = make_database("sqlite", tmp_path_factory.mktemp("ws"))
    running = serve(db)
    yield running
    running.stop()


async def recv(ws: websockets.ClientConnection) -> dict[str, Any]:
    """The next JSON frame (a Binance frame: any JSON object)."""
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return frame


async def test_subscribe_ack_errors_and_list(server: RunningServer) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/market/ws/3") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@depth@100ms"], "id": 1}))
        assert await recv(ws) == {"result": None, "id": 1}
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["nopeusdt@trade"], "id": 2}))
        assert await recv(ws) == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 2}
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
        assert await recv(ws) == {"result": ["btcusdt@aggTrade", "btcusdt@depth@100ms"], "id": 3}
        await ws.send("not json")
        assert (await recv(ws))["error"]["code"] == 3
        await ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 4}))
        assert await recv(ws) == {"result": None, "id": 4}


async def test_diff_depth_chain_matches_the_rest_snapshot(server: RunningServer) -> None:
    url = f"ws://127.0.0.1:{server.port}/stream?streams=btcusdt@depth/ethusdt@depth/btcusdt@depth5"
    await asyncio.to_thread(execute, server, Deposit(7, D("1000000")))
    async with websockets.connect(url) as ws:
        await asyncio.to_thread(execute, server, PlaceOrder(7, BTC, Side.BUY, D("0.1"), price=D("49990")))
        depth_url, params = f"{server.base}/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": "1000"}
        snapshot = (await asyncio.to_thread(httpx.get, depth_url, params=params)).json()
        for i in range(3):
            await asyncio.to_thread(execute, server, PlaceOrder(7, BTC, Side.SELL, D("0.1"), price=D(50010 + i)),
                                    PlaceOrder(7, ETH, Side.BUY, D("1"), price=D("2999")))
        frames = [await recv(ws) for _ in range(2 + 3 * 3)]
    depth = [f["data"] for f in frames if f["stream"] == "btcusdt@depth"]
    partial = [f["data"] for f in frames if f["stream"] == "btcusdt@depth5"]
    assert partial and all(len(p["b"]) <= 5 for p in partial)
    for previous, current in itertools.pairwise(depth):
        assert current["pu"] == previous["u"] and current["U"] <= current["u"]
    after_snapshot = [d for d in depth if d["u"] > snapshot["lastUpdateId"]]
    assert after_snapshot[0]["pu"] == snapshot["lastUpdateId"]
    assert ["49990.0", "0.100"] in snapshot["bids"]


async def test_user_stream_by_listen_key(server: RunningServer) -> None:
    from tests.api.conftest import make_trader
    from tests.api.test_auth import call, signed_query

    trader = await asyncio.to_thread(make_trader, server)
    key = (await asyncio.to_thread(call, server, "POST", "/fapi/v1/listenKey", trader)).json()["listenKey"]
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws/{key}") as ws:
        body = signed_query(trader.secret, symbol="ETHUSDT", side="BUY", type="LIMIT", quantity="0.1",
                            price="2990", timeInForce="GTC", newClientOrderId="ws-1")
        await asyncio.to_thread(call, server, "POST", "/fapi/v1/order", trader, "", body)
        event = await recv(ws)
        assert event["e"] == "ORDER_TRADE_UPDATE"
        order = event["o"]
        assert (order["c"], order["x"], order["X"], order["p"], order["q"]) == ("ws-1", "NEW", "NEW", "2990.00", "0.100")
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/private/ws?listenKey=unknown") as ws:
        assert (await recv(ws))["error"]["code"] == -1125


def test_admin_api_needs_the_token_and_audits(server: RunningServer) -> None:
    assert httpx.get(f"{server.base}/admin/users").json()["code"] == -1002
    assert httpx.get(f"{server.base}/admin/users", headers={"Authorization": "Bearer wrong"}).json()["code"] == -1002
    with admin(server) as http:
        user = http.post("/admin/users", json={"name": "alice"}).json()
        assert user["accountId"] > 10_000 and user["role"] == "trader"
        assert http.post("/admin/users", json={"name": "alice"}).json()["code"] == -1130
        assert http.post("/admin/users", json={"name": ""}).json()["code"] == -1130
        key = http.post(f"/admin/users/{user['id']}/api-keys", json={"label": "bot", "trade": False}).json()
        assert key["permissions"] == ["read"] and len(key["secret"]) == 64
        listed = http.get(f"/admin/users/{user['id']}/api-keys").json()
        assert listed[0]["apiKey"] == key["apiKey"] and "secret" not in listed[0]
        assert http.post("/admin/instruments/NOPE/halt").json()["code"] == -1121
        http.post("/admin/instruments/BTCUSDT/halt")
        http.post("/admin/instruments/BTCUSDT/resume")
        actions = [e["action"] for e in http.get("/admin/audit-log", params={"limit": 4}).json()]
        assert actions == ["instrument.resume", "instrument.halt", "api_key.create", "user.create"]
    assert ADMIN_TOKEN
