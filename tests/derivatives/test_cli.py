"""The `derivatives` command runs: `serve` (the processes: nats-server, the engine service, gateways,
projector, risk and mark price, demo market) answers REST with the printed demo key while the
simulated oracle and the demo market run, and a small `bench binding` prints its figures."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "derivatives", *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=ROOT)


def test_serve_prints_url_and_demo_key_and_serves_them(tmp_path: Path) -> None:
    env = {"DERIVATIVES_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}", "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen([sys.executable, "-m", "derivatives", "serve", "--port", "0", "--seconds", "40",
                                "--var", str(tmp_path / "var")],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(10)]
        text = "".join(lines)
        assert text.count("redis protocol door listening on redis://") == 1, "printed once for every gateway"
        assert f"journal {tmp_path / 'journal'}: recovered 0 frames" in text, "the journal sits beside the database"
        assert "SIMULATED" in text and "demo account 1000" in text, text
        base = re.search(r"listening on (http://\S+)", text)
        key = re.search(r"apiKey (\w+) secret (\w+)", text)
        assert base and key
        url, api_key, secret = base[1], key[1], key[2]
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/fapi/v1/ping").json() == {}
            symbols = [s["symbol"] for s in client.get("/fapi/v1/exchangeInfo").json()["symbols"]]
            assert symbols == ["BTCUSDT", "ETHUSDT"]
            deadline = time.monotonic() + 10
            while client.get("/fapi/v1/depth", params={"symbol": "BTCUSDT"}).json()["bids"] == []:
                assert time.monotonic() < deadline, "the demo market never quoted"
                time.sleep(0.3)
            mark = client.get("/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}).json()["markPrice"]
            assert Decimal(mark) > 0
            query = f"symbol=BTCUSDT&timestamp={int(time.time() * 1000)}"
            signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
            answer = client.get(f"/fapi/v1/openOrders?{query}&signature={signature}", headers={"X-MBX-APIKEY": api_key})
            assert answer.status_code == 200 and answer.json() == []
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    python = [r for r in records if "logger" in r]
    engine = [r for r in records if "logger" not in r]  # the engine service's own JSON lines
    assert python and all({"ts", "level", "msg"} <= set(r) for r in python)
    assert engine and all({"ts_ms", "level", "msg"} <= set(r) for r in engine)


def test_bench_binding_prints_its_figures() -> None:
    result = _run("bench", "binding", "--prefill", "2000", "--commands", "20000", "--batch", "1000", "--single-calls", "500")
    assert result.returncode == 0, result.stderr
    for figure in ("batched:", "single-command calls:", "python codec:"):
        assert figure in result.stdout


def test_bench_projection_prints_both_projectors_figures() -> None:
    result = _run("bench", "projection", "--commands", "300", "--per-call", "4")
    assert result.returncode == 0, result.stderr
    for figure in ("previous (ORM objects)", "current (Core executemany)", "rows/s", "µs CPU per order", "speed-up:"):
        assert figure in result.stdout
