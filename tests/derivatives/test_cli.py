"""The `derivatives` command runs: `serve` for a moment and a small `bench binding`."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "derivatives", *args], capture_output=True, text=True, timeout=120, check=False)


def test_serve_prints_the_demo_account_and_logs_structured_lines() -> None:
    result = _run("serve", "--seconds", "1.5")
    assert result.returncode == 0, result.stderr
    assert "demo account 1000" in result.stdout and "SIMULATED" in result.stdout
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    symbols = {line["symbol"] for line in lines if line["msg"] == "market"}
    assert symbols == {"BTCUSDT", "ETHUSDT"}
    assert all(line["mark_source"] == "simulated" for line in lines if line["msg"] == "market")


def test_bench_binding_prints_its_figures() -> None:
    result = _run("bench", "binding", "--prefill", "2000", "--commands", "20000", "--batch", "1000", "--single-calls", "500")
    assert result.returncode == 0, result.stderr
    for figure in ("batched:", "single-command calls:", "python codec:"):
        assert figure in result.stdout
