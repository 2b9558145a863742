"""Faults of the real topology (``derivatives serve``: nats-server, engine service, gateway
processes, projector): a gateway killed mid-load, the projector killed mid-load and restarted.
Nothing acknowledged is lost, nothing is applied twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest

from tests.api.conftest import ccxt_config, make_database, make_trader, publish_marks
from tests.topology import TopologyServer, start_topology

SYMBOL = "BTC/USDT:USDT"


@pytest.fixture
def two_gateways(tmp_path: Path) -> Iterator[TopologyServer]:
    db = make_database("sqlite", tmp_path)
    server = start_topology(tmp_path, db, "--gateways", "2")
    publish_marks(server)
    yield server
    server.stop()


class Load:
    """Orders from another thread, each answered or not; acknowledged ones are remembered."""

    def __init__(self, server: TopologyServer, cross: bool = False) -> None:
        self.maker = ccxt.binanceusdm(ccxt_config(server, make_trader(server)))
        self.taker = ccxt.binanceusdm(ccxt_config(server, make_trader(server)))
        for exchange in (self.maker, self.taker):
            exchange.load_markets()
        self.cross = cross
        self.acked: list[str] = []
        self.filled = 0.0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.cross:
                    self.maker.create_order(SYMBOL, "limit", "sell", 0.003, 50000)
                    taken = self.taker.create_order(SYMBOL, "market", "buy", 0.003)
                    self.filled += float(taken["filled"])
                    self.acked.append(taken["id"])
                else:
                    self.acked.append(self.maker.create_order(SYMBOL, "limit", "buy", 0.003, 48000)["id"])
            except (ccxt.NetworkError, ccxt.ExchangeError):
                self.errors += 1
                time.sleep(0.05)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def wait(self, count: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} orders acknowledged"
            time.sleep(0.05)


def test_a_killed_gateway_leaves_the_other_serving_and_loses_no_acknowledged_order(
        two_gateways: TopologyServer) -> None:
    server = two_gateways
    gateways = server.pids("api.gateway_process")
    assert len(gateways) == 2
    with Load(server) as load:
        load.wait(20)
        os.kill(gateways[0], signal.SIGKILL)
        before = len(load.acked)
        load.wait(before + 30)
    assert server.pids("api.gateway_process") == gateways[1:]
    open_ids = {order["id"] for order in load.maker.fetch_open_orders(SYMBOL)}
    assert set(load.acked) <= open_ids
    assert len(open_ids) - len(load.acked) <= load.errors  # only unanswered ones may exist beyond


def _sql(db_url: str, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        return conn.execute(query).fetchall()


def test_a_killed_projector_restarts_where_it_stopped_without_losing_or_repeating_a_row(
        two_gateways: TopologyServer) -> None:
    server = two_gateways
    [projector] = server.pids("derivatives.projector_process")
    with Load(server, cross=True) as load:
        load.wait(10)
        os.kill(projector, signal.SIGKILL)
        load.wait(len(load.acked) + 15)
    restarted = server.start_child("derivatives.projector_process")
    try:
        last = server.execute().last_seq  # an empty batch: the engine's last seq
        deadline = time.monotonic() + 60
        while _sql(server.db.url, "SELECT last_seq FROM projection_cursor")[0][0] < last:
            assert time.monotonic() < deadline, "the restarted projector did not catch up"
            time.sleep(0.1)
        ids = ",".join(load.acked)
        rows = _sql(server.db.url, f"SELECT order_id, executed_qty FROM orders WHERE order_id IN ({ids})")
        assert sorted(str(order_id) for order_id, _ in rows) == sorted(load.acked)
        traded = _sql(server.db.url, "SELECT SUM(qty), COUNT(*) FROM trades")[0]
        volume = _sql(server.db.url, "SELECT SUM(volume), SUM(trades) FROM klines_1m")[0]
        assert traded == volume  # a batch applied twice would count its trades twice in the bars
        filled_raw = round(load.filled * 10**8)
        assert sum(qty for _, qty in rows) == filled_raw  # type: ignore[misc]
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(30)
