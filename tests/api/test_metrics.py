"""``GET /metrics`` scraped over a real socket and parsed with the Prometheus text parser: request
counts and latency histograms per route template and status, rate-limit rejections, WebSocket
subscribers, the engine's last seq, the projection lag and reconciliation alerts."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import ADMIN_TOKEN, make_database, serve
from tests.api.server import RunningServer

WEIGHT_LIMIT = 40


@pytest.fixture(scope="module")
def metrics_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = make_database("sqlite", tmp_path_factory.mktemp("metrics"))
    running = serve(db, weight_limit_per_minute=WEIGHT_LIMIT)
    yield running
    running.stop()


def scrape(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``: (name, sorted labels) -> value."""
    answer = httpx.get(f"{server.base}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_follow_requests_sockets_and_the_engine(metrics_server: RunningServer) -> None:
    base = metrics_server.base
    before = await asyncio.to_thread(scrape, metrics_server)
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(3):
            assert (await client.get("/fapi/v1/ping")).status_code == 200
        assert (await client.get("/fapi/v1/depth", params={"symbol": "NOPE"})).status_code == 400
        assert (await client.get("/no/such/path")).status_code == 404
    logging.getLogger("api.projection").warning("test: projection disagrees with the engine")

    async with websockets.connect(f"ws://127.0.0.1:{metrics_server.port}/ws/btcusdt@depth") as ws:
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
        await ws.recv()
        during = await asyncio.to_thread(scrape, metrics_server)

    ping = {"method": "GET", "route": "/fapi/v1/ping", "status": "200"}
    assert value(during, "derivatives_http_requests_total", **ping) - \
        value(before, "derivatives_http_requests_total", **ping) == 3
    assert value(during, "derivatives_http_request_duration_seconds_count", **ping) >= 3
    assert value(during, "derivatives_http_request_duration_seconds_bucket", **ping, le="+Inf") >= 3
    assert value(during, "derivatives_http_requests_total", method="GET", route="/fapi/v1/depth", status="400") >= 1
    assert value(during, "derivatives_http_requests_total", method="GET", route="unrouted", status="404") >= 1
    assert value(during, "derivatives_ws_subscribers", kind="public") == 1
    assert value(during, "derivatives_engine_last_seq") == metrics_server.services.gateway.last_seq() > 0
    assert 0 <= value(during, "derivatives_projection_lag") <= value(during, "derivatives_engine_last_seq")
    assert value(during, "derivatives_reconciliation_alerts_total", logger="api.projection") - \
        value(before, "derivatives_reconciliation_alerts_total", logger="api.projection") == 1

    deadline = time.monotonic() + 10
    while value(after := await asyncio.to_thread(scrape, metrics_server), "derivatives_ws_subscribers",
                kind="public") != 0:
        assert time.monotonic() < deadline, "closed socket still counted"
        await asyncio.sleep(0.05)
    assert value(after, "derivatives_projection_lag") == 0


def test_rate_limit_rejections_are_counted(metrics_server: RunningServer) -> None:
    # The weight window is a fixed minute: requests that straddle a minute boundary on a loaded
    # machine split between two windows, so send until five are refused (bounded).
    refused = 0
    with httpx.Client(base_url=metrics_server.base) as client:
        for _ in range(4 * WEIGHT_LIMIT):
            refused += client.get("/fapi/v1/time").status_code == 429
            if refused == 5:
                break
    assert refused == 5
    assert value(scrape(metrics_server), "derivatives_rate_limit_rejections_total", route="unrouted") >= refused
