"""Binance-style request parameters: declared once per endpoint, parsed into exact values, and
documented in the OpenAPI schema from the same declaration.

Invariants:
    * Numbers are parsed from their text with ``Decimal`` (never float); more than eight
      decimals is ``-1111``, anything that is not ``digits[.digits]`` is ``-1100`` (patterns are
      matched in full: a trailing newline is an illegal character); a decimal the engine cannot
      represent (above ``MAX_DECIMAL``) is the parameter's own "too large" error (``-4005`` for a
      quantity, ``-4016`` for a price, ``-1130`` by default); times are at most ``MAX_TIME_MS``.
    * Every sent parameter must be declared (``-1104``); a parameter sent twice is ``-1101``;
      a missing mandatory one is ``-1102``; an empty value counts as not sent.
    * Parsing has no side effect: a request that fails here never reaches the engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl

from api import errors
from api.errors import ApiError

DECIMAL_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
INT_RE = re.compile(r"^-?[0-9]{1,19}$")
CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
MAX_DECIMALS = 8
INT64_MAX = 2**63 - 1
MAX_DECIMAL = Decimal(INT64_MAX).scaleb(-MAX_DECIMALS)
"""The largest amount the engine holds (i64 at 1e-8): 92233720368.54775807."""
MAX_TIME_MS = 253_402_300_799_000
"""9999-12-31T23:59:59Z, Binance's largest ``goodTillDate`` and our largest time parameter."""


class Kind(Enum):
    """How a parameter's text is read."""

    TEXT = "text"
    DECIMAL = "decimal"
    INT = "int"
    BOOL = "bool"
    CHOICE = "choice"
    CLIENT_ID = "client_id"


@dataclass(frozen=True, slots=True)
class Param:
    """One declared parameter."""

    name: str
    kind: Kind = Kind.TEXT
    required: bool = False
    choices: tuple[str, ...] = ()
    description: str = ""
    on_bad_choice: Callable[[], ApiError] | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = 256
    too_large: Callable[[], ApiError] | None = None

    def parse(self, text: str) -> object:
        """The typed value of `text`, or the Binance error."""
        if self.kind is Kind.DECIMAL:
            if not DECIMAL_RE.fullmatch(text):
                raise errors.illegal_characters(self.name)
            value = Decimal(text)
            exponent = value.normalize().as_tuple().exponent
            if isinstance(exponent, int) and exponent < -MAX_DECIMALS:
                raise errors.too_precise(self.name)
            if value > MAX_DECIMAL:
                raise (self.too_large or (lambda: errors.invalid_value(self.name)))()
            return value
        if self.kind is Kind.INT:
            if not INT_RE.fullmatch(text) or abs(int(text)) > INT64_MAX:
                raise errors.illegal_characters(self.name)
            number = int(text)
            if (self.minimum is not None and number < self.minimum) or (
                self.maximum is not None and number > self.maximum
            ):
                raise errors.invalid_value(self.name)
            return number
        if self.kind is Kind.BOOL:
            lowered = text.lower()
            if lowered not in ("true", "false"):
                raise errors.invalid_value(self.name)
            return lowered == "true"
        if self.kind is Kind.CHOICE:
            if text not in self.choices:
                raise (self.on_bad_choice or (lambda: errors.invalid_value(self.name)))()
            return text
        if self.kind is Kind.CLIENT_ID:
            if not CLIENT_ID_RE.fullmatch(text):
                raise ApiError(-4015, f"Client order id is not valid ('{self.name}' must match "
                               "^[\\.A-Z\\:/a-z0-9_-]{1,36}$).")
            return text
        if len(text) > self.max_length or any(ord(c) < 32 for c in text):
            raise errors.invalid_value(self.name)
        return text

    def schema(self) -> dict[str, Any]:
        """JSON schema of the parameter's text."""
        if self.kind is Kind.DECIMAL:
            return {"type": "string", "pattern": DECIMAL_RE.pattern, "example": "0.01"}
        if self.kind is Kind.INT:
            schema: dict[str, Any] = {"type": "integer", "format": "int64"}
            if self.minimum is not None:
                schema["minimum"] = self.minimum
            if self.maximum is not None:
                schema["maximum"] = self.maximum
            return schema
        if self.kind is Kind.BOOL:
            return {"type": "string", "enum": ["true", "false"]}
        if self.kind is Kind.CHOICE:
            return {"type": "string", "enum": list(self.choices)}
        if self.kind is Kind.CLIENT_ID:
            return {"type": "string", "pattern": CLIENT_ID_RE.pattern}
        return {"type": "string", "maxLength": self.max_length}


TIMESTAMP = Param("timestamp", Kind.INT, True, minimum=0, description="Request time, Unix ms.")
RECV_WINDOW = Param("recvWindow", Kind.INT, minimum=1, description="Validity window, ms (default 5000).")
SIGNATURE = Param("signature", Kind.TEXT, True, max_length=128,
                  description="Hex HMAC-SHA256 of the exact query string / body before this parameter.")


@dataclass(frozen=True, slots=True)
class Spec:
    """The parameters of one endpoint."""

    params: tuple[Param, ...] = ()
    signed: bool = False
    by_name: dict[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        declared = self.params + ((TIMESTAMP, RECV_WINDOW, SIGNATURE) if self.signed else ())
        object.__setattr__(self, "by_name", {p.name: p for p in declared})

    def parse(self, pairs: Iterable[tuple[str, str]]) -> Params:
        """Typed values of the sent parameters.

        Raises:
            ApiError: -1101, -1102, -1104 or a per-parameter error.
        """
        raw: dict[str, str] = {}
        for name, value in pairs:
            if name in raw:
                raise errors.duplicate_parameter(name)
            raw[name] = value
        unknown = [name for name in raw if name not in self.by_name]
        if unknown:
            raise errors.unread_parameters(len(raw) - len(unknown), len(raw), unknown)
        values: dict[str, object] = {}
        for name, param in self.by_name.items():
            text = raw.get(name, "")
            if text == "":
                if param.required:
                    raise errors.missing_parameter(name)
                continue
            values[name] = param.parse(text)
        return Params(values)

    def openapi(self, in_body: bool) -> dict[str, Any]:
        """``openapi_extra`` for FastAPI: query parameters, or a form body for POST/PUT."""
        declared = list(self.by_name.values())
        extra: dict[str, Any] = {}
        parameters: list[dict[str, Any]] = []
        if self.signed:
            parameters.append({"name": "X-MBX-APIKEY", "in": "header", "required": True,
                               "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{1,64}$"}})
        if in_body:
            if declared:
                extra["requestBody"] = {
                    "required": any(p.required for p in declared),
                    "content": {"application/x-www-form-urlencoded": {"schema": {
                        "type": "object",
                        "properties": {p.name: {**p.schema(), "description": p.description} for p in declared},
                        "required": [p.name for p in declared if p.required],
                    }}},
                }
        else:
            parameters += [{"name": p.name, "in": "query", "required": p.required, "schema": p.schema(),
                            "description": p.description} for p in declared]
        if parameters:
            extra["parameters"] = parameters
        return extra


class Params:
    """Parsed parameter values by name (absent: None)."""

    def __init__(self, values: Mapping[str, object]) -> None:
        self._values = dict(values)

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def raw(self) -> dict[str, object]:
        """Every sent value."""
        return dict(self._values)

    def text(self, name: str) -> str | None:
        """A text, choice or client-id parameter."""
        value = self._values.get(name)
        return None if value is None else str(value)

    def decimal(self, name: str) -> Decimal | None:
        """A decimal parameter."""
        value = self._values.get(name)
        assert value is None or isinstance(value, Decimal)
        return value

    def int(self, name: str) -> int | None:
        """An integer parameter."""
        value = self._values.get(name)
        assert value is None or isinstance(value, int)
        return value

    def bool(self, name: str, default: bool = False) -> bool:
        """A boolean parameter."""
        value = self._values.get(name)
        return default if value is None else bool(value)


def parse_pairs(query: str, body: str) -> list[tuple[str, str]]:
    """Name/value pairs from a query string and a form body (ccxt never mixes them)."""
    return parse_qsl(query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)


SYMBOL = Param("symbol", Kind.TEXT, True, max_length=20, description="e.g. BTCUSDT")
OPTIONAL_SYMBOL = Param("symbol", Kind.TEXT, max_length=20, description="e.g. BTCUSDT; all symbols when omitted")
LIMIT = Param("limit", Kind.INT, minimum=1, maximum=1500)
START_TIME = Param("startTime", Kind.INT, minimum=0, maximum=MAX_TIME_MS)
END_TIME = Param("endTime", Kind.INT, minimum=0, maximum=MAX_TIME_MS)
PAGE = Param("page", Kind.INT, minimum=1, maximum=1_000_000)
