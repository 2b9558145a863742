"""`derivatives serve` with its journal survives a hard stop: a real server process takes orders
through the REST API (stock ccxt), is killed with SIGKILL, restarts from its journal, and the
orders, balances and database rows are all there exactly once, the projection having caught up
from its stored cursor; a lost projection database is rebuilt from seq 0 out of the journal.
With a synchronous hot standby (`derivatives engine follow`), an order acknowledged by the killed
server is in the promoted standby."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import httpx

from derivatives.demo import BTCUSDT
from derivatives.engine import EngineClient
from derivatives.journal import replay
from tests.api.conftest import ADMIN_TOKEN, ccxt_config, make_trader
from tests.api.server import Endpoint
from tests.derivatives.test_replication import start_follower

SYMBOL = "BTC/USDT:USDT"
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
RECOVERED = re.compile(r"journal .*: recovered (\d+) frames.*last seq (\d+), torn tail bytes (\d+)")


@dataclass
class ServeProcess(Endpoint):
    """A `derivatives serve` child process, where it listens and what it recovered."""

    process: subprocess.Popen[str]
    port: int
    recovered: tuple[int, int, int]

    def kill(self) -> None:
        """SIGKILL (a crash, not a shutdown), then reap it and close its pipe."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _serve(tmp: Path, **settings: str) -> ServeProcess:
    env = {**os.environ, "DERIVATIVES_DATABASE_URL": f"sqlite:///{tmp / 'api.db'}",
           "DERIVATIVES_JOURNAL_DIR": str(tmp / "journal"), "DERIVATIVES_ADMIN_TOKEN": ADMIN_TOKEN, **settings}
    with (tmp / "stderr.log").open("a") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "derivatives", "serve", "--port", "0", "--no-demo-market",
                                    "--gateways", "1", "--var", str(tmp / "var")],
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    assert process.stdout is not None
    recovered = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line, f"serve exited: {(tmp / 'stderr.log').read_text()[-2000:]}"
        if match := RECOVERED.search(line):
            recovered = (int(match[1]), int(match[2]), int(match[3]))
        if match := LISTENING.search(line):
            assert recovered is not None, "the recovery report line comes before the server listens"
            return ServeProcess(process, int(match[1]), recovered)
    process.kill()
    process.wait(timeout=30)
    process.stdout.close()
    raise AssertionError("serve did not start")


def _mark(base: str) -> Decimal:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        mark = Decimal(httpx.get(f"{base}/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}).json()["markPrice"])
        if mark > 0:
            return mark
        time.sleep(0.2)
    raise AssertionError("no mark price published")


def _rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() for table in ("orders", "trades")}


def _cursor(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT last_seq FROM projection_cursor").fetchone()[0])


def _state(exchange: ccxt.binanceusdm) -> tuple[object, ...]:
    orders = sorted((o["id"], o["side"], o["price"], o["amount"], o["filled"]) for o in exchange.fetch_open_orders(SYMBOL))
    trades = sorted((t["id"], t["price"], t["amount"]) for t in exchange.fetch_my_trades(SYMBOL))
    wallet = next(a["walletBalance"] for a in exchange.fetch_balance()["info"]["assets"] if a["asset"] == "USDT")
    return orders, trades, wallet


def test_serve_recovers_orders_balances_and_rows_exactly_once_after_sigkill(tmp_path: Path) -> None:
    first = _serve(tmp_path)
    assert first.recovered == (0, 0, 0), "a new journal"
    traders = [make_trader(first) for _ in range(2)]
    maker, taker = (ccxt.binanceusdm(ccxt_config(first, t)) for t in traders)
    for exchange in (maker, taker):
        exchange.load_markets()
    price = float(_mark(first.base).quantize(Decimal(1)))
    maker.create_order(SYMBOL, "limit", "sell", 0.01, price)
    maker.create_order(SYMBOL, "limit", "sell", 0.02, price + 500)
    maker.create_order(SYMBOL, "limit", "buy", 0.03, price - 500)
    assert taker.create_order(SYMBOL, "market", "buy", 0.004)["filled"] == 0.004
    before = [_state(maker), _state(taker)]
    rows = _rows(tmp_path / "api.db")
    assert len(rows["orders"]) == 4 and len(rows["trades"]) == 1, rows

    first.kill()
    journal = replay(tmp_path / "journal")

    second = _serve(tmp_path)
    try:
        assert second.recovered[1] == journal.last_seq >= second.recovered[0] > 0
        assert _cursor(tmp_path / "api.db") >= journal.last_seq, "the projection caught up with the whole journal"
        for t, exchange in zip(traders, (maker, taker), strict=True):
            exchange.urls = ccxt_config(second, t)["urls"]
        assert [_state(maker), _state(taker)] == before
        assert _rows(tmp_path / "api.db") == rows, "every row is there exactly once, unchanged"
    finally:
        second.kill()

    # A projection database lost altogether is rebuilt from seq 0, every event regenerated from the
    # journal: the same rows, to the byte.
    for leftover in tmp_path.glob("api.db*"):
        leftover.unlink()
    third = _serve(tmp_path)
    try:
        assert _cursor(tmp_path / "api.db") >= journal.last_seq
        assert _rows(tmp_path / "api.db") == rows
    finally:
        third.kill()


def test_serve_with_a_sync_standby_hands_over_every_acknowledged_order(tmp_path: Path) -> None:
    standby, port, _ = start_follower(tmp_path, tmp_path / "standby")
    try:
        primary = _serve(tmp_path, DERIVATIVES_REPLICATE_TO=f"127.0.0.1:{port}")
    except BaseException:
        standby.kill()
        raise
    try:
        trader = make_trader(primary, funds="1000")
        exchange = ccxt.binanceusdm(ccxt_config(primary, trader))
        exchange.load_markets()
        price = float(_mark(primary.base).quantize(Decimal(1))) - 500
        exchange.create_order(SYMBOL, "limit", "buy", 0.01, price)  # acknowledged: durable on both machines
    finally:
        primary.kill()
    try:
        standby.process.send_signal(signal.SIGUSR1)
        while not (line := standby.line()).startswith("promoted"):
            pass
    finally:
        standby.kill()
    promoted = EngineClient(journal_dir=tmp_path / "standby")
    assert promoted.last_seq() == int(line.split()[1])
    depth = promoted.depth(BTCUSDT.symbol)
    assert depth is not None and (Decimal(str(price)), Decimal("0.01")) in depth.bids, "the order is on the standby"
    view = promoted.account(trader.account)
    assert view is not None and view.wallet == Decimal(1000)
