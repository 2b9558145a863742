"""Stubs of the compiled engine module (checked by mypy.stubtest)."""

import os
from collections.abc import Callable
from typing import Any, Final, final

__all__ = [
    "DECIMALS",
    "DEFAULT_LEVERAGE",
    "DEFAULT_SEGMENT_BYTES",
    "FEE_ACCOUNT",
    "FIRST_USER_ACCOUNT",
    "INSURANCE_FUND",
    "SCALE",
    "BatchBodyError",
    "CommandDecodeError",
    "Engine",
    "EngineStopped",
    "EventsEvicted",
    "Follower",
    "JournalError",
    "Replica",
    "ReplicaGap",
    "StressRefused",
    "encode_batch_body",
    "enum_tables",
    "reject_reasons",
    "replay_journal",
    "split_batch_body",
    "workload_batches",
]

SCALE: Final[int]
DECIMALS: Final[int]
DEFAULT_SEGMENT_BYTES: Final[int]
DEFAULT_LEVERAGE: Final[int]
FEE_ACCOUNT: Final[int]
INSURANCE_FUND: Final[int]
FIRST_USER_ACCOUNT: Final[int]

class CommandDecodeError(ValueError): ...
class EngineStopped(RuntimeError): ...
class EventsEvicted(LookupError): ...
class JournalError(RuntimeError): ...
class BatchBodyError(ValueError): ...
class ReplicaGap(LookupError):
    """args: (message, expected seq, the body's first seq)."""
class StressRefused(ValueError): ...

@final
class Engine:
    """The engine running on its own thread."""

    def __new__(cls, event_log_bytes: int = ..., journal_dir: str | os.PathLike[str] | None = None,
                segment_bytes: int = ..., replicate_to: str | None = None, sync: bool = False) -> Engine:
        """Starts an engine; with `journal_dir`, recovered from that journal and journaling to it;
        with `replicate_to` (host:port) shipping it to a follower (`sync`: ack once durable there too)."""
    def replication(self) -> tuple[int, int, bool] | None:
        """(last seq written locally, last seq the follower made durable, connected); None without one."""
    def recovery(self) -> tuple[int, int, int, int | None] | None:
        """What recovery found: (frames, last_seq, truncated_bytes, snapshot_seq); None without a journal."""
    def snapshot(self) -> tuple[int, str, int]:
        """Writes a snapshot into the journal directory: (last_seq, path, bytes)."""
    def execute(self, batch: bytes, ts: int | None = None) -> tuple[int, int, int, bytes]:
        """Decodes, sequences and applies a batch; returns (first_seq, last_seq, ts, events)."""
    def read_events(self, after_seq: int, max_bytes: int = ..., timeout_ms: int = 0) -> bytes:
        """Encoded events of commands after `after_seq` (older than memory: from the journal)."""
    def state_hash(self) -> bytes:
        """SHA-256 of the whole engine state."""
    def last_seq(self) -> int:
        """Sequence number of the last applied command."""
    def depth(
        self, symbol: int, limit: int = 1000
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
        """Raw L2 depth (bids, asks), best first."""
    def account(self, account: int) -> dict[str, Any] | None:
        """Risk view of an account, raw integers (wallet, margins, legs with liquidation prices)."""
    def holders(self, symbol: int) -> list[int]:
        """Accounts holding a position in `symbol`, ascending."""
    def open_interest(self, symbol: int) -> int:
        """Raw open interest of `symbol` (the sum of long positions)."""
    def prices(self, symbol: int) -> tuple[int | None, int | None, int | None] | None:
        """Raw (last, mark, index) prices."""
    def stats(self) -> tuple[tuple[int, int, int], tuple[int, int, int, int] | None]:
        """((batches, commands, apply_ns), (syncs, batches, bytes, sync_ns) or None)."""
    def adl_queue(self, symbol: int, side: int) -> list[tuple[int, int, int]] | None:
        """ADL queue of one side (0 = BUY ranks the longs), first out first: (account, raw qty, quantile)."""
    def adl_quantiles(self, account: int) -> list[tuple[int, int, int, int, bool]]:
        """ADL quantiles per symbol the account holds: (symbol, long, short, both, cross_hedge)."""
    def liquidation_map(self, symbol: int, step: int) -> dict[str, Any] | None:
        """Notional liquidated per price bucket of `step`, long and short, raw integers."""
    def stress(self, shocks: list[tuple[int, int, bool]]) -> dict[str, Any]:
        """Stress test on a copy of the state: (symbol, raw price or raw rate, is_move) shocks."""

@final
class Follower:
    """A hot standby following a primary's journal over TCP into its own journal until promoted."""

    def __new__(cls, journal_dir: str | os.PathLike[str], listen: str, segment_bytes: int = ...,
                hash_each_batch: bool = True) -> Follower:
        """Recovers the follower's own journal and listens on `listen` (host:port, port 0 for any)."""
    def address(self) -> tuple[str, int]:
        """The (host, port) it listens on."""
    def recovery(self) -> tuple[int, int, int, int | None]:
        """What recovery of its own journal found: (frames, last_seq, truncated_bytes, snapshot_seq)."""
    def wait(self, after_seq: int, timeout_ms: int) -> tuple[int, bytes | None, bool, str | None]:
        """(last_seq, state_hash, connected, error) once past `after_seq`, or after `timeout_ms`."""
    def promote(self) -> Engine:
        """Stops following for good; returns the engine as a primary continuing the sequence."""

@final
class Replica:
    """A read replica: an engine fed the batch stream's message bodies in seq order."""

    def __new__(cls, snapshot: str | os.PathLike[str] | None = None) -> Replica:
        """Empty, or restored from a snapshot file (`snapshot-<seq>.snap`, verified)."""
    def apply(self, body: bytes) -> int:
        """Applies one message body; returns the last seq applied. At or below it: skipped; after
        the next seq: `ReplicaGap`; damaged: `BatchBodyError`; neither changes anything."""
    def last_seq(self) -> int:
        """Sequence number of the last applied command."""
    def state_hash(self) -> bytes:
        """SHA-256 of the whole engine state (the primary's at the same seq)."""
    def depth(
        self, symbol: int, limit: int = 1000
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
        """Raw L2 depth (bids, asks), best first."""
    def account(self, account: int) -> dict[str, Any] | None:
        """Risk view of an account, raw integers (as `Engine.account`)."""
    def holders(self, symbol: int) -> list[int]:
        """Accounts holding a position in `symbol`, ascending."""
    def open_interest(self, symbol: int) -> int:
        """Raw open interest of `symbol` (the sum of long positions)."""
    def prices(self, symbol: int) -> tuple[int | None, int | None, int | None] | None:
        """Raw (last, mark, index) prices."""
    def liquidation_map(self, symbol: int, step: int) -> dict[str, Any] | None:
        """As `Engine.liquidation_map`, on the replica's state."""
    def stress(self, shocks: list[tuple[int, int, bool]]) -> dict[str, Any]:
        """As `Engine.stress`, on a copy of the replica's state."""
    def adl_queue(self, symbol: int, side: int) -> list[tuple[int, int, int]] | None:
        """ADL queue of one side (0 = BUY ranks the longs), first out first: (account, raw qty, quantile)."""
    def adl_quantiles(self, account: int) -> list[tuple[int, int, int, int, bool]]:
        """ADL quantiles per symbol the account holds: (symbol, long, short, both, cross_hedge)."""

def encode_batch_body(batch: bytes, first_seq: int, ts: int, events: bytes) -> bytes:
    """The batch-stream body of a batch `Engine.execute` ran: `batch` as given to it, `first_seq`,
    `ts` and `events` as it returned."""

def split_batch_body(body: bytes) -> tuple[int, int, bytes]:
    """A body checked and split: (first_seq, last_seq, events); (0, 0, b"") when empty."""

def enum_tables() -> list[tuple[str, list[tuple[str, int]]]]:
    """Every wire enum as (name, [(variant, value)])."""

def reject_reasons() -> list[tuple[str, int, int]]:
    """Every rejection reason as (name, value, Binance code)."""

def workload_batches(
    prefill: int = 1000000, commands: int = 2000000, batch: int = 10000, seed: int = 42
) -> tuple[list[bytes], list[bytes]]:
    """The benchmark workload as encoded command batches: (setup, mix)."""

def replay_journal(
    journal_dir: str | os.PathLike[str], progress: Callable[[int, int], object] | None = None
) -> tuple[int, int, int, bytes]:
    """Rebuilds the state from a journal without writing to it: (frames, last_seq, truncated_bytes, state_hash)."""
