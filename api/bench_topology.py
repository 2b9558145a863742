"""``derivatives bench topology``: the served exchange as processes (``derivatives serve``), with one
gateway and then two in the same run, under load from a separate process (``api.bench_load``).

For each topology and phase the server CPU is the sum of user + system time, read from ``/proc``,
of every process of the tree (``derivatives serve``, nats-server, the engine service, the
gateways, the projector, the risk process). Phases: ``place_cancel_max`` (closed loop of a signed
placement and its signed cancel: CPU per pair, pairs per second), ``order_max`` (signed
placements per second), ``order_open`` (latency at the offered rate), ``ws`` (diff-depth lag to
many subscribers).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from api.bench import ROOT, UNLIMITED, _traders
from derivatives.bus.client import BusEngine, connect
from derivatives.bus.protocol import Subjects
from derivatives.commands import SetMarkPrice

TICKS = os.sysconf("SC_CLK_TCK")
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")
NATS = re.compile(r"nats-server (nats://[0-9.:]+)")


class Served:
    """A running ``derivatives serve`` for the benchmark."""

    def __init__(self, tmp: Path, gateways: int, token: str) -> None:
        env = {
            **os.environ,
            "DERIVATIVES_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "DERIVATIVES_ORACLE": "off",
            "DERIVATIVES_ADMIN_TOKEN": token,
            "DERIVATIVES_DEMO": "false",
            "PYTHONPATH": str(ROOT),
            "DERIVATIVES_JOURNAL_DIR": str(tmp / "journal"),
            "DERIVATIVES_WEIGHT_LIMIT_PER_MINUTE": str(UNLIMITED),
            "DERIVATIVES_ORDER_LIMIT_PER_10S": str(UNLIMITED),
            "DERIVATIVES_ORDER_LIMIT_PER_MINUTE": str(UNLIMITED),
        }
        env.pop("DERIVATIVES_NATS_URL", None)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "derivatives",
                "serve",
                "--port",
                "0",
                "--no-demo-market",
                "--gateways",
                str(gateways),
                "--var",
                str(tmp / "var"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        self.base = self.nats = ""
        while not (self.base and self.nats):
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("derivatives serve exited")
            if match := LISTENING.search(line):
                self.base, self.port = match[1], int(match[2])
            if match := NATS.search(line):
                self.nats = match[1]

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def tree(self) -> list[int]:
        """The serve process and all its descendants."""
        pids, frontier = [], [self.process.pid]
        while frontier:
            pid = frontier.pop()
            pids.append(pid)
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    frontier += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
        return pids

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds (user + system) so far of each process of the tree, by command."""
        out: dict[str, float] = {}
        for pid in self.tree():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            name = _role(command)
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICKS
        return out

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _role(command: list[bytes]) -> str:
    text = b" ".join(command).decode(errors="replace")
    for role in (
        "nats-server",
        "gateway_process",
        "projector_process",
        "api.risk_process",
        "derivatives-engine",
        "derivatives serve",
    ):
        if role in text:
            return role
    return text[:40]


async def _mark(url: str) -> None:
    nc = await connect(url, "bench")
    try:
        await BusEngine(nc, Subjects.from_env()).execute(
            [SetMarkPrice(1, Decimal(50000), Decimal(50000))]
        )
    finally:
        await nc.close()


def _phase(served: Served, config: dict[str, Any], phase: str) -> dict[str, Any]:
    before, wall = served.cpu_s(), time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-m", "api.bench_load", json.dumps({**config, "phases": [phase]})],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{child.stderr[-3000:]}")
    after = served.cpu_s()
    result: dict[str, Any] = json.loads(child.stdout)
    cpu = {name: round(after[name] - before.get(name, 0.0), 2) for name in after}
    result["cpu_s"] = {
        **cpu,
        "total": round(sum(cpu.values()), 2),
        "wall": round(time.perf_counter() - wall, 1),
    }
    return result


def bench_topology(
    seconds: float,
    rate: float,
    connections: int,
    subscribers: int,
    depth_rate: float,
    gateway_counts: tuple[int, ...] = (1, 2),
    traders: int = 8,
) -> dict[str, Any]:
    """Every phase on every topology; returns the figures (also printed)."""
    results: dict[str, Any] = {}
    for gateways in gateway_counts:
        with tempfile.TemporaryDirectory() as tmp:
            token = secrets.token_hex(16)
            served = Served(Path(tmp), gateways, token)
            try:
                asyncio.run(_mark(served.nats))
                config = {
                    "base": served.base,
                    "ws": served.ws,
                    "keys": _traders(served, token, traders),  # type: ignore[arg-type]
                    "seconds": seconds,
                    "rate": rate,
                    "connections": connections,
                    "subscribers": subscribers,
                    "depth_rate": depth_rate,
                }
                runs = {}
                for phase in ("place_cancel_max", "order_max", "order_open", "ws"):
                    runs[phase] = _phase(served, config, phase)
                    print(f"{gateways} gateway(s) {phase}: {json.dumps(runs[phase])}", flush=True)
            finally:
                served.stop()
        results[f"{gateways}_gateways"] = runs
        _report(gateways, runs)
    return results


def _report(gateways: int, runs: dict[str, Any]) -> None:
    pairs = runs["place_cancel_max"]
    done = pairs["place_cancel_max"]["requests"]
    cpu = pairs["cpu_s"]
    print(f"{gateways} gateway(s), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}:")
    print(
        f"  place+cancel: {pairs['place_cancel_max']['per_s']:.0f} pairs/s; server CPU per pair "
        f"{cpu['total'] / max(done, 1) * 1e6:.0f} µs ({', '.join(f'{k} {v}' for k, v in cpu.items())})"
    )
    order_max = runs["order_max"]
    print(
        f"  signed orders: {order_max['order_max']['per_s']:.0f}/s sustained; server CPU per order "
        f"{order_max['cpu_s']['total'] / max(order_max['order_max']['requests'], 1) * 1e6:.0f} µs"
    )
    opened = runs["order_open"]["order_open"]
    print(
        f"  at {opened['offered_per_s']}/s offered ({opened['achieved_per_s']}/s sent): p50 {opened['p50_ms']} ms, "
        f"p99 {opened['p99_ms']} ms, max {opened['max_ms']} ms"
    )
    if "ws" in runs["ws"]:
        ws = runs["ws"]["ws"]
        print(
            f"  depth fan-out: {ws['subscribers']} subscribers, {ws['updates']} updates, delivered "
            f"{ws['delivered_share']:.1%}; lag p50 {ws['p50_ms']} ms, p99 {ws['p99_ms']} ms, max {ws['max_ms']} ms"
        )
    failures = sum(run.get("failures", 0) for run in runs.values())
    print(f"  failures {failures}")


if __name__ == "__main__":
    arguments = json.loads(sys.argv[1])
    bench_topology(**arguments)
