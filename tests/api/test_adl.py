"""The one ADL quantile rule (``risk.adl.quantiles``, served by ``adlQuantile`` and the risk desk)
and the BitMEX score as the engine computes it."""

from __future__ import annotations

from decimal import Decimal as D

from api.services.adl import bitmex_score
from risk.adl import Candidate, quantiles, rank


def test_equal_positions_fill_the_five_quantiles_in_score_order() -> None:
    ranked = quantiles(rank(Candidate(account, 1, D(10 - account)) for account in range(5)))
    assert ranked == {0: 4, 1: 3, 2: 2, 3: 1, 4: 0}


def test_buckets_follow_the_share_of_quantity_ahead() -> None:
    ranked = quantiles(rank([Candidate(7, 50, D(3)), Candidate(8, 25, D(2)), Candidate(9, 25, D(1))]))
    assert ranked == {7: 4, 8: 2, 9: 1}  # 0 %, 50 %, 75 % of the side ahead of them


def test_a_position_alone_on_its_side_is_first_in_line() -> None:
    assert quantiles(rank([Candidate(1, 3, D(-1))])) == {1: 4}


def test_ties_go_to_the_lower_account_and_flat_positions_are_not_ranked() -> None:
    assert quantiles(rank([Candidate(5, 1, D(1)), Candidate(3, 1, D(1)), Candidate(4, 0, D(9))])) == {3: 4, 5: 2}


def test_bitmex_score_multiplies_profit_and_divides_loss_by_leverage() -> None:
    # long 1 @ 100, mark 110, margin balance 55: pnl% = 10/100, leverage = 110/55 = 2
    assert bitmex_score(D(1), D(100), D(10), D(110), D(55)) == D("0.2")
    # long 1 @ 100, mark 90, margin balance 45: pnl% = -10/100, leverage = 90/45 = 2
    assert bitmex_score(D(1), D(100), D(-10), D(90), D(45)) == D("-0.05")
