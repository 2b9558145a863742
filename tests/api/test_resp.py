"""The Redis-protocol door on a real server (the app as ``derivatives serve`` builds it, the door on
its own port), with the stock ``redis`` client (RESP2 and RESP3) and ``redis-cli``: trade,
subscribe, bad input, bad auth, rate limits."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from redis.credentials import CredentialProvider

from api.connections import MAX_CONNECTIONS_PER_IP
from api.inprocess import RunningServer
from api.security import sign
from tests.api.conftest import Trader, make_database, make_trader, serve

ORDER_LIMIT_10S = 12
LISTEN_KEY_TTL_MS = 2_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        found: int = sock.getsockname()[1]
        return found


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with its door on a free port, a small order budget and short-lived listenKeys."""
    db = make_database("sqlite", tmp_path_factory.mktemp("db"))
    server = serve(db, resp_port=free_port(), order_limit_per_10s=ORDER_LIMIT_10S, listen_key_ttl_ms=LISTEN_KEY_TTL_MS)
    yield server
    server.stop()
    db.drop()


def port(server: RunningServer) -> int:
    return server.services.settings.resp_port


def signature(trader: Trader, timestamp: int) -> str:
    return sign(trader.secret, f"apiKey={trader.api_key}&timestamp={timestamp}")


class Signer(CredentialProvider):
    """Signs each new connection's AUTH (username = apiKey, password = timestamp:signature)."""

    def __init__(self, trader: Trader) -> None:
        self.trader = trader

    def get_credentials(self) -> tuple[str, str]:
        now = int(time.time() * 1000)
        return self.trader.api_key, f"{now}:{signature(self.trader, now)}"


def client(server: RunningServer, trader: Trader | None, protocol: int = 3) -> redis.Redis:
    provider = None if trader is None else Signer(trader)
    return redis.Redis(
        port=port(server),
        protocol=protocol,
        decode_responses=True,
        credential_provider=provider,
        socket_timeout=10,
    )


def place(r: redis.Redis, side: str, qty: str, price: str, **extra: str) -> dict[str, Any]:
    args = ["symbol", "BTCUSDT", "side", side, "type", "LIMIT", "timeInForce", "GTC", "quantity", qty, "price", price]
    for name, value in extra.items():
        args += [name, value]
    answer: dict[str, Any] = r.execute_command("ORDER.PLACE", *args)  # type: ignore[no-untyped-call]
    return answer


def as_dict(reply: Any) -> dict[str, Any]:
    """A RESP2 flat array or a RESP3 map as a dict."""
    return reply if isinstance(reply, dict) else dict(zip(reply[0::2], reply[1::2], strict=True))


@pytest.mark.parametrize("protocol", [2, 3])
def test_trade_through_the_door_with_the_stock_client(door: RunningServer, protocol: int) -> None:
    maker, taker = make_trader(door), make_trader(door)
    with client(door, maker, protocol) as m, client(door, taker, protocol) as t:
        resting = as_dict(place(m, "SELL", "0.010", "50100.0"))
        assert (
            resting["status"] == "NEW"
            and resting["origQty"] == "0.010"
            and resting["price"] == "50100.0"
        )
        got = as_dict(
            m.execute_command("ORDER.GET", "symbol", "BTCUSDT", "orderId", str(resting["orderId"]))
        )
        assert got["status"] == "NEW"
        filled = as_dict(place(t, "BUY", "0.004", "50100.0"))
        assert filled["status"] == "FILLED" and filled["executedQty"] == "0.004"
        positions = [as_dict(p) for p in t.execute_command("POSITIONS", "symbol", "BTCUSDT")]
        assert [(p["symbol"], p["positionAmt"], p["entryPrice"]) for p in positions] == [
            ("BTCUSDT", "0.004", "50100.00000000")
        ]
        usdt = next(
            as_dict(b) for b in t.execute_command("BALANCE") if as_dict(b)["asset"] == "USDT"
        )
        # 1,000,000 deposited, taker fee 0.0005 × 0.004 × 50,100 = 0.1002
        assert usdt["balance"] == "999999.89980000"
        cancelled = as_dict(
            m.execute_command(
                "ORDER.CANCEL", "symbol", "BTCUSDT", "orderId", str(resting["orderId"])
            )
        )
        assert cancelled["status"] == "CANCELED" and cancelled["executedQty"] == "0.004"
        book = as_dict(t.execute_command("BOOK", "BTCUSDT", "limit", "5"))
        assert ["50100.0", "0.006"] not in book["asks"]


def test_subscribe_to_book_trades_and_my_orders(door: RunningServer) -> None:
    maker, taker = make_trader(door), make_trader(door)
    with client(door, maker) as m, client(door, taker) as t:
        pubsub = m.pubsub()
        pubsub.subscribe("book:BTCUSDT", "trades:BTCUSDT", "orders")
        confirmations = [pubsub.get_message(timeout=5) for _ in range(3)]
        assert [(c["type"], c["channel"]) for c in confirmations if c] == [
            ("subscribe", "book:BTCUSDT"),
            ("subscribe", "trades:BTCUSDT"),
            ("subscribe", "orders"),
        ]
        # past the listenKey TTL, then any listenKey request expires every overdue key: the door
        # has kept the orders channel's key alive
        time.sleep(LISTEN_KEY_TTL_MS * 1.5 / 1000)
        assert httpx.post(door.base + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": taker.api_key}).status_code == 200
        order = as_dict(place(m, "SELL", "0.002", "50200.0"))
        place(t, "BUY", "0.002", "50200.0")
        seen: dict[str, list[dict[str, Any]]] = {
            "book:BTCUSDT": [],
            "trades:BTCUSDT": [],
            "orders": [],
        }
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(seen.values()):
            message = pubsub.get_message(timeout=1)
            if message and message["type"] == "message":
                seen[message["channel"]].append(json.loads(message["data"]))
        assert any(
            e["e"] == "depthUpdate" and ["50200.0", "0.002"] in e["a"] for e in seen["book:BTCUSDT"]
        )
        assert any(
            e["e"] == "trade" and e["p"] == "50200.0" and e["q"] == "0.002"
            for e in seen["trades:BTCUSDT"]
        )
        assert any(
            e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["i"] == order["orderId"]
            for e in seen["orders"]
        )
        pubsub.close()


def limit(symbol: str, qty: str, price: str) -> list[str]:
    """A GTC limit buy's arguments."""
    return ["symbol", symbol, "side", "BUY", "type", "LIMIT", "timeInForce", "GTC", "quantity", qty, "price", price]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["side", "BUY", "type", "LIMIT", "quantity", "0.001", "price", "50000"], "-1102"),
        (limit("NOPE", "0.001", "1"), "-1121"),
        (["symbol", "BTCUSDT", "side"], "-1128"),
        (["symbol", "BTCUSDT", "side", "UP", "type", "LIMIT", "quantity", "0.001", "price", "50000"], "-1117"),
        (limit("BTCUSDT", "0.0001", "50000"), "-4023"),
        (limit("BTCUSDT", "1000", "50000"), "-2019"),
    ],
)
def test_bad_input_is_a_resp_error_with_the_binance_code(
    door: RunningServer, args: list[str], code: str
) -> None:
    trader = make_trader(door)
    with client(door, trader) as r:
        with pytest.raises(redis.ResponseError) as refused:
            r.execute_command("ORDER.PLACE", *args)
        assert str(refused.value).split()[0] == code
        assert r.execute_command("POSITIONS") == []


def test_bad_auth_is_refused_and_nothing_runs_before_auth(door: RunningServer) -> None:
    trader = make_trader(door)
    now = int(time.time() * 1000)
    with client(door, None) as r:
        with pytest.raises(redis.AuthenticationError, match=r"^-2015 Authentication required"):
            r.execute_command("BALANCE")
        with pytest.raises(redis.ResponseError, match=r"^-1022 "):
            r.execute_command("AUTH", trader.api_key, str(now), "0" * 64)
        with pytest.raises(redis.ResponseError, match=r"^-2015 "):
            r.execute_command("AUTH", "x" * 64, str(now), signature(trader, now))
        stale = now - 120_000
        with pytest.raises(redis.ResponseError, match=r"^-1021 "):
            r.execute_command("AUTH", trader.api_key, str(stale), signature(trader, stale))
        assert r.execute_command("AUTH", trader.api_key, str(now), signature(trader, now)) in (
            True,
            "OK",
        )
        assert as_dict(r.execute_command("BALANCE")[0])["balance"] == "1000000.00000000"


def test_the_order_rate_limit_applies_as_on_rest(door: RunningServer) -> None:
    trader = make_trader(door)
    with client(door, trader) as r:
        for _ in range(ORDER_LIMIT_10S):
            try:
                place(r, "BUY", "0.003", "49000.0")
            except redis.ResponseError as refused:  # a 10-second window may end mid-loop
                assert str(refused).startswith("-1015 ")
                break
        else:
            with pytest.raises(redis.ResponseError, match=r"^-1015 Too many new orders"):
                place(r, "BUY", "0.003", "49000.0")


def test_redis_cli_trades_in_one_session(door: RunningServer) -> None:
    cli = shutil.which("redis-cli")
    assert cli is not None, "redis-cli is installed by make test (Debian redis-tools)"
    trader = make_trader(door)
    now = int(time.time() * 1000)
    script = (
        f"AUTH {trader.api_key} {now} {signature(trader, now)}\n"
        "ORDER.PLACE symbol BTCUSDT side BUY type LIMIT timeInForce GTC quantity 0.003 price 48000.0\n"
        "BOOK BTCUSDT limit 1000\nFOO\n"
    )
    run = subprocess.run(
        [cli, "-p", str(port(door))], input=script, capture_output=True, text=True, timeout=30
    )
    lines = run.stdout.splitlines()
    assert lines[0] == "OK"
    assert "NEW" in lines and "48000.0" in lines
    assert "ERR unknown command 'FOO'" in run.stdout


def test_amend_list_cancel_all_and_leverage(door: RunningServer) -> None:
    trader = make_trader(door)
    with client(door, trader) as r:
        order = as_dict(place(r, "BUY", "0.005", "49000.0"))
        amended = as_dict(r.execute_command(
            "ORDER.AMEND", "symbol", "BTCUSDT", "orderId", str(order["orderId"]), "side", "BUY",
            "quantity", "0.007", "price", "49100.0"))
        assert (amended["price"], amended["origQty"], amended["status"]) == ("49100.0", "0.007", "NEW")
        place(r, "BUY", "0.003", "48000.0")
        listed = [as_dict(o) for o in r.execute_command("ORDER.OPEN", "symbol", "BTCUSDT")]
        assert sorted((o["price"], o["origQty"]) for o in listed) == [("48000.0", "0.003"), ("49100.0", "0.007")]
        done = as_dict(r.execute_command("ORDER.CANCELALL", "symbol", "BTCUSDT"))
        assert done["code"] == 200
        assert r.execute_command("ORDER.OPEN") == []
        leverage = as_dict(r.execute_command("LEVERAGE", "symbol", "BTCUSDT", "leverage", "12"))
        assert (leverage["symbol"], leverage["leverage"]) == ("BTCUSDT", 12)
        with pytest.raises(redis.ResponseError, match=r"^-4028 "):
            r.execute_command("LEVERAGE", "symbol", "BTCUSDT", "leverage", "0")


def test_connections_beyond_the_per_address_cap_are_refused(door: RunningServer) -> None:
    sockets = [socket.create_connection(("127.0.0.1", port(door)), timeout=10)
               for _ in range(MAX_CONNECTIONS_PER_IP)]
    try:
        sockets[-1].sendall(b"PING\r\n")
        assert sockets[-1].recv(64) == b"+PONG\r\n"  # the last one within the cap is served
        with socket.create_connection(("127.0.0.1", port(door)), timeout=10) as extra:
            assert extra.recv(128) == b"-ERR -1003 Too many open connections; close some and retry.\r\n"
            assert extra.recv(128) == b""  # closed
    finally:
        for sock in sockets:
            sock.close()
