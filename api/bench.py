"""`derivatives bench api`: the REST and WebSocket surface under load from a second process.

The server is the real app (``create_app``, SQLite projection in a temporary directory, uvicorn as
``derivatives serve`` runs it) in this process; the load comes from ``api.bench_load`` in a child
process. Figures (printed and returned): sustained signed order placements per second, latency at
an offered rate, the same two for unsigned ``/fapi/v1/ping`` (the baseline: HTTP stack and event
loop only), diff-depth delivery lag to many subscribers, and the CPU seconds each process used.
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
from api.inprocess import RunningServer, start
from api.main import create_app
from derivatives.commands import SetMarkPrice
from derivatives.config import Settings
from derivatives.engine import EngineClient

ROOT = Path(__file__).resolve().parent.parent
UNLIMITED = 10**9


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
            server.services.gateway.execute([SetMarkPrice(1, Decimal(50000), Decimal(50000))])
            config = {"base": server.base, "ws": server.ws, "keys": _traders(server, token, traders),
                      "seconds": seconds, "rate": rate, "connections": connections, "subscribers": subscribers,
                      "depth_rate": depth_rate}
            cpu_server, cpu_load, wall = _cpu_self(), _cpu_children(), time.perf_counter()
            child = subprocess.run([sys.executable, "-m", "api.bench_load", json.dumps(config)], cwd=ROOT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
            if child.returncode != 0:
                raise RuntimeError(f"the load generator failed:\n{child.stderr[-3000:]}")
            results: dict[str, Any] = json.loads(child.stdout)
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
