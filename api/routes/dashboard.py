"""``GET /dashboard``: the risk desk's single page and its script (static files in
``api/dashboard/``; the page logs in through ``/api/v1/auth/login`` and calls the risk routes)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "dashboard"
router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("")
async def page() -> FileResponse:
    """The dashboard page."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/app.js")
async def script() -> FileResponse:
    """The dashboard's script."""
    return FileResponse(STATIC / "app.js", media_type="text/javascript")
