"""``derivatives serve``: the exchange as processes on one machine, started, watched and stopped.

The composition root. It starts, in order, and stops in reverse:

1. a local nats-server with JetStream under ``<var>/nats`` (``derivatives.bus.natsserver``),
   unless ``DERIVATIVES_NATS_URL`` points at an existing server or cluster;
2. the engine service (``derivatives-engine --journal DIR ...``, the binary found by
   ``derivatives.paths.engine_binary``), the only process holding the engine, its journal and snapshots; the parent waits until it
   answers the command subject, then lists the demo instruments and funds the demo accounts if
   the engine lacks them (one batch, through the bus like any client);
3. ``DERIVATIVES_GATEWAYS`` gateway processes (default: one per core), all listening on the
   printed port with ``SO_REUSEPORT`` (``api.gateway_process``); the first creates the demo key;
4. the projector (``derivatives.projector_process``), the risk and mark-price process
   (``api.risk_process``) and, unless disabled, the demo market (``derivatives.demo_market``).

Each child runs in its own session so that Ctrl-C reaches only this parent, which then stops the
engine's clients, then the engine service, then nats-server (SIGTERM, then SIGKILL after a
grace period). A child that exits on its
own is reported on stderr with its exit status; the others keep running. The children's standard
output is forwarded line by line, prefixed with their role.

The parent never imports ``api``: it starts processes by module name.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from derivatives.bus.client import BusEngine, EngineBusError, EngineMalformed, connect
from derivatives.bus.natsserver import LocalNats, die_with_parent, free_port
from derivatives.bus.node import READY, attach
from derivatives.bus.protocol import Subjects
from derivatives.commands import AddInstrument, Command, Deposit
from derivatives.config import Settings
from derivatives.demo import DEMO_ACCOUNT, DEMO_FUNDING, DEMO_INSTRUMENTS
from derivatives.paths import BinaryNotFound, engine_binary

READY_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0
DEMO_KEY = re.compile(r"demo-key (\S+) secret (\S+)")


class StartupError(Exception):
    """Start-up cannot go on (one line for the operator, no traceback)."""


def engine_service_command(settings: Settings, journal: Path) -> list[str]:
    """The engine service's command line: ``derivatives-engine`` (``derivatives.paths``) on
    `journal` with the settings' snapshot schedule and standby link."""
    try:
        binary = engine_binary()
    except BinaryNotFound as missing:
        raise StartupError(str(missing)) from None
    argv = [
        str(binary),
        "--journal",
        str(journal),
        "--snapshot-every-commands",
        str(settings.snapshot_every_commands),
        "--snapshot-every-seconds",
        str(settings.snapshot_every_seconds),
    ]
    if settings.replicate_to is not None:
        argv += [
            "--replicate-to",
            settings.replicate_to,
            *(["--sync"] if settings.replicate_sync else []),
        ]
    return argv


@dataclass
class Child:
    """One child process, its output forwarded, its readiness line awaited."""

    role: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[str] | None = None
    ready_line: str | None = None
    on_log: Callable[[str], None] | None = None
    """Sees each line of the child's standard error (then forwarded), when set."""
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Child:
        self._ready.clear()
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=None if self.on_log is None else subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        threading.Thread(target=self._forward, args=(self.process,), daemon=True).start()
        if self.on_log is not None:
            threading.Thread(target=self._forward_log, args=(self.process, self.on_log), daemon=True).start()
        return self

    @staticmethod
    def _forward_log(process: subprocess.Popen[str], on_log: Callable[[str], None]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            on_log(line)
            print(line, end="", file=sys.stderr, flush=True)

    def _forward(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if f"{self.role} {READY}" in line and not self._ready.is_set():
                self.ready_line = line
                self._ready.set()
                continue
            print(f"[{self.role}] {line}", end="", flush=True)

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Returns once the child printed its ready line; SystemExit if it died first."""
        deadline = time.monotonic() + timeout_s
        while not self._ready.wait(0.05):
            if (
                self.process is None
                or self.process.poll() is not None
                or time.monotonic() > deadline
            ):
                raise StartupError(
                    f"{self.role} did not start (exit status "
                    f"{None if self.process is None else self.process.poll()})"
                )

    @property
    def pid(self) -> int:
        return -1 if self.process is None else self.process.pid

    def exited(self) -> int | None:
        """The exit status once it has exited, else None."""
        return None if self.process is None else self.process.poll()

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def join(self, timeout_s: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _check_port(host: str, port: int) -> None:
    """A busy port fails at once, before any process starts (the gateways share it with
    ``SO_REUSEPORT`` among themselves only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise StartupError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def _report_recovery(journal: Path, line: str) -> None:
    """The engine service's ``recovered`` log line, printed as ``derivatives serve`` always has."""
    try:
        record = json.loads(line)
    except ValueError:
        return
    if not isinstance(record, dict) or record.get("msg") != "recovered":
        return
    snapshot = record.get("snapshot_seq")
    start = "" if snapshot is None else f" from snapshot at seq {snapshot}"
    print(f"journal {journal}: recovered {record.get('frames')} frames{start}, last seq {record.get('last_seq')}, "
          f"torn tail bytes {record.get('truncated_bytes')}", flush=True)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


async def wait_for_engine(url: str, subjects: Subjects, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Returns once an engine service answers the command subject (an empty batch)."""
    nc = await connect(url, "serve")
    try:
        engine = BusEngine(nc, subjects, timeout_s=2)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                await engine.execute_raw(b"")
                return
            except EngineMalformed:
                return  # it answers
            except EngineBusError:  # no responder yet, starting, or slow to recover
                if time.monotonic() > deadline:
                    raise StartupError("the engine service does not answer") from None
                await asyncio.sleep(0.1)
    finally:
        await nc.close()


async def bootstrap(url: str, subjects: Subjects, demo: bool) -> None:
    """Lists the demo instruments (and funds the demo accounts) when the engine lacks them."""
    node = await attach("serve", url, subjects)
    try:
        missing: list[Command] = [
            AddInstrument(spec)
            for spec in DEMO_INSTRUMENTS
            if node.gateway.client.prices(spec.symbol) is None
        ]
        if missing:
            funding = (
                [Deposit(account, amount) for account, amount in DEMO_FUNDING.items()]
                if demo
                else []
            )
            await node.gateway.submit([*missing, *funding])
    finally:
        await node.close()


class Topology:
    """The processes of one ``derivatives serve``."""

    def __init__(
        self,
        settings: Settings,
        *,
        gateways: int,
        var: Path,
        demo_market: bool = True,
        seed: int = 7,
        nats_url: str | None = None,
        subjects: Subjects | None = None,
    ) -> None:
        self.settings = settings
        self.gateways = gateways
        self.var = var
        self.demo_market = demo_market
        self.seed = seed
        self.subjects = subjects or Subjects.from_env()
        self.nats: LocalNats | None = None if nats_url else LocalNats(var / "nats")
        self.nats_url = nats_url or (self.nats.url if self.nats is not None else "")
        self.port = settings.port or free_port(settings.host)
        _check_port(settings.host, self.port)
        self.children: list[Child] = []
        self.scratch: list[Path] = []
        self.demo_key: tuple[str, str] | None = None

    def _env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DERIVATIVES_NATS_URL": self.nats_url,
            "DERIVATIVES_NATS_PREFIX": self.subjects.prefix,
            "DERIVATIVES_DATABASE_URL": self.settings.database_url,
            "DERIVATIVES_HOST": self.settings.host,
            "DERIVATIVES_PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("admin_token", "session_secret", "journal_dir", "database_schema", "resp_port"):
            value = getattr(self.settings, name, None)
            if value is not None:
                env[f"DERIVATIVES_{name.upper()}"] = str(value)
        env.update(extra)
        return env

    def _python(self, role: str, module: str, *args: str, **env: str) -> Child:
        return Child(role, [sys.executable, "-m", module, *args], self._env(**env))

    def start(self) -> None:
        """Starts every process (see the module docstring); SystemExit when one cannot start."""
        if self.nats is not None:
            self.nats.start()
        journal = self.settings.journal_path()
        if journal is None:
            journal = Path(tempfile.mkdtemp(prefix="derivatives-journal-"))
            print(
                f"no journal (DERIVATIVES_JOURNAL_DIR=off): {journal}, deleted at exit", flush=True
            )
            self.scratch.append(journal)
        engine_env = self._env(DERIVATIVES_JOURNAL_DIR=str(journal))
        argv = engine_service_command(self.settings, journal)
        engine = Child("engine", argv, engine_env, on_log=lambda line: _report_recovery(journal, line)).start()
        self.children.append(engine)
        asyncio.run(wait_for_engine(self.nats_url, self.subjects))
        asyncio.run(bootstrap(self.nats_url, self.subjects, self.settings.demo))
        demo = "true" if self.settings.demo else "false"
        for index in range(self.gateways):
            gateway = self._python(
                "gateway",
                "api.gateway_process",
                *(["--first"] if index == 0 else []),
                DERIVATIVES_DEMO=demo if index == 0 else "false",
                DERIVATIVES_ORACLE="off",
            ).start()
            self.children.append(gateway)
            gateway.wait_ready()
            if index == 0 and gateway.ready_line and (match := DEMO_KEY.search(gateway.ready_line)):
                self.demo_key = (match[1], match[2])
        followers = [
            self._python("projector", "derivatives.projector_process"),
            self._python("risk", "api.risk_process", DERIVATIVES_RISK_SERVICES="true"),
        ]
        if self.demo_market:
            followers.append(self._python("demo-market", "derivatives.demo_market", str(self.seed)))
        for child in followers:
            self.children.append(child.start())
        for child in followers:
            child.wait_ready()

    def announce(self) -> None:
        """The lines ``make run`` prints: URL, instruments, feeds, admin token, demo key."""
        host, base = self.settings.host, f"http://{self.settings.host}:{self.port}"
        names = ", ".join(spec.name for spec in DEMO_INSTRUMENTS)
        oracle = self.settings.oracle
        lines = [
            f"derivatives API listening on {base} (REST /fapi, WebSocket ws://{host}:{self.port}/ws, docs {base}/docs)",
            f"processes: nats-server {self.nats_url}{'' if self.nats is not None else ' (external)'}, engine service, "
            f"{self.gateways} gateway(s) on port {self.port}, projector, risk and mark price"
            + (", demo market" if self.demo_market else ""),
            f"instruments {names}; database {self.settings.database_url}",
            f"mark prices: {oracle.upper()} feed"
            + (" (seeded random walk, not live)" if oracle == "simulated" else ""),
            f"admin token: {self.settings.admin_token}",
        ]
        if self.demo_key is not None:
            lines.append(
                f"demo account {DEMO_ACCOUNT}: apiKey {self.demo_key[0]} secret {self.demo_key[1]}"
            )
        lines.append(
            f"risk desk {base}/dashboard (passwords: POST /admin/users/{{id}}/credentials); "
            f"metrics {base}/metrics"
        )
        if (door := self.settings.door_port(self.port)) is not None:
            lines.append(f"redis protocol door listening on redis://{host}:{door}")
        lines.append("Ctrl-C stops.")
        print("\n".join(lines), flush=True)

    def watch(self, seconds: float | None = None) -> None:
        """Reports children that exit, until Ctrl-C (or `seconds`)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        reported: set[int] = set()
        while deadline is None or time.monotonic() < deadline:
            for child in self.children:
                status = child.exited()
                if status is not None and child.pid not in reported:
                    reported.add(child.pid)
                    print(
                        f"process {child.role} (pid {child.pid}) exited with status {status}",
                        file=sys.stderr,
                        flush=True,
                    )
            time.sleep(0.2)

    def stop(self) -> None:
        """Stops the engine's clients, then the engine service, then the local nats-server."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        clients = [child for child in self.children if child.role != "engine"]
        engines = [child for child in self.children if child.role == "engine"]
        for group in (clients, engines):
            for child in group:
                child.terminate()
            for child in group:
                child.join(STOP_GRACE_S)
        self.children.clear()
        if self.nats is not None:
            self.nats.stop()
        for directory in self.scratch:
            shutil.rmtree(directory, ignore_errors=True)


def serve(
    settings: Settings,
    seconds: float | None = None,
    seed: int = 7,
    gateways: int | None = None,
    var: Path = Path("var"),
) -> None:
    """Serves the exchange until Ctrl-C (or for `seconds`)."""
    overrides: dict[str, object] = {}
    if settings.admin_token is None:
        overrides["admin_token"] = secrets.token_urlsafe(24)
    if settings.session_secret is None:
        overrides["session_secret"] = secrets.token_urlsafe(48)
    settings = settings.with_overrides(**overrides)
    count = gateways or int(os.environ.get("DERIVATIVES_GATEWAYS") or os.cpu_count() or 1)
    topology = Topology(
        settings,
        gateways=count,
        var=var,
        demo_market=settings.demo_market,
        seed=seed,
        nats_url=os.environ.get("DERIVATIVES_NATS_URL") or None,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        topology.start()
        topology.announce()
        topology.watch(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        topology.stop()
    print("stopped", flush=True)
