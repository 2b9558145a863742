//! The canonical binary form of commands and events: one schema for the Python boundary, the
//! journal and the state hash.
//!
//! Layout (all integers little-endian):
//! - a command is `tag: u8` then its fields in declaration order; an event likewise;
//! - `Option<T>` is a `u8` flag (0 none, 1 some) then `T` when present;
//! - short strings are `len: u8` then the bytes;
//! - a batch is a sequence of `len: u32` + record; an envelope prefixes `seq: u64, ts: u64`
//!   (commands) or `seq: u64, index: u32, ts: u64` (events).
//!
//! Decoding is strict: an unknown tag or enum value, a bad string, a truncated record or trailing
//! bytes is a [`DecodeError`] naming the offset. Tags and enum values are never reused.
//! `python/derivatives/codec.py` mirrors this module; `tests/codec_vectors.txt` pins both.

use std::fmt;

use crate::command::{Command, CommandEnvelope, OrderRef, PlaceOrder};
use crate::event::{BalanceKind, CancelReason, Event, EventEnvelope, ExpireReason, PayoutReason};
use crate::ids::{ClientOrderId, SymbolName};
use crate::instrument::{InstrumentSpec, LeverageBracket};
use crate::order::{OrderType, PositionSide, Side, StpMode, TimeInForce, TriggerSource};
use crate::reject::RejectReason;
use crate::units::{Price, Qty, Quote, Rate};

/// A record that could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the input where decoding failed.
    pub offset: usize,
    /// What was wrong.
    pub what: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot decode at byte {}: {}", self.offset, self.what)
    }
}

impl std::error::Error for DecodeError {}

/// Where encoded bytes go: a buffer, or a hasher.
pub trait Sink {
    /// Appends bytes.
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for sha2::Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        sha2::Digest::update(self, bytes);
    }
}

/// Writes canonical fields into a [`Sink`].
#[derive(Debug)]
pub struct Writer<'a, S: Sink> {
    sink: &'a mut S,
}

impl<'a, S: Sink> Writer<'a, S> {
    /// Wraps a sink.
    pub fn new(sink: &'a mut S) -> Self {
        Self { sink }
    }

    /// A byte.
    pub fn u8(&mut self, v: u8) {
        self.sink.put(&[v]);
    }
    /// A bool as 0/1.
    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    /// A u32.
    pub fn u32(&mut self, v: u32) {
        self.sink.put(&v.to_le_bytes());
    }
    /// A u64.
    pub fn u64(&mut self, v: u64) {
        self.sink.put(&v.to_le_bytes());
    }
    /// An i64.
    pub fn i64(&mut self, v: i64) {
        self.sink.put(&v.to_le_bytes());
    }
    /// An optional i64.
    pub fn opt_i64(&mut self, v: Option<i64>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.i64(v);
        }
    }
    /// An optional u64.
    pub fn opt_u64(&mut self, v: Option<u64>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.u64(v);
        }
    }
    /// An optional u32.
    pub fn opt_u32(&mut self, v: Option<u32>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.u32(v);
        }
    }
    /// A short string.
    pub fn str(&mut self, v: &str) {
        #[allow(clippy::cast_possible_truncation, reason = "short strings are at most 36 bytes")]
        self.u8(v.len() as u8);
        self.sink.put(v.as_bytes());
    }

    /// An instrument specification.
    pub fn instrument(&mut self, s: &InstrumentSpec) {
        self.u32(s.symbol);
        self.str(s.name.as_str());
        for v in [s.tick_size.0, s.step_size.0, s.min_qty.0, s.max_qty.0, s.min_notional.0] {
            self.i64(v);
        }
        for v in [s.limit_price_band.0, s.market_price_band.0, s.maker_fee.0, s.taker_fee.0, s.liquidation_fee.0] {
            self.i64(v);
        }
        self.bool(s.trading);
        #[allow(clippy::cast_possible_truncation, reason = "at most 255 brackets, checked on decode")]
        self.u8(s.brackets.len() as u8);
        for b in &s.brackets {
            self.i64(b.notional_cap.0);
            self.u32(b.max_leverage);
            self.i64(b.maint_margin_rate.0);
            self.i64(b.cum.0);
        }
        self.u64(s.funding_interval_ms);
    }

    /// An order placement.
    pub fn place(&mut self, p: &PlaceOrder) {
        self.u64(p.account);
        self.u32(p.symbol);
        self.str(p.client_order_id.as_ref().map_or("", ClientOrderId::as_str));
        self.u8(p.side.to_u8());
        self.u8(p.order_type.to_u8());
        self.u8(p.time_in_force.to_u8());
        self.opt_i64(p.price.map(Price::raw));
        self.i64(p.qty.0);
        self.opt_i64(p.stop_price.map(Price::raw));
        self.u8(p.trigger_source.to_u8());
        self.opt_i64(p.callback_rate.map(Rate::raw));
        self.opt_i64(p.activation_price.map(Price::raw));
        self.opt_u64(p.good_till);
        self.bool(p.reduce_only);
        self.bool(p.close_position);
        self.u8(p.position_side.to_u8());
        self.u8(p.stp.to_u8());
    }

    /// An optional (maker, taker) pair of rates.
    pub fn fee_rates(&mut self, rates: Option<(Rate, Rate)>) {
        self.bool(rates.is_some());
        if let Some((maker, taker)) = rates {
            self.i64(maker.raw());
            self.i64(taker.raw());
        }
    }

    fn order_ref(&mut self, r: &OrderRef) {
        match r {
            OrderRef::Id(id) => {
                self.u8(0);
                self.u64(*id);
            }
            OrderRef::Client(cid) => {
                self.u8(1);
                self.str(cid.as_str());
            }
        }
    }

    /// A command.
    pub fn command(&mut self, c: &Command) {
        match c {
            Command::AddInstrument(spec) => {
                self.u8(1);
                self.instrument(spec);
            }
            Command::UpdateInstrument(spec) => {
                self.u8(2);
                self.instrument(spec);
            }
            Command::PlaceOrder(p) => {
                self.u8(3);
                self.place(p);
            }
            Command::CancelOrder { account, symbol, order } => {
                self.u8(4);
                self.u64(*account);
                self.u32(*symbol);
                self.order_ref(order);
            }
            Command::CancelAll { account, symbol } => {
                self.u8(5);
                self.u64(*account);
                self.u32(*symbol);
            }
            Command::AmendOrder { account, symbol, order, price, qty } => {
                self.u8(6);
                self.u64(*account);
                self.u32(*symbol);
                self.order_ref(order);
                self.i64(price.0);
                self.i64(qty.0);
            }
            Command::SetMarkPrice { symbol, mark, index } => {
                self.u8(7);
                self.u32(*symbol);
                self.i64(mark.0);
                self.i64(index.0);
            }
            Command::Deposit { account, amount } => {
                self.u8(8);
                self.u64(*account);
                self.i64(amount.0);
            }
            Command::Withdraw { account, amount, key } => {
                self.u8(9);
                self.u64(*account);
                self.i64(amount.0);
                self.u64(*key);
            }
            Command::OpenAccount { name, role } => {
                self.u8(24);
                self.str(name);
                self.str(role);
            }
            Command::Transfer { from, to, amount } => {
                self.u8(10);
                self.u64(*from);
                self.u64(*to);
                self.i64(amount.0);
            }
            Command::SetLeverage { account, symbol, leverage } => {
                self.u8(11);
                self.u64(*account);
                self.u32(*symbol);
                self.u32(*leverage);
            }
            Command::SetPositionMode { account, hedge } => {
                self.u8(12);
                self.u64(*account);
                self.bool(*hedge);
            }
            Command::ApplyFunding { symbol, rate, mark } => {
                self.u8(13);
                self.u32(*symbol);
                self.i64(rate.0);
                self.i64(mark.0);
            }
            Command::InsurancePayout { account, amount, reason, key } => {
                self.u8(14);
                self.u64(*account);
                self.i64(amount.0);
                self.u8(reason.to_u8());
                self.u64(*key);
            }
            Command::SetInsuranceFloor { amount } => {
                self.u8(15);
                self.i64(amount.0);
            }
            Command::PlaceWithStops { entry, stop_loss, take_profit } => {
                self.u8(20);
                self.place(entry);
                self.opt_i64(stop_loss.map(Price::raw));
                self.opt_i64(take_profit.map(Price::raw));
            }
            Command::SetFeeTier { account, rates } => {
                self.u8(21);
                self.u64(*account);
                self.fee_rates(*rates);
            }
            Command::ClosePosition { account, symbol, position_side } => {
                self.u8(17);
                self.u64(*account);
                self.u32(*symbol);
                self.u8(position_side.to_u8());
            }
            Command::CloseAll { account } => {
                self.u8(18);
                self.u64(*account);
            }
            Command::Reverse { account, symbol } => {
                self.u8(19);
                self.u64(*account);
                self.u32(*symbol);
            }
            Command::SetMarginType { account, symbol, isolated } => {
                self.u8(22);
                self.u64(*account);
                self.u32(*symbol);
                self.bool(*isolated);
            }
            Command::AdjustIsolatedMargin { account, symbol, position_side, amount } => {
                self.u8(23);
                self.u64(*account);
                self.u32(*symbol);
                self.u8(position_side.to_u8());
                self.i64(amount.0);
            }
            Command::SetAdlRanking { symbol, side, accounts } => {
                self.u8(16);
                self.u32(*symbol);
                self.u8(side.to_u8());
                self.u32(u32::try_from(accounts.len()).expect("Invariant: fewer than 2^32 ranked accounts"));
                for account in accounts {
                    self.u64(*account);
                }
            }
        }
    }

    /// A command envelope: `seq`, `ts`, then the command (the journal's frame payload).
    pub fn envelope(&mut self, e: &CommandEnvelope) {
        self.u64(e.seq);
        self.u64(e.ts);
        self.command(&e.command);
    }

    /// An event.
    pub fn event(&mut self, e: &Event) {
        match e {
            Event::InstrumentUpdated { symbol } => {
                self.u8(1);
                self.u32(*symbol);
            }
            Event::OrderAccepted { order_id, order } => {
                self.u8(2);
                self.u64(*order_id);
                self.place(order);
            }
            Event::OrderRejected { account, symbol, order_id, reason } => {
                self.u8(3);
                self.u64(*account);
                self.u32(*symbol);
                self.opt_u64(*order_id);
                self.u8(reason.to_u8());
            }
            Event::CommandRejected { account, symbol, reason } => {
                self.u8(27);
                self.opt_u64(*account);
                self.opt_u32(*symbol);
                self.u8(reason.to_u8());
            }
            Event::OrderTriggered { account, symbol, order_id, trigger_price } => {
                self.u8(4);
                self.u64(*account);
                self.u32(*symbol);
                self.u64(*order_id);
                self.i64(trigger_price.0);
            }
            Event::Trade {
                symbol,
                trade_id,
                price,
                qty,
                taker_side,
                maker_order_id,
                maker_account,
                maker_leaves,
                taker_order_id,
                taker_account,
                taker_leaves,
            } => {
                self.u8(5);
                self.u32(*symbol);
                self.u64(*trade_id);
                self.i64(price.0);
                self.i64(qty.0);
                self.u8(taker_side.to_u8());
                self.u64(*maker_order_id);
                self.u64(*maker_account);
                self.i64(maker_leaves.0);
                self.u64(*taker_order_id);
                self.u64(*taker_account);
                self.i64(taker_leaves.0);
            }
            Event::OrderCancelled { account, symbol, order_id, leaves, reason } => {
                self.u8(6);
                self.u64(*account);
                self.u32(*symbol);
                self.u64(*order_id);
                self.i64(leaves.0);
                self.u8(reason.to_u8());
            }
            Event::OrderExpired { account, symbol, order_id, leaves, reason } => {
                self.u8(7);
                self.u64(*account);
                self.u32(*symbol);
                self.u64(*order_id);
                self.i64(leaves.0);
                self.u8(reason.to_u8());
            }
            Event::OrderAmended { account, symbol, order_id, price, qty, leaves, priority_kept } => {
                self.u8(8);
                self.u64(*account);
                self.u32(*symbol);
                self.u64(*order_id);
                self.i64(price.0);
                self.i64(qty.0);
                self.i64(leaves.0);
                self.bool(*priority_kept);
            }
            Event::BookDelta { symbol, side, price, qty } => {
                self.u8(9);
                self.u32(*symbol);
                self.u8(side.to_u8());
                self.i64(price.0);
                self.i64(qty.0);
            }
            Event::MarkPriceSet { symbol, mark, index } => {
                self.u8(10);
                self.u32(*symbol);
                self.i64(mark.0);
                self.i64(index.0);
            }
            Event::FillSettled {
                account,
                symbol,
                order_id,
                trade_id,
                position_side,
                qty,
                price,
                fee,
                realised_pnl,
                wallet,
                position_qty,
                position_cost,
            } => {
                self.u8(11);
                self.u64(*account);
                self.u32(*symbol);
                self.u64(*order_id);
                self.u64(*trade_id);
                self.u8(position_side.to_u8());
                for v in [*qty, price.0, fee.0, realised_pnl.0, wallet.0, *position_qty, position_cost.0] {
                    self.i64(v);
                }
            }
            Event::BalanceChanged { account, amount, wallet, kind } => {
                self.u8(12);
                self.u64(*account);
                self.i64(amount.0);
                self.i64(wallet.0);
                self.u8(kind.to_u8());
            }
            Event::LeverageSet { account, symbol, leverage } => {
                self.u8(13);
                self.u64(*account);
                self.u32(*symbol);
                self.u32(*leverage);
            }
            Event::PositionModeSet { account, hedge } => {
                self.u8(14);
                self.u64(*account);
                self.bool(*hedge);
            }
            Event::LiquidationStarted { account, margin_balance, maintenance } => {
                self.u8(15);
                self.u64(*account);
                self.i64(margin_balance.0);
                self.i64(maintenance.0);
            }
            Event::LiquidationOrder { account, symbol, order_id, side, qty, bankruptcy_price, position_side } => {
                self.u8(16);
                self.u64(*account);
                self.u32(*symbol);
                self.u64(*order_id);
                self.u8(side.to_u8());
                self.i64(qty.0);
                self.i64(bankruptcy_price.0);
                self.u8(position_side.to_u8());
            }
            Event::PositionTakenOver { account, symbol, position_side, qty, price } => {
                self.u8(17);
                self.u64(*account);
                self.u32(*symbol);
                self.u8(position_side.to_u8());
                self.i64(*qty);
                self.i64(price.0);
            }
            Event::LiquidationFinished { account, closed } => {
                self.u8(18);
                self.u64(*account);
                self.bool(*closed);
            }
            Event::AutoDeleveraged { account, bankrupt, symbol, qty, price } => {
                self.u8(19);
                self.u64(*account);
                self.u64(*bankrupt);
                self.u32(*symbol);
                self.i64(*qty);
                self.i64(price.0);
            }
            Event::FundingApplied { symbol, rate, mark, dust } => {
                self.u8(20);
                self.u32(*symbol);
                self.i64(rate.0);
                self.i64(mark.0);
                self.i64(dust.0);
            }
            Event::FeeTierSet { account, rates } => {
                self.u8(24);
                self.u64(*account);
                self.fee_rates(*rates);
            }
            Event::InsurancePaid { account, amount, reason, key } => {
                self.u8(23);
                self.u64(*account);
                self.i64(amount.0);
                self.u8(reason.to_u8());
                self.u64(*key);
            }
            Event::InsuranceFloorSet { amount } => {
                self.u8(21);
                self.i64(amount.0);
            }
            Event::AccountOpened { account, name, role } => {
                self.u8(28);
                self.u64(*account);
                self.str(name);
                self.str(role);
            }
            Event::MarginTypeSet { account, symbol, isolated } => {
                self.u8(25);
                self.u64(*account);
                self.u32(*symbol);
                self.bool(*isolated);
            }
            Event::IsolatedMarginChanged { account, symbol, position_side, amount, isolated_margin } => {
                self.u8(26);
                self.u64(*account);
                self.u32(*symbol);
                self.u8(position_side.to_u8());
                self.i64(amount.0);
                self.i64(isolated_margin.0);
            }
            Event::AdlRankingSet { symbol, side, accounts } => {
                self.u8(22);
                self.u32(*symbol);
                self.u8(side.to_u8());
                self.u32(*accounts);
            }
        }
    }
}

/// Reads canonical fields from a byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

macro_rules! read_enum {
    ($reader:expr, $ty:ty) => {{
        let offset = $reader.pos;
        <$ty>::from_u8($reader.u8()?).ok_or(DecodeError { offset, what: concat!("unknown ", stringify!($ty)) })
    }};
}

impl<'a> Reader<'a> {
    /// Reads from the start of `bytes`.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// True when every byte has been read.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// Bytes read so far.
    #[must_use]
    pub const fn position(&self) -> usize {
        self.pos
    }

    fn error(&self, what: &'static str) -> DecodeError {
        DecodeError { offset: self.pos, what }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let end = self.pos.checked_add(N).filter(|&e| e <= self.bytes.len()).ok_or(self.error("truncated"))?;
        let mut out = [0_u8; N];
        out.copy_from_slice(&self.bytes[self.pos..end]);
        self.pos = end;
        Ok(out)
    }

    /// A byte.
    ///
    /// # Errors
    /// Truncated input.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }
    /// A bool (0 or 1).
    ///
    /// # Errors
    /// Truncated or malformed input.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError { offset: self.pos - 1, what: "bool not 0 or 1" }),
        }
    }
    /// A u32.
    ///
    /// # Errors
    /// Truncated input.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    /// A u64.
    ///
    /// # Errors
    /// Truncated input.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    /// An i64.
    ///
    /// # Errors
    /// Truncated or malformed input.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    /// An optional i64.
    ///
    /// # Errors
    /// Truncated or malformed input.
    pub fn opt_i64(&mut self) -> Result<Option<i64>, DecodeError> {
        Ok(if self.bool()? { Some(self.i64()?) } else { None })
    }
    /// An optional u64.
    ///
    /// # Errors
    /// Truncated or malformed input.
    pub fn opt_u64(&mut self) -> Result<Option<u64>, DecodeError> {
        Ok(if self.bool()? { Some(self.u64()?) } else { None })
    }
    /// An optional u32.
    ///
    /// # Errors
    /// Truncated or malformed input.
    pub fn opt_u32(&mut self) -> Result<Option<u32>, DecodeError> {
        Ok(if self.bool()? { Some(self.u32()?) } else { None })
    }
    /// A short string.
    ///
    /// # Errors
    /// Truncated or malformed input.
    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.u8()?);
        let end = self.pos + len;
        if end > self.bytes.len() {
            return Err(self.error("truncated string"));
        }
        let text = std::str::from_utf8(&self.bytes[self.pos..end]).map_err(|_| self.error("string not UTF-8"))?;
        self.pos = end;
        Ok(text)
    }
    fn client_id(&mut self) -> Result<ClientOrderId, DecodeError> {
        let offset = self.pos;
        ClientOrderId::new(self.str()?).map_err(|_| DecodeError { offset, what: "invalid client order id" })
    }

    /// An instrument specification.
    ///
    /// # Errors
    /// Truncated or malformed input.
    pub fn instrument(&mut self) -> Result<InstrumentSpec, DecodeError> {
        let symbol = self.u32()?;
        let offset = self.pos;
        let name = SymbolName::new(self.str()?).map_err(|_| DecodeError { offset, what: "invalid symbol name" })?;
        let mut spec = InstrumentSpec {
            symbol,
            name,
            tick_size: Price(self.i64()?),
            step_size: Qty(self.i64()?),
            min_qty: Qty(self.i64()?),
            max_qty: Qty(self.i64()?),
            min_notional: Quote(self.i64()?),
            limit_price_band: Rate(self.i64()?),
            market_price_band: Rate(self.i64()?),
            maker_fee: Rate(self.i64()?),
            taker_fee: Rate(self.i64()?),
            liquidation_fee: Rate(self.i64()?),
            trading: self.bool()?,
            brackets: Vec::new(),
            funding_interval_ms: 0,
        };
        for _ in 0..self.u8()? {
            spec.brackets.push(LeverageBracket {
                notional_cap: Quote(self.i64()?),
                max_leverage: self.u32()?,
                maint_margin_rate: Rate(self.i64()?),
                cum: Quote(self.i64()?),
            });
        }
        spec.funding_interval_ms = self.u64()?;
        Ok(spec)
    }

    /// An order placement.
    ///
    /// # Errors
    /// Truncated or malformed input.
    pub fn place(&mut self) -> Result<PlaceOrder, DecodeError> {
        let account = self.u64()?;
        let symbol = self.u32()?;
        let client_order_id = if self.bytes.get(self.pos) == Some(&0) {
            self.pos += 1;
            None
        } else {
            Some(self.client_id()?)
        };
        Ok(PlaceOrder {
            account,
            symbol,
            client_order_id,
            side: read_enum!(self, Side)?,
            order_type: read_enum!(self, OrderType)?,
            time_in_force: read_enum!(self, TimeInForce)?,
            price: self.opt_i64()?.map(Price),
            qty: Qty(self.i64()?),
            stop_price: self.opt_i64()?.map(Price),
            trigger_source: read_enum!(self, TriggerSource)?,
            callback_rate: self.opt_i64()?.map(Rate),
            activation_price: self.opt_i64()?.map(Price),
            good_till: self.opt_u64()?,
            reduce_only: self.bool()?,
            close_position: self.bool()?,
            position_side: read_enum!(self, PositionSide)?,
            stp: read_enum!(self, StpMode)?,
        })
    }

    /// An optional (maker, taker) pair of rates.
    ///
    /// # Errors
    /// Truncated or malformed input.
    pub fn fee_rates(&mut self) -> Result<Option<(Rate, Rate)>, DecodeError> {
        Ok(if self.bool()? { Some((Rate(self.i64()?), Rate(self.i64()?))) } else { None })
    }

    fn order_ref(&mut self) -> Result<OrderRef, DecodeError> {
        match self.u8()? {
            0 => Ok(OrderRef::Id(self.u64()?)),
            1 => Ok(OrderRef::Client(self.client_id()?)),
            _ => Err(DecodeError { offset: self.pos - 1, what: "unknown order reference kind" }),
        }
    }

    /// A command.
    ///
    /// # Errors
    /// See [`DecodeError`].
    pub fn command(&mut self) -> Result<Command, DecodeError> {
        let offset = self.pos;
        Ok(match self.u8()? {
            1 => Command::AddInstrument(self.instrument()?),
            2 => Command::UpdateInstrument(self.instrument()?),
            3 => Command::PlaceOrder(self.place()?),
            4 => Command::CancelOrder { account: self.u64()?, symbol: self.u32()?, order: self.order_ref()? },
            5 => Command::CancelAll { account: self.u64()?, symbol: self.u32()? },
            6 => Command::AmendOrder {
                account: self.u64()?,
                symbol: self.u32()?,
                order: self.order_ref()?,
                price: Price(self.i64()?),
                qty: Qty(self.i64()?),
            },
            7 => Command::SetMarkPrice { symbol: self.u32()?, mark: Price(self.i64()?), index: Price(self.i64()?) },
            8 => Command::Deposit { account: self.u64()?, amount: Quote(self.i64()?) },
            9 => Command::Withdraw { account: self.u64()?, amount: Quote(self.i64()?), key: self.u64()? },
            24 => Command::OpenAccount { name: self.str()?.to_owned(), role: self.str()?.to_owned() },
            10 => Command::Transfer { from: self.u64()?, to: self.u64()?, amount: Quote(self.i64()?) },
            11 => Command::SetLeverage { account: self.u64()?, symbol: self.u32()?, leverage: self.u32()? },
            12 => Command::SetPositionMode { account: self.u64()?, hedge: self.bool()? },
            13 => Command::ApplyFunding { symbol: self.u32()?, rate: Rate(self.i64()?), mark: Price(self.i64()?) },
            14 => Command::InsurancePayout {
                account: self.u64()?,
                amount: Quote(self.i64()?),
                reason: read_enum!(self, PayoutReason)?,
                key: self.u64()?,
            },
            15 => Command::SetInsuranceFloor { amount: Quote(self.i64()?) },
            16 => {
                let symbol = self.u32()?;
                let side = read_enum!(self, Side)?;
                let count = self.u32()?;
                let mut accounts = Vec::new();
                for _ in 0..count {
                    accounts.push(self.u64()?);
                }
                Command::SetAdlRanking { symbol, side, accounts }
            }
            17 => Command::ClosePosition { account: self.u64()?, symbol: self.u32()?, position_side: read_enum!(self, PositionSide)? },
            18 => Command::CloseAll { account: self.u64()? },
            21 => Command::SetFeeTier { account: self.u64()?, rates: self.fee_rates()? },
            20 => Command::PlaceWithStops {
                entry: self.place()?,
                stop_loss: self.opt_i64()?.map(Price),
                take_profit: self.opt_i64()?.map(Price),
            },
            19 => Command::Reverse { account: self.u64()?, symbol: self.u32()? },
            22 => Command::SetMarginType { account: self.u64()?, symbol: self.u32()?, isolated: self.bool()? },
            23 => Command::AdjustIsolatedMargin {
                account: self.u64()?,
                symbol: self.u32()?,
                position_side: read_enum!(self, PositionSide)?,
                amount: Quote(self.i64()?),
            },
            _ => return Err(DecodeError { offset, what: "unknown command tag" }),
        })
    }

    /// A command envelope, as [`Writer::envelope`] wrote it.
    ///
    /// # Errors
    /// See [`DecodeError`].
    pub fn envelope(&mut self) -> Result<CommandEnvelope, DecodeError> {
        Ok(CommandEnvelope { seq: self.u64()?, ts: self.u64()?, command: self.command()? })
    }

    /// An event envelope (`seq`, `index`, `ts`, event), as [`encode_event`] writes it.
    ///
    /// # Errors
    /// See [`DecodeError`].
    pub fn event_envelope(&mut self) -> Result<EventEnvelope, DecodeError> {
        Ok(EventEnvelope { seq: self.u64()?, index: self.u32()?, ts: self.u64()?, event: self.event()? })
    }

    /// An event.
    ///
    /// # Errors
    /// See [`DecodeError`].
    pub fn event(&mut self) -> Result<Event, DecodeError> {
        let offset = self.pos;
        Ok(match self.u8()? {
            1 => Event::InstrumentUpdated { symbol: self.u32()? },
            2 => Event::OrderAccepted { order_id: self.u64()?, order: self.place()? },
            3 => Event::OrderRejected {
                account: self.u64()?,
                symbol: self.u32()?,
                order_id: self.opt_u64()?,
                reason: read_enum!(self, RejectReason)?,
            },
            27 => Event::CommandRejected { account: self.opt_u64()?, symbol: self.opt_u32()?, reason: read_enum!(self, RejectReason)? },
            4 => Event::OrderTriggered {
                account: self.u64()?,
                symbol: self.u32()?,
                order_id: self.u64()?,
                trigger_price: Price(self.i64()?),
            },
            5 => Event::Trade {
                symbol: self.u32()?,
                trade_id: self.u64()?,
                price: Price(self.i64()?),
                qty: Qty(self.i64()?),
                taker_side: read_enum!(self, Side)?,
                maker_order_id: self.u64()?,
                maker_account: self.u64()?,
                maker_leaves: Qty(self.i64()?),
                taker_order_id: self.u64()?,
                taker_account: self.u64()?,
                taker_leaves: Qty(self.i64()?),
            },
            6 => Event::OrderCancelled {
                account: self.u64()?,
                symbol: self.u32()?,
                order_id: self.u64()?,
                leaves: Qty(self.i64()?),
                reason: read_enum!(self, CancelReason)?,
            },
            7 => Event::OrderExpired {
                account: self.u64()?,
                symbol: self.u32()?,
                order_id: self.u64()?,
                leaves: Qty(self.i64()?),
                reason: read_enum!(self, ExpireReason)?,
            },
            8 => Event::OrderAmended {
                account: self.u64()?,
                symbol: self.u32()?,
                order_id: self.u64()?,
                price: Price(self.i64()?),
                qty: Qty(self.i64()?),
                leaves: Qty(self.i64()?),
                priority_kept: self.bool()?,
            },
            9 => Event::BookDelta { symbol: self.u32()?, side: read_enum!(self, Side)?, price: Price(self.i64()?), qty: Qty(self.i64()?) },
            10 => Event::MarkPriceSet { symbol: self.u32()?, mark: Price(self.i64()?), index: Price(self.i64()?) },
            11 => Event::FillSettled {
                account: self.u64()?,
                symbol: self.u32()?,
                order_id: self.u64()?,
                trade_id: self.u64()?,
                position_side: read_enum!(self, PositionSide)?,
                qty: self.i64()?,
                price: Price(self.i64()?),
                fee: Quote(self.i64()?),
                realised_pnl: Quote(self.i64()?),
                wallet: Quote(self.i64()?),
                position_qty: self.i64()?,
                position_cost: Quote(self.i64()?),
            },
            12 => Event::BalanceChanged {
                account: self.u64()?,
                amount: Quote(self.i64()?),
                wallet: Quote(self.i64()?),
                kind: read_enum!(self, BalanceKind)?,
            },
            13 => Event::LeverageSet { account: self.u64()?, symbol: self.u32()?, leverage: self.u32()? },
            14 => Event::PositionModeSet { account: self.u64()?, hedge: self.bool()? },
            15 => Event::LiquidationStarted { account: self.u64()?, margin_balance: Quote(self.i64()?), maintenance: Quote(self.i64()?) },
            16 => Event::LiquidationOrder {
                account: self.u64()?,
                symbol: self.u32()?,
                order_id: self.u64()?,
                side: read_enum!(self, Side)?,
                qty: Qty(self.i64()?),
                bankruptcy_price: Price(self.i64()?),
                position_side: read_enum!(self, PositionSide)?,
            },
            17 => Event::PositionTakenOver {
                account: self.u64()?,
                symbol: self.u32()?,
                position_side: read_enum!(self, PositionSide)?,
                qty: self.i64()?,
                price: Price(self.i64()?),
            },
            18 => Event::LiquidationFinished { account: self.u64()?, closed: self.bool()? },
            19 => Event::AutoDeleveraged {
                account: self.u64()?,
                bankrupt: self.u64()?,
                symbol: self.u32()?,
                qty: self.i64()?,
                price: Price(self.i64()?),
            },
            20 => {
                Event::FundingApplied { symbol: self.u32()?, rate: Rate(self.i64()?), mark: Price(self.i64()?), dust: Quote(self.i64()?) }
            }
            21 => Event::InsuranceFloorSet { amount: Quote(self.i64()?) },
            28 => Event::AccountOpened { account: self.u64()?, name: self.str()?.to_owned(), role: self.str()?.to_owned() },
            24 => Event::FeeTierSet { account: self.u64()?, rates: self.fee_rates()? },
            23 => Event::InsurancePaid {
                account: self.u64()?,
                amount: Quote(self.i64()?),
                reason: read_enum!(self, PayoutReason)?,
                key: self.u64()?,
            },
            22 => Event::AdlRankingSet { symbol: self.u32()?, side: read_enum!(self, Side)?, accounts: self.u32()? },
            25 => Event::MarginTypeSet { account: self.u64()?, symbol: self.u32()?, isolated: self.bool()? },
            26 => Event::IsolatedMarginChanged {
                account: self.u64()?,
                symbol: self.u32()?,
                position_side: read_enum!(self, PositionSide)?,
                amount: Quote(self.i64()?),
                isolated_margin: Quote(self.i64()?),
            },
            _ => return Err(DecodeError { offset, what: "unknown event tag" }),
        })
    }
}

fn framed(out: &mut Vec<u8>, body: impl FnOnce(&mut Writer<'_, Vec<u8>>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    body(&mut Writer::new(out));
    let len = u32::try_from(out.len() - start - 4).expect("Invariant: records are far below 4 GiB");
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Appends one length-prefixed command to a batch.
pub fn encode_command(out: &mut Vec<u8>, command: &Command) {
    framed(out, |w| w.command(command));
}

/// Appends one length-prefixed command envelope (`seq`, `ts`, command).
pub fn encode_envelope(out: &mut Vec<u8>, envelope: &CommandEnvelope) {
    framed(out, |w| w.envelope(envelope));
}

/// Appends one length-prefixed event envelope (`seq`, `index`, `ts`, event).
pub fn encode_event(out: &mut Vec<u8>, envelope: &EventEnvelope) {
    framed(out, |w| {
        w.u64(envelope.seq);
        w.u32(envelope.index);
        w.u64(envelope.ts);
        w.event(&envelope.event);
    });
}

/// Splits a batch of length-prefixed records and decodes each with `decode`.
///
/// # Errors
/// The first record that is truncated, malformed or has trailing bytes; offsets are relative to
/// the start of the batch.
pub fn decode_batch<T>(batch: &[u8], mut decode: impl FnMut(&mut Reader<'_>) -> Result<T, DecodeError>) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < batch.len() {
        let header = batch.get(pos..pos + 4).ok_or(DecodeError { offset: pos, what: "truncated length" })?;
        let len = u32::from_le_bytes(header.try_into().expect("four bytes")) as usize;
        let start = pos + 4;
        let record = batch.get(start..start + len).ok_or(DecodeError { offset: pos, what: "truncated record" })?;
        let mut reader = Reader::new(record);
        let value = decode(&mut reader).map_err(|e| DecodeError { offset: start + e.offset, what: e.what })?;
        if !reader.is_done() {
            return Err(DecodeError { offset: start + reader.pos, what: "trailing bytes in record" });
        }
        out.push(value);
        pos = start + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
