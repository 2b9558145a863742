"""Shared route helpers: the JSON answer and the documented error responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from fastapi.responses import JSONResponse

ERROR_SCHEMA = {"type": "object", "properties": {"code": {"type": "integer"}, "msg": {"type": "string"}},
                "required": ["code", "msg"]}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Binance error", "content": {"application/json": {"schema": ERROR_SCHEMA}}},
    429: {"description": "Rate limit (-1003/-1015)", "content": {"application/json": {"schema": ERROR_SCHEMA}}},
}

AMOUNT_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,8})?$"
"""A USDT amount in a JSON body: a decimal string below ten billion, at most 8 decimals (parsed as
``Decimal``; within what the engine holds)."""


INT64_MAX = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=INT64_MAX)]
"""A path id (user, withdrawal, payout): a stored BIGINT, so larger numbers are ``-1130``."""


def ok(body: object) -> JSONResponse:
    """A 200 JSON answer (bodies hold only str/int/bool/None/lists/dicts: no floats)."""
    return JSONResponse(body)
