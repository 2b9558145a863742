"""End to end: the ADL service ranks a real engine's positions, installs the queue, and a
liquidation that reaches ADL deleverages in exactly that order."""

from __future__ import annotations

from decimal import Decimal as D

from derivatives.commands import Deposit, SetPositionMode
from derivatives.demo import BTCUSDT
from derivatives.enums import PositionSide, Side
from derivatives.events import (
    AdlRankingSet,
    AutoDeleveraged,
    Event,
    LiquidationStarted,
    PositionTakenOver,
)
from risk.adl import AdlMode
from risk.adl_service import AdlService
from risk.feed import EventFeed
from risk.positions import PositionView
from tests.risk.conftest import BTC, Exchange

BANKRUPT = 20
SELLER = 9


def _wire(exchange: Exchange, mode: AdlMode) -> tuple[EventFeed, AdlService]:
    view = PositionView()
    feed = EventFeed(exchange.client, [view.apply])
    return feed, AdlService(
        view, exchange.submit, lambda: [BTCUSDT], mode=mode, stale=lambda: feed.failure is not None
    )


def _gap(exchange: Exchange, mark: str) -> list[Event]:
    events = exchange.mark(mark)
    assert any(isinstance(e, LiquidationStarted) and e.account == BANKRUPT for e in events)
    assert not any(
        isinstance(e, PositionTakenOver) for e in events
    )  # the empty fund cannot take it
    return events


async def test_bitmex_published_example_ranked_installed_and_deleveraged_in_order(
    exchange: Exchange,
) -> None:
    # [P] BitMEX's example (https://www.bitmex.com/app/autoDeleveragingExamples): six longs with
    # quantities 10, 10, 20, 30, 20, 10 ranked 2, 5, 4, 1, 6, 3; a short of 20 is liquidated and
    # accounts 2 and 5 are deleveraged at its bankruptcy price, 10 contracts each.
    # Here account 10 + i is BitMEX's account i, 0.01 BTC a contract, all entered at 50,000;
    # their wallets set the effective leverage that produces BitMEX's ranking.
    wallets = {11: 4_000, 12: 1_000, 13: 12_000, 14: 9_000, 15: 4_000, 16: 5_000}
    qty = {11: "0.1", 12: "0.1", 13: "0.2", 14: "0.3", 15: "0.2", 16: "0.1"}
    exchange.run(*(Deposit(a, D(w)) for a, w in wallets.items()), Deposit(BANKRUPT, D(600)))
    exchange.cross(BANKRUPT, 13, Side.BUY, "0.2", "50000")  # the short of 20 that will go bankrupt
    for account in (11, 12, 14, 15, 16):
        exchange.cross(SELLER, account, Side.BUY, qty[account], "50000")
    feed, adl = _wire(exchange, AdlMode.BITMEX)
    exchange.mark("51000")
    feed.catch_up()
    installed = await adl.step()
    longs = (12, 15, 14, 11, 16, 13)
    assert [(c.side, c.accounts) for c in installed] == [
        (Side.BUY, longs),
        (Side.SELL, (BANKRUPT, SELLER)),
    ]
    assert adl.installed(BTC, Side.BUY) == longs
    # Both shorts lose: BitMEX divides a loss by the leverage, so the bankrupt-to-be (16.7x)
    # comes first.
    assert [e.event for e in exchange.client.read_events(feed.after)] == [
        AdlRankingSet(BTC, Side.BUY, 6),
        AdlRankingSet(BTC, Side.SELL, 2),
    ]
    # The engine's quantiles follow the installed queue: quantity ahead of each 0, 10, 30, 60,
    # 70, 80 % → 4, 4, 3, 1, 1, 0.
    quantile = {a: exchange.client.adl_quantiles(a)[0].both for a in longs}
    assert quantile == {12: 4, 15: 4, 14: 3, 11: 1, 16: 1, 13: 0}
    feed.catch_up()
    assert await adl.step() == []  # unchanged rankings are not resubmitted

    # The gap: the short's bankruptcy price is 50,000 + 598 / 0.2 = 52,990 (floored to the tick).
    events = _gap(exchange, "53000")
    adl_events = [e for e in events if isinstance(e, AutoDeleveraged)]
    assert adl_events == [
        AutoDeleveraged(12, BANKRUPT, BTC, D("-0.1"), D("52990")),
        AutoDeleveraged(15, BANKRUPT, BTC, D("-0.1"), D("52990")),
    ]
    # Account 15 keeps 0.1 and is re-ranked (MECHANICS §8.2 step 4): BitMEX "may or may not remain".
    feed.catch_up()
    rerank = await adl.step()
    assert rerank[0].side is Side.BUY
    assert 12 not in rerank[0].accounts
    assert exchange.client.adl_quantiles(12) == []


async def test_engine_follows_the_installed_binance_ranking_not_its_own_bitmex_fallback(
    exchange: Exchange,
) -> None:
    # Account 11 bought at 51,200 on 500 USDT, account 12 at 48,000 on 2,000, account 13 at
    # 50,000 on 100,000. Ranked at 51,000 with Binance's score (only profit counts), 11 has none
    # and comes last: 12, 13, 11. The engine's own fallback, BitMEX's score at the gap price
    # 53,000, would take 11 first (PNL% 3.5 % x 7.8x = 0.275) then 12 (10.4 % x 2.1x = 0.221).
    exchange.run(
        Deposit(11, D(500)),
        Deposit(12, D(2_000)),
        Deposit(13, D(100_000)),
        Deposit(BANKRUPT, D(600)),
    )
    exchange.cross(SELLER, 11, Side.BUY, "0.1", "51200")
    exchange.cross(SELLER, 12, Side.BUY, "0.1", "48000")
    exchange.cross(BANKRUPT, 13, Side.BUY, "0.2", "50000")
    feed, adl = _wire(exchange, AdlMode.BINANCE)
    exchange.mark("51000")
    feed.catch_up()
    await adl.step()
    assert adl.installed(BTC, Side.BUY) == (12, 13, 11)
    adl_events = [e for e in _gap(exchange, "53000") if isinstance(e, AutoDeleveraged)]
    assert [(e.account, e.qty) for e in adl_events] == [(12, D("-0.1")), (13, D("-0.1"))]


async def test_hedge_accounts_share_one_quantile_and_a_stale_view_submits_nothing(
    exchange: Exchange,
) -> None:
    exchange.run(SetPositionMode(6, True))
    exchange.cross(SELLER, 6, Side.BUY, "0.1", "50000", taker_leg=PositionSide.LONG)
    exchange.cross(SELLER, 6, Side.SELL, "0.3", "50000", taker_leg=PositionSide.SHORT)
    exchange.cross(SELLER, 7, Side.BUY, "0.1", "50000")
    feed, adl = _wire(exchange, AdlMode.BITMEX)
    exchange.mark("50500")
    feed.catch_up()
    await adl.step()
    # Longs 6 (0.1) and 7 (0.1) split the long side; 6's short leg is the only short but the
    # seller's: both legs of 6 show the higher of its two quantiles, flagged HEDGE.
    [entry] = exchange.client.adl_quantiles(6)
    assert entry.cross_hedge and entry.both == 0
    assert entry.long == entry.short >= 2
    feed.failure = "evicted"
    exchange.mark("51000")
    feed.catch_up()
    assert await adl.step() == []
