"""The bus client against a real nats-server: request-reply commands with typed errors, the batch
stream read by sequence into a replica, read-your-writes, and a nats-server restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from nats.aio.client import Client as Nats

from derivatives.bus.client import BusEngine, EngineMalformed, EngineNoResponder, connect
from derivatives.bus.gateway import BusGateway
from derivatives.bus.natsserver import LocalNats
from derivatives.bus.protocol import Subjects
from derivatives.bus.stream import BatchReader
from derivatives.bus.view import ReplicaView
from derivatives.commands import AddInstrument, Command, Deposit, PlaceOrder
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.engine import EngineClient
from derivatives.enums import Side
from derivatives.events import OrderAccepted, Trade
from tests.bus.standin import StandInEngineService

BTC = DEMO_INSTRUMENTS[0]


def setup_commands() -> list[Command]:
    return [AddInstrument(BTC), Deposit(1, Decimal(100_000)), Deposit(2, Decimal(100_000))]


def cross(price: str) -> list[Command]:
    return [
        PlaceOrder(1, BTC.symbol, Side.SELL, Decimal("0.010"), price=Decimal(price)),
        PlaceOrder(2, BTC.symbol, Side.BUY, Decimal("0.004"), price=Decimal(price)),
    ]


@pytest.fixture
async def nc(shared_nats: LocalNats) -> AsyncIterator[Nats]:
    connection = await connect(shared_nats.url, "test")
    yield connection
    await connection.drain()


async def test_execute_answers_like_the_in_process_client(nc: Nats, subjects: Subjects) -> None:
    service = StandInEngineService(nc, subjects)
    await service.start()
    bus = BusEngine(nc, subjects)
    local = EngineClient()
    for commands in (setup_commands(), cross("50000")):
        remote = await bus.execute(commands)
        mine = local.execute(commands, remote.ts)
        assert (remote.first_seq, remote.last_seq) == (mine.first_seq, mine.last_seq)
        assert remote.events == mine.events
    trades = [e.event for e in remote.events if isinstance(e.event, Trade)]
    assert [(t.price, t.qty) for t in trades] == [(Decimal(50000), Decimal("0.004"))]


async def test_malformed_batch_and_no_responder_are_typed_errors(
    nc: Nats, subjects: Subjects
) -> None:
    bus = BusEngine(nc, subjects, timeout_s=1)
    with pytest.raises(EngineNoResponder):
        await bus.execute(setup_commands())
    service = StandInEngineService(nc, subjects)
    await service.start()
    with pytest.raises(EngineMalformed):
        await bus.execute_raw(b"\x05\x00\x00\x00garbage")
    assert service.engine.last_seq() == 0
    assert (await bus.execute(setup_commands())).last_seq == 3


async def test_view_follows_the_stream_with_read_your_writes(nc: Nats, subjects: Subjects) -> None:
    service = StandInEngineService(nc, subjects)
    await service.start()
    bus = BusEngine(nc, subjects)
    await bus.execute(setup_commands())  # before the view exists: it reads from the start
    view = ReplicaView()
    seen: list[int] = []
    view.subscribe(lambda batch: seen.append(batch.first_seq))
    task = asyncio.create_task(view.run(BatchReader(nc, subjects)))
    gateway = BusGateway(bus, view)
    try:
        batch = await gateway.submit(cross("50000"))
        accepted = [e.event for e in batch.events if isinstance(e.event, OrderAccepted)]
        assert len(accepted) == 2
        # read-your-writes: the view already shows the resting remainder of the sell
        depth = gateway.client.depth(BTC.symbol)
        assert depth is not None and depth.asks == [(Decimal(50000), Decimal("0.006"))]
        assert seen == [1, 4]
        assert gateway.client.state_hash() == service.engine.state_hash().hex()
        assert gateway.time_of(5) == batch.ts
    finally:
        task.cancel()


async def test_view_resumes_after_the_nats_server_restarts(
    local_nats: LocalNats, subjects: Subjects
) -> None:
    nc = await connect(local_nats.url, "test")
    service = StandInEngineService(nc, subjects)
    await service.start()
    bus = BusEngine(nc, subjects)
    view = ReplicaView()
    task = asyncio.create_task(view.run(BatchReader(nc, subjects)))
    try:
        await bus.execute(setup_commands())
        assert await view.wait_for(3, 5)
        local_nats.kill()
        local_nats.restart()
        for _attempt in range(100):
            try:
                await bus.execute(cross("50000"))
                break
            except Exception:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the client never reconnected")
        assert await view.wait_for(5, 10)
        assert view.replica.state_hash() == service.engine.state_hash()
    finally:
        task.cancel()
        await nc.close()


async def test_a_reader_starts_after_an_engine_seq(nc: Nats, subjects: Subjects) -> None:
    service = StandInEngineService(nc, subjects)
    await service.start()
    bus = BusEngine(nc, subjects)
    for commands in (setup_commands(), cross("50000"), cross("50010")):  # seqs 1-3, 4-5, 6-7
        await bus.execute(commands)
    reader = BatchReader(nc, subjects)
    assert [await reader.stream_seq_after(seq) for seq in (0, 2, 3, 4, 5, 7)] == [1, 1, 2, 2, 3, 4]
    reader.next_stream_seq = await reader.stream_seq_after(5)
    batches = await anext(reader.batches())
    assert [(b.seqs.first_seq, b.seqs.last_seq) for b in batches] == [(6, 7)]
