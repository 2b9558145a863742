"""Faults of the real topology (``derivatives serve``: nats-server, engine service, gateway
processes, projector), each SIGKILLed mid-load: a gateway (the other keeps serving); the
projector, nats-server and the engine service, each restarted. Nothing acknowledged is lost,
the batch stream has no gap, nothing is applied twice in SQL, and the gateways serve again by
themselves. Each test starts its own topology (it breaks it on purpose)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest

from derivatives.bus.client import connect
from derivatives.bus.natsserver import LocalNats, free_port
from derivatives.bus.protocol import Subjects
from derivatives.bus.stream import BatchReader
from derivatives.paths import engine_binary
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
        self.codes: set[int] = set()
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
                    self.acked.append(
                        self.maker.create_order(SYMBOL, "limit", "buy", 0.003, 48000)["id"]
                    )
            except ccxt.BaseError as error:  # -1001 is OperationFailed, outside ExchangeError
                self.errors += 1
                body = str(error).partition(" ")[2]
                if body.startswith("{"):
                    self.codes.add(json.loads(body)["code"])
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
    two_gateways: TopologyServer,
) -> None:
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


def _sql(db_url: str, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        return conn.execute(query).fetchall()


def test_a_killed_projector_restarts_where_it_stopped_without_losing_or_repeating_a_row(
    two_gateways: TopologyServer,
) -> None:
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
        rows = _sql(
            server.db.url, f"SELECT order_id, executed_qty FROM orders WHERE order_id IN ({ids})"
        )
        assert sorted(str(order_id) for order_id, _ in rows) == sorted(load.acked)
        traded = _sql(server.db.url, "SELECT SUM(qty), COUNT(*) FROM trades")[0]
        volume = _sql(server.db.url, "SELECT SUM(volume), SUM(trades) FROM klines_1m")[0]
        assert traded == volume  # a batch applied twice would count its trades twice in the bars
        filled_raw = round(load.filled * 10**8)
        assert sum(qty for _, qty in rows) == filled_raw
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(30)


def _restart_like(pid: int, log: Path | None = None) -> subprocess.Popen[bytes]:
    """SIGKILLs `pid`, then starts the same command line with the same environment (as a
    supervisor would restart a crashed service)."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    env = dict(
        line.split(b"=", 1)
        for line in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if b"=" in line
    )
    cwd = os.readlink(f"/proc/{pid}/cwd")
    os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    if log is None:
        return subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with log.open("ab") as output:
        return subprocess.Popen(argv, env=env, cwd=cwd, stdout=output, stderr=output)


def _stream_is_contiguous(server: TopologyServer) -> int:
    """Reads the whole batch stream; asserts each batch follows the previous one; returns the last seq."""

    async def read() -> list[tuple[int, int]]:
        nc = await connect(server.nats_url, "check")
        reader = BatchReader(nc, Subjects.from_env())
        head = (await reader.last_stream_seq())[0]
        seen: list[tuple[int, int]] = []
        async for batches in reader.batches():
            seen += [(b.seqs.first_seq, b.seqs.last_seq) for b in batches]
            if batches[-1].stream_seq >= head:
                break
        await nc.close()
        return seen

    seen = server.loop.run(read(), 120)
    assert seen[0][0] == 1
    for (_, last), (first, _) in itertools.pairwise(seen):
        assert first == last + 1, f"stream batch starting at {first} after one ending at {last}"
    return seen[-1][1]


def _projected(server: TopologyServer, seq: int) -> None:
    deadline = time.monotonic() + 60
    while _sql(server.db.url, "SELECT last_seq FROM projection_cursor")[0][0] < seq:
        assert time.monotonic() < deadline, "the projector did not catch up"
        time.sleep(0.1)


def test_a_killed_nats_server_restarted_loses_nothing_acknowledged(
    two_gateways: TopologyServer,
) -> None:
    server = two_gateways
    [nats] = server.pids("nats-server")
    with Load(server) as load:
        load.wait(10)
        restarted = _restart_like(nats)
        load.wait(len(load.acked) + 20, timeout_s=120)
    try:
        _check_after_restart(server, load)
    finally:
        restarted.kill()
        restarted.wait()


def _check_after_restart(server: TopologyServer, load: Load) -> None:
    open_ids = {order["id"] for order in load.maker.fetch_open_orders(SYMBOL)}
    assert set(load.acked) <= open_ids
    last = server.execute().last_seq
    assert _stream_is_contiguous(server) == last
    _projected(server, last)
    ids = ",".join(load.acked)
    assert _sql(server.db.url, f"SELECT COUNT(*) FROM orders WHERE order_id IN ({ids})")[0][
        0
    ] == len(load.acked)


def test_a_killed_engine_service_restarted_from_its_journal_loses_nothing_acknowledged(
    two_gateways: TopologyServer,
) -> None:
    server = two_gateways
    [engine] = server.pids("derivatives-engine")
    with Load(server) as load:
        load.wait(10)
        errors_before = load.errors
        restarted = _restart_like(engine, server.tmp / "restarted-engine.log")
        load.wait(len(load.acked) + 20, timeout_s=120)
    assert load.errors > errors_before  # clients were told while the engine was away
    assert load.codes <= {-1001, -1007}
    try:
        _check_after_restart(server, load)
    finally:
        restarted.kill()
        restarted.wait()


def test_a_promoted_standby_takes_the_orders_with_the_gateways_running(tmp_path: Path) -> None:
    nats = LocalNats(tmp_path / "nats").start()
    listen = f"127.0.0.1:{free_port()}"
    with (tmp_path / "standby.log").open("a") as log:
        standby = subprocess.Popen(
            [
                str(engine_binary()),
                "--standby",
                "--listen",
                listen,
                "--journal",
                str(tmp_path / "standby"),
            ],
            env={**os.environ, "DERIVATIVES_NATS_URL": nats.url},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    db = make_database("sqlite", tmp_path)
    server = start_topology(
        tmp_path,
        db,
        "--gateways",
        "2",
        DERIVATIVES_NATS_URL=nats.url,
        DERIVATIVES_REPLICATE_TO=listen,
        DERIVATIVES_REPLICATE_SYNC="true",
    )
    try:
        publish_marks(server)
        [primary] = server.pids("derivatives-engine")
        with Load(server) as load:
            load.wait(10)
            os.kill(primary, signal.SIGKILL)
            standby.send_signal(signal.SIGUSR1)
            load.wait(len(load.acked) + 20, timeout_s=120)
        _check_after_restart(server, load)
    finally:
        server.stop()
        standby.kill()
        standby.wait()
        nats.stop()
