"""Abuse of the public edge, reproduced over real sockets: every attack is refused and the honest
client next to it keeps working. Distinct client IPs are distinct loopback source addresses
(127.0.0.x: the whole 127/8 block is the loopback interface)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
import websockets

from api import connections
from api.auth.gate import CONCURRENT, LOGINS_PER_IP_PER_MINUTE, WAITING
from api.security import sign
from api.ws_inbound import BURST
from tests.api.conftest import make_database, make_trader, serve
from tests.api.server import RunningServer

WEIGHT_LIMIT = 30


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = make_database(request.param, tmp_path_factory.mktemp("abuse"))
    running = serve(db, weight_limit_per_minute=WEIGHT_LIMIT)
    yield running
    running.stop()
    db.drop()


def from_ip(server: RunningServer, ip: str, **headers: str) -> httpx.Client:
    """A client whose connections come from loopback address `ip`."""
    transport = httpx.HTTPTransport(local_address=ip)
    return httpx.Client(base_url=server.base, transport=transport, headers=headers, timeout=10)


def signed(secret: str, **params: object) -> str:
    query = urlencode({"timestamp": time.time_ns() // 1_000_000, **params, "recvWindow": 10000})
    return f"{query}&signature={sign(secret, query)}"


def wait_for_fresh_window(margin_s: float = 15) -> None:
    """Sleeps into the next one-minute window if the current one ends within `margin_s`."""
    into = time.time() % 60
    if into > 60 - margin_s:
        time.sleep(60 - into + 0.05)


def test_unsigned_requests_naming_a_key_cannot_lock_it_out(server: RunningServer) -> None:
    victim = make_trader(server)
    wait_for_fresh_window()
    # Attackers on eight addresses send far more than the key's budget (weight 5 each), unsigned
    # or wrongly signed, naming the victim's key: each address is refused once its own IP budget is spent.
    codes: set[int] = set()
    for last in range(2, 10):
        with from_ip(server, f"127.0.0.{last}", **{"X-MBX-APIKEY": victim.api_key}) as attacker:
            for _ in range(10):
                codes.add(attacker.get("/fapi/v2/account", params={"timestamp": 1}).json()["code"])
                bad = signed("not-the-secret")
                codes.add(attacker.get(f"/fapi/v2/account?{bad}").json()["code"])
    assert codes == {-1021, -1022, -1003}
    with from_ip(server, "127.0.0.10", **{"X-MBX-APIKEY": victim.api_key}) as owner:
        for _ in range(WEIGHT_LIMIT // 5):
            answer = owner.get(f"/fapi/v2/account?{signed(victim.secret)}")
            assert answer.status_code == 200, answer.text
    # The key's own budget still applies to correctly signed requests, from any address.
    with from_ip(server, "127.0.0.11", **{"X-MBX-APIKEY": victim.api_key}) as owner:
        refused = owner.get(f"/fapi/v2/account?{signed(victim.secret)}")
        assert refused.status_code == 429 and "API key" in refused.json()["msg"]


def test_repeated_429s_escalate_to_an_ip_ban_with_418(server: RunningServer) -> None:
    wait_for_fresh_window()
    with from_ip(server, "127.0.0.20") as client:
        statuses = [client.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": 5}).status_code
                    for _ in range(WEIGHT_LIMIT // 2 + 21)]
        assert statuses[:WEIGHT_LIMIT // 2] == [200] * (WEIGHT_LIMIT // 2)
        assert statuses[WEIGHT_LIMIT // 2:] == [429] * 20 + [418]
        banned = client.get("/fapi/v1/time")
        assert banned.status_code == 418 and banned.json()["code"] == -1003
        assert "banned until" in banned.json()["msg"] and 110 <= int(banned.headers["Retry-After"]) <= 120
    with from_ip(server, "127.0.0.21") as bystander:
        assert bystander.get("/fapi/v1/time").status_code == 200


def bogus_login(client: httpx.Client, name: str) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"username": name, "password": "not-a-password"})


def test_logins_are_limited_per_ip_before_any_password_work(server: RunningServer) -> None:
    wait_for_fresh_window(margin_s=30)
    with from_ip(server, "127.0.0.30") as client:
        answers = [bogus_login(client, f"guess{i}") for i in range(LOGINS_PER_IP_PER_MINUTE + 1)]
    assert [a.status_code for a in answers] == [401] * LOGINS_PER_IP_PER_MINUTE + [429]
    assert answers[-1].json()["code"] == -1003 and "IP(127.0.0.30)" in answers[-1].json()["msg"]
    # An IP that keeps trying is banned: refused with 418 before reaching the login route.
    with from_ip(server, "127.0.0.30") as client:
        more = [bogus_login(client, "guess").status_code for _ in range(21)]
    assert set(more[:19]) == {429} and more[-1] == 418


def test_a_login_flood_is_refused_beyond_the_login_workers_and_trading_goes_on(server: RunningServer) -> None:
    trader = make_trader(server)
    flood = 40
    start = threading.Barrier(flood + 1)
    answers: list[httpx.Response] = []

    def attacker(index: int) -> None:
        with from_ip(server, f"127.0.1.{index + 1}") as client:
            start.wait()
            answers.append(bogus_login(client, f"flood{index}"))

    threads = [threading.Thread(target=attacker, args=(i,)) for i in range(flood)]
    for thread in threads:
        thread.start()
    start.wait()
    with from_ip(server, "127.0.0.40", **{"X-MBX-APIKEY": trader.api_key}) as owner:
        traded = owner.post("/fapi/v1/order", content=signed(
            trader.secret, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.01", price="49000",
            timeInForce="GTC"), headers={"Content-Type": "application/x-www-form-urlencoded"})
    for thread in threads:
        thread.join()
    assert traded.status_code == 200, traded.text
    statuses = sorted(a.status_code for a in answers)
    assert len(statuses) == flood and set(statuses) == {401, 429}
    refused = [a.json() for a in answers if a.status_code == 429]
    assert all(r["code"] == -1003 and "the server" in r["msg"] for r in refused)
    assert statuses.count(401) >= CONCURRENT + WAITING


def test_half_sent_requests_are_answered_408_and_closed(server: RunningServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "REQUEST_TIMEOUT_S", 1.0)
    partial = [
        b"",  # connects and sends nothing
        b"GET /fapi/v1/time HTTP/1.1\r\nHost: x\r\n",  # headers never end
        (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         b"Content-Length: 1000\r\n\r\n{\"username\": "),  # body never ends
    ]
    sockets = []
    for data in partial * 10:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(data)
        sockets.append(sock)
    assert httpx.get(f"{server.base}/fapi/v1/time").status_code == 200, "served meanwhile"
    for sock in sockets:
        answer = b""
        while chunk := sock.recv(4096):  # ends when the server closes
            answer += chunk
        sock.close()
        assert answer.startswith(b"HTTP/1.1 408 ") and b'"code": -1000' in answer, answer


def test_connections_beyond_the_per_ip_cap_are_refused(server: RunningServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "MAX_CONNECTIONS_PER_IP", 10)
    held = []
    for _ in range(10):
        sock = socket.socket()
        sock.bind(("127.0.0.50", 0))
        sock.connect(("127.0.0.1", server.port))
        held.append(sock)
    extra = socket.socket()
    extra.bind(("127.0.0.50", 0))
    extra.connect(("127.0.0.1", server.port))
    extra.settimeout(10)
    refused = extra.recv(4096)
    assert refused.startswith(b"HTTP/1.1 429 ") and b'"code": -1003' in refused
    assert extra.recv(4096) == b"", "closed"
    with from_ip(server, "127.0.0.51") as other:
        assert other.get("/fapi/v1/time").status_code == 200
    for sock in [extra, *held]:
        sock.close()


async def test_websocket_abuse_is_answered_not_crashed(server: RunningServer) -> None:
    async with websockets.connect(server.ws) as ws:
        await ws.send(b"\x00\x01binary")
        assert json.loads(await ws.recv())["error"]["code"] == 3
        await ws.send("[" * 2000 + "]" * 2000)
        assert json.loads(await ws.recv())["error"] == {"code": 3, "msg": "Invalid JSON: nested too deeply"}
        await ws.send("[" * 5000)
        assert json.loads(await ws.recv())["error"]["code"] == 3
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 7}))
        assert json.loads(await ws.recv()) == {"result": [], "id": 7}, "the socket still works"
    async with websockets.connect(server.ws) as flood:
        for index in range(500):
            try:
                await flood.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": index}))
            except websockets.ConnectionClosed:
                break
        answers = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                answers.append(json.loads(await flood.recv()))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert answers[-1]["error"]["code"] == -1003
    # The burst (and what the rate refilled meanwhile) is answered, then the refusal; nothing more.
    assert BURST <= len(answers) - 1 <= BURST + 10
    assert [a["id"] for a in answers[:-1]] == list(range(len(answers) - 1))
