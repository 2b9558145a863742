"""Stubs of the compiled engine module (checked by mypy.stubtest)."""

from typing import Final, final

__all__ = [
    "DECIMALS",
    "FEE_ACCOUNT",
    "INSURANCE_FUND",
    "SCALE",
    "CommandDecodeError",
    "Engine",
    "EngineStopped",
    "EventsEvicted",
    "enum_tables",
    "reject_reasons",
    "workload_batches",
]

SCALE: Final[int]
DECIMALS: Final[int]
FEE_ACCOUNT: Final[int]
INSURANCE_FUND: Final[int]

class CommandDecodeError(ValueError): ...
class EngineStopped(RuntimeError): ...
class EventsEvicted(LookupError): ...

@final
class Engine:
    """The engine running on its own thread."""

    def __new__(cls, event_log_bytes: int = ...) -> Engine: ...
    def execute(self, batch: bytes, ts: int | None = None) -> tuple[int, int, int, bytes]:
        """Decodes, sequences and applies a batch; returns (first_seq, last_seq, ts, events)."""
    def read_events(self, after_seq: int, max_bytes: int = ..., timeout_ms: int = 0) -> bytes:
        """Encoded events of commands after `after_seq`."""
    def state_hash(self) -> bytes:
        """SHA-256 of the whole engine state."""
    def last_seq(self) -> int:
        """Sequence number of the last applied command."""
    def depth(
        self, symbol: int, limit: int = 1000
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
        """Raw L2 depth (bids, asks), best first."""
    def prices(self, symbol: int) -> tuple[int | None, int | None, int | None] | None:
        """Raw (last, mark, index) prices."""

def enum_tables() -> list[tuple[str, list[tuple[str, int]]]]:
    """Every wire enum as (name, [(variant, value)])."""

def reject_reasons() -> list[tuple[str, int, int]]:
    """Every rejection reason as (name, value, Binance code)."""

def workload_batches(
    prefill: int = 1000000, commands: int = 2000000, batch: int = 10000, seed: int = 42
) -> tuple[list[bytes], list[bytes]]:
    """The benchmark workload as encoded command batches: (setup, mix)."""
