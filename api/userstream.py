"""User data streams: listenKeys and the private fan-out of order changes (``ORDER_TRADE_UPDATE``,
``ALGO_UPDATE``), account changes (``ACCOUNT_UPDATE``) and margin calls (``MARGIN_CALL``).

Invariants:
    * One live listenKey per account (``POST`` returns the live one, as Binance does); it expires
      ``ttl_ms`` after its creation or last keepalive, then its sockets get ``listenKeyExpired``
      and are closed.
    * Events are formatted from projected changes only, so the stream never shows an order or a
      balance that a REST query could not find. Runs on the event loop only.
    * ``ACCOUNT_UPDATE`` follows the order updates of the same projected batch; its balances and
      positions are those of the event, its ``up`` uses the latest mark price.
"""

from __future__ import annotations

import secrets
import string
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from api import account_formats, formats
from api.hub import Connection
from api.instruments import InstrumentRegistry
from derivatives.persistence.ledger_projection import AccountChange
from derivatives.persistence.projector import OrderChange

_ALPHANUMERIC = string.ascii_letters + string.digits


@dataclass(slots=True)
class ListenKey:
    """A listenKey and its owner."""

    key: str
    account: int
    expires_ms: int


class UserStreams:
    """ListenKey registry and private connections."""

    def __init__(self, registry: InstrumentRegistry, ttl_ms: int, clock_ms: Callable[[], int],
                 marks: dict[str, int] | None = None) -> None:
        self.registry = registry
        self.ttl_ms = ttl_ms
        self.clock_ms = clock_ms
        self.marks: dict[str, int] = marks if marks is not None else {}
        self.keys: dict[str, ListenKey] = {}
        self.by_account: dict[int, str] = {}
        self.connections: dict[str, set[Connection]] = defaultdict(set)

    def open(self, account: int) -> str:
        """Creates (or extends and returns) the account's listenKey."""
        self.expire()
        existing = self.by_account.get(account)
        if existing is not None:
            self.keys[existing].expires_ms = self.clock_ms() + self.ttl_ms
            return existing
        key = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(64))
        self.keys[key] = ListenKey(key, account, self.clock_ms() + self.ttl_ms)
        self.by_account[account] = key
        return key

    def keepalive(self, account: int) -> str | None:
        """Extends the account's listenKey; None if it has none."""
        self.expire()
        key = self.by_account.get(account)
        if key is not None:
            self.keys[key].expires_ms = self.clock_ms() + self.ttl_ms
        return key

    def close(self, account: int) -> None:
        """Deletes the account's listenKey and closes its sockets."""
        key = self.by_account.pop(account, None)
        if key is not None:
            self.keys.pop(key, None)
            for conn in self.connections.pop(key, set()):
                conn.close()

    def attach(self, key: str, conn: Connection) -> bool:
        """Binds a socket to a listenKey; False for an unknown or expired key."""
        self.expire()
        if key not in self.keys:
            return False
        self.connections[key].add(conn)
        return True

    def detach(self, key: str, conn: Connection) -> None:
        """Forgets a closed socket."""
        self.connections.get(key, set()).discard(conn)

    def expire(self) -> None:
        """Expires overdue keys: ``listenKeyExpired`` then close."""
        now = self.clock_ms()
        for key in [k for k, v in self.keys.items() if v.expires_ms <= now]:
            entry = self.keys.pop(key)
            self.by_account.pop(entry.account, None)
            for conn in self.connections.pop(key, set()):
                conn.push("", {"e": "listenKeyExpired", "E": now, "listenKey": key})
                conn.close()

    def on_changes(self, changes: list[OrderChange]) -> None:
        """Projection listener: one event per order change, to the owner's sockets."""
        for change in changes:
            key = self.by_account.get(change.order.account_id)
            if key is None or not self.connections.get(key):
                continue
            instrument = self.registry.get(change.order.symbol)
            if instrument is None:
                continue
            if change.algo:
                event = formats.algo_update(instrument, change)
            else:
                event = formats.order_trade_update(instrument, change)
            for conn in list(self.connections[key]):
                conn.push(key, event)

    def on_account_changes(self, changes: list[AccountChange]) -> None:
        """Projection listener: one ``ACCOUNT_UPDATE`` per account change, to the owner's sockets."""
        instruments = {i.name: i for i in self.registry.all()} if changes else {}
        for change in changes:
            if self.connected(change.account):
                self.push(change.account, account_formats.account_update(change, instruments, self.marks))

    def connected(self, account: int) -> bool:
        """True when the account has a live listenKey with at least one socket."""
        key = self.by_account.get(account)
        return key is not None and bool(self.connections.get(key))

    def connected_accounts(self) -> list[int]:
        """Accounts with at least one live private socket."""
        return [account for account in self.by_account if self.connected(account)]

    def push(self, account: int, event: dict[str, object]) -> None:
        """Sends one event to every socket of the account's listenKey."""
        key = self.by_account.get(account)
        if key is None:
            return
        for conn in list(self.connections.get(key, ())):
            conn.push(key, event)
