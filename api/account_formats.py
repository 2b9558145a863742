"""Binance USD-M wire shapes of the account group: ``account``, ``balance``, ``positionRisk``,
``ACCOUNT_UPDATE`` and ``MARGIN_CALL``, from the engine's account view.

Invariants:
    * Money is exact: engine figures are 1e-8 Decimals printed with eight decimals; the only
      computed figures are a leg's notional (``cost + uPnL``, exact), its position initial margin
      (``|notional| / leverage``, rounded up to 1e-8 like every margin) and the entry price of a
      stream update (``cost / qty``, half-even at eight decimals, display only).
    * Signs follow Binance: ``positionAmt``/``pa`` and ``notional`` are negative for shorts, in
      hedge mode too (CCXT.md gotcha 10).
    * ``updateTime`` is never 0 (CCXT.md gotcha 9: ccxt would drop the asset).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

from api import formats
from api.instruments import Instrument
from derivatives.engine import AccountRisk
from derivatives.persistence.ledger_projection import AccountChange
from derivatives.units import SCALE, from_raw, to_raw

ASSET = "USDT"
EIGHT = Decimal("0.00000001")
ZERO = Decimal(0)


def money(value: Decimal) -> str:
    """A quote amount with eight decimals (values from the engine are exact at 1e-8)."""
    return f"{value.quantize(EIGHT, rounding=ROUND_HALF_EVEN):f}"


def ceil8(value: Decimal) -> Decimal:
    """Rounded up to 1e-8 (margins)."""
    return value.quantize(EIGHT, rounding=ROUND_CEILING)


def max_notional(instrument: Instrument, leverage: int) -> Decimal:
    """The largest notional the brackets allow at `leverage` (Binance ``maxNotionalValue``)."""
    caps = [b.notional_cap for b in instrument.spec.brackets if b.max_leverage >= leverage]
    return max(caps) if caps else instrument.spec.brackets[0].notional_cap


@dataclass(frozen=True, slots=True)
class LegFigures:
    """One position leg (or an empty one) with everything the wire shapes print."""

    instrument: Instrument
    position_side: str
    qty: Decimal
    entry_price: Decimal
    mark: Decimal
    unrealised_pnl: Decimal
    notional: Decimal
    maintenance: Decimal
    initial: Decimal
    liquidation_price: Decimal
    leverage: int
    isolated: bool
    isolated_wallet: Decimal

    @property
    def margin_type(self) -> str:
        """``isolated`` or ``cross`` (Binance's lower-case position field)."""
        return "isolated" if self.isolated else "cross"

    @property
    def isolated_margin(self) -> Decimal:
        """Binance ``isolatedMargin``: the isolated wallet plus uPnL (zero when cross)."""
        return self.isolated_wallet + self.unrealised_pnl if self.isolated else ZERO

    @property
    def open(self) -> bool:
        """True when the leg holds a position."""
        return self.qty != 0


def price_text(instrument: Instrument, value: Decimal) -> str:
    """A price at the symbol's tick digits (exact values: liquidation prices are on tick)."""
    return formats.price(instrument, to_raw(value))


def qty_text(instrument: Instrument, value: Decimal) -> str:
    """A signed quantity at the symbol's step digits."""
    return formats.qty(instrument, to_raw(value))


def position_risk(leg: LegFigures, now_ms: int) -> dict[str, object]:
    """One ``/fapi/v2|v3/positionRisk`` row (the union of both versions' fields)."""
    i = leg.instrument
    return {
        "symbol": i.name, "positionSide": leg.position_side, "positionAmt": qty_text(i, leg.qty),
        "entryPrice": money(leg.entry_price), "breakEvenPrice": money(leg.entry_price),
        "markPrice": money(leg.mark), "unRealizedProfit": money(leg.unrealised_pnl),
        "liquidationPrice": price_text(i, leg.liquidation_price), "isolatedMargin": money(leg.isolated_margin),
        "notional": money(leg.notional), "marginAsset": ASSET, "isolatedWallet": money(leg.isolated_wallet),
        "initialMargin": money(leg.initial),
        "maintMargin": money(leg.maintenance), "positionInitialMargin": money(leg.initial),
        "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0", "askNotional": "0",
        "leverage": str(leg.leverage), "marginType": leg.margin_type, "isAutoAddMargin": "false",
        "maxNotionalValue": money(max_notional(i, leg.leverage)), "updateTime": now_ms,
    }


def _account_position(leg: LegFigures, now_ms: int, v2: bool) -> dict[str, object]:
    i = leg.instrument
    row: dict[str, object] = {
        "symbol": i.name, "positionSide": leg.position_side, "positionAmt": qty_text(i, leg.qty),
        "unrealizedProfit": money(leg.unrealised_pnl), "isolatedMargin": money(leg.isolated_margin),
        "notional": money(leg.notional), "isolatedWallet": money(leg.isolated_wallet), "initialMargin": money(leg.initial),
        "maintMargin": money(leg.maintenance),
        "updateTime": now_ms,
    }
    if v2:
        row.update({"positionInitialMargin": money(leg.initial), "openOrderInitialMargin": "0",
                    "leverage": str(leg.leverage), "isolated": leg.isolated, "entryPrice": money(leg.entry_price),
                    "breakEvenPrice": money(leg.entry_price),
                    "maxNotional": money(max_notional(i, leg.leverage)), "bidNotional": "0", "askNotional": "0"})
    return row


@dataclass(frozen=True, slots=True)
class Totals:
    """Account-level figures of one view."""

    wallet: Decimal
    cross_wallet: Decimal
    unrealised: Decimal
    cross_unrealised: Decimal
    margin_balance: Decimal
    maintenance: Decimal
    initial: Decimal
    position_initial: Decimal
    open_order_initial: Decimal
    available: Decimal
    withdrawable: Decimal


def totals(view: AccountRisk | None, legs: list[LegFigures]) -> Totals:
    """Totals of an account (all zero for an account the engine does not know yet)."""
    if view is None:
        return Totals(ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO)
    isolated = [leg for leg in legs if leg.isolated]
    position_initial = sum((leg.initial for leg in legs), ZERO)
    unrealised = sum((leg.unrealised_pnl for leg in legs), ZERO)
    isolated_unrealised = sum((leg.unrealised_pnl for leg in isolated), ZERO)
    # Binance's asset totals span cross and isolated positions; the engine's are the cross part's.
    margin_balance = view.margin_balance + sum((leg.isolated_margin for leg in isolated), ZERO)
    maintenance = view.maintenance + sum((leg.maintenance for leg in isolated), ZERO)
    initial = view.initial_margin + sum((leg.initial for leg in isolated), ZERO)
    return Totals(view.wallet, view.cross_wallet, unrealised, unrealised - isolated_unrealised, margin_balance,
                  maintenance, initial, position_initial, max(ZERO, initial - position_initial), view.available,
                  max(ZERO, view.withdrawable))


def _asset(t: Totals, now_ms: int) -> dict[str, object]:
    return {
        "asset": ASSET, "walletBalance": money(t.wallet), "unrealizedProfit": money(t.unrealised),
        "marginBalance": money(t.margin_balance), "maintMargin": money(t.maintenance),
        "initialMargin": money(t.initial), "positionInitialMargin": money(t.position_initial),
        "openOrderInitialMargin": money(t.open_order_initial), "crossWalletBalance": money(t.cross_wallet),
        "crossUnPnl": money(t.cross_unrealised), "availableBalance": money(t.available),
        "maxWithdrawAmount": money(t.withdrawable), "marginAvailable": True, "updateTime": now_ms,
    }


def account(t: Totals, legs: list[LegFigures], now_ms: int, v2: bool) -> dict[str, object]:
    """``/fapi/v3/account`` (``v2``: the v2 superset, with every symbol's legs)."""
    body: dict[str, object] = {
        "totalInitialMargin": money(t.initial), "totalMaintMargin": money(t.maintenance),
        "totalWalletBalance": money(t.wallet), "totalUnrealizedProfit": money(t.unrealised),
        "totalMarginBalance": money(t.margin_balance), "totalPositionInitialMargin": money(t.position_initial),
        "totalOpenOrderInitialMargin": money(t.open_order_initial), "totalCrossWalletBalance": money(t.cross_wallet),
        "totalCrossUnPnl": money(t.cross_unrealised), "availableBalance": money(t.available),
        "maxWithdrawAmount": money(t.withdrawable),
        "assets": [_asset(t, now_ms)],
        "positions": [_account_position(leg, now_ms, v2) for leg in legs if v2 or leg.open],
    }
    if v2:
        body = {"feeTier": 0, "feeBurn": False, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                "updateTime": now_ms, "multiAssetsMargin": False, "tradeGroupId": -1, **body}
    return body


def balance(t: Totals, account_alias: str, now_ms: int) -> list[dict[str, object]]:
    """``/fapi/v2|v3/balance``."""
    return [{"accountAlias": account_alias, "asset": ASSET, "balance": money(t.wallet),
             "crossWalletBalance": money(t.cross_wallet), "crossUnPnl": money(t.cross_unrealised),
             "availableBalance": money(t.available), "maxWithdrawAmount": money(t.withdrawable),
             "marginAvailable": True, "updateTime": now_ms}]


def account_update(change: AccountChange, instruments: dict[str, Instrument],
                   marks: dict[str, int]) -> dict[str, object]:
    """User-stream ``ACCOUNT_UPDATE`` of one account change (``up`` at the latest mark)."""
    positions = []
    for update in change.positions.values():
        instrument = instruments.get(update.symbol)
        if instrument is None:
            continue
        mark = marks.get(update.symbol)
        unrealised = 0 if mark is None or update.qty == 0 else update.qty * mark // SCALE - update.cost
        entry = ZERO if update.qty == 0 else from_raw(update.cost) / from_raw(update.qty)
        positions.append({
            "s": update.symbol, "pa": formats.qty(instrument, update.qty), "ep": formats.decimal_text(entry, 8),
            "bep": formats.decimal_text(entry, 8), "cr": formats.signed_quote(update.realised_total),
            "up": formats.signed_quote(unrealised), "mt": "cross" if update.isolated_wallet is None else "isolated",
            "iw": formats.signed_quote(update.isolated_wallet or 0), "ps": update.position_side, "ma": ASSET,
        })
    return {"e": "ACCOUNT_UPDATE", "E": change.time_ms, "T": change.time_ms, "a": {
        "m": change.reason,
        "B": [{"a": ASSET, "wb": formats.signed_quote(change.wallet), "cw": formats.signed_quote(change.wallet),
               "bc": formats.signed_quote(change.balance_change)}],
        "P": positions,
    }}


def margin_call(view: AccountRisk, legs: list[LegFigures], now_ms: int) -> dict[str, object]:
    """User-stream ``MARGIN_CALL`` of an account whose margin ratio crossed the threshold."""
    return {"e": "MARGIN_CALL", "E": now_ms, "cw": money(view.cross_wallet), "p": [
        {"s": leg.instrument.name, "ps": leg.position_side, "pa": qty_text(leg.instrument, leg.qty), "mt": "CROSSED",
         "iw": "0", "mp": money(leg.mark), "up": money(leg.unrealised_pnl), "mm": money(leg.maintenance)}
        for leg in legs if leg.open
    ]}
