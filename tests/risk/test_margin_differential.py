"""Differential tests: the risk services' margin arithmetic (``risk.margin.health`` over the
``PositionView`` folded from events) against the engine's own figures (``EngineClient.account``),
and their BitMEX ADL ranking (``risk.adl``) against the engine's own queue (``Engine.adl_queue``,
no ranking installed), on random states: cross accounts trading several symbols in both position
modes, random marks (liquidations included). The engine owns these numbers; this keeps the
services' copies honest."""

from __future__ import annotations

import random
from decimal import Decimal as D

from derivatives.commands import PlaceOrder, SetMarkPrice, SetPositionMode
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.enums import PositionSide, Side, TimeInForce
from derivatives.units import to_raw
from risk.adl import AdlMode, rank, side_candidates
from risk.margin import health, raw_brackets
from risk.positions import PositionView
from tests.risk.conftest import Exchange

START = {1: 50000, 2: 3000}
STEP = {1: D("0.001"), 2: D("0.01")}


def _random_state(exchange: Exchange, rng: random.Random) -> None:
    exchange.run(SetMarkPrice(2, D(3000), D(3000)))
    exchange.run(SetPositionMode(5, True))
    for _ in range(40):
        symbol = rng.choice((1, 2))
        mark = START[symbol]
        maker, taker = rng.sample(range(1, 10), 2)
        side = rng.choice((Side.BUY, Side.SELL))
        qty = STEP[symbol] * rng.randint(1, 400)
        price = D(mark) * (1 + D(rng.randint(-20, 20)) / 1000)
        price = price.quantize(D("0.1") if symbol == 1 else D("0.01"))
        leg = {5: PositionSide.LONG if side is Side.BUY else PositionSide.SHORT}
        maker_leg = {5: PositionSide.SHORT if side is Side.BUY else PositionSide.LONG}
        exchange.run(
            PlaceOrder(
                maker,
                symbol,
                Side.SELL if side is Side.BUY else Side.BUY,
                qty,
                price=price,
                position_side=maker_leg.get(maker, PositionSide.BOTH),
            ),
            PlaceOrder(
                taker,
                symbol,
                side,
                qty,
                price=price,
                time_in_force=TimeInForce.IOC,
                position_side=leg.get(taker, PositionSide.BOTH),
            ),
        )
    for symbol in (1, 2):
        moved = D(START[symbol]) * (1 + D(rng.randint(-60, 60)) / 1000)
        exchange.run(SetMarkPrice(symbol, moved.quantize(D("0.01")), moved.quantize(D("0.01"))))


def test_risk_margin_matches_the_engine_on_random_states(exchange: Exchange) -> None:
    brackets = {spec.symbol: raw_brackets(spec) for spec in DEMO_INSTRUMENTS}
    for seed in range(12):
        _random_state(exchange, random.Random(seed))
        view = PositionView()
        view.apply(0, exchange.all_events())
        prices = view.reference_prices()
        for account in range(1, 10):
            engine = exchange.client.account(account)
            state = view.account(account)
            assert engine is not None and state is not None
            legs = [(leg.symbol, leg.qty, leg.cost) for leg in state.legs.values()]
            mine = health(state.cross_wallet(), legs, prices, brackets)
            assert (mine.margin_balance, mine.maintenance) == (
                to_raw(engine.margin_balance),
                to_raw(engine.maintenance),
            ), f"seed {seed}, account {account}"


def test_the_services_bitmex_ranking_is_the_engines_queue_on_random_states(exchange: Exchange) -> None:
    brackets = {spec.symbol: raw_brackets(spec) for spec in DEMO_INSTRUMENTS}
    compared = 0
    for seed in range(12):
        _random_state(exchange, random.Random(seed))
        view = PositionView()
        view.apply(0, exchange.all_events())
        for symbol in (1, 2):
            for side in Side:
                mine = [c.account for c in rank(side_candidates(view, brackets, symbol, side, AdlMode.BITMEX))]
                # The engine also queues accounts the service leaves out (under maintenance): behind.
                queue = [e.account for e in exchange.client.adl_queue(symbol, side) or [] if e.account in mine]
                assert queue == mine, f"seed {seed}, symbol {symbol}, {side.name}"
                compared += len(mine) > 1
    assert compared >= 40, "queues of several accounts were compared"
