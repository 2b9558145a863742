"""Every simulator scenario, briefly, against the real topology (``derivatives serve``: nats-server,
the engine service, a gateway, the projector, and the risk process with the simulated, steerable feed)
on a real socket: the summary's figures and invariants, all read back through the public and admin
APIs by ``derivatives simulate`` itself (a child process, as a user runs it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import ADMIN_TOKEN, make_database
from tests.topology import TopologyServer, start_topology

ROOT = Path(__file__).resolve().parents[2]
TRADERS = 12


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TopologyServer]:
    """One topology for every scenario (its own demo market off), limits raised for one simulating client."""
    db = make_database("sqlite", tmp_path_factory.mktemp("db"))
    server = start_topology(tmp_path_factory.mktemp("serve"), db, "--gateways", "1", "--no-demo-market",
                            DERIVATIVES_ORACLE="simulated", DERIVATIVES_WEIGHT_LIMIT_PER_MINUTE="1000000",
                            DERIVATIVES_ORDER_LIMIT_PER_10S="100000", DERIVATIVES_ORDER_LIMIT_PER_MINUTE="1000000")
    yield server
    server.stop()
    db.drop()


def simulate(
    server: TopologyServer, scenario: str, duration_s: float, seed: int = 3, traders: int = TRADERS
) -> dict[str, Any]:
    """``derivatives simulate --json`` against `server`; its summary."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "derivatives",
            "simulate",
            "--url",
            server.base,
            "--admin-token",
            ADMIN_TOKEN,
            "--scenario",
            scenario,
            "--seed",
            str(seed),
            "--duration",
            str(duration_s),
            "--traders",
            str(traders),
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(ROOT), "PATH": str(Path(sys.executable).parent)},
    )
    assert run.stdout.strip(), run.stderr[-3000:]
    summary: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    assert run.returncode == (0 if summary["ok"] else 1)
    return summary


def moved(summary: dict[str, Any]) -> Decimal:
    """The first symbol's index after / before."""
    symbol = next(iter(summary["index_before"]))
    return Decimal(summary["index_after"][symbol]) / Decimal(summary["index_before"][symbol])


def test_crash_liquidates_the_long_side_and_every_invariant_holds(market: TopologyServer) -> None:
    summary = simulate(market, "crash", 6)
    assert summary["positions_opened"] >= TRADERS * 3 // 4
    assert moved(summary) < Decimal("0.85")
    assert summary["liquidations"] > 0
    assert Decimal(summary["liquidation_notional"]) > 0
    assert Decimal(summary["insurance_fund_change"]) > 0  # liquidation fees of fills on the book
    assert summary["checks"] == {
        "money conserved before": True,
        "money conserved after": True,
        "no account under maintenance": True,
    }
    # the risk desk's view of the cascade through GraphQL (an admin credential has the risk role)
    answer = httpx.post(market.base + "/graphql", json={"query": "{ riskLiquidations(limit: 1000) }"},
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10).json()
    steps = answer["data"]["riskLiquidations"]
    assert sum(1 for step in steps if step["type"] == "LIQUIDATION_ORDER") == summary["liquidations"] > 0


def test_squeeze_liquidates_the_short_side(market: TopologyServer) -> None:
    summary = simulate(market, "squeeze", 6)
    assert moved(summary) > Decimal("1.15")
    assert summary["liquidations"] > 0
    assert summary["ok"], summary


def test_venue_outage_keeps_the_index_rules(market: TopologyServer) -> None:
    summary = simulate(market, "venue-outage", 0, traders=2)
    assert summary["checks"]["outlier venue excluded"]
    assert summary["checks"]["stale venues dropped"]
    assert summary["checks"]["index within 1 %"]
    assert summary["ok"], summary


def test_thin_book_leaves_liquidations_to_the_fund_and_adl(market: TopologyServer) -> None:
    summary = simulate(market, "thin-book", 6)
    assert summary["liquidations"] > 0
    # with no maker on the book, some liquidation orders find nothing: the fund takes the rest
    # over or the opposite side is deleveraged
    assert summary["liquidations_filled"] < summary["liquidations"]
    assert summary["fund_positions_after"] or summary["adl_fills"] > 0
    assert summary["ok"], summary


def test_a_steering_message_the_oracle_refuses_changes_nothing(market: TopologyServer) -> None:
    with httpx.Client(base_url=market.base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10) as admin:
        before = admin.get("/admin/oracle").json()["steering"]
        for message in ({"change": "-0.95", "overMs": 1000}, {"stale": ["nowhere"]}, {"base": "XRP", "change": "0.1"}):
            refused = admin.post("/admin/oracle/steer", json=message).json()
            assert refused["code"] == -1130 and refused["msg"].startswith("Oracle steering refused: "), refused
        assert admin.get("/admin/oracle").json()["steering"] == before


def test_the_simulated_feed_is_steered_through_the_gateway(market: TopologyServer) -> None:
    """``/admin/oracle`` of a gateway reaches the oracle in the risk process over NATS: a 10 % fall
    ordered through it moves the index the gateways serve; a bad message changes nothing (-1130).
    Last in the module: the move stays."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=market.base, headers=headers, timeout=10) as client:
        deadline = time.monotonic() + 30  # alone in a run, the oracle's first publication is still to come
        while "BTCUSDT" not in (state := client.get("/admin/oracle")).json().get("prices", {}):
            assert state.status_code == 200 and time.monotonic() < deadline, state.text
            time.sleep(0.2)
        start = Decimal(state.json()["prices"]["BTCUSDT"]["index"])
        refused = client.post("/admin/oracle/steer", json={"change": "-0.95", "overMs": 0})
        assert refused.json()["code"] == -1130, refused.text
        steered = client.post("/admin/oracle/steer", json={"base": "BTC", "change": "-0.10", "overMs": 0})
        assert steered.status_code == 200, steered.text
        assert "BTC" in str(steered.json()["steering"])
        index = start
        for _ in range(100):  # the oracle publishes once a second
            index = Decimal(client.get("/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}).json()["indexPrice"])
            if index < start * Decimal("0.95"):
                break
            time.sleep(0.1)
        assert start * Decimal("0.85") < index < start * Decimal("0.95"), (start, index)


def test_ready_names_every_process_and_fails_without_the_risk_process(market: TopologyServer) -> None:
    """A gateway's ``/ready`` checks each process: the engine service answers (its seq), this
    gateway's view and the projector keep up, the risk process reports a fresh oracle and a current
    risk feed. With the risk process killed, ``/ready`` is 503 naming it. Last: it kills a process."""
    deadline = time.monotonic() + 30  # alone in a run, the oracle's first publication is still to come
    while (ready := httpx.get(f"{market.base}/ready", timeout=10)).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    body = ready.json()
    assert ready.status_code == 200 and body["status"] == "ready", body
    checks = body["checks"]
    assert checks["engine"]["ok"] and checks["engine"]["lastSeq"] > 0
    assert checks["view"]["ok"] and 0 <= checks["view"]["lag"] <= checks["view"]["limit"]
    assert checks["projection"]["ok"] and checks["projection"]["lag"] >= 0
    assert checks["risk"]["ok"] and checks["risk"]["oracle"]["ok"] and checks["risk"]["riskFeed"]["ok"]
    assert set(checks["risk"]["oracle"]["ageMs"]) == {"BTCUSDT", "ETHUSDT"}
    (risk,) = market.pids("api.risk_process")
    os.kill(risk, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        down = httpx.get(f"{market.base}/ready", timeout=10)
        if down.status_code == 503:
            break
        time.sleep(0.2)
    assert down.status_code == 503, down.text
    assert down.json()["checks"]["risk"] == {"ok": False, "detail": "the risk process does not answer"}
    assert down.json()["checks"]["engine"]["ok"]
