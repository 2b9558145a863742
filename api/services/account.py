"""The account group: balances, positions, leverage, margin type, position mode, income, ADL
quantiles, forced closes and symbol configuration.

Sources: the engine's account view (``EngineClient.account``: wallet, margins, legs with
liquidation prices) for everything live, read on a worker thread; the projection for history
(income, liquidation orders, ADL fills). Settings changes are engine commands
(``SetLeverage``, ``SetPositionMode``) answered once the engine applied them and the projection
caught up, like orders.

Margin type per symbol (``marginType``: ``SetMarginType``) and isolated margin per leg
(``positionMargin``: ``AdjustIsolatedMargin``) are engine commands too; positionRisk, account and
balance show the isolated margin and the cross wallet (the wallet without isolated margins).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anyio.to_thread

from api import account_formats as shapes
from api import errors, formats
from api.account_formats import LegFigures
from api.instruments import Instrument, InstrumentRegistry
from api.projection import ProjectionProgress, ProjectionWorker, caught_up
from derivatives import _core, fee_schedule
from derivatives.commands import (
    AdjustIsolatedMargin,
    Command,
    SetLeverage,
    SetMarginType,
    SetPositionMode,
)
from derivatives.door import EngineDoor
from derivatives.engine import AccountRisk, EngineQueries, PositionRisk
from derivatives.enums import PositionSide, RejectReason
from derivatives.events import CommandRejected, OrderRejected
from derivatives.persistence import ledger_queries
from derivatives.persistence.db import Database
from derivatives.persistence.ledger_queries import TimeWindow
from derivatives.persistence.projector import Batch
from derivatives.persistence.views import AdlState, IncomeState, MarginChangeState, OrderState
from derivatives.risk_queries import AdlQuantiles
from derivatives.units import SCALE, from_raw

DEFAULT_LEVERAGE = _core.DEFAULT_LEVERAGE
"""The engine's leverage of a symbol never set."""
SYSTEM_ACCOUNTS = (_core.FEE_ACCOUNT, _core.INSURANCE_FUND)
WEEK_MS = 7 * 24 * 3600 * 1000
MONTH_MS = 30 * 24 * 3600 * 1000
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An account view and its legs, read together."""

    view: AccountRisk | None
    legs: list[LegFigures]

    @property
    def hedge(self) -> bool:
        """Hedge mode."""
        return self.view is not None and self.view.hedge_mode


class AccountService:
    """Answers the signed account endpoints for one account at a time."""

    def __init__(self, registry: InstrumentRegistry, gateway: EngineDoor, worker: ProjectionWorker | None,
                 db: Database, client: EngineQueries, clock_ms: Callable[[], int], projection_wait_ms: int,
                 history: ProjectionProgress | None = None) -> None:
        """`history`: waited for before a SQL read (``OrderService``)."""
        self.projection = history
        self.registry = registry
        self.gateway = gateway
        self.worker = worker
        self.db = db
        self.client = client
        self.clock_ms = clock_ms
        self.wait_s = projection_wait_ms / 1000

    def instrument(self, symbol: str | None) -> Instrument:
        """The listed instrument `symbol`, or -1121."""
        return self.registry.require(symbol)

    def _chosen(self, symbol: str | None) -> list[Instrument]:
        return self.registry.all() if symbol is None else [self.instrument(symbol)]

    async def _run(self, commands: Sequence[Command]) -> Batch:
        batch = await self.gateway.submit(commands)
        if self.worker is not None and not await self.worker.wait_for(batch.last_seq, self.wait_s):
            raise errors.backend_timeout()
        return batch

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        await caught_up(self.projection, self.gateway.last_seq(), self.wait_s)

        def run() -> Any:
            with self.db.reader() as session:
                return fn(session, *args)

        return await anyio.to_thread.run_sync(run)

    # Engine views ------------------------------------------------------------------------------
    def mark_of(self, instrument: Instrument) -> Decimal:
        """Mark price (last trade before the first mark; 0 with neither), blocking."""
        prices = self.client.prices(instrument.spec.symbol)
        if prices is None:
            return ZERO
        return prices.mark if prices.mark is not None else (prices.last if prices.last is not None else ZERO)

    def snapshot_sync(self, account: int, symbol: str | None = None, empty_legs: bool = False) -> Snapshot:
        """The account view and its legs (blocking: engine queries)."""
        view = self.client.account(account)
        hedge = view is not None and view.hedge_mode
        open_legs = {(p.symbol, PositionSide(p.position_side).name): p for p in (view.positions if view else [])}
        legs: list[LegFigures] = []
        for instrument in self._chosen(symbol):
            leverage = view.leverage.get(instrument.spec.symbol, DEFAULT_LEVERAGE) if view else DEFAULT_LEVERAGE
            isolated = view is not None and instrument.spec.symbol in view.isolated_symbols
            mark = self.mark_of(instrument)
            for side in ("LONG", "SHORT") if hedge else ("BOTH",):
                leg = open_legs.get((instrument.spec.symbol, side))
                if leg is not None:
                    legs.append(_leg(instrument, side, leg, mark, leverage))
                elif empty_legs:
                    legs.append(LegFigures(instrument, side, ZERO, ZERO, mark, ZERO, ZERO, ZERO, ZERO, ZERO, leverage,
                                    isolated, ZERO))
        return Snapshot(view, legs)

    async def snapshot(self, account: int, symbol: str | None = None, empty_legs: bool = False) -> Snapshot:
        """:meth:`snapshot_sync` off the event loop."""
        return await anyio.to_thread.run_sync(self.snapshot_sync, account, symbol, empty_legs)

    # Account, balance, positions ---------------------------------------------------------------
    async def account(self, account: int, v2: bool) -> dict[str, object]:
        """``GET /fapi/v2|v3/account``."""
        snap = await self.snapshot(account, empty_legs=v2)
        return shapes.account(shapes.totals(snap.view, snap.legs), snap.legs, self.clock_ms(), v2)

    async def balance(self, account: int, alias: str) -> list[dict[str, object]]:
        """``GET /fapi/v2|v3/balance``."""
        snap = await self.snapshot(account)
        return shapes.balance(shapes.totals(snap.view, snap.legs), alias, self.clock_ms())

    async def position_risk(self, account: int, symbol: str | None, v2: bool) -> list[dict[str, object]]:
        """``GET /fapi/v2|v3/positionRisk``: v3 lists open legs only, v2 every leg of every symbol."""
        snap = await self.snapshot(account, symbol, empty_legs=v2)
        now = self.clock_ms()
        return [shapes.position_risk(leg, now) for leg in snap.legs]

    async def symbol_config(self, account: int, symbol: str | None) -> list[dict[str, object]]:
        """``GET /fapi/v1/symbolConfig``."""
        view = await anyio.to_thread.run_sync(self.client.account, account)
        out: list[dict[str, object]] = []
        for instrument in self._chosen(symbol):
            leverage = view.leverage.get(instrument.spec.symbol, DEFAULT_LEVERAGE) if view else DEFAULT_LEVERAGE
            isolated = view is not None and instrument.spec.symbol in view.isolated_symbols
            out.append({"symbol": instrument.name, "marginType": "ISOLATED" if isolated else "CROSSED",
                        "isAutoAddMargin": False, "leverage": leverage,
                        "maxNotionalValue": shapes.money(shapes.max_notional(instrument, leverage))})
        return out

    # Settings ----------------------------------------------------------------------------------
    def _rejection(self, batch: Batch) -> RejectReason | None:
        for envelope in batch.events:
            if envelope.seq == batch.first_seq and isinstance(envelope.event, OrderRejected | CommandRejected):
                return envelope.event.reason
        return None

    async def set_leverage(self, account: int, symbol: str | None, leverage: int | None) -> dict[str, object]:
        """``POST /fapi/v1/leverage``."""
        instrument = self.instrument(symbol)
        if leverage is None or not 1 <= leverage <= max(b.max_leverage for b in instrument.spec.brackets):
            raise errors.invalid_leverage(leverage)
        reason = self._rejection(await self._run([SetLeverage(account, instrument.spec.symbol, leverage)]))
        if reason == RejectReason.INVALID_LEVERAGE:
            raise errors.invalid_leverage(leverage)
        if reason is not None:
            raise errors.reject(reason)
        return {"leverage": leverage, "maxNotionalValue": shapes.money(shapes.max_notional(instrument, leverage)),
                "symbol": instrument.name}

    async def margin_type(self, account: int, symbol: str | None, margin_type: str | None) -> dict[str, object]:
        """``POST /fapi/v1/marginType`` (engine ``SetMarginType``; ``-4046`` when already set,
        ``-4047``/``-4048`` with open orders or a position)."""
        instrument = self.instrument(symbol)
        await self._settle(SetMarginType(account, instrument.spec.symbol, margin_type == "ISOLATED"))
        return {"code": 200, "msg": "success"}

    async def position_margin(self, account: int, symbol: str | None, position_side: str | None,
                              amount: Decimal | None, kind: int | None) -> dict[str, object]:
        """``POST /fapi/v1/positionMargin``: type 1 adds, 2 removes margin of an isolated leg
        (engine ``AdjustIsolatedMargin``; ``-4049`` on a cross symbol, ``-4050``/``-4051`` when
        the cross part or the leg cannot spare it)."""
        instrument = self.instrument(symbol)
        if amount is None or amount <= 0 or amount != amount.quantize(Decimal(1).scaleb(-8)):
            raise errors.reject(RejectReason.AMOUNT_NOT_POSITIVE)
        signed_amount = amount if kind == 1 else -amount
        side = PositionSide[position_side or "BOTH"]
        await self._settle(AdjustIsolatedMargin(account, instrument.spec.symbol, side, signed_amount))
        return {"amount": shapes.money(amount), "code": 200,
                "msg": "Successfully modify position margin.", "type": kind}

    async def _settle(self, command: Command) -> None:
        """Runs one settings command; its rejection becomes the Binance error."""
        reason = self._rejection(await self._run([command]))
        if reason is not None:
            raise errors.reject(reason)

    async def _fee_rates(self, account: int) -> tuple[Decimal, Decimal] | None:
        rates: tuple[int, int] | None = await self._read(ledger_queries.fee_rates, account)
        return None if rates is None else (from_raw(rates[0]), from_raw(rates[1]))

    async def commission_rate(self, account: int, symbol: str | None) -> dict[str, object]:
        """``GET /fapi/v1/commissionRate``: the rates the account pays on `symbol` (its fee tier's, else
        the instrument's)."""
        spec = self.instrument(symbol).spec
        maker, taker = await self._fee_rates(account) or (spec.maker_fee, spec.taker_fee)
        return {"symbol": spec.name, "makerCommissionRate": f"{maker.normalize():f}",
                "takerCommissionRate": f"{taker.normalize():f}", "rpiCommissionRate": "0"}

    async def account_config(self, account: int, can_trade: bool) -> dict[str, object]:
        """``GET /fapi/v1/accountConfig``: ``feeTier`` is the account's tier of the published schedule
        (:mod:`derivatives.fee_schedule`, what ccxt's ``fetch_trading_fees`` maps), permissions, mode."""
        tier = fee_schedule.tier_of(await self._fee_rates(account))
        mode = await self.position_mode(account)
        return {"feeTier": tier, "canTrade": can_trade, "canDeposit": True, "canWithdraw": True,
                "dualSidePosition": mode["dualSidePosition"], "updateTime": 0, "multiAssetsMargin": False,
                "tradeGroupId": -1}

    async def position_mode(self, account: int) -> dict[str, object]:
        """``GET /fapi/v1/positionSide/dual``."""
        view = await anyio.to_thread.run_sync(self.client.account, account)
        return {"dualSidePosition": view is not None and view.hedge_mode}

    async def set_position_mode(self, account: int, hedge: bool) -> dict[str, object]:
        """``POST /fapi/v1/positionSide/dual`` (``-4059`` when already in that mode)."""
        if (await self.position_mode(account))["dualSidePosition"] == hedge:
            raise errors.position_side_unchanged()
        await self._settle(SetPositionMode(account, hedge))
        return {"code": 200, "msg": "success"}

    # History -----------------------------------------------------------------------------------
    async def income(self, account: int, symbol: str | None, income_type: str | None, start: int | None,
                     end: int | None, page: int | None, limit: int | None) -> list[dict[str, object]]:
        """``GET /fapi/v1/income`` (no time given: the last seven days, as Binance)."""
        if symbol is not None:
            self.instrument(symbol)
        if start is None and end is None:
            start = self.clock_ms() - WEEK_MS
        size = limit or 100
        window = TimeWindow(size, start, end, ((page or 1) - 1) * size)
        rows: list[IncomeState] = await self._read(ledger_queries.income, account, symbol, income_type, window)
        return [_income_row(r) for r in rows]

    async def force_orders(self, account: int, symbol: str | None, kind: str | None, start: int | None,
                           end: int | None, limit: int | None) -> list[dict[str, object]]:
        """``GET /fapi/v1/forceOrders``: liquidation orders and ADL fills, oldest first."""
        if symbol is not None:
            self.instrument(symbol)
        if start is None:
            start = (end if end is not None else self.clock_ms()) - WEEK_MS
        window = TimeWindow(limit or 50, start, end)
        rows: list[tuple[int, dict[str, object]]] = []
        if kind in (None, "LIQUIDATION"):
            orders: list[OrderState] = await self._read(ledger_queries.liquidation_orders, account, symbol, window)
            for order in orders:
                instrument = self.registry.get(order.symbol)
                if instrument is not None:
                    rows.append((order.created_at, formats.order_object(instrument, order)))
        if kind in (None, "ADL"):
            fills: list[AdlState] = await self._read(ledger_queries.adl_fills, account, symbol, window)
            for fill in fills:
                instrument = self.registry.get(fill.symbol)
                if instrument is not None:
                    rows.append((fill.time, _adl_row(instrument, fill)))
        rows.sort(key=lambda r: r[0])
        return [body for _, body in rows[: window.limit]]

    async def margin_history(self, account: int, symbol: str | None, kind: int | None, start: int | None,
                             end: int | None, limit: int | None) -> list[dict[str, object]]:
        """``GET /fapi/v1/positionMargin/history``: the trader's isolated-margin adjustments of a
        symbol (type 1 added, 2 removed), oldest first; at most 30 days between the times (``-1128``)."""
        instrument = self.instrument(symbol)
        if start is not None and end is not None and end - start > MONTH_MS:
            raise errors.bad_combination("startTime and endTime must be at most 30 days apart.")
        window = TimeWindow(limit or 500, start, end)
        adding = None if kind is None else kind == 1
        rows: list[MarginChangeState] = await self._read(ledger_queries.margin_changes, account, instrument.name,
                                                         adding, window)
        return [_margin_change_row(r) for r in rows]

    # ADL quantiles -----------------------------------------------------------------------------
    def adl_quantile_sync(self, account: int, symbol: str | None) -> list[dict[str, object]]:
        """``GET /fapi/v1/adlQuantile`` (blocking): the engine's quantiles of the account's positions
        (``Engine.adl_quantiles``: its own deleveraging queue, ``core_rs/src/adl_quantiles.rs``)."""
        wanted = None if symbol is None else self.instrument(symbol).spec.symbol
        out: list[dict[str, object]] = []
        for held in self.client.adl_quantiles(account):
            instrument = self.registry.by_id(held.symbol)
            if instrument is not None and wanted in (None, held.symbol):
                out.append({"symbol": instrument.name, "adlQuantile": _quantile_values(held)})
        return out

    async def adl_quantile(self, account: int, symbol: str | None) -> list[dict[str, object]]:
        """:meth:`adl_quantile_sync` off the event loop."""
        if symbol is not None:
            self.instrument(symbol)
        return await anyio.to_thread.run_sync(self.adl_quantile_sync, account, symbol)


def _quantile_values(held: AdlQuantiles) -> dict[str, int]:
    """Binance's ``adlQuantile`` object: ``HEDGE`` (a flag, value 0) in cross hedge mode, else ``BOTH``."""
    return {"LONG": held.long, "SHORT": held.short, ("HEDGE" if held.cross_hedge else "BOTH"): held.both}


def _leg(instrument: Instrument, side: str, p: PositionRisk, mark: Decimal, leverage: int) -> LegFigures:
    notional = p.cost + p.unrealised_pnl
    return LegFigures(instrument, side, p.qty, p.entry_price, mark, p.unrealised_pnl, notional, p.maintenance,
               shapes.ceil8(abs(notional) / leverage), p.liquidation_price, leverage, p.isolated, p.isolated_margin)


def _income_row(r: IncomeState) -> dict[str, object]:
    return {"symbol": r.symbol, "incomeType": r.income_type, "income": formats.signed_quote(r.amount),
            "asset": shapes.ASSET, "info": r.info, "time": r.time, "tranId": r.tran_id,
            "tradeId": "" if r.trade_id is None else str(r.trade_id)}


def _margin_change_row(r: MarginChangeState) -> dict[str, object]:
    return {"symbol": r.symbol, "type": 1 if r.amount > 0 else 2, "deltaType": "USER_ADJUST",
            "amount": formats.quote(abs(r.amount)), "asset": shapes.ASSET, "time": r.time,
            "positionSide": r.position_side}


def _adl_row(instrument: Instrument, fill: AdlState) -> dict[str, object]:
    """An ADL fill in the shape of an order (Binance's ``adl_autoclose`` orders)."""
    quote = fill.price * fill.qty // SCALE
    return {
        "orderId": (fill.seq << 20) + fill.event_index, "symbol": fill.symbol, "status": "FILLED",
        "clientOrderId": "adl_autoclose", "price": formats.price(instrument, fill.price),
        "avgPrice": formats.price(instrument, fill.price), "origQty": formats.qty(instrument, fill.qty),
        "executedQty": formats.qty(instrument, fill.qty), "cumQuote": formats.quote(quote), "timeInForce": "IOC",
        "type": "LIMIT", "reduceOnly": True, "closePosition": False, "side": fill.side,
        "positionSide": fill.position_side, "stopPrice": "0", "workingType": "CONTRACT_PRICE", "origType": "LIMIT",
        "time": fill.time, "updateTime": fill.time,
    }
