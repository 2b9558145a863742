"""RESP2/RESP3 framing: requests in (arrays of bulk strings, or inline commands as ``redis-cli``
and telnet send them), replies out.

Replies are built from plain values: ``str`` is a bulk string, ``int`` an integer, ``bool`` a
RESP3 boolean (RESP2: 1/0), ``None`` a null, ``list``/``tuple`` an array, ``dict`` a RESP3 map
(RESP2: a flat array of keys and values), :class:`Simple` a simple string (``+OK``),
:class:`Error` an error, and :class:`Push` a RESP3 push (RESP2: an array) for pub/sub messages.

Invariants: a request larger than ``MAX_BULK`` or with more than ``MAX_ARGS`` arguments is a
protocol error (the connection is closed after the error, as Redis does); nothing is ever
decoded as a number here: arguments stay text for the API's own parameter parsing.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BULK = 64 * 1024
MAX_ARGS = 256
MAX_INLINE = 64 * 1024


class ProtocolError(ValueError):
    """The bytes are not a RESP request."""


@dataclass(frozen=True, slots=True)
class Simple:
    """A simple string reply (``+OK``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Error:
    """An error reply; `text` starts with the error kind (``ERR``, ``NOAUTH``...)."""

    text: str


@dataclass(frozen=True, slots=True)
class Push:
    """A pub/sub message (RESP3 push; RESP2 array)."""

    items: tuple[object, ...]


OK = Simple("OK")


class Parser:
    """Incremental request parser: feed bytes, take complete commands."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> None:
        """Appends received bytes."""
        self.buffer += data

    def commands(self) -> list[list[str]]:
        """Every complete command in the buffer (arguments as UTF-8 text)."""
        out = []
        while self.buffer:
            parsed = self._one()
            if parsed is None:
                break
            if parsed:
                out.append(parsed)
        return out

    def _line(self, start: int, limit: int) -> tuple[bytes, int] | None:
        end = self.buffer.find(b"\r\n", start)
        if end < 0:
            if len(self.buffer) - start > limit:
                raise ProtocolError("line too long")
            return None
        return bytes(self.buffer[start:end]), end + 2

    def _one(self) -> list[str] | None:
        if self.buffer[0:1] != b"*":
            found = self._line(0, MAX_INLINE)
            if found is None:
                return None
            line, consumed = found
            del self.buffer[:consumed]
            return [part.decode("utf-8", "replace") for part in line.split()]
        header = self._line(1, 32)
        if header is None:
            return None
        count, at = _number(header[0]), header[1]
        if not 0 <= count <= MAX_ARGS:
            raise ProtocolError("invalid multibulk length")
        args = []
        for _ in range(count):
            if at >= len(self.buffer):
                return None
            if self.buffer[at : at + 1] != b"$":
                raise ProtocolError(f"expected '$', got '{chr(self.buffer[at])}'")
            size_line = self._line(at + 1, 32)
            if size_line is None:
                return None
            size, start = _number(size_line[0]), size_line[1]
            if not 0 <= size <= MAX_BULK:
                raise ProtocolError("invalid bulk length")
            if len(self.buffer) < start + size + 2:
                return None
            args.append(bytes(self.buffer[start : start + size]).decode("utf-8", "replace"))
            at = start + size + 2
        del self.buffer[:at]
        return args


def _number(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ProtocolError("invalid length") from None


def encode(value: object, resp3: bool) -> bytes:
    """The wire bytes of one reply."""
    out: list[bytes] = []
    _encode(value, resp3, out)
    return b"".join(out)


def _encode(value: object, resp3: bool, out: list[bytes]) -> None:
    if isinstance(value, Simple):
        out.append(b"+" + value.text.encode() + b"\r\n")
    elif isinstance(value, Error):
        out.append(b"-" + value.text.replace("\r", " ").replace("\n", " ").encode() + b"\r\n")
    elif value is None:
        out.append(b"_\r\n" if resp3 else b"$-1\r\n")
    elif isinstance(value, bool):
        out.append(
            (b"#t\r\n" if value else b"#f\r\n") if resp3 else (b":1\r\n" if value else b":0\r\n")
        )
    elif isinstance(value, int):
        out.append(b":%d\r\n" % value)
    elif isinstance(value, str):
        data = value.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    elif isinstance(value, dict):
        if resp3:
            out.append(b"%%%d\r\n" % len(value))
        else:
            out.append(b"*%d\r\n" % (2 * len(value)))
        for key, item in value.items():
            _encode(str(key), resp3, out)
            _encode(item, resp3, out)
    elif isinstance(value, Push):
        out.append((b">%d\r\n" if resp3 else b"*%d\r\n") % len(value.items))
        for item in value.items:
            _encode(item, resp3, out)
    elif isinstance(value, list | tuple):
        out.append(b"*%d\r\n" % len(value))
        for item in value:
            _encode(item, resp3, out)
    else:
        _encode(str(value), resp3, out)
