"""Steering of the simulated feed: scripted moves and venue faults for market scenarios.

The simulated walk (:mod:`oracle.sources.simulated`) stays the one source of randomness; a
:class:`Steering` transforms its ticks as they are released onto the board:

* a **move** scales one base asset's venue prices by a factor that goes linearly from its value
  when the move is ordered to ``factor × (1 + change)`` over ``over_ms`` (a crash is
  ``change = -0.20`` over 60 000 ms); a new move starts from wherever the last one stands;
* a **stale** venue stops quoting (its last tick ages out and the index rules drop it);
* an **offset** venue quotes ``price × (1 + offset)`` (a venue 10 % off: ``offset = 0.10``).

Control messages are JSON objects (``derivatives simulate`` sends them through the admin API to
the process running the oracle, which answers each with :meth:`Steering.state`)::

    {"base": "BTC", "change": "-0.20", "overMs": 60000}   # a move ("base" omitted: every base)
    {"stale": ["okx", "kraken"], "offsets": {"bybit": "0.10"}}  # venue faults (replace the old)
    {"reset": true}                                        # no venue faults; the level stays

Invariants:
    * Exact: factors and prices are ``Decimal`` in the oracle's 40-digit context; a steered
      quote is rounded to the venue's 0.01 tick like any simulated quote.
    * A tick is transformed by the state at its own receive time, so a replayed series of
      messages at the same times gives the same ticks.
    * A venue's ``USDT/USD`` rate is never moved or offset (so an offset venue is off by exactly
      its offset in USDT terms), only made stale with the venue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from oracle.model import RawTick
from oracle.numeric import WORK_CONTEXT
from oracle.venues import VENUES

MAX_CHANGE = Decimal("0.9")
"""A move may change a price by at most 90 % (a price never reaches zero)."""
_CENT = Decimal("0.01")


class SteeringError(ValueError):
    """A control message that cannot be applied (nothing changed)."""


@dataclass(slots=True)
class Move:
    """A linear ramp of one base's price factor."""

    start_ms: int
    over_ms: int
    start: Decimal
    end: Decimal

    def factor(self, now_ms: int) -> Decimal:
        """The factor at `now_ms` (the start value before, the end value after the ramp)."""
        if now_ms <= self.start_ms:
            return self.start
        if now_ms >= self.start_ms + self.over_ms:
            return self.end
        done = WORK_CONTEXT.divide(Decimal(now_ms - self.start_ms), Decimal(self.over_ms))
        return WORK_CONTEXT.add(
            self.start, WORK_CONTEXT.multiply(WORK_CONTEXT.subtract(self.end, self.start), done)
        )


@dataclass(slots=True)
class Steering:
    """The scripted state applied to simulated ticks (see the module docstring)."""

    moves: dict[str, Move] = field(default_factory=dict)
    stale: frozenset[str] = frozenset()
    offsets: dict[str, Decimal] = field(default_factory=dict)

    def factor(self, base: str, now_ms: int) -> Decimal:
        """The price factor of `base` at `now_ms`."""
        move = self.moves.get(base)
        return Decimal(1) if move is None else move.factor(now_ms)

    def apply(self, tick: RawTick) -> RawTick | None:
        """The tick as the steered market shows it; None when its venue is stale."""
        if tick.venue in self.stale:
            return None
        base, _, _quote = tick.market.partition("/")
        if base == "USDT":  # the venue's USDT/USD rate: only staleness applies
            return tick
        scale = self.factor(base, tick.received_ms)
        offset = self.offsets.get(tick.venue)
        if offset is not None:
            scale = WORK_CONTEXT.multiply(scale, WORK_CONTEXT.add(1, offset))
        if scale == 1:
            return tick
        price = WORK_CONTEXT.multiply(tick.price, scale).quantize(
            _CENT, ROUND_HALF_EVEN, WORK_CONTEXT
        )
        return RawTick(tick.venue, tick.market, price, tick.received_ms)

    def control(self, message: Mapping[str, object], now_ms: int, bases: frozenset[str]) -> None:
        """Applies one control message at `now_ms`; SteeringError (and no change) when invalid."""
        known = {"base", "change", "overMs", "stale", "offsets", "reset", "status"}
        if unknown := set(message) - known:
            raise SteeringError(f"unknown fields {sorted(unknown)}")
        moves = self._moves(message, now_ms, bases) if "change" in message else {}
        stale, offsets = self.stale, self.offsets
        if message.get("reset") is True:
            stale, offsets = frozenset(), {}
        if "stale" in message:
            stale = frozenset(_venues(message["stale"]))
        if "offsets" in message:
            raw = message["offsets"]
            if not isinstance(raw, Mapping):
                raise SteeringError("offsets must map venues to fractions")
            offsets = {venue: _fraction(raw[venue], "offset") for venue in _venues(list(raw))}
        self.moves.update(moves)
        self.stale, self.offsets = stale, offsets

    def _moves(
        self, message: Mapping[str, object], now_ms: int, bases: frozenset[str]
    ) -> dict[str, Move]:
        change = _fraction(message["change"], "change")
        over = message.get("overMs", 0)
        if not isinstance(over, int) or isinstance(over, bool) or not 0 <= over <= 3_600_000:
            raise SteeringError("overMs must be an integer from 0 to 3600000")
        base = message.get("base")
        if base is not None and base not in bases:
            raise SteeringError(f"unknown base {base!r}; known: {sorted(bases)}")
        chosen = sorted(bases) if base is None else [str(base)]
        moves = {}
        for name in chosen:
            start = self.factor(name, now_ms)
            moves[name] = Move(
                now_ms, over, start, WORK_CONTEXT.multiply(start, WORK_CONTEXT.add(1, change))
            )
        return moves

    def state(self, now_ms: int) -> dict[str, object]:
        """The steering on the wire: each base's factor now and target, the venue faults."""
        return {
            "factors": {
                base: f"{move.factor(now_ms):f}" for base, move in sorted(self.moves.items())
            },
            "targets": {base: f"{move.end:f}" for base, move in sorted(self.moves.items())},
            "stale": sorted(self.stale),
            "offsets": {venue: f"{offset:f}" for venue, offset in sorted(self.offsets.items())},
        }


def _venues(raw: object) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise SteeringError("venues must be a list of names")
    if unknown := [v for v in raw if v not in VENUES]:
        raise SteeringError(f"unknown venues {unknown}; known: {sorted(VENUES)}")
    return [str(v) for v in raw]


def _fraction(raw: object, name: str) -> Decimal:
    if not isinstance(raw, str):
        raise SteeringError(f"{name} must be a decimal string")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise SteeringError(f"{name} {raw!r} is not a decimal") from None
    if not value.is_finite() or abs(value) > MAX_CHANGE:
        raise SteeringError(f"{name} must be within ±{MAX_CHANGE}")
    return value
