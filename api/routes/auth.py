"""``/api/v1/auth``: dashboard logins (password, plus a TOTP code for admins) and the session's
own view of itself. Thin: the checks live in ``api.services.staff``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth.roles import AnyStaff, StaffAuthDep
from api.deps import ServicesDep
from api.routes.common import ERRORS, ok

router = APIRouter(prefix="/api/v1/auth", tags=["staff"], responses=ERRORS)


class Login(BaseModel):
    """Dashboard credentials."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp: str = Field(default="", max_length=8, description="6-digit RFC 6238 code (admin accounts)")


@router.post("/login")
async def login(request: Request, services: ServicesDep, staff: StaffAuthDep, body: Login) -> JSONResponse:
    """A session token (HS256 JWT, ``Authorization: Bearer``) valid for ``session_ttl_s``."""
    ip = request.client.host if request.client else "unknown"
    token, session = await staff.login(services.db, body.username, body.password, body.totp, ip)
    return ok({"token": token, "tokenType": "Bearer", "name": session.name, "role": session.role,
               "expiresAt": session.expires_s * 1000})


class Enrolment(BaseModel):
    """A new admin's one-time enrolment."""

    token: str = Field(min_length=16, max_length=128)
    password: str = Field(min_length=8, max_length=256)


@router.post("/enrol")
async def enrol(request: Request, services: ServicesDep, staff: StaffAuthDep, body: Enrolment) -> JSONResponse:
    """A new admin sets their password with their one-time enrolment token and receives their TOTP
    secret (shown only here); then they log in with both."""
    ip = request.client.host if request.client else "unknown"
    return ok(await staff.enrol(services.db, body.token, body.password, ip))


@router.get("/me")
async def me(caller: AnyStaff) -> JSONResponse:
    """Who the presented credential is."""
    return ok({"name": caller.name, "role": caller.role})
