"""Weight-based rate limits (Binance's ``REQUEST_WEIGHT`` and ``ORDERS`` rules).

* Every ``/fapi`` (and ``/futures``, and staff login) request costs a weight (table below, Binance's figures) counted per client IP
  in fixed one-minute windows, and per API key once the key is authenticated. Every response
  carries ``X-MBX-USED-WEIGHT-1m`` (the IP's count); over the budget the answer is HTTP 429
  ``-1003`` with ``Retry-After`` seconds until the window ends.
* An IP that keeps sending after its 429s (more than ``BAN_AFTER_REFUSALS`` refused requests in
  one window of one process) is banned as Binance does: HTTP 418 ``-1003`` on every ``/fapi``
  request until the ban ends, two minutes for a first offence, doubling for each repeat up to
  three days. Bans are shared by every gateway process through the database: a ban is stored
  when it starts, and each process reads every ban into memory once a second (:meth:`Bans.share`),
  so the request path never waits for SQL.
* New orders are counted per account in 10-second and one-minute windows
  (``X-MBX-ORDER-COUNT-10s`` / ``-1m``); over either budget: HTTP 429 ``-1015``.

Invariants: a window's counter only grows until the window ends; a refused request is still
counted (as on Binance) but changes no exchange state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

import anyio
import anyio.to_thread
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors
from derivatives.persistence import guards
from derivatives.persistence.db import Database

log = logging.getLogger("api.ratelimit")

Clock = Callable[[], int]
"""Unix milliseconds."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Outcome of one hit."""

    allowed: bool
    used: int
    retry_after_s: int


class FixedWindow:
    """Counters per key in aligned windows of `window_ms`, thread-safe."""

    def __init__(self, limit: int, window_ms: int, clock: Clock) -> None:
        self.limit = limit
        self.window_ms = window_ms
        self.clock = clock
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, key: str, cost: int) -> Usage:
        """Adds `cost` for `key`; allowed while the window's total stays within the limit."""
        now = self.clock()
        window = now // self.window_ms
        with self._lock:
            if window != self._window:
                self._window = window
                self._counts.clear()
            used = self._counts.get(key, 0) + cost
            self._counts[key] = used
        retry = max(1, -(-((window + 1) * self.window_ms - now) // 1000))
        return Usage(used <= self.limit, used, retry)

    def used(self, key: str) -> int:
        """Current count of `key`."""
        with self._lock:
            return self._counts.get(key, 0) if self.clock() // self.window_ms == self._window else 0


WEIGHED_PATHS = ("/fapi", "/futures", "/api/v1/auth")
"""Paths whose requests count against the client IP's weight (and its ban): the public API and the
staff logins."""
BAN_AFTER_REFUSALS = 20
"""Refused (429) requests of one IP in one window after which the IP is banned."""
FIRST_BAN_MS = 120_000
LONGEST_BAN_MS = 3 * 24 * 3_600_000
SHARE_PERIOD_S = 1.0
"""How often each process stores its new bans and reads everyone's."""


class Bans:
    """IP bans for clients that do not back off after 429 (thread-safe), shared by every process
    through the database once :meth:`share` runs.

    Invariants: a ban only ends by time; each new ban of an IP lasts twice its previous one
    (from ``FIRST_BAN_MS`` up to ``LONGEST_BAN_MS``, offences counted over every process); the
    refusal count restarts with each window; merging stored bans only ever lengthens a ban.
    """

    def __init__(self, clock: Clock, window_ms: int = 60_000) -> None:
        self.clock = clock
        self.refusals = FixedWindow(BAN_AFTER_REFUSALS, window_ms, clock)
        self._lock = threading.Lock()
        self._until: dict[str, int] = {}
        self._offences: dict[str, int] = {}
        self._started: list[tuple[str, int, int]] = []

    def banned_until(self, ip: str) -> int | None:
        """The end (Unix ms) of the IP's current ban, or None."""
        with self._lock:
            until = self._until.get(ip)
        return until if until is not None and until > self.clock() else None

    def refused(self, ip: str) -> int | None:
        """Records a 429 to `ip`; the end of the ban it starts, if it starts one."""
        if self.refusals.hit(ip, 1).allowed:
            return None
        now = self.clock()
        with self._lock:
            offences = self._offences.get(ip, 0) + 1
            self._offences[ip] = offences
            until = now + min(FIRST_BAN_MS << min(offences - 1, 32), LONGEST_BAN_MS)
            self._until[ip] = until
            self._started.append((ip, until, offences))
        return until

    def sync(self, db: Database) -> None:
        """Stores the bans this process started since the last call and merges every stored ban
        into memory (blocking: run on a worker thread)."""
        with self._lock:
            started, self._started = self._started, []
        now = self.clock()
        with db.session() as session:
            for ip, until, offences in started:
                guards.store_ban(session, ip, until, offences, now)
            stored = guards.bans(session)
        with self._lock:
            for ip in [ip for ip, until in self._until.items() if ip not in stored and until <= now]:
                del self._until[ip], self._offences[ip]  # forgotten by the database
            for ip, (until, offences) in stored.items():
                self._until[ip] = max(until, self._until.get(ip, 0))
                self._offences[ip] = max(offences, self._offences.get(ip, 0))

    async def share(self, db: Database, period_s: float = SHARE_PERIOD_S) -> None:
        """Runs :meth:`sync` every `period_s` for the app's lifetime (a failed sync is logged and
        retried at the next period: bans then stay per process meanwhile)."""
        while True:
            try:
                await anyio.to_thread.run_sync(self.sync, db)
            except SQLAlchemyError:
                log.exception("sharing IP bans failed")
            await anyio.sleep(period_s)


def _size_weight(limit: int, table: tuple[tuple[int, int], ...], default: int) -> int:
    for bound, weight in table:
        if limit <= bound:
            return weight
    return default


def request_weight(method: str, path: str, query: str) -> int:
    """Binance USD-M's request weight of an endpoint (1 for anything not listed)."""
    params = parse_qs(query)
    has_symbol = "symbol" in params
    limit_text = params.get("limit", [""])[0]
    limit = int(limit_text) if limit_text.isascii() and limit_text.isdigit() and len(limit_text) < 10 else 500
    if path.endswith("/depth"):
        return _size_weight(limit, ((50, 2), (100, 5), (500, 10)), 20)
    if path.endswith(("/klines", "/markPriceKlines", "/indexPriceKlines")):
        return _size_weight(limit, ((99, 1), (499, 2), (1000, 5)), 10)
    table = {
        "/fapi/v1/exchangeInfo": 1, "/fapi/v1/trades": 5, "/fapi/v1/aggTrades": 20,
        "/fapi/v1/historicalTrades": 20, "/fapi/v1/allOrders": 5, "/fapi/v1/userTrades": 5,
        "/fapi/v1/batchOrders": 5, "/fapi/v1/allAlgoOrders": 5, "/fapi/v1/commissionRate": 20,
        "/fapi/v2/account": 5, "/fapi/v3/account": 5, "/fapi/v2/balance": 5, "/fapi/v3/balance": 5,
        "/fapi/v2/positionRisk": 5, "/fapi/v3/positionRisk": 5, "/fapi/v1/income": 30, "/fapi/v1/adlQuantile": 5,
        "/fapi/v1/positionSide/dual": 30, "/fapi/v1/symbolConfig": 5,
    }
    if path == "/fapi/v1/forceOrders":
        return 20 if has_symbol else 50
    if path in ("/fapi/v1/ticker/24hr",):
        return 1 if has_symbol else 40
    if path in ("/fapi/v1/ticker/price", "/fapi/v2/ticker/price", "/fapi/v1/ticker/bookTicker"):
        return 1 if has_symbol else 2
    if path in ("/fapi/v1/openOrders", "/fapi/v1/openAlgoOrders"):
        return 1 if has_symbol else 40
    if path == "/fapi/v1/premiumIndex":
        return 1 if has_symbol else 10
    if path == "/fapi/v1/order" and method == "POST":
        return 0
    return table.get(path, 1)


class Limits:
    """The limiters of one app."""

    def __init__(self, weight_per_minute: int, orders_per_10s: int, orders_per_minute: int, clock: Clock) -> None:
        self.weight_ip = FixedWindow(weight_per_minute, 60_000, clock)
        self.weight_key = FixedWindow(weight_per_minute, 60_000, clock)
        self.orders_10s = FixedWindow(orders_per_10s, 10_000, clock)
        self.orders_1m = FixedWindow(orders_per_minute, 60_000, clock)
        self.bans = Bans(clock)

    def charge_key(self, api_key: str, weight: int) -> None:
        """Counts an authenticated request's weight against its key.

        Raises:
            ApiError: -1003 (HTTP 429) over budget.
        """
        usage = self.weight_key.hit(api_key, weight)
        if not usage.allowed:
            raise errors.too_much_weight("API key", self.weight_key.limit, usage.retry_after_s)

    def charge_orders(self, account: int, count: int) -> dict[str, str]:
        """Counts new orders of an account; returns the order-count headers.

        Raises:
            ApiError: -1015 (HTTP 429) over either budget.
        """
        key = str(account)
        short = self.orders_10s.hit(key, count)
        long = self.orders_1m.hit(key, count)
        headers = {"X-MBX-ORDER-COUNT-10s": str(short.used), "X-MBX-ORDER-COUNT-1m": str(long.used)}
        if not short.allowed:
            raise errors.ApiError(*_orders_error(self.orders_10s.limit, "10 SECONDS", short.retry_after_s, headers))
        if not long.allowed:
            raise errors.ApiError(*_orders_error(self.orders_1m.limit, "MINUTE", long.retry_after_s, headers))
        return headers


def _orders_error(limit: int, window: str, retry: int, headers: dict[str, str]) -> tuple[int, str, int, dict[str, str]]:
    error = errors.too_many_orders(limit, window, retry)
    return error.code, error.msg, error.status, {**error.headers, **headers}


class WeightMiddleware:
    """Pure ASGI middleware charging the IP's weight on :data:`WEIGHED_PATHS` and
    adding ``X-MBX-USED-WEIGHT-1m`` (and any order-count headers a route left in the scope)."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(WEIGHED_PATHS):
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("unknown", 0)
        ip = str(client[0])
        query = scope.get("query_string", b"").decode("latin-1")
        banned = self.limits.bans.banned_until(ip)
        if banned is not None:
            await errors.error_response(self._ban(ip, banned))(scope, receive, send)
            return
        usage = self.limits.weight_ip.hit(ip, request_weight(scope["method"], path, query))
        scope.setdefault("state", {})["extra_headers"] = {}
        if not usage.allowed:
            ban = self.limits.bans.refused(ip)
            error = (errors.too_much_weight(f"IP({ip})", self.limits.weight_ip.limit, usage.retry_after_s)
                     if ban is None else self._ban(ip, ban))
            response = errors.error_response(error)
            response.headers["X-MBX-USED-WEIGHT-1m"] = str(usage.used)
            await response(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-MBX-USED-WEIGHT-1m"] = str(usage.used)
                for name, value in scope["state"].get("extra_headers", {}).items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)

    def _ban(self, ip: str, until_ms: int) -> errors.ApiError:
        retry = max(1, -(-(until_ms - self.limits.bans.clock()) // 1000))
        return errors.ip_banned(ip, until_ms, retry)
