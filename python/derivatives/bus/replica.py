"""The replica of the engine state a reader keeps from the batch stream.

``make_replica()`` returns the engine service's ``_core.Replica`` when the compiled module has it;
otherwise a :class:`FrameReplica`: an engine of its own (``_core.Engine`` without a journal) that
re-executes each batch's journal frames with the batch's seq and time. Either way the state is
computed by the engine's own code (deterministic: its state hash equals the primary's at the
same seq), never by a Python copy of a formula.

Invariants (both kinds): batches are applied in seq order; a batch at or below the last applied
seq is skipped; a batch that does not start right after it is a :class:`ReplicaGap` and changes
nothing.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, Protocol

from derivatives import _core
from derivatives.bus.protocol import split_batch_body

_FRAME_HEADER = struct.Struct("<II")
_ENVELOPE = struct.Struct("<QQ")
_LENGTH = struct.Struct("<I")


class ReplicaGap(RuntimeError):
    """A batch that does not follow the last applied seq (or frames that are not contiguous)."""


class ReplicaLike(Protocol):
    """What readers need of a replica: apply a batch body, and the engine's queries (raw)."""

    def apply(self, body: bytes) -> int: ...
    def last_seq(self) -> int: ...
    def state_hash(self) -> bytes: ...
    def depth(self, symbol: int, limit: int = ...) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None: ...
    def account(self, account: int) -> dict[str, Any] | None: ...
    def holders(self, symbol: int) -> list[int]: ...
    def open_interest(self, symbol: int) -> int: ...
    def prices(self, symbol: int) -> tuple[int | None, int | None, int | None] | None: ...


def frames_to_batch(frames: bytes) -> tuple[int, int, int, bytes]:
    """(first seq, last seq, ts, command batch in the codec) of a batch's journal frames.

    Raises:
        ReplicaGap: If the frames are damaged, not contiguous, or of different times.
    """
    out = bytearray()
    first = last = ts = -1
    position = 0
    while position < len(frames):
        if position + _FRAME_HEADER.size > len(frames):
            raise ReplicaGap("torn journal frame in a batch")
        length, crc = _FRAME_HEADER.unpack_from(frames, position)
        payload = frames[position + _FRAME_HEADER.size:position + _FRAME_HEADER.size + length]
        if len(payload) != length or zlib.crc32(payload) != crc or length < _ENVELOPE.size:
            raise ReplicaGap("damaged journal frame in a batch")
        seq, stamp = _ENVELOPE.unpack_from(payload)
        if first < 0:
            first, ts = seq, stamp
        elif seq != last + 1 or stamp != ts:
            raise ReplicaGap(f"frame seq {seq} after {last} (or another time) inside one batch")
        last = seq
        out += _LENGTH.pack(length - _ENVELOPE.size)
        out += payload[_ENVELOPE.size:]
        position += _FRAME_HEADER.size + length
    if first < 0:
        raise ReplicaGap("a batch without frames")
    return first, last, ts, bytes(out)


def command_frames(first_seq: int, ts: int, batch: bytes) -> bytes:
    """The journal frames of an encoded command batch sequenced from `first_seq` at `ts`
    (``frames_to_batch`` reversed)."""
    out = bytearray()
    position, seq = 0, first_seq
    while position < len(batch):
        (length,) = _LENGTH.unpack_from(batch, position)
        payload = _ENVELOPE.pack(seq, ts) + batch[position + _LENGTH.size:position + _LENGTH.size + length]
        out += _FRAME_HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        position += _LENGTH.size + length
        seq += 1
    return bytes(out)


class FrameReplica:
    """A replica that re-executes each batch's commands on an engine of its own."""

    def __init__(self) -> None:
        self.engine = _core.Engine()

    def apply(self, body: bytes) -> int:
        """Applies one batch-stream body; returns the last applied seq."""
        frames, _events = split_batch_body(body)
        first, last, ts, batch = frames_to_batch(frames)
        applied = self.engine.last_seq()
        if last <= applied:
            return applied
        if first != applied + 1:
            raise ReplicaGap(f"batch {first}..{last} does not follow seq {applied}")
        done_first, done_last, _ts, _events_out = self.engine.execute(batch, ts)
        if (done_first, done_last) != (first, last):
            raise ReplicaGap(f"replayed {done_first}..{done_last}, expected {first}..{last}")
        return done_last

    def last_seq(self) -> int:
        return self.engine.last_seq()

    def state_hash(self) -> bytes:
        return self.engine.state_hash()

    def depth(self, symbol: int, limit: int = 1000) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
        return self.engine.depth(symbol, limit)

    def account(self, account: int) -> dict[str, Any] | None:
        return self.engine.account(account)

    def holders(self, symbol: int) -> list[int]:
        return self.engine.holders(symbol)

    def open_interest(self, symbol: int) -> int:
        return self.engine.open_interest(symbol)

    def prices(self, symbol: int) -> tuple[int | None, int | None, int | None] | None:
        return self.engine.prices(symbol)


def make_replica() -> ReplicaLike:
    """The compiled replica when the engine module has one, else a :class:`FrameReplica`."""
    compiled = getattr(_core, "Replica", None)
    if compiled is not None:
        replica: ReplicaLike = compiled()
        return replica
    return FrameReplica()
