"""The staff surface of the app: dashboard sessions, the login route, the risk-desk routes and the
dashboard page.

``install(app, settings, clock_ns)`` is called once by ``create_app``; it needs nothing built by
the lifespan (the routes reach the database and the risk services through ``app.state``).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from api.auth.sessions import Sessions
from api.ratelimit import Bans
from api.routes import auth, dashboard, risk
from api.services.staff import StaffAuth
from derivatives.config import Settings


def install(app: FastAPI, settings: Settings, clock_ns: Callable[[], int], bans: Bans | None = None) -> None:
    """Adds the staff routes and the session issuer (``app.state.staff``) to `app`; login refusals
    of an IP over its login budget count towards its ban in `bans`."""
    sessions = Sessions(settings.session_secret, settings.session_ttl_s, lambda: clock_ns() // 1_000_000_000)
    app.state.staff = StaffAuth(sessions, lambda: clock_ns() // 1_000_000,
                                (lambda _ip: None) if bans is None else bans.refused)
    for router in (auth.router, risk.public_router, risk.router, dashboard.router):
        app.include_router(router)
