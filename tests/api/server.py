"""An in-process server on a random free port (uvicorn in a thread), for real-socket tests
(``api.inprocess``, shared with the API benchmark)."""

from __future__ import annotations

from api.inprocess import Endpoint, RunningServer, start

__all__ = ["Endpoint", "RunningServer", "start"]
