"""`derivatives bench api`: the REST and WebSocket surface under load from a second process.

The server is the real app (``create_app``, SQLite projection in a temporary directory, uvicorn as
``derivatives serve`` runs it) in this process; the load comes from ``api.bench_load`` in a child
process. Figures (printed and returned): sustained signed order placements per second, latency at
an offered rate, the same two for unsigned ``/fapi/v1/ping`` (the baseline: HTTP stack and event
loop only), the same order through the engine gateway alone (in process, no HTTP: the other
baseline), diff-depth delivery lag to many subscribers, and the CPU seconds each process used.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

from api import interpreter
from api.bench_load import percentiles
from api.gateway import EngineGateway
from api.inprocess import RunningServer, start
from api.main import create_app
from derivatives.commands import Deposit, PlaceOrder, SetMarkPrice
from derivatives.config import Settings
from derivatives.engine import EngineClient
from derivatives.enums import Side

ROOT = Path(__file__).resolve().parent.parent
UNLIMITED = 10**9
BASELINE_ACCOUNT = 9_999
"""Engine account of the in-process baseline (below the users' range, unused by the bench)."""
BASELINE_CALLS = 2_000


def _admin(server: RunningServer, token: str, path: str, body: dict[str, object]) -> Any:
    request = urllib.request.Request(server.base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def _traders(server: RunningServer, token: str, count: int) -> list[tuple[str, str]]:
    keys = []
    for _ in range(count):
        user = _admin(server, token, "/admin/users", {"name": f"bench{secrets.token_hex(4)}"})
        key = _admin(server, token, f"/admin/users/{user['id']}/api-keys", {"label": "bench", "trade": True})
        _admin(server, token, f"/admin/users/{user['id']}/deposits", {"amount": "100000000"})
        keys.append((key["apiKey"], key["secret"]))
    return keys


def _engine_baseline(server: RunningServer, calls: int) -> dict[str, float]:
    """The same resting order through ``EngineGateway.execute`` alone (codec, engine, listeners; no
    HTTP, no projection wait), one call at a time, in this process."""
    gateway = _in_process(server)
    gateway.execute([Deposit(BASELINE_ACCOUNT, Decimal(10**8))])
    latencies = []
    for i in range(calls):
        side, price = (Side.BUY, Decimal(48000)) if i % 2 == 0 else (Side.SELL, Decimal(52000))
        started = time.perf_counter()
        gateway.execute([PlaceOrder(BASELINE_ACCOUNT, 1, side, Decimal("0.003"), price=price)])
        latencies.append((time.perf_counter() - started) * 1000)
    return {**percentiles(latencies), "per_s": round(calls / (sum(latencies) / 1000), 1)}


def _in_process(server: RunningServer) -> EngineGateway:
    gateway = server.services.gateway
    assert isinstance(gateway, EngineGateway), "the API benchmark runs the app in process"
    return gateway


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_api(seconds: float, rate: float, connections: int, subscribers: int, depth_rate: float,
              traders: int = 8) -> dict[str, Any]:
    """Runs every phase and returns the figures (also printed), with the interpreter tuned as
    ``derivatives serve`` tunes it."""
    interpreter.tune()
    with tempfile.TemporaryDirectory() as tmp:
        token = secrets.token_hex(16)
        settings = Settings(database_url=f"sqlite:///{tmp}/bench.db", oracle="off", demo=False, admin_token=token,
                            weight_limit_per_minute=UNLIMITED, order_limit_per_10s=UNLIMITED,
                            order_limit_per_minute=UNLIMITED)
        server = start(create_app(settings, EngineClient()), log_config=None, access_log=False,
                       timeout_keep_alive=300)
        try:
            _in_process(server).execute([SetMarkPrice(1, Decimal(50000), Decimal(50000))])
            engine = _engine_baseline(server, BASELINE_CALLS)
            config = {"base": server.base, "ws": server.ws, "keys": _traders(server, token, traders),
                      "seconds": seconds, "rate": rate, "connections": connections, "subscribers": subscribers,
                      "depth_rate": depth_rate}
            cpu_server, cpu_load, wall = _cpu_self(), _cpu_children(), time.perf_counter()
            child = subprocess.run([sys.executable, "-m", "api.bench_load", json.dumps(config)], cwd=ROOT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                                   check=False)
            if child.returncode != 0:
                raise RuntimeError(f"the load generator failed:\n{child.stderr[-3000:]}")
            results: dict[str, Any] = {"engine": engine, **json.loads(child.stdout)}
            results["cpu_s"] = {"server": round(_cpu_self() - cpu_server, 1),
                                "load": round(_cpu_children() - cpu_load, 1),
                                "wall": round(time.perf_counter() - wall, 1)}
            results["engine_last_seq"] = server.services.gateway.last_seq()
        finally:
            server.stop()
    _report(results, config)
    return results


def _report(r: dict[str, Any], config: dict[str, Any]) -> None:
    print(f"api bench: {config['seconds']} s per phase, {config['connections']} closed-loop clients, "
          f"open loop at {config['rate']}/s, {len(config['keys'])} accounts, {os.cpu_count()} CPUs")
    print(f"engine (baseline): {r['engine']['per_s']:>7.0f} orders/s one at a time through the gateway, "
          f"p50 {r['engine']['p50_ms']} ms, p99 {r['engine']['p99_ms']} ms")
    print(f"ping (baseline):  {r['ping_max']['per_s']:>8.0f} req/s sustained; at {r['ping_open']['achieved_per_s']}/s "
          f"p50 {r['ping_open']['p50_ms']} ms, p99 {r['ping_open']['p99_ms']} ms")
    print(f"signed orders:    {r['order_max']['per_s']:>8.0f} orders/s sustained; at "
          f"{r['order_open']['achieved_per_s']}/s p50 {r['order_open']['p50_ms']} ms, p99 {r['order_open']['p99_ms']} ms")
    if "ws" in r:
        ws = r["ws"]
        print(f"depth fan-out:    {ws['subscribers']} subscribers, {ws['updates']} updates, delivered "
              f"{ws['delivered_share']:.1%}; lag p50 {ws['p50_ms']} ms, p99 {ws['p99_ms']} ms, max {ws['max_ms']} ms")
    print(f"failures: {r['failures']} (first: {r['first_failure']}); CPU s: server {r['cpu_s']['server']}, load generator {r['cpu_s']['load']}, "
          f"wall {r['cpu_s']['wall']}")


if __name__ == "__main__":
    bench_api(**json.loads(sys.argv[1]))
