"""ADL quantiles are an engine query (``Engine.adl_queue``, ``Engine.adl_quantiles``,
``core_rs/src/adl_quantiles.rs``): the position of each account in the queue the engine itself
would deleverage (the installed ranking first, then its BitMEX order), by the one quantile rule
``4 - floor(5 * quantity ahead / side's quantity)``. Worked examples on a real engine."""

from __future__ import annotations

from decimal import Decimal as D

from derivatives.commands import Deposit, SetAdlRanking, SetMarginType, SetPositionMode
from derivatives.enums import PositionSide, Side
from derivatives.events import AutoDeleveraged, LiquidationStarted
from derivatives.risk_queries import AdlQuantiles
from tests.risk.conftest import BTC, Exchange

SELLER = 9
BANKRUPT = 20
BITMEX_QTY = {11: "0.1", 12: "0.1", 13: "0.2", 14: "0.3", 15: "0.2", 16: "0.1"}
"""BitMEX's example longs (account 10 + i is BitMEX's account i, 0.01 BTC a contract)."""


def queue(exchange: Exchange, side: Side) -> list[tuple[int, str, int]]:
    """(account, quantity, quantile) of the engine's queue, first out first."""
    entries = exchange.client.adl_queue(BTC, side) or []
    return [(e.account, f"{e.qty.normalize():f}", e.quantile) for e in entries]


def bitmex_longs(exchange: Exchange) -> None:
    for account, qty in BITMEX_QTY.items():
        exchange.run(Deposit(account, D(10_000)))
        exchange.cross(SELLER, account, Side.BUY, qty, "50000")


def test_the_published_bitmex_table_in_the_installed_order(exchange: Exchange) -> None:
    # [P] https://www.bitmex.com/app/autoDeleveragingExamples: ranked 2, 5, 4, 1, 6, 3. Quantity
    # ahead of each, of 1.0: 0, 0.1, 0.3, 0.6, 0.7, 0.8 -> 4 - floor(5 x share) = 4, 4, 3, 1, 1, 0.
    bitmex_longs(exchange)
    exchange.run(SetAdlRanking(BTC, Side.BUY, (12, 15, 14, 11, 16, 13)))
    assert queue(exchange, Side.BUY) == [
        (12, "0.1", 4), (15, "0.2", 4), (14, "0.3", 3), (11, "0.1", 1), (16, "0.1", 1), (13, "0.2", 0)]
    # The seller's short of 1.0 is alone on its side: first in line, 4 (the rule's decision).
    assert queue(exchange, Side.SELL) == [(SELLER, "1", 4)]
    assert exchange.client.adl_quantiles(12) == [AdlQuantiles(BTC, long=0, short=0, both=4, cross_hedge=False)]
    assert exchange.client.adl_quantiles(13) == [AdlQuantiles(BTC, long=0, short=0, both=0, cross_hedge=False)]
    assert exchange.client.adl_quantiles(42) == [], "nothing held, nothing shown"


def test_accounts_the_ranking_leaves_out_queue_behind_it(exchange: Exchange) -> None:
    # The installed ranking omits 12 (BitMEX: "may or may not remain"); the engine appends it.
    # Ahead of each, of 1.0: 15: 0, 14: 0.2, 11: 0.5, 16: 0.6, 13: 0.7, 12: 0.9 -> 4, 3, 2, 1, 1, 0.
    bitmex_longs(exchange)
    exchange.run(SetAdlRanking(BTC, Side.BUY, (15, 14, 11, 16, 13)))
    assert [(a, q) for a, _, q in queue(exchange, Side.BUY)] == [(15, 4), (14, 3), (11, 2), (16, 1), (13, 1), (12, 0)]


def test_without_a_ranking_the_queue_is_the_bitmex_order_the_engine_deleverages_in(exchange: Exchange) -> None:
    # BitMEX's example again, wallets setting the effective leverage (tests/risk/test_adl_service.py):
    # a short of 0.2 (account 20, 600 USDT) sold to account 13. No ranking is installed.
    wallets = {11: 4_000, 12: 1_000, 13: 12_000, 14: 9_000, 15: 4_000, 16: 5_000}
    exchange.run(*(Deposit(a, D(w)) for a, w in wallets.items()), Deposit(BANKRUPT, D(600)))
    exchange.cross(BANKRUPT, 13, Side.BUY, "0.2", "50000")
    for account in (11, 12, 14, 15, 16):
        exchange.cross(SELLER, account, Side.BUY, BITMEX_QTY[account], "50000")
    exchange.mark("51000")
    assert [(a, q) for a, _, q in queue(exchange, Side.BUY)] == [(12, 4), (15, 4), (14, 3), (11, 1), (16, 1), (13, 0)]
    # The gap: the short's bankruptcy price 50,000 + 598 / 0.2 = 52,990; the fund (empty) cannot
    # take it, so the first two of that queue are deleveraged, 0.1 each.
    events = exchange.mark("53000")
    assert any(isinstance(e, LiquidationStarted) and e.account == BANKRUPT for e in events)
    assert [e for e in events if isinstance(e, AutoDeleveraged)] == [
        AutoDeleveraged(12, BANKRUPT, BTC, D("-0.1"), D("52990")),
        AutoDeleveraged(15, BANKRUPT, BTC, D("-0.1"), D("52990")),
    ]


def test_hedge_legs_share_one_value_in_cross_margin_only(exchange: Exchange) -> None:
    # Account 6 (hedge, cross) LONG 0.1 and SHORT 0.3; account 7 (one-way) long 0.1; account 5
    # (hedge, BTC isolated) LONG 0.1 and SHORT 0.1; the seller takes the other sides (long 0.1).
    exchange.run(SetPositionMode(6, True), SetPositionMode(5, True), SetMarginType(5, BTC, True))
    exchange.cross(SELLER, 6, Side.BUY, "0.1", "50000", taker_leg=PositionSide.LONG)
    exchange.cross(SELLER, 6, Side.SELL, "0.3", "50000", taker_leg=PositionSide.SHORT)
    exchange.cross(SELLER, 7, Side.BUY, "0.1", "50000")
    exchange.cross(SELLER, 5, Side.BUY, "0.1", "50000", taker_leg=PositionSide.LONG)
    exchange.cross(SELLER, 5, Side.SELL, "0.1", "50000", taker_leg=PositionSide.SHORT)
    exchange.run(SetAdlRanking(BTC, Side.BUY, (7, SELLER, 6, 5)), SetAdlRanking(BTC, Side.SELL, (5, 6)))
    # Longs 0.4: 7 ahead 0 -> 4, seller 0.1 -> 3, 6 0.2 -> 2, 5 0.3 -> 1. Shorts 0.4: 5 ahead 0
    # -> 4, 6 ahead 0.1 -> 3.
    assert [(a, q) for a, _, q in queue(exchange, Side.BUY)] == [(7, 4), (SELLER, 3), (6, 2), (5, 1)]
    assert [(a, q) for a, _, q in queue(exchange, Side.SELL)] == [(5, 4), (6, 3)]
    # Cross hedge: both legs show the higher, 3 (Binance's HEDGE flag); isolated: each its own.
    assert exchange.client.adl_quantiles(6) == [AdlQuantiles(BTC, long=3, short=3, both=0, cross_hedge=True)]
    assert exchange.client.adl_quantiles(5) == [AdlQuantiles(BTC, long=1, short=4, both=0, cross_hedge=False)]
    assert exchange.client.adl_quantiles(7) == [AdlQuantiles(BTC, long=0, short=0, both=4, cross_hedge=False)]
