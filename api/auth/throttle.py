"""Failed-login throttling: after ``MAX_FAILURES`` failed logins of one user name within
``WINDOW_MS``, further attempts for that name are refused until the window of the oldest failure
has passed, whatever the password (so guessing is bounded at 5 tries per 15 minutes per name).

Invariants: counted per user name as typed (unknown names too, so refusals do not reveal which
names exist); a successful login clears the name's failures; memory is per process and bounded
(names whose failures all expired are dropped on the next check).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

MAX_FAILURES = 5
WINDOW_MS = 15 * 60 * 1000


class LoginThrottle:
    """Recent failures per user name."""

    def __init__(self, clock_ms: Callable[[], int]) -> None:
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._failures: dict[str, deque[int]] = {}

    def retry_after_ms(self, name: str) -> int:
        """0 if `name` may try now, else how long until it may."""
        now = self._clock_ms()
        with self._lock:
            for key in [k for k, times in self._failures.items() if times[-1] <= now - WINDOW_MS]:
                del self._failures[key]
            times = self._failures.get(name)
            if times is None:
                return 0
            while times and times[0] <= now - WINDOW_MS:
                times.popleft()
            return times[0] + WINDOW_MS - now if len(times) >= MAX_FAILURES else 0

    def failed(self, name: str) -> None:
        """Records a failed login of `name`."""
        with self._lock:
            self._failures.setdefault(name, deque(maxlen=MAX_FAILURES)).append(self._clock_ms())

    def succeeded(self, name: str) -> None:
        """Forgets the failures of `name`."""
        with self._lock:
            self._failures.pop(name, None)
