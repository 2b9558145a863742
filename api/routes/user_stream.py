"""``/fapi/v1/listenKey``: user-data-stream keys (API key header only; no signature)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api import errors
from api.deps import KeyDep, ServicesDep, public
from api.params import Params, Spec
from api.routes.common import ERRORS, ok

router = APIRouter(prefix="/fapi/v1", tags=["user stream"], responses=ERRORS)
NONE = Spec()
KEY_HEADER = {"parameters": [{"name": "X-MBX-APIKEY", "in": "header", "required": True,
                              "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{1,64}$"}}]}
NoParams = Annotated[Params, Depends(public(NONE))]


@router.post("/listenKey", openapi_extra=KEY_HEADER)
async def open_listen_key(services: ServicesDep, key: KeyDep, _params: NoParams) -> JSONResponse:
    """Start (or return the live) user data stream of the key's account."""
    return ok({"listenKey": services.streams.open(key.user.account_id)})


@router.put("/listenKey", openapi_extra=KEY_HEADER)
async def keepalive_listen_key(services: ServicesDep, key: KeyDep, _params: NoParams) -> JSONResponse:
    """Extend the account's listenKey."""
    listen_key = services.streams.keepalive(key.user.account_id)
    if listen_key is None:
        raise errors.listen_key_unknown()
    return ok({"listenKey": listen_key})


@router.delete("/listenKey", openapi_extra=KEY_HEADER)
async def close_listen_key(services: ServicesDep, key: KeyDep, _params: NoParams) -> JSONResponse:
    """Close the account's user data stream."""
    services.streams.close(key.user.account_id)
    return ok({})
