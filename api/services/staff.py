"""Staff logins for the dashboard: password (scrypt), a TOTP code for admins, and a JWT session.

Invariants:
    * Every failure before the password is verified answers the same ``-1002`` (no user name
      enumeration; an unknown user costs the same scrypt work as a known one).
    * An admin never gets a session without a current, unused TOTP code (each step once per user,
      across every gateway process); an admin without a TOTP secret cannot log in at all.
    * Five failed logins of one name within 15 minutes refuse further attempts for that name
      (HTTP 429 ``-1003``) until the oldest failure is 15 minutes old (``api.auth.throttle``).
    * A session is valid only while the user's session epoch is the one it was issued at: setting
      a user's credentials (a password reset, an enrolment) ends every earlier session in every
      gateway process (the epoch is in the database, read at each session check).
    * Login work is bounded per client IP and in total, and runs on its own worker threads
      (``api.auth.gate``): logins cannot slow the trading API down.
    * Passwords of traders and risk officers are set through the admin API; an admin sets their
      own password and receives their own TOTP secret only by enrolling through a one-time link
      (``api.services.admin_enrolment``), shown once, in the answer to the enrolment. All audited,
      never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NoReturn

import anyio.to_thread
from sqlalchemy.orm import Session as OrmSession

from api import errors
from api.auth import passwords, totp
from api.auth.gate import LoginGate
from api.auth.sessions import Session, Sessions
from api.auth.throttle import LoginThrottle
from derivatives.persistence import accounts, enrolments, guards
from derivatives.persistence.db import Database

log = logging.getLogger("api.staff")


def _hash(password: str) -> str:
    try:
        return passwords.hash_password(password)
    except ValueError as bad:
        raise errors.admin_invalid(str(bad)) from None


class StaffAuth:
    """Logins and credentials of staff users (one instance per app)."""

    def __init__(self, sessions: Sessions, clock_ms: Callable[[], int],
                 refused_ip: Callable[[str], object] = lambda _ip: None) -> None:
        self.sessions = sessions
        self.clock_ms = clock_ms
        self._throttle = LoginThrottle(clock_ms)
        self._gate = LoginGate(clock_ms, refused_ip)

    async def login(self, db: Database, name: str, password: str, code: str, ip: str) -> tuple[str, Session]:
        """A session token for valid credentials, presented from client address `ip`.

        Raises:
            ApiError: -1002 (HTTP 401) for a wrong name, password or code; -1003 (HTTP 429) when
                the name, the IP or the server has too many logins under way.
        """

        def run() -> tuple[str, Session]:
            with db.session() as session:
                wait_ms = self._throttle.retry_after_ms(session, name)
                found = accounts.find_credentials(session, name)
            if wait_ms:
                log.warning("login throttled", extra={"fields": {"user": name}})
                raise errors.too_many_logins(-(-wait_ms // 1000))
            valid = passwords.verify_password(password, None if found is None else found.password_hash)
            if found is None or not valid or not found.user.active:
                self._refuse(db, name, "credentials")
            epoch = None
            with db.session() as session:
                if found.user.role != "admin" or self._fresh_code(session, found, code):
                    self._throttle.succeeded(session, name)
                    epoch = guards.session_epoch(session, found.user.id)
            if epoch is None:
                self._refuse(db, name, "totp", "a current one-time code (TOTP) is required for admin accounts")
            log.info("login", extra={"fields": {"user": name, "role": found.user.role}})
            return self.sessions.issue(found.user.name, found.user.id, found.user.role, epoch)

        return await self._gate.run(db, ip, run)

    def _fresh_code(self, session: OrmSession, found: accounts.Credentials, code: str) -> bool:
        """Whether `code` is the admin's current TOTP code, unused so far (then it is used)."""
        step = None if found.totp_secret is None else totp.matching_step(
            found.totp_secret, code, self.clock_ms() // 1000)
        return step is not None and guards.accept_totp_step(session, found.user.id, step)

    def _refuse(self, db: Database, name: str, reason: str, *detail: str) -> NoReturn:
        with db.session() as session:
            self._throttle.failed(session, name)
        log.info("login refused", extra={"fields": {"user": name, "reason": reason}})
        raise errors.login_failed(*detail)

    async def current(self, db: Database, session: Session) -> bool:
        """Whether a verified session's epoch is still its user's (no credentials set since)."""

        def run() -> bool:
            with db.reader() as reader:
                return guards.session_epoch(reader, session.user_id) == session.epoch

        return await anyio.to_thread.run_sync(run)

    async def set_credentials(self, db: Database, actor: str, user_id: int, password: str) -> dict[str, object]:
        """Sets the password of a trader or risk officer; every session of the user ends.

        Raises:
            ApiError: -1130 for an unknown user, an admin (admins enrol themselves) or an
                unacceptable password.
        """

        def run() -> dict[str, object]:
            hashed = _hash(password)
            with db.session() as session:
                user = accounts.find_user(session, user_id=user_id)
                if user is None:
                    raise errors.admin_invalid(f"no user {user_id}")
                if user.role == "admin":
                    raise errors.admin_invalid("an admin sets their own credentials through an enrolment link")
                accounts.set_credentials(session, user_id, hashed, None)
                guards.end_sessions(session, user_id)
                accounts.audit(session, self.clock_ms(), actor, "user.credentials", f"user:{user_id}")
            return {"userId": user.id, "name": user.name, "role": user.role}

        return await anyio.to_thread.run_sync(run)

    async def enrol(self, db: Database, token: str, password: str, ip: str) -> dict[str, object]:
        """A new admin's enrolment through their one-time link: sets their password, and answers
        their TOTP secret (the only time it is shown), audited. Bounded like a login.

        Raises:
            ApiError: -1130 for an unknown, used or expired link or an unacceptable password;
                -1003 (HTTP 429) beyond the login limits.
        """

        def run() -> dict[str, object]:
            hashed = _hash(password)
            secret = totp.new_secret()
            with db.session() as session:
                try:
                    enrolment = enrolments.consume(session, token, self.clock_ms())
                except enrolments.EnrolmentError as exc:
                    raise errors.admin_invalid(str(exc)) from None
                assert enrolment.user_id is not None
                user = accounts.set_credentials(session, enrolment.user_id, hashed, secret)
                guards.end_sessions(session, user.id)
                accounts.audit(session, self.clock_ms(), user.name, "admin.enrol", f"user:{user.id}",
                               enrolment=enrolment.id)
            return {"userId": user.id, "name": user.name, "role": user.role, "totpSecret": secret,
                    "otpauthUri": totp.provisioning_uri(secret, user.name)}

        return await self._gate.run(db, ip, run)
