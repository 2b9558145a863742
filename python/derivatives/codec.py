"""The canonical binary codec, mirroring ``core_rs/src/codec.rs`` field for field.

Layout: little-endian integers; ``Option`` as a flag byte then the value; short strings as a
length byte then ASCII; each record framed by a ``u32`` length. Commands are encoded here and
decoded by the engine; events are encoded by the engine and decoded here. Both directions are
pinned by the shared vectors in ``tests/codec_vectors.txt``.

Invariant: encoding validates money exactly (``derivatives.units``); decoding is strict and
raises ``ValueError`` with the byte offset on anything malformed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TypeVar

from derivatives.commands import (
    AddInstrument,
    AdjustIsolatedMargin,
    AmendOrder,
    ApplyFunding,
    CancelAll,
    CancelOrder,
    CloseAll,
    ClosePosition,
    Command,
    Deposit,
    InstrumentSpec,
    InsurancePayout,
    LeverageBracket,
    PlaceOrder,
    PlaceWithStops,
    Reverse,
    SetAdlRanking,
    SetFeeTier,
    SetInsuranceFloor,
    SetLeverage,
    SetMarginType,
    SetMarkPrice,
    SetPositionMode,
    Transfer,
    UpdateInstrument,
    Withdraw,
)
from derivatives.enums import (
    BalanceKind,
    CancelReason,
    ExpireReason,
    OrderType,
    PayoutReason,
    PositionSide,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
    TriggerSource,
)
from derivatives.events import (
    AdlRankingSet,
    AutoDeleveraged,
    BalanceChanged,
    BookDelta,
    Event,
    EventEnvelope,
    FeeTierSet,
    FillSettled,
    FundingApplied,
    InstrumentUpdated,
    InsuranceFloorSet,
    InsurancePaid,
    IsolatedMarginChanged,
    LeverageSet,
    LiquidationFinished,
    LiquidationOrder,
    LiquidationStarted,
    MarginTypeSet,
    MarkPriceSet,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    PositionModeSet,
    PositionTakenOver,
    Trade,
)
from derivatives.units import from_raw, to_raw

_E = TypeVar("_E")
_U8 = struct.Struct("<B")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def u8(self, value: int) -> None:
        self.out += _U8.pack(value)

    def u32(self, value: int) -> None:
        self.out += _U32.pack(value)

    def u64(self, value: int) -> None:
        self.out += _U64.pack(value)

    def money(self, value: Decimal) -> None:
        self.out += _I64.pack(to_raw(value))

    def opt_money(self, value: Decimal | None) -> None:
        self.u8(value is not None)
        if value is not None:
            self.money(value)

    def opt_u64(self, value: int | None) -> None:
        self.u8(value is not None)
        if value is not None:
            self.u64(value)

    def text(self, value: str) -> None:
        raw = value.encode("ascii")
        self.u8(len(raw))
        self.out += raw

    def instrument(self, s: InstrumentSpec) -> None:
        self.u32(s.symbol)
        self.text(s.name)
        for v in (s.tick_size, s.step_size, s.min_qty, s.max_qty, s.min_notional):
            self.money(v)
        for v in (s.limit_price_band, s.market_price_band, s.maker_fee, s.taker_fee, s.liquidation_fee):
            self.money(v)
        self.u8(s.trading)
        self.u8(len(s.brackets))
        for b in s.brackets:
            self.money(b.notional_cap)
            self.u32(b.max_leverage)
            self.money(b.maint_margin_rate)
            self.money(b.cum)

    def place(self, p: PlaceOrder) -> None:
        self.u64(p.account)
        self.u32(p.symbol)
        self.text(p.client_order_id or "")
        self.u8(p.side)
        self.u8(p.order_type)
        self.u8(p.time_in_force)
        self.opt_money(p.price)
        self.money(p.qty)
        self.opt_money(p.stop_price)
        self.u8(p.trigger_source)
        self.opt_money(p.callback_rate)
        self.opt_money(p.activation_price)
        self.opt_u64(p.good_till)
        self.u8(p.reduce_only)
        self.u8(p.close_position)
        self.u8(p.position_side)
        self.u8(p.stp)

    def fee_rates(self, rates: tuple[Decimal, Decimal] | None) -> None:
        self.u8(rates is not None)
        if rates is not None:
            self.money(rates[0])
            self.money(rates[1])

    def order_ref(self, order_id: int | None, client_order_id: str | None) -> None:
        if (order_id is None) == (client_order_id is None):
            raise ValueError("name the order by exactly one of order_id and client_order_id")
        if order_id is not None:
            self.u8(0)
            self.u64(order_id)
        else:
            self.u8(1)
            self.text(client_order_id or "")

    def command(self, c: Command) -> None:
        match c:
            case AddInstrument(spec):
                self.u8(1)
                self.instrument(spec)
            case UpdateInstrument(spec):
                self.u8(2)
                self.instrument(spec)
            case PlaceOrder():
                self.u8(3)
                self.place(c)
            case CancelOrder(account, symbol, order_id, client_order_id):
                self.u8(4)
                self.u64(account)
                self.u32(symbol)
                self.order_ref(order_id, client_order_id)
            case CancelAll(account, symbol):
                self.u8(5)
                self.u64(account)
                self.u32(symbol)
            case AmendOrder(account, symbol, price, qty, order_id, client_order_id):
                self.u8(6)
                self.u64(account)
                self.u32(symbol)
                self.order_ref(order_id, client_order_id)
                self.money(price)
                self.money(qty)
            case SetMarkPrice(symbol, mark, index):
                self.u8(7)
                self.u32(symbol)
                self.money(mark)
                self.money(index)
            case Deposit(account, amount):
                self.u8(8)
                self.u64(account)
                self.money(amount)
            case Withdraw(account, amount):
                self.u8(9)
                self.u64(account)
                self.money(amount)
            case Transfer(from_account, to_account, amount):
                self.u8(10)
                self.u64(from_account)
                self.u64(to_account)
                self.money(amount)
            case SetLeverage(account, symbol, leverage):
                self.u8(11)
                self.u64(account)
                self.u32(symbol)
                self.u32(leverage)
            case SetPositionMode(account, hedge):
                self.u8(12)
                self.u64(account)
                self.u8(hedge)
            case ApplyFunding(symbol, rate, mark):
                self.u8(13)
                self.u32(symbol)
                self.money(rate)
                self.money(mark)
            case InsurancePayout(account, amount, reason, key):
                self.u8(14)
                self.u64(account)
                self.money(amount)
                self.u8(reason)
                self.u64(key)
            case SetInsuranceFloor(amount):
                self.u8(15)
                self.money(amount)
            case PlaceWithStops(entry, stop_loss, take_profit):
                self.u8(20)
                self.place(entry)
                self.opt_money(stop_loss)
                self.opt_money(take_profit)
            case SetFeeTier(account, rates):
                self.u8(21)
                self.u64(account)
                self.fee_rates(rates)
            case ClosePosition(account, symbol, position_side):
                self.u8(17)
                self.u64(account)
                self.u32(symbol)
                self.u8(position_side)
            case CloseAll(account):
                self.u8(18)
                self.u64(account)
            case Reverse(account, symbol):
                self.u8(19)
                self.u64(account)
                self.u32(symbol)
            case SetMarginType(account, symbol, isolated):
                self.u8(22)
                self.u64(account)
                self.u32(symbol)
                self.u8(isolated)
            case AdjustIsolatedMargin(account, symbol, position_side, amount):
                self.u8(23)
                self.u64(account)
                self.u32(symbol)
                self.u8(position_side)
                self.money(amount)
            case SetAdlRanking(symbol, side, accounts):
                self.u8(16)
                self.u32(symbol)
                self.u8(side)
                self.u32(len(accounts))
                for account in accounts:
                    self.u64(account)


def encode_command(command: Command) -> bytes:
    """One command, unframed (the bytes the Rust ``Writer::command`` produces)."""
    writer = _Writer()
    writer.command(command)
    return bytes(writer.out)


def encode_commands(commands: Iterable[Command]) -> bytes:
    """A batch: each command framed by its ``u32`` length."""
    out = bytearray()
    for command in commands:
        body = encode_command(command)
        out += _U32.pack(len(body))
        out += body
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes | memoryview, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def _unpack(self, fmt: struct.Struct) -> int:
        try:
            (value,) = fmt.unpack_from(self.data, self.pos)
        except struct.error:
            raise ValueError(f"truncated record at byte {self.pos}") from None
        self.pos += fmt.size
        return int(value)

    def u8(self) -> int:
        return self._unpack(_U8)

    def u32(self) -> int:
        return self._unpack(_U32)

    def u64(self) -> int:
        return self._unpack(_U64)

    def money(self) -> Decimal:
        return from_raw(self._unpack(_I64))

    def flag(self) -> bool:
        value = self.u8()
        if value > 1:
            raise ValueError(f"flag byte {value} at byte {self.pos - 1}")
        return value == 1

    def opt_money(self) -> Decimal | None:
        return self.money() if self.flag() else None

    def opt_u64(self) -> int | None:
        return self.u64() if self.flag() else None

    def text(self) -> str:
        length = self.u8()
        raw = bytes(self.data[self.pos : self.pos + length])
        if len(raw) != length:
            raise ValueError(f"truncated string at byte {self.pos}")
        self.pos += length
        return raw.decode("ascii")

    def enum(self, kind: Callable[[int], _E]) -> _E:
        offset = self.pos
        try:
            return kind(self.u8())
        except ValueError:
            raise ValueError(f"unknown {getattr(kind, '__name__', 'enum')} at byte {offset}") from None

    def place(self) -> PlaceOrder:
        account, symbol, cid = self.u64(), self.u32(), self.text()
        side, order_type, tif = self.enum(Side), self.enum(OrderType), self.enum(TimeInForce)
        price, qty, stop = self.opt_money(), self.money(), self.opt_money()
        trigger = self.enum(TriggerSource)
        callback, activation, good_till = self.opt_money(), self.opt_money(), self.opt_u64()
        return PlaceOrder(
            account=account,
            symbol=symbol,
            side=side,
            qty=qty,
            order_type=order_type,
            price=price,
            time_in_force=tif,
            client_order_id=cid or None,
            stop_price=stop,
            trigger_source=trigger,
            callback_rate=callback,
            activation_price=activation,
            good_till=good_till,
            reduce_only=self.flag(),
            close_position=self.flag(),
            position_side=self.enum(PositionSide),
            stp=self.enum(StpMode),
        )

    def event(self) -> Event:
        offset, tag = self.pos, self.u8()
        match tag:
            case 1:
                return InstrumentUpdated(self.u32())
            case 2:
                return OrderAccepted(self.u64(), self.place())
            case 3:
                return OrderRejected(self.u64(), self.u32(), self.opt_u64(), self.enum(RejectReason))
            case 4:
                return OrderTriggered(self.u64(), self.u32(), self.u64(), self.money())
            case 5:
                symbol, trade_id, price, qty = self.u32(), self.u64(), self.money(), self.money()
                taker_side = self.enum(Side)
                maker = (self.u64(), self.u64(), self.money())
                taker = (self.u64(), self.u64(), self.money())
                return Trade(symbol, trade_id, price, qty, taker_side, *maker, *taker)
            case 6:
                return OrderCancelled(self.u64(), self.u32(), self.u64(), self.money(), self.enum(CancelReason))
            case 7:
                return OrderExpired(self.u64(), self.u32(), self.u64(), self.money(), self.enum(ExpireReason))
            case 8:
                account, symbol, order_id = self.u64(), self.u32(), self.u64()
                price, qty, leaves = self.money(), self.money(), self.money()
                return OrderAmended(account, symbol, order_id, price, qty, leaves, self.flag())
            case 9:
                return BookDelta(self.u32(), self.enum(Side), self.money(), self.money())
            case 10:
                return MarkPriceSet(self.u32(), self.money(), self.money())
            case 11:
                account, symbol, order_id, trade_id = self.u64(), self.u32(), self.u64(), self.u64()
                position_side = self.enum(PositionSide)
                amounts = [self.money() for _ in range(7)]
                return FillSettled(account, symbol, order_id, trade_id, position_side, *amounts)
            case 12:
                return BalanceChanged(self.u64(), self.money(), self.money(), self.enum(BalanceKind))
            case 13:
                return LeverageSet(self.u64(), self.u32(), self.u32())
            case 14:
                return PositionModeSet(self.u64(), self.flag())
            case 15:
                return LiquidationStarted(self.u64(), self.money(), self.money())
            case 16:
                account, symbol, order_id = self.u64(), self.u32(), self.u64()
                side, qty, price = self.enum(Side), self.money(), self.money()
                return LiquidationOrder(account, symbol, order_id, side, qty, price, self.enum(PositionSide))
            case 17:
                account, symbol = self.u64(), self.u32()
                return PositionTakenOver(account, symbol, self.enum(PositionSide), self.money(), self.money())
            case 18:
                return LiquidationFinished(self.u64(), self.flag())
            case 19:
                account, bankrupt, symbol = self.u64(), self.u64(), self.u32()
                return AutoDeleveraged(account, bankrupt, symbol, self.money(), self.money())
            case 20:
                return FundingApplied(self.u32(), self.money(), self.money(), self.money())
            case 21:
                return InsuranceFloorSet(self.money())
            case 22:
                return AdlRankingSet(self.u32(), self.enum(Side), self.u32())
            case 23:
                return InsurancePaid(self.u64(), self.money(), self.enum(PayoutReason), self.u64())
            case 24:
                account = self.u64()
                return FeeTierSet(account, (self.money(), self.money()) if self.flag() else None)
            case 25:
                return MarginTypeSet(self.u64(), self.u32(), self.flag())
            case 26:
                account, symbol = self.u64(), self.u32()
                return IsolatedMarginChanged(account, symbol, self.enum(PositionSide), self.money(), self.money())
        raise ValueError(f"unknown event tag {tag} at byte {offset}")


def decode_events(data: bytes) -> list[EventEnvelope]:
    """Decodes a batch of framed event envelopes (``seq: u64, index: u32, ts: u64, event``)."""
    view = memoryview(data)
    out: list[EventEnvelope] = []
    pos = 0
    while pos < len(view):
        if pos + 4 > len(view):
            raise ValueError(f"truncated length at byte {pos}")
        (length,) = _U32.unpack_from(view, pos)
        end = pos + 4 + length
        if end > len(view):
            raise ValueError(f"truncated record at byte {pos}")
        reader = _Reader(view[:end], pos + 4)
        seq, index, ts = reader.u64(), reader.u32(), reader.u64()
        out.append(EventEnvelope(seq, index, reader.event(), ts))
        if reader.pos != end:
            raise ValueError(f"trailing bytes in record at byte {reader.pos}")
        pos = end
    return out


def count_records(data: bytes) -> int:
    """Number of framed records in a batch, without decoding them."""
    count, pos = 0, 0
    while pos < len(data):
        (length,) = _U32.unpack_from(data, pos)
        pos += 4 + length
        count += 1
    return count


__all__ = ["LeverageBracket", "count_records", "decode_events", "encode_command", "encode_commands"]
