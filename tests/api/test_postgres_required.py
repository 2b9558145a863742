"""A PostgreSQL variant with no server is skipped on a laptop but fails in CI and under make test."""

from __future__ import annotations

import socket

import pytest

from tests.api.conftest import postgres_required, require_postgres


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"


def test_ci_and_make_test_require_postgres() -> None:
    assert postgres_required({"CI": "true"})
    assert postgres_required({"DERIVATIVES_TEST_REQUIRE_POSTGRES": "1"})
    assert not postgres_required({})
    assert not postgres_required({"CI": "false"})


def test_no_server_fails_where_required_and_skips_elsewhere() -> None:
    url = _closed_port_url()
    with pytest.raises(pytest.fail.Exception, match="not reachable"):
        require_postgres(url, {"CI": "true"})
    with pytest.raises(pytest.skip.Exception, match="not reachable"):
        require_postgres(url, {})
