"""A door's private stream (the Redis door's ``orders`` channel, GraphQL's ``myUpdates``): the
account's listenKey of ``api.userstream`` (the one REST and the WebSocket API use), kept alive
while the subscriber is attached, so a subscription does not end with the key's TTL.

Invariants: the key is extended every half TTL while attached and the subscriber is detached on
close; one key per account, as Binance: a REST ``DELETE /fapi/v1/listenKey`` of the same account
still ends every stream of it (the subscriber's feed is closed)."""

from __future__ import annotations

import asyncio

from api.hub import Connection
from api.userstream import UserStreams


class KeptUserStream:
    """An account's user events to `conn`, from construction until :meth:`close`."""

    def __init__(self, streams: UserStreams, account: int, conn: Connection) -> None:
        self.streams = streams
        self.account = account
        self.conn = conn
        self.key = streams.open(account)
        streams.attach(self.key, conn)
        self._keeper = asyncio.create_task(self._keep())

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.streams.ttl_ms / 2000)
            self.streams.keepalive(self.account)

    def close(self) -> None:
        """Stops extending the key and detaches the subscriber."""
        self._keeper.cancel()
        self.streams.detach(self.key, self.conn)
