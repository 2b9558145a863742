"""What the risk desk and liquidation monitors read from the engine itself (one owner per number):
the liquidation map, stress tests, and per-leg liquidation figures of the accounts nearest
liquidation (docs/RISK.md "Desk views").

Invariants:
    * Liquidation prices, the map's notional and every stress figure are the engine's
      (``EngineClient.liquidation_map`` / ``stress`` / ``account``); this module only chooses the
      bucket step, names accounts and prints decimals.
    * The public map is aggregated and anonymous: per bucket the long and short notional only.
    * Every method here blocks (engine queries, one database read): call it in a worker thread.
    * Bad input is an ``ApiError`` before the engine is asked anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from sqlalchemy import select

from api import errors, formats
from api.instruments import Instrument, InstrumentRegistry, digits
from derivatives import _core
from derivatives.engine import EngineQueries, PositionRisk
from derivatives.enums import PositionSide
from derivatives.persistence.db import Database
from derivatives.persistence.models import User
from derivatives.risk_queries import LiquidationMap, MapBucket, Shock, StressReport

BUCKETS_PER_MARK = Decimal(400)
"""Default bucket: the first 1-2-5 multiple of the tick at least 0.25 % of the mark."""
MAX_BUCKETS_SPAN = 200_000
"""A step so small that the mark alone spans more buckets than this is refused (-1130)."""


def default_step(tick: Decimal, mark: Decimal | None) -> Decimal:
    """The bucket width for a symbol: tick × (1, 2 or 5) × 10^k, the first ≥ mark / 400."""
    if mark is None or mark <= 0:
        return tick
    target = mark / BUCKETS_PER_MARK
    base = tick
    while True:
        for factor in (1, 2, 5):
            if base * factor >= target:
                return base * factor
        base *= 10


def step_for(instrument: Instrument, mark: Decimal | None, step: Decimal | None) -> Decimal:
    """`step` checked (positive, on the tick, not absurdly fine), or the default one."""
    tick = instrument.spec.tick_size
    if step is None:
        return default_step(tick, mark)
    if step <= 0 or step % tick != 0:
        raise errors.invalid_value("step")
    if mark is not None and mark / step > MAX_BUCKETS_SPAN:
        raise errors.invalid_value("step")
    return step


def map_payload(instrument: Instrument, found: LiquidationMap, now_ms: int, *, public: bool) -> dict[str, object]:
    """The wire form of a map (``public``: notional only, no leg counts)."""
    places = digits(instrument.spec.tick_size)

    def bucket(b: MapBucket) -> dict[str, object]:
        row: dict[str, object] = {
            "price": formats.decimal_text(b.price, places),
            "longNotional": f"{b.long_notional:f}",
            "shortNotional": f"{b.short_notional:f}",
        }
        if not public:
            row["longPositions"] = b.long_legs
            row["shortPositions"] = b.short_legs
        return row

    payload: dict[str, object] = {
        "symbol": instrument.name,
        "markPrice": None if found.mark is None else formats.decimal_text(found.mark, places),
        "step": formats.decimal_text(found.step, places),
        "time": now_ms,
        "buckets": [bucket(b) for b in found.buckets],
    }
    if not public:
        payload["unpriced"] = found.unpriced
    return payload


@dataclass(frozen=True, slots=True)
class ShockRequest:
    """One requested shock: a symbol and either a mark price or a move in percent."""

    symbol: str
    price: Decimal | None = None
    move_percent: Decimal | None = None


class DeskViews:
    """Engine-backed desk queries over one engine client."""

    def __init__(self, client: EngineQueries, registry: InstrumentRegistry, db: Database | None,
                 clock_ms: Callable[[], int]) -> None:
        self.client = client
        self.registry = registry
        self.db = db
        self.clock_ms = clock_ms

    def mark(self, instrument: Instrument) -> Decimal | None:
        """The engine's mark of a symbol."""
        prices = self.client.prices(instrument.spec.symbol)
        return None if prices is None else prices.mark

    def liquidation_map(self, symbol: str | None, step: Decimal | None, *, public: bool) -> dict[str, object]:
        """The map of `symbol` (``-1121`` if unknown, ``-1130`` for a bad step)."""
        instrument = self.registry.require(symbol)
        chosen = step_for(instrument, self.mark(instrument), step)
        found = self.client.liquidation_map(instrument.spec.symbol, chosen)
        if found is None:
            raise errors.invalid_symbol()
        return map_payload(instrument, found, self.clock_ms(), public=public)

    def stress(self, shocks: Sequence[ShockRequest]) -> dict[str, object]:
        """A stress test (on a copy of the engine state) of `shocks`, with names and totals."""
        if not shocks:
            raise errors.missing_parameter("shocks")
        typed: list[Shock] = []
        for s in shocks:
            instrument = self.registry.require(s.symbol)
            if (s.price is None) == (s.move_percent is None):
                raise errors.bad_combination("Each shock needs exactly one of price and movePercent.")
            if s.price is not None:
                if s.price <= 0 or s.price % instrument.spec.tick_size != 0:
                    raise errors.invalid_value("price")
                typed.append(Shock(instrument.spec.symbol, price=s.price))
            else:
                assert s.move_percent is not None
                if not Decimal(-100) < s.move_percent <= Decimal(1000):
                    raise errors.invalid_value("movePercent")
                typed.append(Shock(instrument.spec.symbol, move=s.move_percent / 100))
        try:
            report = self.client.stress(typed)
        except _core.StressRefused as refused:
            raise errors.bad_combination(str(refused)) from None
        except ValueError:
            raise errors.too_precise("movePercent") from None
        return self._stress_payload(report)

    def _stress_payload(self, report: StressReport) -> dict[str, object]:
        names = self.names(a.account for a in report.accounts)
        symbols = []
        for s in report.symbols:
            instrument = self.registry.by_id(s.symbol)
            name = instrument.name if instrument is not None else str(s.symbol)
            symbols.append({"symbol": name, "markBefore": None if s.mark_before is None else f"{s.mark_before:f}",
                            "markAfter": f"{s.mark_after:f}", "offeredNotional": f"{s.offered:f}",
                            "filledNotional": f"{s.filled:f}", "takenOverNotional": f"{s.taken_over:f}",
                            "adlNotional": f"{s.deleveraged:f}"})
        accounts = [{"account": a.account, "name": names.get(a.account), "marginBalance": f"{a.margin_balance:f}",
                     "maintMargin": f"{a.maintenance:f}", "closed": a.closed, "offeredNotional": f"{a.offered:f}"}
                    for a in report.accounts]
        total = {key: f"{sum((getattr(s, attr) for s in report.symbols), Decimal(0)):f}"
                 for key, attr in (("offeredNotional", "offered"), ("filledNotional", "filled"),
                                   ("takenOverNotional", "taken_over"), ("adlNotional", "deleveraged"))}
        return {"symbols": symbols, "accounts": accounts, "totals": {
            "accountsLiquidated": sum(1 for a in report.accounts if a.closed), **total,
            "adlAccounts": report.adl_accounts, "badDebt": f"{report.bad_debt:f}", "fundFees": f"{report.fees:f}",
            "fundBefore": f"{report.fund_before:f}", "fundAfter": f"{report.fund_after:f}",
            "fundDrawdown": f"{report.fund_drawdown:f}", "fundDeleveraged": report.fund_deleveraged}}

    def names(self, accounts: Iterable[int]) -> dict[int, str]:
        """User names of `accounts` that belong to a user."""
        wanted = sorted(set(accounts))
        if not wanted or self.db is None:
            return {}
        with self.db.reader() as session:
            rows = session.execute(select(User.account_id, User.name).where(User.account_id.in_(wanted))).all()
        return {int(account): str(name) for account, name in rows}

    def legs(self, ranked: Sequence[tuple[int, Decimal | None]]) -> list[dict[str, object]]:
        """One row per open leg of the `ranked` accounts (id, account margin ratio), in order:
        name, symbol, side, size, leverage, margin type, ratio, the engine's liquidation price,
        the mark and the distance to it in percent of the mark."""
        names = self.names(a for a, _ in ranked)
        rows: list[dict[str, object]] = []
        for account, ratio in ranked:
            risk = self.client.account(account)
            if risk is None:
                continue
            for leg in risk.positions:
                rows.append(self._leg_row(account, names.get(account), ratio, risk.leverage, leg))
        return rows

    def _leg_row(self, account: int, name: str | None, ratio: Decimal | None, leverage: dict[int, int],
                 leg: PositionRisk) -> dict[str, object]:
        instrument = self.registry.by_id(leg.symbol)
        mark = None if instrument is None else self.mark(instrument)
        liquidation = leg.liquidation_price if leg.liquidation_price > 0 else None
        if leg.isolated:
            balance = leg.isolated_margin + leg.unrealised_pnl
            ratio = None if balance <= 0 else (leg.maintenance / balance).quantize(Decimal("0.00000001"), ROUND_CEILING)
        distance = None
        if liquidation is not None and mark:
            distance = ((mark - liquidation) / mark * 100 * (1 if leg.qty > 0 else -1)).quantize(Decimal("0.01"))
        side = leg.position_side.name if leg.position_side is not PositionSide.BOTH else (
            "LONG" if leg.qty > 0 else "SHORT")
        price_places = 8 if instrument is None else digits(instrument.spec.tick_size)
        qty_places = 8 if instrument is None else digits(instrument.spec.step_size)

        def price(value: Decimal | None) -> str | None:
            return None if value is None else formats.decimal_text(value, price_places)

        return {"account": account, "name": name,
                "symbol": instrument.name if instrument is not None else str(leg.symbol), "side": side,
                "size": formats.decimal_text(abs(leg.qty), qty_places),
                "notional": None if mark is None else f"{abs(leg.qty) * mark:f}",
                "leverage": leverage.get(leg.symbol), "marginType": "isolated" if leg.isolated else "cross",
                "marginRatio": None if ratio is None else f"{ratio:f}", "entryPrice": price(leg.entry_price),
                "markPrice": price(mark), "liquidationPrice": price(liquidation),
                "distancePercent": None if distance is None else f"{distance:f}",
                "unrealizedProfit": f"{leg.unrealised_pnl:f}"}
