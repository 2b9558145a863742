"""Typed errors of the Python services, and the Binance error code of every engine rejection.

The code table comes from the compiled engine (``_core.reject_reasons()``), where the compiler
forces each rejection reason to have one; nothing here can drift from it.
"""

from __future__ import annotations

from derivatives import _core
from derivatives.enums import RejectReason

CommandDecodeError = _core.CommandDecodeError
EngineStopped = _core.EngineStopped
EventsEvicted = _core.EventsEvicted
JournalError = _core.JournalError

BINANCE_CODES: dict[RejectReason, int] = {
    RejectReason(wire): code for _name, wire, code in _core.reject_reasons()
}


class DerivativesError(Exception):
    """Base class of service-level failures."""


class OrderRejectedError(DerivativesError):
    """The engine refused a command; carries the typed reason and its Binance code."""

    def __init__(self, reason: RejectReason) -> None:
        self.reason = reason
        self.binance_code = BINANCE_CODES[reason]
        super().__init__(f"{reason.name} (Binance code {self.binance_code})")
