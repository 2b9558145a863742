"""``GET /admin/ledger``: the whole exchange's money at one engine seq, for the operator and the
market simulator's invariant checks (money conserved, no margin unit left under maintenance).

Every figure is the engine's own (``EngineQueries.account``: the engine, or a gateway's replica), summed
here; the account set and the net deposits come from the projection (every account whose wallet
ever moved has an income row; ``TRANSFER`` income is deposits minus withdrawals), and so does the
liquidation activity after a given seq (liquidation orders and what they filled, ADL fills,
losses beyond a unit's margin cleared by the insurance fund).

Invariants:
    * Engine figures are all at one seq ``S``: the engine's last applied seq is read before and
      after the account queries (each query runs between two engine batches), and the read starts
      again when they differ. The projection is then awaited up to ``S`` and read up to ``S``. An
      account whose first income row came between the account list and ``S`` makes the read
      start again too.
    * Conservation (``docs/ARCHITECTURE.md``, "Clearing and margin"): ``Σ (wallet − position
      cost)`` over every account, the insurance fund and fee account included, equals the net
      deposits exactly (it is the engine's conserved total; at a common mark it is the total
      equity, since long and short quantities are equal). The sum of unrealised PnL is shown too,
      but each leg's PnL is rounded, so it is not the conserved figure.
    * Money leaves as decimal strings.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from api import errors
from api.projection import ProjectionProgress
from derivatives import _core
from derivatives.engine import AccountRisk, EngineQueries
from derivatives.persistence import ledger_queries
from derivatives.persistence.db import Database
from derivatives.units import from_raw

RESERVED = {"insuranceFund": _core.INSURANCE_FUND, "feeAccount": _core.FEE_ACCOUNT}
ATTEMPTS = 50
RETRY_S = 0.02


@dataclass(frozen=True, slots=True)
class Underwater:
    """A margin unit whose margin balance is below its maintenance margin."""

    account: int
    symbol: int | None
    """None: the cross part; else the isolated leg's symbol."""
    margin_balance: Decimal
    maintenance: Decimal


def underwater(risk: AccountRisk) -> list[Underwater]:
    """The account's margin units under maintenance at the engine's reference prices."""
    found = []
    if (
        risk.maintenance > 0 and risk.margin_balance < risk.maintenance
    ):  # the cross part (engine figures)
        found.append(Underwater(risk.account, None, risk.margin_balance, risk.maintenance))
    for leg in risk.positions:
        if (
            leg.isolated
            and leg.maintenance > 0
            and leg.isolated_margin + leg.unrealised_pnl < leg.maintenance
        ):
            found.append(
                Underwater(
                    risk.account,
                    leg.symbol,
                    leg.isolated_margin + leg.unrealised_pnl,
                    leg.maintenance,
                )
            )
    return found


class LedgerService:
    """Reads the ledger (see the module docstring)."""

    def __init__(
        self, client: EngineQueries, history: Database, worker: ProjectionProgress, wait_s: float
    ) -> None:
        self.client = client
        self.history = history
        self.worker = worker
        self.wait_s = wait_s

    def _accounts(self, up_to_seq: int | None) -> set[int]:
        with self.history.reader() as session:
            return ledger_queries.accounts_with_income(session, up_to_seq)

    def _totals(self, after_seq: int, up_to_seq: int) -> tuple[int, ledger_queries.Activity]:
        with self.history.reader() as session:
            return (
                ledger_queries.net_transfers(session, up_to_seq),
                ledger_queries.activity(session, after_seq, up_to_seq),
            )

    async def ledger(self, since_seq: int = 0) -> dict[str, object]:
        """The ledger at the engine's current seq, with the liquidation activity after `since_seq`."""
        for _ in range(ATTEMPTS):
            known = await asyncio.to_thread(self._accounts, None) | set(RESERVED.values())
            seq = self.client.last_seq()
            figures = {account: self.client.account(account) for account in sorted(known)}
            if self.client.last_seq() != seq:  # a batch landed between the queries
                await asyncio.sleep(RETRY_S)
                continue
            if not await self.worker.wait_for(seq, self.wait_s):
                raise errors.backend_timeout()
            if await asyncio.to_thread(self._accounts, seq) <= known:
                net, activity = await asyncio.to_thread(self._totals, since_seq, seq)
                return {
                    **_body(seq, figures, from_raw(net)),
                    "activity": _activity(since_seq, activity),
                }
        raise errors.backend_timeout()


def _activity(since_seq: int, a: ledger_queries.Activity) -> dict[str, object]:
    return {
        "sinceSeq": since_seq,
        "liquidationOrders": a.liquidation_orders,
        "liquidationOrdersFilled": a.liquidated_qty_orders,
        "liquidationNotional": f"{from_raw(a.liquidation_notional):f}",
        "adlFills": a.adl_fills,
        "adlNotional": f"{from_raw(a.adl_notional):f}",
        "badDebtCleared": f"{from_raw(a.bad_debt_cleared):f}",
    }


def _body(seq: int, figures: dict[int, AccountRisk | None], net: Decimal) -> dict[str, object]:
    present = [risk for risk in figures.values() if risk is not None]
    wallet = sum((risk.wallet for risk in present), Decimal(0))
    upnl = sum((leg.unrealised_pnl for risk in present for leg in risk.positions), Decimal(0))
    cost = sum((leg.cost for risk in present for leg in risk.positions), Decimal(0))
    under = [u for risk in present for u in underwater(risk)]
    body: dict[str, object] = {
        "seq": seq,
        "accounts": len(present),
        "walletBalance": f"{wallet:f}",
        "unrealizedProfit": f"{upnl:f}",
        "positionCost": f"{cost:f}",
        "netTransfers": f"{net:f}",
        "conserved": wallet - cost == net,
        "underMaintenance": [
            {
                "accountId": u.account,
                "symbolId": u.symbol,
                "marginBalance": f"{u.margin_balance:f}",
                "maintMargin": f"{u.maintenance:f}",
            }
            for u in under
        ],
    }
    for name, account in RESERVED.items():
        risk = figures.get(account)
        body[name] = {
            "accountId": account,
            "walletBalance": f"{Decimal(0) if risk is None else risk.wallet:f}",
            "marginBalance": f"{Decimal(0) if risk is None else risk.margin_balance:f}",
            "positions": []
            if risk is None
            else [
                {
                    "symbolId": leg.symbol,
                    "positionAmt": f"{leg.qty:f}",
                    "unrealizedProfit": f"{leg.unrealised_pnl:f}",
                }
                for leg in risk.positions
            ],
        }
    return body
