"""Tiny runs of ``derivatives bench api`` and ``bench resp`` (the heavy runs are ``make bench``): the load generator in
a second process places signed orders that all succeed, and depth updates reach the subscribers.
Figures are not asserted (timings never are), only that each phase measured something."""

from __future__ import annotations

from api.bench import bench_api
from api.resp.bench import bench_resp


def test_api_bench_smoke_run() -> None:
    results = bench_api(seconds=0.5, rate=40, connections=2, subscribers=5, depth_rate=10, traders=2)
    assert results["failures"] == 0, results["first_failure"]
    assert results["engine"]["n"] > 0
    for phase in ("ping_max", "order_max"):
        assert results[phase]["requests"] > 0
    for phase in ("ping_open", "order_open"):
        assert results[phase]["n"] == 20 and results[phase]["p99_ms"] >= results[phase]["p50_ms"] > 0
    assert results["ws"]["updates"] == 5 and results["ws"]["delivered_share"] == 1.0
    assert results["engine_last_seq"] >= results["order_max"]["requests"] + 20 + 5


def test_resp_bench_smoke_run() -> None:
    results = bench_resp(seconds=0.5, connections=2, rounds=1, traders=2)
    assert [phase["door"] for phase in results["phases"]] == ["rest", "resp"]
    for phase in results["phases"]:
        assert phase["failures"] == 0, phase["first_failure"]
        assert phase["requests"] > 0 and phase["cpu_us_per_order"] > 0
