"""One simulator run: accounts, a warm market, the scenario, the summary.

1. Through the admin API: two makers, two takers and ``traders`` leveraged traders are created
   and funded (trader funds drawn log-uniformly from 500 to 50,000 USDT).
2. The makers start quoting around the index (followed over the mark-price WebSocket stream),
   the takers start trading, and every trader opens its position (an IOC limit order through the
   index).
3. The ledger is read (``GET /admin/ledger``): its seq starts the scenario's window.
4. The scenario runs (``derivatives.simulator.scenarios``), then the market settles for a few
   mark ticks and the agents stop (the makers cancel every quote).
5. The ledger is read again: liquidation activity in the window, the insurance fund's change, and
   the invariants: money conserved (the sum over every account of wallet minus position cost
   equals the net deposits, before and after) and no margin unit under maintenance at the end.

Everything random comes from one ``random.Random(seed)``: the same seed, scenario and exchange
state give the same accounts, plans and order stream (the exchange's own timing still varies).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import secrets
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from derivatives.simulator.admin import Account, AdminClient
from derivatives.simulator.agents import (
    Maker,
    Outcomes,
    PriceFeed,
    Taker,
    Trader,
    exchange_for,
    market_of,
    plan,
)
from derivatives.simulator.scenarios import SCENARIOS, Stage

log = logging.getLogger("derivatives.simulator")

MAKER_FUNDS = Decimal(200_000_000)
TAKER_FUNDS = Decimal(1_000_000)
SETTLE_S = 2.0
PARALLEL = 16


@dataclass(frozen=True, slots=True)
class Options:
    """One run's settings."""

    url: str
    admin_token: str
    scenario: str = "crash"
    seed: int = 1
    duration_s: float = 60.0
    traders: int = 200
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")

    @property
    def ws(self) -> str:
        """The WebSocket base of `url`."""
        return self.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws"


@dataclass(slots=True)
class Summary:
    """What a run did and whether every invariant held."""

    scenario: str
    seed: int
    duration_s: float
    traders: int
    positions_opened: int
    index_before: dict[str, str]
    index_after: dict[str, str]
    liquidations: int
    liquidations_filled: int
    liquidation_notional: str
    adl_fills: int
    adl_notional: str
    insurance_fund_before: str
    insurance_fund_after: str
    insurance_fund_change: str
    fund_positions_after: list[dict[str, Any]]
    bad_debt_cleared: str
    requests: dict[str, int]
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every invariant held."""
        return all(self.checks.values())

    def text(self) -> str:
        """The human summary ``derivatives simulate`` prints."""
        lines = [
            f"scenario {self.scenario} (seed {self.seed}, {self.duration_s:g} s, {self.traders} traders, "
            f"{self.positions_opened} positions opened)",
            "index "
            + ", ".join(
                f"{s} {self.index_before[s]} -> {self.index_after.get(s, '?')}"
                for s in self.index_before
            ),
            f"liquidations {self.liquidations} ({self.liquidations_filled} filled on the book), "
            f"notional {self.liquidation_notional} USDT",
            f"insurance fund {self.insurance_fund_before} -> {self.insurance_fund_after} "
            f"(change {self.insurance_fund_change}); fund positions {self.fund_positions_after or 'none'}",
            f"ADL {self.adl_fills} fills, notional {self.adl_notional} USDT; bad debt cleared "
            f"{self.bad_debt_cleared} USDT",
            "requests " + ", ".join(f"{k} {v}" for k, v in sorted(self.requests.items())),
        ]
        lines += [
            f"invariant {name}: {'held' if held else 'BROKEN'}"
            for name, held in self.checks.items()
        ]
        lines.append("every invariant held" if self.ok else "SOME INVARIANT BROKE")
        return "\n".join(lines)

    def json(self) -> str:
        """The summary as one JSON line (for tests and scripts)."""
        return json.dumps({**asdict(self), "ok": self.ok})


def _funds(rng: random.Random) -> Decimal:
    """Log-uniform in [500, 50,000] USDT, whole dollars."""
    return Decimal(round(math.exp(rng.uniform(math.log(500), math.log(50_000)))))


class Run:
    """The state of one run (see the module docstring)."""

    def __init__(self, options: Options) -> None:
        if options.scenario not in SCENARIOS:
            raise ValueError(
                f"unknown scenario {options.scenario!r}; known: {', '.join(SCENARIOS)}"
            )
        self.o = options
        self.rng = random.Random(options.seed)
        self.admin = AdminClient(options.url, options.admin_token)
        self.outcomes = Outcomes()
        self.exchanges: list[Any] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.makers: list[Maker] = []

    async def _accounts(self, prefix: str, funds: list[Decimal]) -> list[Account]:
        gate = asyncio.Semaphore(PARALLEL)

        async def one(index: int, amount: Decimal) -> Account:
            async with gate:
                return await self.admin.create_account(f"{prefix}{index}", amount)

        return list(await asyncio.gather(*(one(i, f) for i, f in enumerate(funds))))

    def _exchange(self, account: Account | None, markets: dict[str, Any], pro: bool = False) -> Any:
        exchange = exchange_for(self.o.url, self.o.ws, account, markets, pro)
        self.exchanges.append(exchange)
        return exchange

    async def execute(self) -> Summary:
        """Runs the scenario and returns its summary."""
        o = self.o
        tag = f"sim{o.seed}-{secrets.token_hex(3)}-"  # unique per run; the rng stream is untouched
        trader_funds = [_funds(self.rng) for _ in range(o.traders)]
        makers_acc = await self._accounts(tag + "maker", [MAKER_FUNDS] * 2)
        takers_acc = await self._accounts(tag + "taker", [TAKER_FUNDS] * 2)
        traders_acc = await self._accounts(tag + "trader", trader_funds)
        public = self._exchange(None, {})
        loaded = await public.load_markets()
        names = {raw["id"]: raw for raw in loaded.values()}
        markets = [market_of(names[s]) for s in o.symbols]
        brackets = await self._max_notional(makers_acc[0], loaded)
        feed = PriceFeed(self._exchange(None, loaded, pro=True), markets)
        await feed.start()
        makers = self.makers = [
            Maker(self._exchange(a, loaded), markets, feed, self.outcomes) for a in makers_acc
        ]
        takers = [
            Taker(
                self._exchange(a, loaded),
                markets,
                feed,
                self.outcomes,
                random.Random(self.rng.random()),
            )
            for a in takers_acc
        ]
        for maker in makers:
            await maker.requote()
        self.tasks += [asyncio.create_task(m.run(), name="maker") for m in makers]
        self.tasks += [asyncio.create_task(t.run(), name="taker") for t in takers]
        traders = [
            Trader(
                self._exchange(a, loaded),
                a,
                plan(self.rng, markets, a.funds, brackets, number),
                feed,
                self.outcomes,
            )
            for number, a in enumerate(traders_acc)
        ]
        gate = asyncio.Semaphore(PARALLEL)

        async def open_one(trader: Trader) -> bool:
            async with gate:
                return await trader.open()

        opened = sum(await asyncio.gather(*(open_one(t) for t in traders)))
        await asyncio.sleep(1.0)
        before = await self.admin.ledger()
        index_before = {m.symbol: f"{feed.index[m.symbol]:f}" for m in markets}
        stage = Stage(self.admin, makers, takers, o.duration_s)
        await SCENARIOS[o.scenario](stage)
        await asyncio.sleep(SETTLE_S)
        await self._stop_agents()
        after = await self.admin.ledger(before["seq"])
        index_after = {m.symbol: f"{feed.index[m.symbol]:f}" for m in markets}
        await feed.stop()
        return self._summary(before, after, opened, index_before, index_after, stage.checks)

    async def _max_notional(self, account: Account, loaded: dict[str, Any]) -> dict[int, Decimal]:
        """Leverage -> the largest notional its bracket allows, for the first symbol (the
        exchange's own ``leverageBracket``)."""
        exchange = self._exchange(account, loaded)
        answer = await exchange.fapiPrivateGetLeverageBracket({"symbol": self.o.symbols[0]})
        caps: dict[int, Decimal] = {}
        for bracket in answer[0]["brackets"]:
            cap = Decimal(str(bracket["notionalCap"]))
            for leverage in range(1, int(bracket["initialLeverage"]) + 1):
                caps[leverage] = max(caps.get(leverage, Decimal(0)), cap)
        return caps

    async def _stop_agents(self) -> None:
        for maker in self.makers:
            maker.running = False
        for task in self.tasks:
            if task.get_name() != "maker":
                task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task
        self.tasks.clear()
        self.makers.clear()

    def _summary(
        self,
        before: dict[str, Any],
        after: dict[str, Any],
        opened: int,
        index_before: dict[str, str],
        index_after: dict[str, str],
        checks: dict[str, bool],
    ) -> Summary:
        activity = after["activity"]
        fund_before = Decimal(before["insuranceFund"]["walletBalance"])
        fund_after = Decimal(after["insuranceFund"]["walletBalance"])
        return Summary(
            scenario=self.o.scenario,
            seed=self.o.seed,
            duration_s=self.o.duration_s,
            traders=self.o.traders,
            positions_opened=opened,
            index_before=index_before,
            index_after=index_after,
            liquidations=activity["liquidationOrders"],
            liquidations_filled=activity["liquidationOrdersFilled"],
            liquidation_notional=activity["liquidationNotional"],
            adl_fills=activity["adlFills"],
            adl_notional=activity["adlNotional"],
            insurance_fund_before=f"{fund_before:f}",
            insurance_fund_after=f"{fund_after:f}",
            insurance_fund_change=f"{fund_after - fund_before:f}",
            fund_positions_after=after["insuranceFund"]["positions"],
            bad_debt_cleared=activity["badDebtCleared"],
            requests=dict(self.outcomes.counts),
            checks={
                "money conserved before": bool(before["conserved"]),
                "money conserved after": bool(after["conserved"]),
                "no account under maintenance": not after["underMaintenance"],
                **checks,
            },
        )

    async def close(self) -> None:
        """Stops everything and closes every connection."""
        await self._stop_agents()
        await asyncio.gather(*(exchange.close() for exchange in self.exchanges), return_exceptions=True)
        await self.admin.close()


async def simulate(options: Options) -> Summary:
    """Runs one scenario against the exchange at ``options.url``."""
    run = Run(options)
    try:
        return await run.execute()
    finally:
        await run.close()
