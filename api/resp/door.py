"""The Redis-protocol door: any Redis client trades here (``redis://HOST:PORT``, RESP2 or RESP3).

One asyncio TCP server per serving process, on the app's services: the same key store and HMAC,
the same weights, bans and order limits (``api.key_auth.charge``: every command is charged as the
REST endpoint it mirrors, against the client's IP and, once authenticated, its key), the same
order, account and market services, so the same path to the engine and the same answers (Binance
shapes as RESP maps). The socket sets ``SO_REUSEPORT``, so several gateway processes can share
the port.

Commands (arguments after the command are Binance parameter names and values, in pairs):

==========================================  =====================================================
``AUTH <apiKey> <timestamp> <signature>``    hex HMAC-SHA256, under the key's secret, of
                                             ``apiKey=<apiKey>&timestamp=<timestamp>`` (the secret
                                             never crosses the wire); the timestamp must be within
                                             the REST ``recvWindow`` default of now. Also as
                                             ``AUTH <apiKey> <timestamp>:<signature>``, the form a
                                             client's username/password takes, so a credential
                                             provider can sign each new pooled connection
``HELLO [2|3] [AUTH user password]``         protocol version (RESP3: maps, booleans, pushes)
``PING [msg]``, ``QUIT``, ``CLIENT ...``     as Redis (``CLIENT`` answers OK)
``ORDER.PLACE symbol S side B type T ...``   ``POST /fapi/v1/order`` (TRADE permission)
``ORDER.CANCEL symbol S orderId N``          ``DELETE /fapi/v1/order`` (or ``origClientOrderId``)
``ORDER.GET symbol S orderId N``             ``GET /fapi/v1/order``
``ORDER.AMEND symbol S orderId N side B      ``PUT /fapi/v1/order``
quantity Q price P``
``ORDER.OPEN [symbol S]``                    ``GET /fapi/v1/openOrders``
``ORDER.CANCELALL symbol S``                 ``DELETE /fapi/v1/allOpenOrders``
``LEVERAGE symbol S leverage N``             ``POST /fapi/v1/leverage``
``POSITIONS [symbol S]``                     ``GET /fapi/v3/positionRisk``
``BALANCE``                                  ``GET /fapi/v3/balance``
``BOOK S [limit N]``                         ``GET /fapi/v1/depth`` (no AUTH needed)
``SUBSCRIBE ch ...``, ``UNSUBSCRIBE [ch]``   ``book:<SYMBOL>`` (diff depth events), ``trades:<SYMBOL>``
                                             (trade events), ``orders`` (the key's
                                             ``ORDER_TRADE_UPDATE`` events; needs AUTH); messages
                                             are the WebSocket events' JSON text
==========================================  =====================================================

Errors are RESP errors ``ERR <binance code> <message>`` (e.g. ``ERR -2014 API-key format
invalid.``); a command before AUTH is ``NOAUTH -2015 ...``. A connection in subscribe mode
accepts only (UN)SUBSCRIBE, PING and QUIT (Redis's rule). The HTTP server's connection caps hold
here too (``api.connections``); a connection beyond them gets ``ERR -1003`` and is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from api import errors, key_auth
from api.connections import MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP, reuse_port_socket
from api.door_params import AMEND, LEVERAGE, NEW_ORDER, ONE, ORDER_REF
from api.door_streams import KeptUserStream
from api.errors import ApiError
from api.hub import Connection
from api.params import Params
from api.resp.protocol import OK, Error, Parser, ProtocolError, Push, Simple, encode
from api.state import Services
from derivatives.persistence.accounts import KeyView

log = logging.getLogger("api.resp")

READ_BYTES = 64 * 1024
Handler = Callable[["Session", list[str]], Awaitable[object]]
TOO_MANY = Error("ERR -1003 Too many open connections; close some and retry.")
_SUBSCRIBE_MODE = {"SUBSCRIBE", "UNSUBSCRIBE", "PING", "QUIT"}


def _pairs(args: list[str]) -> list[tuple[str, str]]:
    if len(args) % 2:
        raise errors.bad_combination("arguments must be parameter name and value pairs")
    return list(zip(args[0::2], args[1::2], strict=True))


class Session:
    """One client connection."""

    def __init__(self, services: Services, ip: str, writer: asyncio.StreamWriter) -> None:
        self.services = services
        self.ip = ip
        self.writer = writer
        self.resp3 = False
        self.key: KeyView | None = None
        self.channels: dict[str, str] = {}
        """RESP channel -> hub stream (``orders``: the listenKey)."""
        self.feed = Connection(combined=True)
        self.user_stream: KeptUserStream | None = None
        self.forwarder: asyncio.Task[None] | None = None

    def reply(self, value: object) -> None:
        """Queues one reply."""
        self.writer.write(encode(value, self.resp3))

    def charge(self, method: str, path: str, query: str = "") -> None:
        """The REST endpoint's weight against the IP and, when authenticated, the key."""
        key_auth.charge(self.services.limits, self.ip, self.key, method, path, query)

    def account(self, trade: bool = False) -> int:
        """The authenticated account; NOAUTH before AUTH, -2015 without the permission."""
        if self.key is None:
            raise _NoAuth
        if trade and not self.key.can_trade:
            raise errors.trading_not_enabled()
        return self.key.user.account_id

    # Commands ---------------------------------------------------------------------------------
    async def auth(self, args: list[str]) -> object:
        if (
            len(args) == 2 and ":" in args[1]
        ):  # a client's username/password: apiKey, timestamp:signature
            args = [args[0], *args[1].split(":", 1)]
        if len(args) != 3:
            raise errors.bad_combination("AUTH takes apiKey, timestamp and signature")
        api_key, stamp, signature = args
        self.charge("POST", "/fapi/v1/listenKey")
        self.key = await key_auth.authenticate(self.services, api_key, stamp, signature)
        return OK

    async def hello(self, args: list[str]) -> object:
        if args and args[0] not in ("2", "3"):
            return Error("NOPROTO unsupported protocol version")
        if len(args) not in (0, 1, 4) or (len(args) == 4 and args[1].upper() != "AUTH"):
            raise errors.bad_combination(
                "HELLO takes the protocol version and optionally AUTH user password"
            )
        if len(args) == 4:
            await self.auth(args[2:])
        if args:
            self.resp3 = args[0] == "3"
        return {
            "server": "derivatives",
            "version": "1.0",
            "proto": 3 if self.resp3 else 2,
            "mode": "standalone",
            "role": "master",
            "modules": [],
        }

    async def place(self, args: list[str]) -> object:
        account = self.account(trade=True)
        self.charge("POST", "/fapi/v1/order")
        return await self.services.orders.place(account, NEW_ORDER.parse(_pairs(args)), False, {})

    async def cancel(self, args: list[str]) -> object:
        account = self.account(trade=True)
        self.charge("DELETE", "/fapi/v1/order")
        return await self.services.orders.cancel(account, ORDER_REF.parse(_pairs(args)), algo=False)

    async def get(self, args: list[str]) -> object:
        account = self.account()
        self.charge("GET", "/fapi/v1/order")
        return await self.services.orders.get(account, ORDER_REF.parse(_pairs(args)), algo=False)

    async def amend(self, args: list[str]) -> object:
        account = self.account(trade=True)
        self.charge("PUT", "/fapi/v1/order")
        return await self.services.orders.amend(account, AMEND.parse(_pairs(args)))

    async def open_orders(self, args: list[str]) -> object:
        account = self.account()
        params = _optional_symbol(args)
        self.charge("GET", "/fapi/v1/openOrders", "symbol=x" if params.text("symbol") else "")
        return await self.services.orders.open_orders(account, params.text("symbol"), algo=False)

    async def cancel_all(self, args: list[str]) -> object:
        account = self.account(trade=True)
        self.charge("DELETE", "/fapi/v1/allOpenOrders")
        return await self.services.orders.cancel_all(account, ONE.parse(_pairs(args)).text("symbol"), algo=False)

    async def leverage(self, args: list[str]) -> object:
        account = self.account(trade=True)
        self.charge("POST", "/fapi/v1/leverage")
        params = LEVERAGE.parse(_pairs(args))
        return await self.services.account.set_leverage(account, params.text("symbol"), params.int("leverage"))

    async def positions(self, args: list[str]) -> object:
        account = self.account()
        params = _optional_symbol(args)
        self.charge("GET", "/fapi/v3/positionRisk", "symbol=x" if params.text("symbol") else "")
        return await self.services.account.position_risk(account, params.text("symbol"), v2=False)

    async def balance(self, args: list[str]) -> object:
        account = self.account()
        if args:
            raise errors.bad_combination("BALANCE takes no arguments")
        self.charge("GET", "/fapi/v3/balance")
        return await self.services.account.balance(account, "")

    async def book(self, args: list[str]) -> object:
        if not args or len(args) not in (1, 3) or (len(args) == 3 and args[1].lower() != "limit"):
            raise errors.bad_combination("BOOK takes a symbol and optionally: limit N")
        limit = 500 if len(args) == 1 else _limit(args[2])
        self.charge("GET", "/fapi/v1/depth", f"limit={limit}")
        return self.services.market.depth(args[0], limit)

    async def subscribe(self, args: list[str]) -> object:
        if not args:
            raise errors.bad_combination("SUBSCRIBE takes at least one channel")
        streams = {channel: self._stream(channel) for channel in args}
        for channel, stream in streams.items():
            if channel in self.channels:
                continue
            if channel == "orders":
                self.user_stream = KeptUserStream(self.services.streams, self.account(), self.feed)
                stream = self.user_stream.key
            else:
                self.services.hub.subscribe(self.feed, [stream])
            self.channels[channel] = stream
        if self.forwarder is None:
            self.forwarder = asyncio.create_task(self._forward())
        for index, channel in enumerate(args):
            self.reply(Push(("subscribe", channel, len(self.channels) - len(args) + index + 1)))
        return None

    async def unsubscribe(self, args: list[str]) -> object:
        for channel in args or list(self.channels):
            stream = self.channels.pop(channel, None)
            if stream is not None and self.user_stream is not None and channel == "orders":
                self.user_stream.close()
                self.user_stream = None
            elif stream is not None:
                self.services.hub.unsubscribe(self.feed, [stream])
            self.reply(Push(("unsubscribe", channel, len(self.channels))))
        return None

    def _stream(self, channel: str) -> str:
        kind, _, symbol = channel.partition(":")
        if channel == "orders":
            self.account()  # NOAUTH before AUTH
            return channel  # the listenKey once subscribed
        if kind in ("book", "trades") and symbol:
            self.services.market.instrument(symbol.upper())
            return f"{symbol.lower()}@{'depth' if kind == 'book' else 'trade'}"
        raise errors.bad_combination(
            f"unknown channel {channel!r}: book:<SYMBOL>, trades:<SYMBOL> or orders"
        )

    async def _forward(self) -> None:
        """Hub and user-stream frames to pub/sub messages."""
        while True:
            text = await self.feed.queue.get()
            if text is None:
                self.writer.close()
                return
            frame = json.loads(text)
            by_stream = {stream: channel for channel, stream in self.channels.items()}
            channel = by_stream.get(frame["stream"])
            if channel is not None:
                self.reply(
                    Push(("message", channel, json.dumps(frame["data"], separators=(",", ":"))))
                )

    def close(self) -> None:
        """Drops every subscription."""
        self.services.hub.remove(self.feed)
        if self.user_stream is not None:
            self.user_stream.close()
        if self.forwarder is not None:
            self.forwarder.cancel()


class _NoAuth(Exception):
    """A command that needs AUTH came first."""


def _optional_symbol(args: list[str]) -> Params:
    pairs = _pairs(args)
    if any(name != "symbol" for name, _ in pairs):
        raise errors.bad_combination("only the symbol parameter is taken")
    return Params(dict(pairs))


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise errors.invalid_value("limit")
    return int(text)


async def _ping(session: Session, args: list[str]) -> object:
    if session.channels and not session.resp3:
        return ["pong", args[0] if args else ""]
    return args[0] if args else Simple("PONG")


async def _client(_session: Session, _args: list[str]) -> object:
    return OK


COMMANDS: dict[str, Handler] = {
    "AUTH": Session.auth,
    "HELLO": Session.hello,
    "PING": _ping,
    "CLIENT": _client,
    "ORDER.PLACE": Session.place,
    "ORDER.CANCEL": Session.cancel,
    "ORDER.GET": Session.get,
    "ORDER.AMEND": Session.amend,
    "ORDER.OPEN": Session.open_orders,
    "ORDER.CANCELALL": Session.cancel_all,
    "LEVERAGE": Session.leverage,
    "POSITIONS": Session.positions,
    "BALANCE": Session.balance,
    "BOOK": Session.book,
    "SUBSCRIBE": Session.subscribe,
    "UNSUBSCRIBE": Session.unsubscribe,
}


async def execute(session: Session, command: list[str]) -> object:
    """One command's reply (None when the command wrote its own replies)."""
    name, args = command[0].upper(), command[1:]
    handler = COMMANDS.get(name)
    if handler is None:
        return Error(f"ERR unknown command '{command[0]}'")
    if session.channels and name not in _SUBSCRIBE_MODE:
        return Error(
            f"ERR Can't execute '{command[0].lower()}': only (UN)SUBSCRIBE / PING / QUIT are "
            "allowed in this context"
        )
    try:
        return await handler(session, args)
    except _NoAuth:
        return Error(
            f"NOAUTH {errors.api_key_rejected().code} Authentication required: AUTH apiKey timestamp "
            "signature"
        )
    except ApiError as error:
        return Error(f"ERR {error.code} {error.msg}")
    except Exception:
        log.exception("redis-protocol command %s failed", name)
        unknown = errors.unknown_error()
        return Error(f"ERR {unknown.code} {unknown.msg}")


async def serve_client(
    services: Services, ip: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Reads commands and answers them in order until the client leaves."""
    session = Session(services, ip, writer)
    parser = Parser()
    try:
        while data := await reader.read(READ_BYTES):
            parser.feed(data)
            try:
                commands = parser.commands()
            except ProtocolError as error:
                session.reply(Error(f"ERR Protocol error: {error}"))
                break
            for command in commands:
                if command[0].upper() == "QUIT":
                    session.reply(OK)
                    await writer.drain()
                    return
                reply = await execute(session, command)
                if reply is not None or command[0].upper() not in ("SUBSCRIBE", "UNSUBSCRIBE"):
                    session.reply(reply)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        session.close()
        with contextlib.suppress(Exception):
            writer.close()


async def start(services: Services, host: str, port: int) -> asyncio.Server:
    """Starts serving on `host:port`; a connection beyond the HTTP server's caps
    (``api.connections``: in all, and per client address) gets ``ERR -1003`` and is closed."""
    open_by_ip: dict[str, int] = {}

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        ip = str(peer[0]) if peer else "?"
        if open_by_ip.get(ip, 0) >= MAX_CONNECTIONS_PER_IP or sum(open_by_ip.values()) >= MAX_CONNECTIONS:
            writer.write(encode(TOO_MANY, False))
            writer.close()
            return
        open_by_ip[ip] = open_by_ip.get(ip, 0) + 1
        try:
            await serve_client(services, ip, reader, writer)
        finally:
            open_by_ip[ip] -= 1
            if not open_by_ip[ip]:
                del open_by_ip[ip]

    return await asyncio.start_server(client, sock=reuse_port_socket(host, port))
