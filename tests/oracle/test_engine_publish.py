"""The engine receives exactly the published mark and index: the oracle's service publishes into a
real engine through `SetMarkPrice`, with the mark computed from that engine's own book."""

from __future__ import annotations

from decimal import Decimal

from derivatives.commands import AddInstrument, Deposit, PlaceOrder, SetMarkPrice
from derivatives.demo import BTCUSDT
from derivatives.engine import EngineClient
from derivatives.enums import Side
from derivatives.events import MarkPriceSet
from oracle.config import SymbolConfig
from oracle.model import PriceFlags, RawTick
from oracle.service import BookState, MarkPriceService
from tests.oracle.conftest import T0, FakeClock
from tests.oracle.test_service import StaticSource

D = Decimal
BTC = SymbolConfig(symbol="BTCUSDT", base="BTC", weights={"binance": D(1)})


async def test_the_engine_applies_exactly_what_the_oracle_publishes(clock: FakeClock) -> None:
    engine = EngineClient()
    engine.execute([AddInstrument(BTCUSDT), Deposit(1, D(10_000_000)), SetMarkPrice(1, D("65000"), D("65000"))])
    engine.execute([PlaceOrder(1, 1, Side.BUY, D("1"), price=D("65010")), PlaceOrder(1, 1, Side.SELL, D("1"), price=D("65014"))])
    applied: list[MarkPriceSet] = []

    async def publish(symbol: str, mark: Decimal, index: Decimal, flags: PriceFlags) -> None:
        result = engine.execute([SetMarkPrice(BTCUSDT.symbol, mark, index)])
        applied.extend(e.event for e in result.events if isinstance(e.event, MarkPriceSet))

    async def book(symbol: str, now_ms: int) -> BookState:
        depth = engine.depth(BTCUSDT.symbol, 1)
        assert depth is not None
        return BookState(depth.bids[0][0], depth.asks[0][0], None, None, D(0), T0 + 3_600_000, 8 * 3_600_000)

    source = StaticSource()
    source.board.record(RawTick("binance", "BTC/USDT", D("65000.123456789"), T0))
    service = MarkPriceService(source, publish, symbols=(BTC,), clock=clock, book=book)
    (publication,) = await service.publish_once()
    # The index is rounded once to 8 places half-even; the engine holds exactly that.
    assert publication.index == D("65000.12345679")
    assert applied == [MarkPriceSet(BTCUSDT.symbol, publication.mark, publication.index)]
    prices = engine.prices(BTCUSDT.symbol)
    assert prices is not None and (prices.mark, prices.index) == (publication.mark, publication.index)
