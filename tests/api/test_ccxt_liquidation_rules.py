"""The liquidation rules where a trader meets them, through the stock ccxt ``binanceusdm`` client
(httpx for the admins): the underwater insurance fund offered to the book before anyone is
auto-deleveraged, tier reduction of a cross account leg by leg (largest maintenance margin
first), and the platform-wide withdrawal gate while an account's loss is uncovered. Marks are set
as the oracle would (the test's operator commands); each number is derived by hand beside it
(BTCUSDT brackets 0–50k 0.4 %, 50k–250k 0.5 % − 50, 250k–3M 1 % − 1,300; taker 0.05 %, maker
0.02 %, liquidation fee 1.25 %; ETHUSDT's first bracket 0.4 %). SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal as D

import ccxt
import pytest

from api.main import create_app
from derivatives import _core
from derivatives.commands import Deposit, SetMarkPrice
from derivatives.demo import DEMO_INSTRUMENTS, ETHUSDT
from derivatives.engine import EngineClient
from tests.api.conftest import (
    ADMINS,
    BTC,
    Trader,
    admin,
    ccxt_config,
    execute,
    make_database,
    make_trader,
    publish_marks,
    settings_for,
)
from tests.api.server import RunningServer, start
from tests.api.test_auth import call, signed_query

BTC_PAIR, ETH_PAIR, SOL_PAIR = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"
SOLUSDT = replace(ETHUSDT, symbol=3, name="SOLUSDT", min_notional=D(5))
"""A new listing the oracle has not marked yet (ETHUSDT's filters and brackets)."""
SOL = SOLUSDT.symbol


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A fresh server per test (each starts from an empty insurance fund), on each backend."""
    db = make_database(request.param, tmp_path_factory.mktemp("db"))
    running = start(create_app(settings_for(db), EngineClient(), instruments=(*DEMO_INSTRUMENTS, SOLUSDT)))
    publish_marks(running)
    yield running
    running.stop()
    db.drop()


def client(server: RunningServer, trader: Trader) -> ccxt.binanceusdm:
    exchange = ccxt.binanceusdm(ccxt_config(server, trader))
    exchange.load_markets()
    return exchange


def mark(server: RunningServer, symbol: int, price: str) -> None:
    execute(server, SetMarkPrice(symbol, D(price), D(price)))


def fund_wallet(server: RunningServer) -> D:
    fund = server.services.gateway.client.account(_core.INSURANCE_FUND)
    assert fund is not None
    return fund.wallet


def sizes(exchange: ccxt.binanceusdm) -> dict[str, float]:
    return {p["symbol"]: p["contracts"] for p in exchange.fetch_positions() if p["contracts"]}


def adl_orders(server: RunningServer, trader: Trader) -> list[tuple[str, str, str, str]]:
    rows = call(server, "GET", "/fapi/v1/forceOrders", trader, signed_query(trader.secret, autoCloseType="ADL")).json()
    return [(o["side"], o["executedQty"], o["avgPrice"], o["status"]) for o in rows]


def fund_holding_a_long(server: RunningServer) -> tuple[Trader, ccxt.binanceusdm]:
    """The fund (1,000 USDT) holding a taken-over long of 0.4 at 47,525; returns the seller, short 0.4.

    The victim buys 0.4 at 50,000 with 1,000 (taker fee 10: wallet 990, bankruptcy price 50,000 −
    990 / 0.4 = 47,525). At the mark 47,600 its margin balance is 990 − 960 = 30 < 0.4 × 47,600
    × 0.4 % = 76.16: nobody bids, the fund takes the long over at 47,525.
    """
    execute(server, Deposit(_core.INSURANCE_FUND, D(1000)))
    seller_trader = make_trader(server, funds="10000000")
    seller, victim = client(server, seller_trader), client(server, make_trader(server, funds="1000"))
    seller.create_order(BTC_PAIR, "limit", "sell", 0.4, 50000)
    victim.create_order(BTC_PAIR, "limit", "buy", 0.4, 50000, {"timeInForce": "IOC"})
    mark(server, BTC, "47600")
    assert victim.fetch_positions([BTC_PAIR]) == []
    ledger = [(e["info"]["incomeType"], e["info"]["income"]) for e in victim.fetch_ledger()]
    assert ledger == [("TRANSFER", "1000.00000000"), ("COMMISSION", "-10.00000000"),
                      ("REALIZED_PNL", "-990.00000000")]  # 0.4 × (47,525 − 50,000), taken over
    # The fund's bankruptcy price is (19,010 − 1,000) / 0.4 = 45,025; it falls under maintenance
    # (1,000 + 0.4 × (mark − 47,525) < 0.0016 × mark) below 45,205.22. At 46,000 it is safe.
    mark(server, BTC, "46000")
    assert fund_wallet(server) == D(1000)
    return seller_trader, seller


def test_the_underwater_fund_sells_into_a_resting_bid_and_nobody_is_deleveraged(server: RunningServer) -> None:
    seller_trader, seller = fund_holding_a_long(server)
    bid = seller.create_order(BTC_PAIR, "limit", "buy", 1, 45100)  # above the fund's 45,025
    # Mark 45,200: the fund's margin balance 1,000 + 0.4 × (45,200 − 47,525) = 70 < 72.32: its
    # long is offered to the book at 45,025 and the bid takes all 0.4 at 45,100.
    mark(server, BTC, "45200")
    assert seller.fetch_order(bid["id"], BTC_PAIR)["filled"] == 0.4
    [trade] = [t for t in seller.fetch_my_trades(BTC_PAIR) if t["order"] == bid["id"]]
    assert (trade["side"], trade["amount"], trade["price"]) == ("buy", 0.4, 45100.0)
    assert sizes(seller) == {}, "the bid closed the seller's short"
    assert adl_orders(server, seller_trader) == [], "no ADL event"
    assert fund_wallet(server) == D(30), "1,000 + 0.4 × (45,100 − 47,525)"


def test_without_a_bid_the_underwater_fund_is_deleveraged(server: RunningServer) -> None:
    seller_trader, seller = fund_holding_a_long(server)
    # Mark 45,200 and no bid: the 0.4 the book does not take is deleveraged at the fund's
    # bankruptcy price 45,025 against the only short, the seller's.
    mark(server, BTC, "45200")
    assert adl_orders(server, seller_trader) == [("BUY", "0.400", "45025.0", "FILLED")]
    assert sizes(seller) == {}
    incomes = call(server, "GET", "/fapi/v1/income", seller_trader, signed_query(seller_trader.secret)).json()
    assert ("REALIZED_PNL", "1990.00000000", "ADL") in [(r["incomeType"], r["income"], r["info"]) for r in incomes]
    assert fund_wallet(server) == D(0), "1,000 + 0.4 × (45,025 − 47,525)"


def test_a_cross_account_is_tier_reduced_on_its_largest_leg_first(server: RunningServer) -> None:
    maker = client(server, make_trader(server, funds="10000000"))
    trader = make_trader(server, funds="7865")
    longer = client(server, trader)
    # Long 6 BTC at 50,000 (leverage 50) and 10 ETH at 3,000: fees 150 + 15 leave a wallet of 7,700.
    longer.set_leverage(50, BTC_PAIR)
    for pair, qty, price in ((BTC_PAIR, 6, 50000), (ETH_PAIR, 10, 3000)):
        maker.create_order(pair, "limit", "sell", qty, price)
        longer.create_order(pair, "limit", "buy", qty, price, {"timeInForce": "IOC"})
    maker.create_order(BTC_PAIR, "limit", "buy", 1, 48800)
    # Mark 49,000: MB = 7,700 − 6 × 1,000 = 1,700; MM = BTC 294,000 × 1 % − 1,300 = 1,640 plus ETH
    # 30,000 × 0.4 % = 120: 1,760 > 1,700. BTC, the larger MM, is reduced first, at its bankruptcy
    # price (300,000 − (1,700 + 6,000)) / 6 = 48,716.67 → 48,716.7: keeping r BTC leaves
    # MB' = 1,700 r / 6 against MM' = 120 + 490 r − 1,300 (bracket 3), so r ≤ 5.7097: keep 5.709,
    # sell 0.291 (into the 48,800 bid). ETH is untouched.
    mark(server, BTC, "49000")
    assert sizes(longer) == {BTC_PAIR: 5.709, ETH_PAIR: 10.0}
    [liquidation] = longer.fetch_my_liquidations(BTC_PAIR)
    assert (liquidation["contracts"], liquidation["price"], liquidation["info"]["type"]) == (0.291, 48800.0,
                                                                                           "LIQUIDATION")
    # PnL 0.291 × (48,800 − 50,000) = −349.2; fee min(1.25 % × 14,200.8, surplus 0.291 × 83.3 =
    # 24.2403) = 24.2403: wallet 7,700 − 349.2 − 24.2403 = 7,326.5597.
    ledger = [(e["info"]["incomeType"], e["info"]["income"]) for e in longer.fetch_ledger()]
    assert ledger[-2:] == [("REALIZED_PNL", "-349.20000000"), ("INSURANCE_CLEAR", "-24.24030000")]
    view = server.services.gateway.client.account(trader.account)
    assert view is not None and view.wallet == D("7326.5597")
    # Now MB = 7,326.5597 + 5.709 × 49,000 − 285,450 = 1,617.5597 ≥ MM 1,497.41 + 120: safe.
    mark(server, BTC, "49000")
    assert sizes(longer) == {BTC_PAIR: 5.709, ETH_PAIR: 10.0}


def withdraw(server: RunningServer, trader: Trader, amount: str) -> tuple[int, dict[str, object]]:
    """Alice requests a withdrawal for `trader`, Bob approves it (two admins)."""
    with admin(server, ADMINS["alice"]) as alice, admin(server, ADMINS["bob"]) as bob:
        request = alice.post(f"/admin/users/{trader.user_id}/withdrawals", json={"amount": amount}).json()
        answer = bob.post(f"/admin/withdrawals/{request['id']}/approve")
        return answer.status_code, answer.json()


def test_withdrawals_wait_while_an_account_has_negative_equity(server: RunningServer) -> None:
    execute(server, Deposit(_core.INSURANCE_FUND, D(1000)))
    maker, taker = (client(server, make_trader(server)) for _ in range(2))
    bystander = make_trader(server)
    # SOLUSDT is listed but not marked yet: its reference price is the last trade. The victim
    # buys 10 at 100 at 50x with 20.5 (margin 20, taker fee 0.5): wallet 20.
    victim = client(server, make_trader(server, funds="20.5"))
    victim.set_leverage(50, SOL_PAIR)
    maker.create_order(SOL_PAIR, "limit", "sell", 10, 100)
    victim.create_order(SOL_PAIR, "limit", "buy", 10, 100, {"timeInForce": "IOC"})
    assert withdraw(server, bystander, "10")[1]["status"] == "COMPLETED", "nobody is under water yet"
    # Two others trade at 97 (within the 5 % band of the last trade): the victim's equity is
    # 20 + 10 × (97 − 100) = −10, a loss nobody has covered (liquidation waits for a mark).
    maker.create_order(SOL_PAIR, "limit", "sell", 1, 97)
    taker.create_order(SOL_PAIR, "limit", "buy", 1, 97, {"timeInForce": "IOC"})
    status, refused = withdraw(server, bystander, "10")
    assert (status, refused["code"], refused["msg"]) == (
        400, -4500, "Withdrawals are suspended until an uncovered account loss is settled.")
    # The first mark, 97: the victim is liquidated; its bankruptcy price (1,000 − 20) / 10 = 98
    # finds no bid, and the fund takes the 10 over at 98 (it can: 1,000 − 10 ≥ 3.88 at the mark),
    # covering the loss: the victim's wallet is 20 + 10 × (98 − 100) = 0.
    mark(server, SOL, "97")
    assert victim.fetch_positions([SOL_PAIR]) == []
    assert fund_wallet(server) == D(1000)
    assert withdraw(server, bystander, "10")[1]["status"] == "COMPLETED"
