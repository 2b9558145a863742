"""The real topology for acceptance and fault tests: ``derivatives serve`` as a child process
(its own nats-server, the engine service, gateway processes, projector, risk/mark process), and
a bus client of the test's own to publish what the oracle would (marks, funding).

The engine service is the ``derivatives-engine`` binary ``make build`` installs.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest

from derivatives.bus.client import BusEngine, connect
from derivatives.bus.protocol import Subjects
from derivatives.commands import Command
from derivatives.engine import BatchResult
from tests.api.conftest import ADMIN_TOKEN, ADMINS, Database, make_database, publish_marks
from tests.api.server import Endpoint

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
NATS = re.compile(r"nats-server (nats://[0-9.:]+)")
PROCESS = re.compile(r"^\[(\S+)\] ")
T = TypeVar("T")


class LoopThread:
    """An asyncio loop on a daemon thread, for sync tests that need a bus client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class TopologyServer(Endpoint):
    """A running ``derivatives serve`` and a bus client to its engine."""

    process: subprocess.Popen[str]
    port: int
    nats_url: str
    tmp: Path
    db: Database
    lines: list[str] = field(default_factory=list)
    loop: LoopThread = field(default_factory=LoopThread)
    engine: BusEngine | None = None
    drain: threading.Thread | None = None

    def _engine(self) -> BusEngine:
        if self.engine is None:
            nc = self.loop.run(connect(self.nats_url, "test"))
            self.engine = BusEngine(nc, Subjects.from_env(), timeout_s=10)
        return self.engine

    def execute(self, *commands: Command) -> BatchResult:
        """Runs commands on the engine service, then waits until the gateways have them."""
        result = self.loop.run(self._engine().execute(commands))
        self.wait_for(result.last_seq)
        return result

    def wait_for(self, seq: int, timeout_s: float = 15) -> None:
        """Until every gateway answering on the port has applied and projected `seq`."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            text = httpx.get(f"{self.base}/metrics", timeout=5,
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).text
            last = re.search(r"^derivatives_engine_last_seq (\S+)$", text, re.M)
            lag = re.search(r"^derivatives_projection_lag (\S+)$", text, re.M)
            if last and lag and float(last[1]) >= seq and float(lag[1]) == 0:
                seen += 1
                if seen >= 4:  # new connections spread over the gateways: a few in a row
                    return
            else:
                seen = 0
            time.sleep(0.01)
        raise AssertionError(f"the gateways did not reach seq {seq}")

    def pids(self, role: str) -> list[int]:
        """Process ids of the children of `role` (from ``/proc``)."""
        out = []
        for child in (
            Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        ):
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if role in cmdline:
                out.append(int(child))
        return out

    def start_child(self, module: str, *args: str) -> subprocess.Popen[str]:
        """Another process of the topology (e.g. a projector restarted after a kill)."""
        env = {
            **os.environ,
            "DERIVATIVES_NATS_URL": self.nats_url,
            "DERIVATIVES_DATABASE_URL": self.db.url,
            "PYTHONPATH": str(ROOT),
            "DERIVATIVES_ORACLE": "off",
        }
        if self.db.schema:
            env["DERIVATIVES_DATABASE_SCHEMA"] = self.db.schema
        with (self.tmp / f"{module}.log").open("a") as log:
            return subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, env=env, stdout=log,
                                    stderr=log, text=True)

    def stop(self) -> None:
        """Ctrl-C, as a user would; waits for every child to stop."""
        if self.engine is not None:
            self.loop.run(self.engine.nc.close())
            self.engine = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.drain is not None:
            self.drain.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.loop.close()


def start_topology(tmp: Path, db: Database, *args: str, **env: str) -> TopologyServer:
    """``derivatives serve`` on a free port with test settings; returns once it prints its URL."""
    environment = {
        **os.environ,
        "DERIVATIVES_DATABASE_URL": db.url,
        "DERIVATIVES_ORACLE": "off",
        "DERIVATIVES_ADMIN_TOKEN": ADMIN_TOKEN,
        "DERIVATIVES_JOURNAL_DIR": str(tmp / "journal"),
        "DERIVATIVES_ADMIN_TOKENS": ",".join(f"{name}:{token}" for name, token in ADMINS.items()),
        "PYTHONPATH": str(ROOT),
        **env,
    }
    if "DERIVATIVES_NATS_URL" not in env:
        environment.pop("DERIVATIVES_NATS_URL", None)  # serve starts its own
    if db.schema:
        environment["DERIVATIVES_DATABASE_SCHEMA"] = db.schema
    with (tmp / "serve.log").open("a") as log:
        process = _serve(environment, log, tmp, args)
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 180
    port = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line, f"serve exited: {(tmp / 'serve.log').read_text()[-3000:]}"
        lines.append(line)
        if match := LISTENING.search(line):
            port = int(match[1])
        if (match := NATS.search(line)) and port is not None:
            server = TopologyServer(process, port, match[1], tmp, db, lines)
            server.drain = threading.Thread(target=_drain, args=(process, lines), daemon=True)
            server.drain.start()
            return server
    process.kill()
    process.wait()
    process.stdout.close()
    raise AssertionError("serve did not start")


def _serve(environment: dict[str, str], log: IO[str], tmp: Path, args: tuple[str, ...]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "derivatives",
            "serve",
            "--port",
            "0",
            "--no-demo-market",
            "--var",
            str(tmp / "var"),
            *args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=environment,
    )


def _drain(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"], name="server")
def topology_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TopologyServer]:
    """The real topology with one gateway, shared by a test module, once per database backend."""
    db = make_database(request.param, tmp_path_factory.mktemp("db"))
    server = start_topology(tmp_path_factory.mktemp("serve"), db, "--gateways", "1")
    publish_marks(server)
    yield server
    server.stop()
    db.drop()
