//! The engine: a deterministic state machine `apply(command) -> events` over every market.
//!
//! Invariants:
//! - commands arrive with contiguous sequence numbers and non-decreasing timestamps, or
//!   [`Engine::apply`] returns an [`EngineError`] and changes nothing;
//! - nothing here reads a clock, a random source, the environment or a file, and nothing is
//!   iterated out of a hash map, so the same commands always give the same events and the same
//!   [`Engine::state_hash`];
//! - a business refusal is an [`Event::OrderRejected`] (order commands) or an
//!   [`Event::CommandRejected`] (every other command), never an error, and the refused command
//!   changes nothing (GTD expiries due at its timestamp still happen first).

mod snapshot;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sha2::{Digest, Sha256};

use crate::account_settings;
use crate::accounts::{Accounts, ReferencePrices, FEE_ACCOUNT, FIRST_USER_ACCOUNT};
use crate::command::{Command, CommandEnvelope, PlaceOrder};
use crate::event::{CancelReason, Event};
use crate::funding;
use crate::ids::{AccountId, Nanos, OrderId, Seq, SymbolId, TradeId};
use crate::instrument::InstrumentSpec;
use crate::insurance;
use crate::isolated;
use crate::ledger;
use crate::liquidation;
use crate::liquidation_index::LiquidationIndex;
use crate::market::{Ctx, Market};
use crate::order::{PositionSide, Side};
use crate::reject::RejectReason;
use crate::units::{Price, Quote};

/// A command the engine cannot take at all; the caller (the sequencer) has a bug.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// The sequence number is not the next one.
    OutOfOrder {
        /// The sequence number expected.
        expected: Seq,
        /// The one received.
        got: Seq,
    },
    /// The timestamp is earlier than the previous command's.
    TimeWentBackwards {
        /// The previous command's time.
        last: Nanos,
        /// The time received.
        got: Nanos,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfOrder { expected, got } => write!(f, "command seq {got} out of order, expected {expected}"),
            Self::TimeWentBackwards { last, got } => write!(f, "command time {got} before previous {last}"),
        }
    }
}

impl std::error::Error for EngineError {}

/// The whole exchange state.
#[derive(Debug, Default)]
pub struct Engine {
    last_seq: Seq,
    last_ts: Nanos,
    last_order_id: OrderId,
    last_trade_id: TradeId,
    markets: BTreeMap<SymbolId, Market>,
    expiries: BTreeSet<(Nanos, SymbolId, OrderId)>,
    accounts: Accounts,
    prices: ReferencePrices,
    insurance_floor: Quote,
    payout_keys: BTreeSet<u64>,
    withdrawal_keys: BTreeSet<u64>,
    last_account: AccountId,
    adl_rankings: BTreeMap<(SymbolId, Side), Vec<AccountId>>,
    liquidation_index: LiquidationIndex,
}

impl Engine {
    /// An empty engine expecting command 1.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sequence number of the last applied command.
    #[must_use]
    pub const fn last_seq(&self) -> Seq {
        self.last_seq
    }

    /// Timestamp of the last applied command.
    #[must_use]
    pub const fn last_ts(&self) -> Nanos {
        self.last_ts
    }

    /// One market.
    #[must_use]
    pub fn market(&self, symbol: SymbolId) -> Option<&Market> {
        self.markets.get(&symbol)
    }

    /// Every account.
    #[must_use]
    pub const fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Reference price (mark, else last trade) of every symbol that has one.
    #[must_use]
    pub const fn reference_prices(&self) -> &ReferencePrices {
        &self.prices
    }

    /// The latest installed ADL ranking of each (symbol, ranked side) (`SetAdlRanking`).
    #[must_use]
    pub const fn adl_rankings(&self) -> &BTreeMap<(SymbolId, Side), Vec<AccountId>> {
        &self.adl_rankings
    }

    /// The accounts a tick of `symbol` at `mark` would check (see `liquidation_index`).
    pub fn liquidation_candidates(&mut self, symbol: SymbolId, mark: Price) -> Vec<AccountId> {
        self.liquidation_index.refresh(&mut self.accounts, &self.markets);
        self.liquidation_index.candidates(symbol, mark)
    }

    /// Every market by id.
    #[must_use]
    pub const fn market_map(&self) -> &BTreeMap<SymbolId, Market> {
        &self.markets
    }

    /// Every market, ascending by id.
    pub fn markets(&self) -> impl Iterator<Item = &Market> + '_ {
        self.markets.values()
    }

    /// Applies one command and appends its events to `out`.
    ///
    /// # Errors
    /// [`EngineError`] when the envelope is out of sequence or time; nothing changed then.
    pub fn apply(&mut self, envelope: &CommandEnvelope, out: &mut Vec<Event>) -> Result<(), EngineError> {
        if envelope.seq != self.last_seq + 1 {
            return Err(EngineError::OutOfOrder { expected: self.last_seq + 1, got: envelope.seq });
        }
        if envelope.ts < self.last_ts {
            return Err(EngineError::TimeWentBackwards { last: self.last_ts, got: envelope.ts });
        }
        self.last_seq = envelope.seq;
        self.last_ts = envelope.ts;
        self.expire_due(envelope.ts, out);
        self.dispatch(&envelope.command, envelope.ts, out);
        for market in self.markets.values_mut() {
            market.flush_book_deltas(out);
        }
        Ok(())
    }

    fn expire_due(&mut self, ts: Nanos, out: &mut Vec<Event>) {
        while let Some(&(until, symbol, id)) = self.expiries.first() {
            if until > ts {
                break;
            }
            self.expiries.pop_first();
            let Self { markets, last_order_id, last_trade_id, expiries, accounts, prices, .. } = self;
            let mut ctx = Ctx { ts, events: out, last_order_id, last_trade_id, expiries, accounts, prices };
            if let Some(market) = markets.get_mut(&symbol) {
                market.expire_good_till(id, &mut ctx);
            }
        }
    }

    fn dispatch(&mut self, command: &Command, ts: Nanos, out: &mut Vec<Event>) {
        let reject = |out: &mut Vec<Event>, account, symbol, order_id, reason| {
            out.push(Event::OrderRejected { account, symbol, order_id, reason });
        };
        let refuse = |out: &mut Vec<Event>, account, symbol, reason| {
            out.push(Event::CommandRejected { account, symbol, reason });
        };
        match command {
            Command::AddInstrument(spec) => self.add_instrument(spec, out),
            Command::UpdateInstrument(spec) => self.update_instrument(spec, out),
            Command::PlaceOrder(place) => {
                let result = self.with_market(place.symbol, ts, out, |m, ctx| m.place(place, ctx));
                if let Err(reason) = result.and_then(|r| r) {
                    reject(out, place.account, place.symbol, None, reason);
                }
            }
            Command::CancelOrder { account, symbol, order } => {
                let result = self.with_market(*symbol, ts, out, |m, ctx| m.cancel(*account, *order, ctx));
                if let Err((id, reason)) = result.map_err(|r| (None, r)).and_then(|r| r) {
                    reject(out, *account, *symbol, id, reason);
                }
            }
            Command::CancelAll { account, symbol } => {
                if let Err(reason) = self.with_market(*symbol, ts, out, |m, ctx| m.cancel_all(*account, CancelReason::CancelAll, ctx)) {
                    reject(out, *account, *symbol, None, reason);
                }
            }
            Command::AmendOrder { account, symbol, order, price, qty } => {
                let result = self.with_market(*symbol, ts, out, |m, ctx| m.amend(*account, *order, *price, *qty, ctx));
                if let Err((id, reason)) = result.map_err(|r| (None, r)).and_then(|r| r) {
                    reject(out, *account, *symbol, id, reason);
                }
            }
            Command::Deposit { account, amount } => {
                if let Err(reason) = ledger::deposit(&mut self.accounts, *account, *amount, out) {
                    refuse(out, Some(*account), None, reason);
                }
            }
            Command::Withdraw { account, amount, key } => {
                let result = if *key != 0 && self.withdrawal_keys.contains(key) {
                    Err(RejectReason::DuplicateWithdrawal)
                } else {
                    ledger::withdraw(&mut self.accounts, &self.prices, *account, *amount, out)
                };
                match result {
                    Ok(()) if *key != 0 => {
                        self.withdrawal_keys.insert(*key);
                    }
                    Ok(()) => {}
                    Err(reason) => refuse(out, Some(*account), None, reason),
                }
            }
            Command::OpenAccount { name, role } => {
                if name.is_empty() || name.len() > 64 || role.is_empty() || role.len() > 16 {
                    refuse(out, None, None, RejectReason::InvalidAccountOwner);
                } else {
                    let highest = self.accounts.ids().into_iter().filter(|id| *id < FEE_ACCOUNT).max().unwrap_or(0);
                    let account = self.last_account.max(highest).max(FIRST_USER_ACCOUNT) + 1;
                    self.last_account = account;
                    out.push(Event::AccountOpened { account, name: name.clone(), role: role.clone() });
                }
            }
            Command::Transfer { from, to, amount } => {
                if let Err(reason) = ledger::transfer(&mut self.accounts, &self.prices, (*from, *to), *amount, out) {
                    refuse(out, Some(*from), None, reason);
                }
            }
            Command::SetLeverage { account, symbol, leverage } => {
                let result = self.markets.get(symbol).map_or(Err(RejectReason::UnknownSymbol), |m| {
                    account_settings::set_leverage(&mut self.accounts, &self.prices, &m.spec, (*account, *symbol), *leverage, out)
                });
                if let Err(reason) = result {
                    refuse(out, Some(*account), Some(*symbol), reason);
                }
            }
            Command::SetPositionMode { account, hedge } => {
                if let Err(reason) = account_settings::set_position_mode(&mut self.accounts, *account, *hedge, out) {
                    refuse(out, Some(*account), None, reason);
                }
            }
            Command::ApplyFunding { symbol, rate, mark } => {
                let result = if self.markets.contains_key(symbol) {
                    funding::apply(&mut self.accounts, *symbol, *rate, *mark, out)
                } else {
                    Err(RejectReason::UnknownSymbol)
                };
                match result {
                    Ok(()) => self.liquidate_underwater(*symbol, ts, out),
                    Err(reason) => refuse(out, None, Some(*symbol), reason),
                }
            }
            Command::InsurancePayout { account, amount, reason, key } => {
                let payout = insurance::Payout { account: *account, amount: *amount, reason: *reason, key: *key };
                let limits = (self.insurance_floor, &mut self.payout_keys);
                if let Err(why) = insurance::payout(&mut self.accounts, &self.prices, limits, payout, out) {
                    refuse(out, Some(*account), None, why);
                }
            }
            Command::SetInsuranceFloor { amount } => {
                if amount.raw() < 0 {
                    refuse(out, None, None, RejectReason::AmountNotPositive);
                } else {
                    self.insurance_floor = *amount;
                    out.push(Event::InsuranceFloorSet { amount: *amount });
                }
            }
            Command::SetAdlRanking { symbol, side, accounts } => {
                if self.markets.contains_key(symbol) {
                    self.adl_rankings.insert((*symbol, *side), accounts.clone());
                    let count = u32::try_from(accounts.len()).unwrap_or(u32::MAX);
                    out.push(Event::AdlRankingSet { symbol: *symbol, side: *side, accounts: count });
                } else {
                    refuse(out, None, Some(*symbol), RejectReason::UnknownSymbol);
                }
            }
            Command::PlaceWithStops { entry, stop_loss, take_profit } => {
                let protections: Vec<PlaceOrder> = [(stop_loss, true), (take_profit, false)]
                    .into_iter()
                    .filter_map(|(trigger, is_stop)| trigger.map(|t| entry.protection(t, is_stop)))
                    .collect();
                let result = self.with_market(entry.symbol, ts, out, |m, ctx| m.place_with_stops(entry, &protections, ctx));
                if let Err(reason) = result.and_then(|r| r) {
                    reject(out, entry.account, entry.symbol, None, reason);
                }
            }
            Command::SetFeeTier { account, rates } => {
                if let Err(reason) = account_settings::set_fee_tier(&mut self.accounts, *account, *rates, out) {
                    refuse(out, Some(*account), None, reason);
                }
            }
            Command::ClosePosition { account, symbol, position_side } => {
                if let Err(reason) = self.close_legs(*account, &[(*symbol, *position_side)], false, ts, out) {
                    reject(out, *account, *symbol, None, reason);
                }
            }
            Command::CloseAll { account } => {
                let legs = self.open_legs(*account);
                if let Err(reason) = self.close_legs(*account, &legs, false, ts, out) {
                    refuse(out, Some(*account), None, reason);
                }
            }
            Command::Reverse { account, symbol } => {
                if let Err(reason) = self.close_legs(*account, &[(*symbol, PositionSide::Both)], true, ts, out) {
                    reject(out, *account, *symbol, None, reason);
                }
            }
            Command::SetMarginType { account, symbol, isolated } => {
                let result = if self.markets.contains_key(symbol) {
                    isolated::set_margin_type(&mut self.accounts, (*account, *symbol), *isolated, out)
                } else {
                    Err(RejectReason::UnknownSymbol)
                };
                if let Err(reason) = result {
                    refuse(out, Some(*account), Some(*symbol), reason);
                }
            }
            Command::AdjustIsolatedMargin { account, symbol, position_side, amount } => {
                let adjustment =
                    isolated::Adjustment { account: *account, symbol: *symbol, position_side: *position_side, amount: *amount };
                if let Err(reason) = isolated::adjust(&mut self.accounts, &self.prices, adjustment, out) {
                    refuse(out, Some(*account), Some(*symbol), reason);
                }
            }
            Command::SetMarkPrice { symbol, mark, index } => {
                let result = if mark.raw() <= 0 || index.raw() <= 0 {
                    Err(RejectReason::PriceNotPositive)
                } else {
                    self.with_market(*symbol, ts, out, |m, ctx| m.set_mark_price(*mark, *index, ctx))
                };
                match result {
                    Ok(()) => self.liquidate_underwater(*symbol, ts, out),
                    Err(reason) => refuse(out, None, Some(*symbol), reason),
                }
            }
        }
    }

    /// The account's open position legs, ascending by symbol and leg.
    fn open_legs(&self, account: AccountId) -> Vec<(SymbolId, PositionSide)> {
        let Some(state) = self.accounts.get(account) else { return Vec::new() };
        state
            .symbols
            .iter()
            .flat_map(|(&symbol, s)| {
                s.positions.iter().zip(PositionSide::ALL.iter().copied()).filter(|(p, _)| p.qty != 0).map(move |(_, side)| (symbol, side))
            })
            .collect()
    }

    /// Sends a market order closing each leg (`reverse`: twice its size, not reduce-only, so the
    /// position flips). Refused as a whole, before anything is placed, when a leg is flat.
    fn close_legs(
        &mut self,
        account: AccountId,
        legs: &[(SymbolId, PositionSide)],
        reverse: bool,
        ts: Nanos,
        out: &mut Vec<Event>,
    ) -> Result<(), RejectReason> {
        let state = self.accounts.get(account);
        let mut orders = Vec::with_capacity(legs.len());
        for &(symbol, position_side) in legs {
            let leg = crate::accounts::leg_index(position_side);
            let qty = state.and_then(|a| a.symbols.get(&symbol)).map_or(0, |s| s.positions[leg].qty);
            if qty == 0 || (reverse && state.is_some_and(|a| a.hedge_mode)) {
                return Err(RejectReason::ReduceOnlyRejected);
            }
            let side = if qty > 0 { Side::Sell } else { Side::Buy };
            let size = if reverse { qty.abs() * 2 } else { qty.abs() };
            let base = PlaceOrder::market(account, symbol, side, crate::units::Qty(size));
            orders.push(PlaceOrder { reduce_only: !reverse && position_side == PositionSide::Both, position_side, ..base });
        }
        for order in orders {
            let result = self.with_market(order.symbol, ts, out, |m, ctx| m.place(&order, ctx));
            if let Err(reason) = result.and_then(|r| r) {
                out.push(Event::OrderRejected { account, symbol: order.symbol, order_id: None, reason });
            }
        }
        Ok(())
    }

    /// Liquidates every holder of `symbol` that the new mark put under maintenance margin.
    fn liquidate_underwater(&mut self, symbol: SymbolId, ts: Nanos, out: &mut Vec<Event>) {
        let Self { markets, last_order_id, last_trade_id, expiries, accounts, prices, adl_rankings, liquidation_index, .. } = self;
        let mut parts = liquidation::Parts {
            markets,
            accounts,
            prices,
            last_order_id,
            last_trade_id,
            expiries,
            ts,
            adl_rankings,
            index: liquidation_index,
            adl_queues: liquidation::AdlQueues::new(),
        };
        liquidation::run(&mut parts, symbol, out);
    }

    fn with_market<T>(
        &mut self,
        symbol: SymbolId,
        ts: Nanos,
        out: &mut Vec<Event>,
        f: impl FnOnce(&mut Market, &mut Ctx<'_>) -> T,
    ) -> Result<T, RejectReason> {
        let Self { markets, last_order_id, last_trade_id, expiries, accounts, prices, .. } = self;
        let market = markets.get_mut(&symbol).ok_or(RejectReason::UnknownSymbol)?;
        let mut ctx = Ctx { ts, events: out, last_order_id, last_trade_id, expiries, accounts, prices };
        Ok(f(market, &mut ctx))
    }

    fn add_instrument(&mut self, spec: &InstrumentSpec, out: &mut Vec<Event>) {
        let duplicate = self.markets.contains_key(&spec.symbol) || self.markets.values().any(|m| m.spec.name == spec.name);
        let result = if duplicate { Err(RejectReason::SymbolExists) } else { spec.validate().map_err(|_| RejectReason::InvalidInstrument) };
        match result {
            Ok(()) => {
                self.markets.insert(spec.symbol, Market::new(spec.clone()));
                out.push(Event::InstrumentUpdated { symbol: spec.symbol });
            }
            Err(reason) => out.push(Event::CommandRejected { account: None, symbol: Some(spec.symbol), reason }),
        }
    }

    fn update_instrument(&mut self, spec: &InstrumentSpec, out: &mut Vec<Event>) {
        let result = match self.markets.get(&spec.symbol) {
            None => Err(RejectReason::UnknownSymbol),
            Some(market) if market.spec.name != spec.name => Err(RejectReason::InvalidInstrument),
            Some(_) => spec.validate().map_err(|_| RejectReason::InvalidInstrument),
        };
        match result {
            Ok(()) => {
                if let Some(market) = self.markets.get_mut(&spec.symbol) {
                    market.spec = spec.clone();
                }
                out.push(Event::InstrumentUpdated { symbol: spec.symbol });
            }
            Err(reason) => out.push(Event::CommandRejected { account: None, symbol: Some(spec.symbol), reason }),
        }
    }

    /// SHA-256 over the canonical encoding of the whole state: the snapshot bytes
    /// (see [`snapshot`](self::snapshot)).
    #[must_use]
    pub fn state_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        self.write_state(&mut hasher);
        hasher.finalize().into()
    }
}
