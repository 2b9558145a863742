"""Schemathesis against the OpenAPI schema of a running server (risk services on): generated
requests (signed with a real key where the operation is signed, with the admin token for /admin,
/risk and the staff session routes) never get a 5xx, and
every refusal is a Binance ``{code, msg}``. Examples are bounded to keep the suite quick."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Err, Ok

from api.security import sign
from tests.api.conftest import ADMIN_TOKEN, Trader, make_database, make_trader, serve
from tests.api.server import RunningServer

EXAMPLES = 6


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = make_database("sqlite", tmp_path_factory.mktemp("fuzz"))
    running = serve(db, weight_limit_per_minute=10**9, order_limit_per_10s=10**9, order_limit_per_minute=10**9,
                    risk_services=True)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def fuzz_trader(fuzz_server: RunningServer) -> Trader:
    return make_trader(fuzz_server)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_generated_requests_never_get_a_server_error(fuzz_server: RunningServer, fuzz_trader: Trader) -> None:
    # schemathesis' own pytest plugin does not run under pytest 9 yet, so each operation's strategy
    # is driven by a nested Hypothesis test.
    schema = schemathesis.openapi.from_url(f"{fuzz_server.base}/openapi.json")
    results = list(schema.get_all_operations())
    assert [r.err() for r in results if isinstance(r, Err)] == [], "the schema has invalid operations"
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) > 30
    for operation in operations:

        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            check(case, fuzz_server, fuzz_trader)

        run()


def check(case: Any, fuzz_server: RunningServer, fuzz_trader: Trader) -> None:
    """Sends one generated case (signed when the operation is) and checks the answer."""
    operation = case.operation
    names = {p.name for p in operation.query} | {p.name for p in operation.headers}
    body_schema = (operation.definition.raw.get("requestBody") or {}).get("content", {})
    form = "application/x-www-form-urlencoded" in body_schema
    raw_body = case.body if isinstance(case.body, dict) else {}
    if form:
        names |= set(body_schema["application/x-www-form-urlencoded"]["schema"].get("properties", {}))
    params = {k: _text(v) for k, v in (raw_body if form else (case.query or {})).items()}
    headers = {k: str(v) for k, v in (case.headers or {}).items()}
    if "signature" in names:
        params.pop("signature", None)
        params["timestamp"] = str(time.time_ns() // 1_000_000)
        params.pop("recvWindow", None)
        payload = urlencode(params)
        params_text = f"{payload}&signature={sign(fuzz_trader.secret, payload)}"
        headers["X-MBX-APIKEY"] = fuzz_trader.api_key
    else:
        params_text = urlencode(params)
        if "X-MBX-APIKEY" in names:
            headers["X-MBX-APIKEY"] = fuzz_trader.api_key
    if operation.path.startswith(("/admin", "/risk", "/api/v1/auth")):
        headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    url = fuzz_server.base + case.formatted_path
    method = case.method.upper()
    if form:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = httpx.request(method, url, content=params_text.encode(), headers=headers, timeout=10)
    elif isinstance(case.body, dict | list) and method in ("POST", "PUT"):
        response = httpx.request(method, url, params=case.query, json=case.body, headers=headers, timeout=10)
    else:
        response = httpx.request(method, url + (f"?{params_text}" if params_text else ""), headers=headers,
                                 timeout=10)
    assert response.status_code < 500, (method, url, params_text, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body["code"], int) and isinstance(body["msg"], str)
    else:
        assert "code" not in response.text or response.json() is not None
