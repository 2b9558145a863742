"""ADL ranking: BitMEX's published example table, the score formulas, and candidates from a view."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from derivatives import _core
from derivatives.commands import Deposit, SetLeverage, SetPositionMode
from derivatives.demo import BTCUSDT
from derivatives.enums import PositionSide, Side
from derivatives.events import LiquidationStarted
from derivatives.units import to_raw
from risk.adl import (
    AdlMode,
    Candidate,
    binance_score,
    bitmex_score,
    rank,
    side_candidates,
)
from risk.margin import raw_brackets
from risk.positions import PositionView
from tests.risk.conftest import BTC, Exchange

r = to_raw


def test_bitmex_published_table_ranks() -> None:
    # [P] BitMEX, "Auto-Deleveraging Further Information", https://www.bitmex.com/app/autoDeleveragingExamples:
    # six longs (account, quantity, PNL ranking) = (1,10,3) (2,10,6) (3,20,1) (4,30,4) (5,20,5)
    # (6,10,2) are ranked 2, 5, 4, 1, 6, 3 with percentiles 20 %, 40 %, 60 %, 80 %, 80 %, 100 %.
    table = [(1, 10, 3), (2, 10, 6), (3, 20, 1), (4, 30, 4), (5, 20, 5), (6, 10, 2)]
    ranked = rank(Candidate(account, qty, D(score)) for account, qty, score in table)
    assert [c.account for c in ranked] == [2, 5, 4, 1, 6, 3]
    # Their quantiles are the engine's (tests/risk/test_adl_quantiles.py).


def test_ties_are_broken_by_account_id() -> None:
    ranked = rank([Candidate(9, 1, D(1)), Candidate(3, 1, D(1)), Candidate(5, 1, D(2))])
    assert [c.account for c in ranked] == [5, 3, 9]


def test_bitmex_score_multiplies_profit_and_divides_loss_by_effective_leverage() -> None:
    # [D] from the BitMEX formula: 1 BTC long entered at 40,000 (AvgEntryValue 40,000).
    # Mark 44,000 and MB 4,400: PNL% = 10 %, EffectiveLeverage = 44,000 / 4,400 = 10 -> 1.0.
    assert bitmex_score(r(1), r(40000), r(44000), r(4400)) == D(1)
    # Mark 36,000 and MB 3,600: PNL% = -10 %, leverage 10 -> -0.01.
    assert bitmex_score(r(1), r(40000), r(36000), r(3600)) == D("-0.01")
    # A short (signed values) in profit: 2 BTC short at 50,000, mark 45,000, MB 9,000:
    # PNL% = (-90,000 + 100,000) / 100,000 = 10 %, leverage 90,000 / 9,000 = 10 -> 1.0.
    assert bitmex_score(r(-2), r(-100000), r(45000), r(9000)) == D(1)
    assert bitmex_score(r(1), r(40000), r(40000), r(100)) == D(0)
    with pytest.raises(ValueError, match="positive margin balance"):
        bitmex_score(r(1), r(40000), r(40000), 0)


def test_binance_score_is_pnl_percent_times_margin_ratio() -> None:
    # [D] from the Binance formula (MECHANICS §8.1): WB 1,000, UP 200, MM 60:
    # PnlPercent = 200 / 1,000 = 0.2; MarginRatio = 60 / 1,200 = 0.05 -> 0.01.
    assert binance_score(r(1000), r(200), r(60)) == D("0.01")
    assert binance_score(r(1000), r(-200), r(60)) == D(0)  # no profit, no rank
    # max(1 USDT, WB) in the denominator: 1 / 1 x 1 / 1.5.
    assert binance_score(r("0.5"), r(1), r(1)) == D("0.6666666666666666666666666666666666666667")
    assert binance_score(r(10), r(-20), r(1)) == D(0)  # WB + UP <= 0


def test_candidates_from_the_view_rank_one_side_and_skip_the_fund_and_the_underwater(
    exchange: Exchange,
) -> None:
    exchange.run(
        Deposit(_core.INSURANCE_FUND, D(100_000)),
        Deposit(20, D(1_100)),
        SetPositionMode(6, True),
        SetLeverage(20, BTC, 50),
    )
    exchange.cross(1, 2, Side.BUY, "0.1", "50000")  # 2 long 0.1 @ 50,000
    exchange.cross(1, 3, Side.BUY, "0.2", "49900")  # 3 long 0.2 @ 49,900
    exchange.cross(1, 6, Side.BUY, "0.1", "49950", taker_leg=PositionSide.LONG)  # hedge long leg
    exchange.cross(1, 6, Side.SELL, "0.1", "49950", taker_leg=PositionSide.SHORT)  # and short leg
    exchange.cross(1, 20, Side.BUY, "0.4", "50000")  # 20 long 0.4 on 1,100 at 50x
    exchange.mark("49500")
    view = PositionView()
    view.apply(0, exchange.all_events())
    brackets = {BTC: raw_brackets(BTCUSDT)}
    longs = rank(side_candidates(view, brackets, BTC, Side.BUY, AdlMode.BITMEX))
    # Every long loses at 49,500, and PNL% / leverage puts the most leveraged loss nearest zero:
    # account 20 (-1 % / 22.2x, MB 1,100 - 10 fee - 200 = 890) first, then 3 (-0.8 % at ~0.01x),
    # 6 (-0.9 %) and 2 (-1 %), whose leverage is about the same.
    assert [c.account for c in longs] == [20, 3, 6, 2]
    assert [c.qty for c in longs if c.account == 6] == [r("0.1")]
    shorts = rank(side_candidates(view, brackets, BTC, Side.SELL, AdlMode.BITMEX))
    assert [c.account for c in shorts] == [1, 6]  # account 1 profits more per unit of leverage
    # At 47,400 account 20 is under maintenance (MB 1,090 - 1,040 = 50 < MM 75.84): in (or about
    # to be in) liquidation, so it is never ranked.
    view.marks[BTC] = r("47400")
    assert [
        c.account for c in rank(side_candidates(view, brackets, BTC, Side.BUY, AdlMode.BITMEX))
    ] == [3, 6, 2]
    # The engine agrees: it liquidates 20 at that mark and the fund takes the position over; the
    # fund is never ranked either.
    events = exchange.mark("47400")
    view.apply(view.seq, exchange.client.read_events(view.seq))
    assert any(isinstance(e, LiquidationStarted) and e.account == 20 for e in events)
    assert view.holders(BTC) == [1, 2, 3, 6, _core.INSURANCE_FUND]
    assert [
        c.account for c in rank(side_candidates(view, brackets, BTC, Side.BUY, AdlMode.BITMEX))
    ] == [3, 6, 2]
    # Binance's score gives every losing account 0: ties by account id.
    assert [
        c.account for c in rank(side_candidates(view, brackets, BTC, Side.BUY, AdlMode.BINANCE))
    ] == [2, 3, 6]
