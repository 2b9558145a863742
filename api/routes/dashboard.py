"""``GET /dashboard``: the risk desk's single page, its scripts (static files in ``api/dashboard/``)
and its chart library, served from ``api/dashboard/node_modules`` (installed from the npm registry
by ``make build``; nothing is fetched from a CDN at run time)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse, PlainTextResponse, Response

STATIC = Path(__file__).resolve().parent.parent / "dashboard"
VENDOR = {"chart.js": STATIC / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"}
router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("")
async def page() -> FileResponse:
    """The dashboard page."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/{name}.js")
async def script(name: Literal["app", "auth", "enrol"]) -> FileResponse:
    """The dashboard's own scripts."""
    return FileResponse(STATIC / f"{name}.js", media_type="text/javascript")


@router.get("/vendor/{name}")
async def vendor(name: Literal["chart.js"]) -> Response:
    """A browser library installed from the npm registry (503 naming the fix when missing)."""
    path = VENDOR[name]
    if not path.is_file():
        return PlainTextResponse(f"{name} is not installed: run `make build` (npm ci in api/dashboard)", 503)
    return FileResponse(path, media_type="text/javascript")
