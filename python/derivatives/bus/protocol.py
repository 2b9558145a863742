"""The wire contract with the engine service (docs/ARCHITECTURE.md, "Processes and the bus").

Commands: NATS request-reply on ``{prefix}.engine.commands`` (queue group ``engine``), the body a
command batch in the canonical codec. A success reply carries ``Derivatives-First-Seq``,
``Derivatives-Last-Seq`` and ``Derivatives-Ts`` and the batch's event envelopes; a failure reply
carries ``Derivatives-Error`` (``malformed`` or ``unavailable``) and a UTF-8 message.

Batch stream: JetStream stream ``{PREFIX}_BATCHES`` on subject ``{prefix}.batches``, one message
per engine batch in seq order, ``Nats-Msg-Id`` = first seq; body = ``u32 LE N`` + N bytes of
journal frames + the event envelopes (``_core.encode_batch_body`` / ``_core.split_batch_body``;
``_core.Replica.apply`` takes the whole body).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PREFIX = "derivatives"
DEFAULT_URL = "nats://127.0.0.1:4222"
FIRST_SEQ = "Derivatives-First-Seq"
LAST_SEQ = "Derivatives-Last-Seq"
TS = "Derivatives-Ts"
ERROR = "Derivatives-Error"
MSG_ID = "Nats-Msg-Id"
QUEUE_GROUP = "engine"


@dataclass(frozen=True, slots=True)
class Subjects:
    """Subject and stream names of one prefix."""

    prefix: str = DEFAULT_PREFIX

    @property
    def commands(self) -> str:
        """Command batches (request-reply)."""
        return f"{self.prefix}.engine.commands"

    @property
    def batches(self) -> str:
        """The batch stream's subject."""
        return f"{self.prefix}.batches"

    @property
    def oracle_control(self) -> str:
        """Steering of the simulated price feed (request-reply, answered by the oracle's process)."""
        return f"{self.prefix}.oracle.control"

    def health(self, role: str) -> str:
        """Health requests to the process of `role` (``derivatives.bus.health``)."""
        return f"{self.prefix}.health.{role}"

    @property
    def stream(self) -> str:
        """The batch stream's JetStream name."""
        return f"{self.prefix.upper().replace('.', '_')}_BATCHES"

    @classmethod
    def from_env(cls) -> Subjects:
        """``DERIVATIVES_NATS_PREFIX`` or the default."""
        return cls(os.environ.get("DERIVATIVES_NATS_PREFIX") or DEFAULT_PREFIX)


def nats_url_from_env() -> str:
    """``DERIVATIVES_NATS_URL`` or the default local server."""
    return os.environ.get("DERIVATIVES_NATS_URL") or DEFAULT_URL


@dataclass(frozen=True, slots=True)
class SeqRange:
    """The seq range and time of one engine batch, from message headers."""

    first_seq: int
    last_seq: int
    ts: int

    @classmethod
    def from_headers(cls, headers: Mapping[str, str] | None) -> SeqRange:
        """Reads the three headers; ValueError when one is missing or not a decimal integer."""
        if headers is None:
            raise ValueError("message without headers")
        try:
            return cls(int(headers[FIRST_SEQ]), int(headers[LAST_SEQ]), int(headers[TS]))
        except (KeyError, ValueError) as error:
            raise ValueError(f"bad seq headers {dict(headers)!r}") from error

    def headers(self) -> dict[str, str]:
        """The three headers."""
        return {FIRST_SEQ: str(self.first_seq), LAST_SEQ: str(self.last_seq), TS: str(self.ts)}


DEFAULT_SUBJECTS = Subjects()
"""The subjects of the default prefix."""
