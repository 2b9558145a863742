"""The operator's surface: ``/health`` and ``/ready``, the risk and process series of ``/metrics``
after a real liquidation and a refused order, structured log lines, the Grafana dashboard and the
Prometheus alert rules under ``ops/`` (structure, and every metric they name exists in the app's
registry), settings and a busy port stopping ``derivatives serve`` with one line, ``/docs``
offline."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import ccxt
import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from api.operations import SERIES
from derivatives import _core
from derivatives.commands import Deposit, PlaceOrder
from derivatives.config import Settings
from derivatives.enums import Side
from tests.api.conftest import BTC, admin, ccxt_config, execute, make_database, make_trader, serve
from tests.api.server import RunningServer
from tests.api.staff import make_staff, session
from tests.api.test_liquidation import mark, open_victim

ROOT = Path(__file__).resolve().parents[2]
METRIC = re.compile(r"\b((?:derivatives|process|python)_[a-z0-9_]+)\b")


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = make_database("sqlite", tmp_path_factory.mktemp("ops"))
    running = serve(db, risk_services=True)
    execute(running, Deposit(_core.INSURANCE_FUND, D(1000)))
    yield running
    running.stop()


def scrape(server: RunningServer) -> dict[str, float]:
    """Every sample of /metrics by name and labels."""
    with admin(server) as client:
        text = client.get("/metrics").text
    return {f"{s.name}{json.dumps(s.labels, sort_keys=True) if s.labels else ''}": s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def registry_names(server: RunningServer) -> set[str]:
    """Sample names the app can export (scraped now, plus the declared series and their suffixes)."""
    names = {key.split("{")[0] for key in scrape(server)}
    for series in SERIES:
        names |= {series, f"{series}_sum", f"{series}_count", f"{series}_total"}
    return names


def test_health_and_ready(ops_server: RunningServer) -> None:
    assert httpx.get(f"{ops_server.base}/health", timeout=30).json() == {"status": "ok"}
    ready = httpx.get(f"{ops_server.base}/ready", timeout=30)
    body = ready.json()
    assert ready.status_code == 200 and body["status"] == "ready", body
    assert body["checks"]["engine"]["ok"] and body["checks"]["engine"]["lastSeq"] > 0
    assert body["checks"]["projection"]["lag"] >= 0 and "riskFeed" in body["checks"]


def test_metrics_count_a_liquidation_and_a_rejection_and_log_them(
        ops_server: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    before = scrape(ops_server)
    maker = ccxt.binanceusdm(ccxt_config(ops_server, make_trader(ops_server)))
    victim, _ = open_victim(ops_server, maker)
    broke = make_trader(ops_server, funds="1")
    with caplog.at_level(logging.INFO):
        execute(ops_server, PlaceOrder(broke.account, BTC, Side.BUY, D("1"), price=D("50000")))
        mark(ops_server, "49200")
        mark(ops_server, "50000")
    after = scrape(ops_server)
    assert after["derivatives_liquidations_total"] == before.get("derivatives_liquidations_total", 0) + 1
    assert after["derivatives_liquidation_orders_total"] >= 1
    insufficient = 'derivatives_engine_rejections_total{"code": "-2019"}'
    assert after[insufficient] == before.get(insufficient, 0) + 1, "margin is insufficient: Binance -2019"
    assert after["derivatives_insurance_fund_balance"] >= 1000
    assert after['derivatives_mark_index_gap_ratio{"symbol": "BTCUSDT"}'] == 0
    assert after["derivatives_engine_batch_commands_count"] > 0 and after["derivatives_engine_batch_seconds_sum"] > 0
    assert after["process_cpu_seconds_total"] > 0 and "process_resident_memory_bytes" in after
    lines = [r for r in caplog.records if r.name == "derivatives.liquidation"]
    started = next(r for r in lines if r.getMessage() == "liquidation started")
    assert started.fields["account"] == victim.account  # type: ignore[attr-defined]


def test_refused_staff_actions_and_payouts_are_logged(ops_server: RunningServer,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    requester, other = make_staff(ops_server, "risk"), make_staff(ops_server, "risk")
    trader = make_trader(ops_server)
    with caplog.at_level(logging.INFO), session(ops_server, requester) as one, session(ops_server, other) as two:
        payout = one.post("/risk/insurance/payouts", json={"account": trader.account, "amount": "1", "memo": "m"}).json()
        assert one.post(f"/risk/insurance/payouts/{payout['id']}/approve").json()["code"] == -1130
        two.post(f"/risk/insurance/payouts/{payout['id']}/deny", json={"reason": "OTHER"})
    refused = [r for r in caplog.records if r.getMessage() == "staff action refused"]
    assert refused and refused[0].fields["code"] == -1130  # type: ignore[attr-defined]
    decided = [r.fields for r in caplog.records if r.name == "api.payouts"]  # type: ignore[attr-defined]
    assert [d["status"] for d in decided] == ["PENDING", "DENIED"]
    with admin(ops_server) as boss:
        user = boss.get("/admin/users").json()[0]
        with caplog.at_level(logging.INFO):
            boss.post(f"/admin/users/{user['id']}/withdrawals", json={"amount": "1"})
    assert any(r.name == "derivatives.audit" and r.getMessage() == "withdrawal.request" for r in caplog.records)


def test_grafana_dashboard_and_alert_rules_name_only_exported_metrics(ops_server: RunningServer) -> None:
    exported = registry_names(ops_server)
    dashboard = json.loads((ROOT / "ops" / "grafana" / "derivatives.json").read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    expressions = []
    for panel in dashboard["panels"]:
        assert {"id", "type", "title", "gridPos", "targets"} <= set(panel), panel.get("title")
        assert panel["gridPos"]["w"] <= 24 and panel["targets"], panel["title"]
        expressions += [t["expr"] for t in panel["targets"]]
    rules = yaml.safe_load((ROOT / "ops" / "prometheus" / "alerts.yml").read_text())
    names = set()
    for group in rules["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule
            assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"]
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["for"]
            names.add(rule["alert"])
            expressions.append(rule["expr"])
    assert {"InsuranceFundDrawdown", "OracleStale", "ProjectionLag", "ReconciliationMismatch"} <= names
    for expr in expressions:
        assert expr.count("(") == expr.count(")"), expr
        for metric in METRIC.findall(expr):
            assert metric in exported, f"{metric} (in {expr!r}) is not exported by the app"


def test_unknown_setting_bad_value_and_busy_port_stop_serve_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"DERIVATIVES_PROT .*did you mean DERIVATIVES_PORT"):
        Settings.from_env({"DERIVATIVES_PROT": "8000"})
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    base = {k: v for k, v in os.environ.items() if not k.startswith("DERIVATIVES_")}
    base["DERIVATIVES_DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite'}"
    try:
        for extra, expected in (({"DERIVATIVES_PROT": "1"}, "unknown setting DERIVATIVES_PROT"),
                                ({"DERIVATIVES_PORT": "eighty"}, "port: not an integer"),
                                ({"DERIVATIVES_PORT": str(port)}, f"cannot listen on 127.0.0.1:{port}")):
            done = subprocess.run([sys.executable, "-m", "derivatives", "serve", "--seconds", "1"],
                                  env=base | extra, capture_output=True, text=True, timeout=60, cwd=ROOT)
            assert done.returncode == 2, done.stderr
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and expected in lines[0] and "Traceback" not in done.stderr, done.stderr
    finally:
        busy.close()


def test_docs_work_offline(ops_server: RunningServer) -> None:
    page = httpx.get(f"{ops_server.base}/docs").text
    assert "/docs/assets/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    for asset, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css")):
        answer = httpx.get(f"{ops_server.base}/docs/assets/{asset}")
        assert answer.status_code == 200 and kind in answer.headers["content-type"] and len(answer.content) > 10_000
