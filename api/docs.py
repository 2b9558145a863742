"""``GET /docs``: Swagger UI over the app's OpenAPI schema, working offline. The assets come from
the npm package ``swagger-ui-dist`` installed by ``make build`` in ``api/dashboard/node_modules``
and are served by the app (FastAPI's default page loads them from a CDN)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

ASSETS = Path(__file__).resolve().parent / "dashboard" / "node_modules" / "swagger-ui-dist"
TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}


def install(app: FastAPI) -> None:
    """Adds ``/docs`` and its assets under ``/docs/assets/`` (the app is built with ``docs_url=None``)."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title}: API",
                                   swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/assets/swagger-ui.css",
                                   swagger_favicon_url="/docs/assets/favicon-32x32.png")

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def asset(name: Literal["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"]) -> Response:
        path = ASSETS / name
        if not path.is_file():
            return PlainTextResponse("swagger-ui-dist is not installed: run `make build`", 503)
        return FileResponse(path, media_type=TYPES[name])
