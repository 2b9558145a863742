"""The Binance USD-M compatible gateway (FastAPI): ``from api.main import create_app``.

Layout: ``main`` (app factory, lifespan), ``routes/`` (one router per Binance resource group,
thin adapters), ``services/`` (the logic), ``errors`` (the only place that knows Binance error
codes), ``params`` (declared parameters), ``security`` (HMAC), ``ratelimit``, ``gateway`` (the
single door to the engine), ``hub``/``userstream``/``snapshots`` (WebSocket fan-out),
``projection`` (the projection thread).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from api.main import create_app

        return create_app
    raise AttributeError(name)


__all__ = ["create_app"]
