"""The account side of the projector with exact figures: fees and realised PnL on trades and
fills, income rows (fills, funding, liquidation fee, takeover, ADL), liquidation orders, ADL fills,
funding settlements, account changes; exactly once; schema = migrations (SQLite, PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal as D

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from derivatives.commands import ApplyFunding, Deposit, PlaceOrder, SetLeverage, SetMarkPrice
from derivatives.engine import EngineClient
from derivatives.enums import Side, TimeInForce
from derivatives.persistence.db import Database
from derivatives.persistence.models import (
    AdlFill,
    Base,
    FundingRate,
    Income,
    Order,
    PositionTotal,
    Trade,
)
from derivatives.persistence.projector import Batch, Projector
from tests.api.test_projector import NAMES, T0, run

MAKER, BIDDER, VICTIM, VICTIM2 = 10, 11, 12, 13
E8 = 100_000_000


def scenario(client: EngineClient) -> list[Batch]:
    """Two liquidations at 100x: the first with no bid and an empty insurance fund,
    auto-deleveraged against the maker's short; the second partly filled by a bid, the rest taken
    over by the fund (funded by the liquidation fee)."""
    from derivatives.commands import AddInstrument
    from derivatives.demo import DEMO_INSTRUMENTS

    return [
        run(client, *[AddInstrument(s) for s in DEMO_INSTRUMENTS], SetMarkPrice(1, D(50000), D(50000)),
            Deposit(MAKER, D(1000000)), Deposit(BIDDER, D(1000000)), Deposit(VICTIM, D(100)), Deposit(VICTIM2, D(100))),
        run(client, SetLeverage(VICTIM2, 1, 100), PlaceOrder(MAKER, 1, Side.SELL, D("0.1"), price=D(50000)),
            PlaceOrder(VICTIM2, 1, Side.BUY, D("0.1"), price=D(50000), time_in_force=TimeInForce.IOC)),
        run(client, SetMarkPrice(1, D(49200), D(49200)), ts=T0 + 1_000_000),
        run(client, SetMarkPrice(1, D(50000), D(50000)), SetLeverage(VICTIM, 1, 100),
            PlaceOrder(MAKER, 1, Side.SELL, D("0.1"), price=D(50000)),
            PlaceOrder(VICTIM, 1, Side.BUY, D("0.1"), price=D(50000), time_in_force=TimeInForce.IOC),
            PlaceOrder(BIDDER, 1, Side.BUY, D("0.05"), price=D(49150)), ts=T0 + 2_000_000),
        run(client, SetMarkPrice(1, D(49200), D(49200)), ts=T0 + 3_000_000),
        run(client, ApplyFunding(1, D("0.0001"), D(49200)), ts=T0 + 4_000_000),
    ]


def income(db: Database, account: int) -> list[tuple[str, int, str, str]]:
    with db.reader() as session:
        rows = session.execute(select(Income).where(Income.account_id == account)
                               .order_by(Income.seq, Income.event_index, Income.income_type)).scalars()
        return [(r.income_type, r.amount, r.symbol, r.info) for r in rows]


def test_fees_income_liquidation_and_adl_are_exact(db: Database) -> None:
    client = EngineClient()
    projector = Projector(db, client, NAMES.__getitem__)
    result = projector.project(scenario(client))

    assert income(db, VICTIM) == [
        ("TRANSFER", 100 * E8, "", "DEPOSIT"),
        ("COMMISSION", -250_000_000, "BTCUSDT", "2"),
        ("REALIZED_PNL", -4250 * 1_000_000, "BTCUSDT", "3"),  # 0.05 sold at 49150 by the liquidation order
        ("INSURANCE_CLEAR", -625_000_000, "BTCUSDT", "LIQUIDATION_FEE"),
        ("REALIZED_PNL", -4875 * 1_000_000, "BTCUSDT", "INSURANCE_TAKEOVER"),  # 0.05 to the fund at 49025
    ]
    assert income(db, VICTIM2)[-1] == ("REALIZED_PNL", -9750 * 1_000_000, "BTCUSDT", "ADL")
    maker = income(db, MAKER)
    assert ("REALIZED_PNL", 9750 * 1_000_000, "BTCUSDT", "ADL") in maker
    assert maker[-1] == ("FUNDING_FEE", 49_200_000, "BTCUSDT", "FUNDING_FEE")  # short 0.1 receives 0.1 x 49200 x 1e-4

    with db.reader() as session:
        first = session.get(Trade, 1)
        assert first is not None and (first.maker_fee, first.taker_fee) == (E8, 250_000_000)
        liquidation = session.execute(select(Order).where(Order.order_type == "LIQUIDATION")
                                      .order_by(Order.order_id)).scalars().all()
        assert [(o.account_id, o.client_order_id[:10], o.status, o.executed_qty, o.price, o.reduce_only)
                for o in liquidation] == [(VICTIM2, "autoclose-", "EXPIRED", 0, 49025 * E8, True),
                                          (VICTIM, "autoclose-", "EXPIRED", 5_000_000, 49025 * E8, True)]
        adl = session.execute(select(AdlFill)).scalars().one()
        assert (adl.account_id, adl.bankrupt_account, adl.side, adl.position_side, adl.qty, adl.price) == (
            MAKER, VICTIM2, "BUY", "BOTH", 10_000_000, 49025 * E8)
        funding = session.execute(select(FundingRate)).scalars().one()
        assert (funding.symbol, funding.rate, funding.mark, funding.time) == ("BTCUSDT", 10_000, 49200 * E8,
                                                                              T0 // 1_000_000 + 4)
        totals = session.get(PositionTotal, (VICTIM, "BTCUSDT"))
        assert totals is not None and (totals.realised_pnl, totals.commission) == (-9125 * 1_000_000, 250_000_000)

    calculated = [c for c in result.changes if c.execution == "CALCULATED"]
    assert len(calculated) == 1 and calculated[0].fill is not None
    assert (calculated[0].order.order_type, calculated[0].fill.realised_pnl) == ("LIQUIDATION", -4250 * 1_000_000)
    taker = [c for c in result.changes if c.execution == "TRADE" and c.order.account_id == VICTIM]
    assert taker[0].fill is not None and taker[0].fill.fee == 250_000_000
    reasons = [(c.reason, c.wallet, c.balance_change) for c in result.accounts if c.account == VICTIM]
    assert reasons == [("DEPOSIT", 100 * E8, 100 * E8), ("ORDER", 9750 * 1_000_000, 0),
                       ("ORDER", 5500 * 1_000_000, 0), ("INSURANCE_CLEAR", 0, -625_000_000)]
    victim_positions = [p for c in result.accounts if c.account == VICTIM for p in c.positions.values()]
    assert (victim_positions[-1].qty, victim_positions[-1].realised_total) == (0, -9125 * 1_000_000)
    assert [c.reason for c in result.accounts if c.account == MAKER] == ["DEPOSIT", "ORDER", "ADL", "ORDER",
                                                                         "FUNDING_FEE"]


def test_account_rows_are_written_once(db: Database) -> None:
    client = EngineClient()
    batches = scenario(client)
    projector = Projector(db, client, NAMES.__getitem__)
    projector.project(batches)

    def counts() -> tuple[int, ...]:
        with db.reader() as session:
            return tuple(session.execute(select(func.count()).select_from(model)).scalar_one()
                         for model in (Income, FundingRate, AdlFill, PositionTotal))

    before = counts()
    assert projector.project(batches).accounts == [] and counts() == before
    projector.reset()
    assert counts() == (0, 0, 0, 0)
    projector.catch_up()
    assert counts() == before


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_server_default": False})
        assert compare_metadata(context, Base.metadata) == []
