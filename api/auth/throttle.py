"""Failed-login throttling: after ``MAX_FAILURES`` failed logins of one user name within
``WINDOW_MS``, further attempts for that name are refused until the window of the oldest failure
has passed, whatever the password (so guessing is bounded at 5 tries per 15 minutes per name).

Invariants: counted per user name as typed (unknown names too, so refusals do not reveal which
names exist), in the database (``derivatives.persistence.guards``), so every gateway process
counts the same failures; a successful login clears the name's failures; a name's failures older
than the window are dropped when it fails again.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from derivatives.persistence import guards

MAX_FAILURES = 5
WINDOW_MS = 15 * 60 * 1000


class LoginThrottle:
    """The failure policy over the shared failure records."""

    def __init__(self, clock_ms: Callable[[], int]) -> None:
        self._clock_ms = clock_ms

    def retry_after_ms(self, session: Session, name: str) -> int:
        """0 if `name` may try now, else how long until it may."""
        now = self._clock_ms()
        times = guards.failures(session, name, now - WINDOW_MS)
        return times[-MAX_FAILURES] + WINDOW_MS - now if len(times) >= MAX_FAILURES else 0

    def failed(self, session: Session, name: str) -> None:
        """Records a failed login of `name`."""
        now = self._clock_ms()
        guards.record_failure(session, name, now, now - WINDOW_MS)

    @staticmethod
    def succeeded(session: Session, name: str) -> None:
        """Forgets the failures of `name`."""
        guards.clear_failures(session, name)
