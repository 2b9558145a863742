"""The Python enums and the Binance code table agree with the compiled engine."""

from __future__ import annotations

import re
import subprocess
import sys
from enum import IntEnum

from derivatives import _core, enums
from derivatives.errors import BINANCE_CODES, OrderRejectedError

PYTHON_ENUMS: dict[str, type[IntEnum]] = {
    "Side": enums.Side,
    "OrderType": enums.OrderType,
    "TimeInForce": enums.TimeInForce,
    "TriggerSource": enums.TriggerSource,
    "StpMode": enums.StpMode,
    "PositionSide": enums.PositionSide,
    "RejectReason": enums.RejectReason,
    "CancelReason": enums.CancelReason,
    "ExpireReason": enums.ExpireReason,
    "BalanceKind": enums.BalanceKind,
    "PayoutReason": enums.PayoutReason,
}
# Binance spells a few variants differently from the Rust names.
BINANCE_NAMES = {"StopLimit": "STOP", "TakeProfitLimit": "TAKE_PROFIT", "LastPrice": "CONTRACT_PRICE"}


def _snake(name: str) -> str:
    return BINANCE_NAMES.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def test_python_enums_mirror_the_engine() -> None:
    tables = dict(_core.enum_tables())
    assert set(tables) == set(PYTHON_ENUMS)
    for name, variants in tables.items():
        assert {_snake(v): wire for v, wire in variants} == {m.name: m.value for m in PYTHON_ENUMS[name]}, name


def test_every_rejection_has_a_binance_code() -> None:
    assert set(BINANCE_CODES) == set(enums.RejectReason)
    assert BINANCE_CODES[enums.RejectReason.UNKNOWN_SYMBOL] == -1121
    assert BINANCE_CODES[enums.RejectReason.POST_ONLY_WOULD_TAKE] == -5022
    error = OrderRejectedError(enums.RejectReason.PRICE_OFF_TICK)
    assert error.binance_code == -4014


def test_stubs_match_the_compiled_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "derivatives._core"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
