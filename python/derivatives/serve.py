"""`derivatives serve`: the whole exchange on embedded defaults, in one process.

uvicorn serves the API (``api.main.create_app``) around the engine recovered from its journal
(``DERIVATIVES_JOURNAL_DIR``, beside the SQLite file by default; one report line is printed), which then
journals every command before acknowledging it; the lifespan runs the projection into SQLite (or
``DERIVATIVES_DATABASE_URL``), catching up from its stored cursor, a snapshot schedule (every
``snapshot_every_commands`` commands or ``snapshot_every_seconds``), the oracle (simulated feed by default,
clearly labelled) publishing ``SetMarkPrice`` once a second, and here a demo market: a maker
quoting both books around the mark and a small noise taker, so that the books, trades and klines
are alive. At start it prints the URL, the demo account's API key and secret, and the admin token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import socket
import threading
from decimal import Decimal

from derivatives.commands import CancelAll, Command, PlaceOrder
from derivatives.config import Settings
from derivatives.demo import DEMO_ACCOUNT, DEMO_INSTRUMENTS, MARKET_MAKER_ACCOUNT, NOISE_ACCOUNT
from derivatives.engine import EngineClient
from derivatives.enums import OrderType, Side
from derivatives.snapshot_schedule import SnapshotSchedule

log = logging.getLogger("derivatives.serve")

LEVELS = 10
"""Price levels the demo market maker quotes on each side."""
REQUOTE_MOVE = Decimal("0.001")
"""The maker re-centres its ladder when the mark moved more than this fraction."""


def quotes(symbol: int, mark: Decimal, tick: Decimal, step: Decimal) -> list[Command]:
    """A fresh ladder around `mark`: cancel everything, then LEVELS bids and asks five ticks apart."""
    centre = (mark / tick).to_integral_value() * tick
    commands: list[Command] = [CancelAll(MARKET_MAKER_ACCOUNT, symbol)]
    for level in range(1, LEVELS + 1):
        for side, sign in ((Side.BUY, -1), (Side.SELL, 1)):
            price = centre + sign * tick * level * 5
            commands.append(PlaceOrder(MARKET_MAKER_ACCOUNT, symbol, side, step * 100 * level, price=price,
                                       client_order_id=f"mm-{symbol}-{side.name.lower()}-{level}"))
    return commands


async def demo_market(services: object, seed: int = 7, interval_s: float = 1.0) -> None:
    """Background task: requote around the engine's mark and trade a little, once a second."""
    from api.state import Services

    assert isinstance(services, Services)
    rng = random.Random(seed)
    centres: dict[int, Decimal] = {}
    while True:
        await asyncio.sleep(interval_s)
        commands: list[Command] = []
        for spec in DEMO_INSTRUMENTS:
            prices = services.gateway.client.prices(spec.symbol)
            if prices is None or prices.mark is None:
                continue
            centre = centres.get(spec.symbol)
            if centre is None or abs(prices.mark - centre) > centre * REQUOTE_MOVE:
                commands += quotes(spec.symbol, prices.mark, spec.tick_size, spec.step_size)
                centres[spec.symbol] = prices.mark
            if rng.random() < 0.3:
                side = Side.BUY if rng.random() < 0.5 else Side.SELL
                commands.append(PlaceOrder(NOISE_ACCOUNT, spec.symbol, side, spec.step_size * rng.randint(1, 50),
                                           order_type=OrderType.MARKET))
        if commands:
            try:
                await services.gateway.submit(commands)
            except Exception:
                log.exception("demo market round failed")


def engine_client(settings: Settings) -> EngineClient:
    """The engine of `settings`: recovered from its journal (report printed), or empty without one."""
    journal = settings.journal_path()
    if journal is None:
        print("no journal (DERIVATIVES_JOURNAL_DIR=off): the engine starts empty and nothing survives a restart",
              flush=True)
        return EngineClient()
    client = EngineClient(journal_dir=journal, replicate_to=settings.replicate_to, sync=settings.replicate_sync)
    recovery = client.recovery()
    assert recovery is not None, "a journaled engine reports its recovery"
    start = "" if recovery.snapshot_seq is None else f" from snapshot at seq {recovery.snapshot_seq}"
    print(f"journal {journal}: recovered {recovery.frames} frames{start}, last seq {recovery.last_seq}, "
          f"torn tail bytes {recovery.truncated_bytes}", flush=True)
    if settings.replicate_to is not None:
        mode = "sync: acknowledged once the standby has it too" if settings.replicate_sync else "async"
        print(f"replicating the journal to {settings.replicate_to} ({mode})", flush=True)
    return client


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def serve(settings: Settings, seconds: float | None = None, seed: int = 7) -> None:
    """Serves the exchange until Ctrl-C (or for `seconds`)."""
    import uvicorn

    from api import interpreter
    from api.main import BackgroundTask, create_app

    interpreter.tune()

    if settings.admin_token is None:
        settings = settings.with_overrides(admin_token=secrets.token_urlsafe(24))
    client = engine_client(settings)
    background: list[BackgroundTask] = [lambda s: demo_market(s, seed)] if settings.demo_market else []
    journal = settings.journal_path()
    if journal is not None:
        schedule = SnapshotSchedule(client, journal, settings.snapshot_every_commands, settings.snapshot_every_seconds)
        background.append(lambda _services: schedule.run())
    app = create_app(settings, client, background=background)
    sock = _bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, log_config=None, access_log=False, ws="websockets-sansio", lifespan="on")
    server = uvicorn.Server(config)
    if seconds is not None:
        timer = threading.Timer(seconds, lambda: setattr(server, "should_exit", True))
        timer.daemon = True
        timer.start()
    announcer = threading.Thread(target=_announce, args=(server, app, settings, host, port), daemon=True)
    announcer.start()
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    print("stopped", flush=True)


def _announce(server: object, app: object, settings: Settings, host: str, port: int) -> None:
    """Prints the connection details once the server accepts requests."""
    import time

    while not getattr(server, "started", False):
        if getattr(server, "should_exit", False):
            return
        time.sleep(0.05)
    base = f"http://{host}:{port}"
    key = getattr(getattr(app, "state", None), "demo_key", None)
    names = ", ".join(spec.name for spec in DEMO_INSTRUMENTS)
    lines = [
        f"derivatives API listening on {base} (REST /fapi, WebSocket ws://{host}:{port}/ws, docs {base}/docs)",
        f"instruments {names}; database {settings.database_url}",
        f"mark prices: {settings.oracle.upper()} feed" + (" (seeded random walk, not live)"
                                                          if settings.oracle == "simulated" else ""),
        f"admin token: {settings.admin_token}",
    ]
    named = [name for name in settings.admins() if name != "admin"]
    if named:
        lines.append(f"named admins (DERIVATIVES_ADMIN_TOKENS): {', '.join(named)}")
    if key is not None:
        lines.append(f"demo account {DEMO_ACCOUNT}: apiKey {key.api_key} secret {key.secret}")
    lines.append(f"risk desk {base}/dashboard (passwords: POST /admin/users/{{id}}/credentials); "
                 f"metrics {base}/metrics")
    lines.append("Ctrl-C stops.")
    print("\n".join(lines), flush=True)
