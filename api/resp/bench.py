"""``derivatives bench resp``: signed orders per second and server CPU per order through the
Redis-protocol door against REST, same app, same run (A/B, alternating, ``rounds`` each).

The server is the real app in this process (``create_app`` with the engine in process, SQLite
projection, uvicorn, the door on a free port), as ``derivatives serve`` runs it; each phase's load
is a child process (``api.resp.bench_load``). Server CPU per order = this process's CPU seconds during the phase
divided by the orders it accepted.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from typing import Any

from api import interpreter
from api.bench import ROOT, UNLIMITED, _cpu_self, _traders
from api.gateway import EngineGateway
from api.inprocess import start
from api.main import create_app
from derivatives.commands import SetMarkPrice
from derivatives.config import Settings
from derivatives.engine import EngineClient


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bench_resp(
    seconds: float, connections: int, rounds: int = 2, traders: int = 8
) -> dict[str, Any]:
    """Runs REST and door phases alternately; prints and returns the figures."""
    interpreter.tune()
    with tempfile.TemporaryDirectory() as tmp:
        token = secrets.token_hex(16)
        port = _free_port()
        settings = Settings(
            database_url=f"sqlite:///{tmp}/bench.db",
            oracle="off",
            demo=False,
            admin_token=token,
            weight_limit_per_minute=UNLIMITED,
            order_limit_per_10s=UNLIMITED,
            order_limit_per_minute=UNLIMITED,
            resp_port=port,
        )
        server = start(
            create_app(settings, EngineClient()),
            log_config=None,
            access_log=False,
            timeout_keep_alive=300,
        )
        phases: list[dict[str, Any]] = []
        try:
            gateway = server.services.gateway
            assert isinstance(gateway, EngineGateway), "the benchmark serves in process"
            gateway.execute([SetMarkPrice(1, Decimal(50000), Decimal(50000))])
            config = {
                "base": server.base,
                "resp_port": port,
                "keys": _traders(server, token, traders),
                "seconds": seconds,
                "connections": connections,
            }
            for _ in range(rounds):
                for door in ("rest", "resp"):
                    cpu, wall = _cpu_self(), time.perf_counter()
                    child = subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "api.resp.bench_load",
                            json.dumps({**config, "door": door}),
                        ],
                        cwd=ROOT,
                        env={**os.environ, "PYTHONPATH": str(ROOT)},
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    if child.returncode != 0:
                        raise RuntimeError(f"the load generator failed:\n{child.stderr[-3000:]}")
                    used = _cpu_self() - cpu
                    result = json.loads(child.stdout)
                    accepted = result["requests"] - result["failures"]
                    phases.append(
                        {
                            "door": door,
                            **result,
                            "server_cpu_s": round(used, 2),
                            "cpu_us_per_order": round(used / max(accepted, 1) * 1e6, 1),
                            "wall_s": round(time.perf_counter() - wall, 1),
                        }
                    )
        finally:
            server.stop()
    load = os.getloadavg()
    print(
        f"resp bench: {seconds} s per phase, {connections} closed-loop clients, {rounds} rounds, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    for phase in phases:
        print(
            f"{phase['door']:>4}: {phase['per_s']:>8.0f} orders/s, server CPU {phase['cpu_us_per_order']:>7.0f} µs "
            f"per order, failures {phase['failures']} (first: {phase['first_failure']})"
        )
    return {"phases": phases, "load": load}


if __name__ == "__main__":
    bench_resp(**json.loads(sys.argv[1]))
