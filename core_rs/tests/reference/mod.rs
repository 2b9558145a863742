//! A deliberately simple reference model of the engine's order handling (no clearing): one `Vec`
//! per side in priority order, one `Vec` of waiting conditional orders, linear scans everywhere.
//! Its order validation (`validation.rs`) is written from the documented rules, not the engine's.
//! Used by the differential test (`differential.rs`) as the oracle and by the engine benchmark
//! (`benches/engine.rs`) as the baseline the optimised engine is compared with.

#![allow(dead_code, reason = "the benchmark uses only part of the model")]

mod validation;

use std::collections::VecDeque;

use derivatives_core::book::RestingOrder;
use derivatives_core::event::{CancelReason, ExpireReason};
use derivatives_core::ids::{AccountId, ClientOrderId, Nanos, OrderId, SymbolId, TradeId};
use derivatives_core::instrument::InstrumentSpec;
use derivatives_core::order::{OrderType, Side, StpMode, TimeInForce, TriggerSource};
use derivatives_core::reject::RejectReason;
use derivatives_core::triggers::{ConditionalOrder, Trail};
use derivatives_core::units::{Price, Qty, Rate, SCALE};
use derivatives_core::{Command, Event, OrderRef, PlaceOrder};

// ---------------------------------------------------------------------------------------------
// The reference model.
// ---------------------------------------------------------------------------------------------

/// A resting limit order plus the bookkeeping the engine keeps beside it.
#[derive(Clone, Debug)]
pub struct Resting {
    pub order: RestingOrder,
    pub client_id: Option<ClientOrderId>,
    pub good_till: Option<Nanos>,
}

/// The worst price a taker accepts.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// A market order without a reference price: anything.
    Any,
    /// A limit price.
    At(Price),
    /// A market order: within `reference × (1 ± band)`, compared exactly.
    Band { reference: Price, band: Rate },
}

impl Limit {
    pub fn accepts(self, taker: Side, maker_price: Price) -> bool {
        let wide = |v: i64| i128::from(v);
        match (self, taker) {
            (Self::Any, _) => true,
            (Self::At(limit), Side::Buy) => maker_price <= limit,
            (Self::At(limit), Side::Sell) => maker_price >= limit,
            (Self::Band { reference, band }, Side::Buy) => {
                wide(maker_price.raw()) * wide(SCALE) <= wide(reference.raw()) * wide(SCALE + band.raw())
            }
            (Self::Band { reference, band }, Side::Sell) => {
                wide(maker_price.raw()) * wide(SCALE) >= wide(reference.raw()) * wide(SCALE - band.raw())
            }
        }
    }
}

/// An order while it takes liquidity.
#[derive(Clone, Debug)]
pub struct Taker {
    pub resting: Resting,
    pub limit: Limit,
}

/// Counters and output shared by every market.
#[derive(Debug, Default)]
pub struct Journal {
    pub now: Nanos,
    pub events: Vec<Event>,
    pub last_order_id: OrderId,
    pub last_trade_id: TradeId,
}

/// One instrument in the reference.
#[derive(Debug)]
pub struct RefMarket {
    pub spec: InstrumentSpec,
    /// Priority order: best price first, then arrival.
    pub bids: Vec<Resting>,
    pub asks: Vec<Resting>,
    /// Ascending id.
    pub waiting: Vec<ConditionalOrder>,
    pub last: Option<Price>,
    pub mark: Option<Price>,
    pub index: Option<Price>,
    pub touched: Vec<(Side, Price)>,
    pub pending_last: Option<Price>,
    pub pending_mark: Option<Price>,
}

fn is_stop_type(t: OrderType) -> bool {
    matches!(t, OrderType::StopMarket | OrderType::StopLimit | OrderType::TakeProfitMarket | OrderType::TakeProfitLimit)
}

/// Stop buy and take-profit sell fire on a rise to the stop price; the mirror cases on a fall.
fn stop_fires(place: &PlaceOrder, stop: Price, price: Price) -> bool {
    let is_stop = matches!(place.order_type, OrderType::StopMarket | OrderType::StopLimit);
    if is_stop == (place.side == Side::Buy) {
        price >= stop
    } else {
        price <= stop
    }
}

/// Shows a watched price to a waiting order; true when it fires.
fn observe_price(order: &mut ConditionalOrder, price: Price) -> bool {
    let place = order.place;
    let Some(trail) = order.trail.as_mut() else {
        return stop_fires(&place, place.stop_price.expect("stop orders have a stop price"), price);
    };
    if !trail.active {
        let reached = match (place.activation_price, place.side) {
            (None, _) => true,
            (Some(a), Side::Sell) => price >= a,
            (Some(a), Side::Buy) => price <= a,
        };
        if reached {
            *trail = Trail { active: true, extreme: price };
        }
        return false;
    }
    let callback = i128::from(place.callback_rate.map_or(0, |r| r.raw()));
    let scaled = i128::from(price.raw()) * i128::from(SCALE);
    let scale = i128::from(SCALE);
    if place.side == Side::Sell {
        trail.extreme = trail.extreme.max(price);
        scaled <= i128::from(trail.extreme.raw()) * (scale - callback)
    } else {
        trail.extreme = trail.extreme.min(price);
        scaled >= i128::from(trail.extreme.raw()) * (scale + callback)
    }
}

/// True when `new` goes ahead of a resting order at `other` (strictly better price).
fn ahead_of(side: Side, new: Price, other: Price) -> bool {
    match side {
        Side::Buy => new > other,
        Side::Sell => new < other,
    }
}

/// Matches `taker` against `book` (the opposite side, best first). Returns true when STP
/// stopped the taker. Every trade and STP expiry goes to `events`, every touched level to
/// `touched`, and `last` is set to each trade's price.
fn match_against(
    symbol: SymbolId,
    book: &mut Vec<Resting>,
    taker: &mut Taker,
    last_trade_id: &mut TradeId,
    events: &mut Vec<Event>,
    touched: &mut Vec<(Side, Price)>,
    last: &mut Option<Price>,
) -> bool {
    let t = &mut taker.resting.order;
    while t.leaves.raw() > 0 {
        let Some(maker) = book.first_mut() else { return false };
        if !taker.limit.accepts(t.side, maker.order.price) {
            return false;
        }
        let m = maker.order;
        if m.account == t.account && t.stp != StpMode::None {
            if matches!(t.stp, StpMode::ExpireMaker | StpMode::ExpireBoth) {
                book.remove(0);
                touched.push((m.side, m.price));
                events.push(Event::OrderExpired {
                    account: m.account,
                    symbol,
                    order_id: m.id,
                    leaves: m.leaves,
                    reason: ExpireReason::SelfTrade,
                });
            }
            if matches!(t.stp, StpMode::ExpireTaker | StpMode::ExpireBoth) {
                return true;
            }
            continue;
        }
        let qty = t.leaves.min(m.leaves);
        t.leaves = Qty(t.leaves.raw() - qty.raw());
        maker.order.leaves = Qty(m.leaves.raw() - qty.raw());
        *last_trade_id += 1;
        events.push(Event::Trade {
            symbol,
            trade_id: *last_trade_id,
            price: m.price,
            qty,
            taker_side: t.side,
            maker_order_id: m.id,
            maker_account: m.account,
            maker_leaves: maker.order.leaves,
            taker_order_id: t.id,
            taker_account: t.account,
            taker_leaves: t.leaves,
        });
        touched.push((m.side, m.price));
        *last = Some(m.price);
        if maker.order.leaves.raw() == 0 {
            book.remove(0);
        }
    }
    false
}

impl RefMarket {
    pub fn new(spec: InstrumentSpec) -> Self {
        Self {
            spec,
            bids: Vec::new(),
            asks: Vec::new(),
            waiting: Vec::new(),
            last: None,
            mark: None,
            index: None,
            touched: Vec::new(),
            pending_last: None,
            pending_mark: None,
        }
    }

    pub fn symbol(&self) -> SymbolId {
        self.spec.symbol
    }

    pub fn side(&mut self, side: Side) -> &mut Vec<Resting> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    pub fn band_reference(&self) -> Option<Price> {
        self.mark.or(self.last)
    }

    pub fn watched(&self, source: TriggerSource) -> Option<Price> {
        match source {
            TriggerSource::LastPrice => self.last,
            TriggerSource::MarkPrice => self.mark,
        }
    }

    /// (id, account, client id, GTD time) of every live order, resting or waiting.
    pub fn live(&self) -> impl Iterator<Item = (OrderId, AccountId, Option<ClientOrderId>, Option<Nanos>)> + '_ {
        let resting = self.bids.iter().chain(&self.asks).map(|r| (r.order.id, r.order.account, r.client_id, r.good_till));
        let waiting = self.waiting.iter().map(|w| (w.id, w.place.account, w.place.client_order_id, w.place.good_till));
        resting.chain(waiting)
    }

    pub fn level_qty(&self, side: Side, price: Price) -> Qty {
        let book = if side == Side::Buy { &self.bids } else { &self.asks };
        Qty(book.iter().filter(|r| r.order.price == price).map(|r| r.order.leaves.raw()).sum())
    }

    pub fn depth(&self, side: Side) -> Vec<(Price, Qty)> {
        let book = if side == Side::Buy { &self.bids } else { &self.asks };
        let mut levels: Vec<(Price, Qty)> = Vec::new();
        for r in book {
            match levels.last_mut() {
                Some((price, total)) if *price == r.order.price => total.0 += r.order.leaves.raw(),
                _ => levels.push((r.order.price, r.order.leaves)),
            }
        }
        levels
    }

    // Validation: `validation.rs`.

    pub fn place(&mut self, p: &PlaceOrder, j: &mut Journal) -> Result<(), RejectReason> {
        self.validate_place(p, j.now)?;
        j.last_order_id += 1;
        let id = j.last_order_id;
        j.events.push(Event::OrderAccepted { order_id: id, order: *p });
        if p.order_type.is_conditional() {
            let mut waiting = ConditionalOrder { id, place: *p, trail: None };
            if p.order_type == OrderType::TrailingStopMarket {
                waiting.trail = Some(Trail { active: false, extreme: Price::ZERO });
                if let Some(now) = self.watched(p.trigger_source) {
                    observe_price(&mut waiting, now);
                }
            }
            self.waiting.push(waiting);
        } else {
            let taker = self.taker(id, p);
            self.execute(taker, j);
        }
        self.run_triggers(j);
        Ok(())
    }

    /// A new or triggered order as a taker: limit types at their price, the others protected by
    /// the market band, as IOC.
    pub fn taker(&self, id: OrderId, p: &PlaceOrder) -> Taker {
        let (limit, time_in_force) = if p.order_type.has_limit_price() {
            (Limit::At(p.price.expect("validated")), p.time_in_force)
        } else {
            let limit = match self.band_reference() {
                Some(reference) => Limit::Band { reference, band: self.spec.market_price_band },
                None => Limit::Any,
            };
            (limit, TimeInForce::Ioc)
        };
        let order = RestingOrder {
            id,
            account: p.account,
            side: p.side,
            price: p.price.unwrap_or(Price::ZERO),
            qty: p.qty,
            leaves: p.qty,
            time_in_force,
            stp: p.stp,
            reduce_only: p.reduce_only,
            position_side: p.position_side,
        };
        Taker { resting: Resting { order, client_id: p.client_order_id, good_till: p.good_till }, limit }
    }

    pub fn expire(&mut self, order: &RestingOrder, reason: ExpireReason, j: &mut Journal) {
        j.events.push(Event::OrderExpired {
            account: order.account,
            symbol: self.symbol(),
            order_id: order.id,
            leaves: order.leaves,
            reason,
        });
    }

    pub fn execute(&mut self, mut taker: Taker, j: &mut Journal) {
        let order = taker.resting.order;
        let limit_price = if let Limit::At(p) = taker.limit { Some(p) } else { None };
        if order.time_in_force == TimeInForce::Gtx && limit_price.is_some_and(|p| self.would_take(order.side, p)) {
            self.expire(&order, ExpireReason::PostOnlyWouldTake, j);
            return;
        }
        if order.time_in_force == TimeInForce::Fok && !self.fills_completely(&taker) {
            self.expire(&order, ExpireReason::FokUnfillable, j);
            return;
        }
        let stopped = self.take(&mut taker, j);
        let order = taker.resting.order;
        if order.leaves.raw() == 0 {
            return;
        }
        if stopped {
            self.expire(&order, ExpireReason::SelfTrade, j);
        } else if matches!(order.time_in_force, TimeInForce::Gtc | TimeInForce::Gtx | TimeInForce::Gtd) {
            self.rest(taker.resting);
        } else {
            self.expire(&order, ExpireReason::Unfilled, j);
        }
    }

    /// FOK pre-check: run the real matching loop on a copy of the book and see.
    pub fn fills_completely(&self, taker: &Taker) -> bool {
        let mut book = if taker.resting.order.side == Side::Buy { self.asks.clone() } else { self.bids.clone() };
        let mut dry = taker.clone();
        let (mut trade_id, mut last) = (0, None);
        let (mut events, mut touched) = (Vec::new(), Vec::new());
        match_against(self.symbol(), &mut book, &mut dry, &mut trade_id, &mut events, &mut touched, &mut last);
        dry.resting.order.leaves.raw() == 0
    }

    pub fn take(&mut self, taker: &mut Taker, j: &mut Journal) -> bool {
        let symbol = self.symbol();
        let mut last = None;
        let book = match taker.resting.order.side {
            Side::Buy => &mut self.asks,
            Side::Sell => &mut self.bids,
        };
        let stopped = match_against(symbol, book, taker, &mut j.last_trade_id, &mut j.events, &mut self.touched, &mut last);
        if last.is_some() {
            self.last = last;
            self.pending_last = last;
        }
        stopped
    }

    pub fn rest(&mut self, resting: Resting) {
        let o = resting.order;
        self.touched.push((o.side, o.price));
        let book = self.side(o.side);
        let at = book.iter().position(|r| ahead_of(o.side, o.price, r.order.price)).unwrap_or(book.len());
        book.insert(at, resting);
    }

    pub fn remove_resting(&mut self, id: OrderId) -> Option<Resting> {
        for side in [Side::Buy, Side::Sell] {
            let book = self.side(side);
            if let Some(at) = book.iter().position(|r| r.order.id == id) {
                let resting = book.remove(at);
                self.touched.push((side, resting.order.price));
                return Some(resting);
            }
        }
        None
    }

    pub fn remove_waiting(&mut self, id: OrderId) -> Option<ConditionalOrder> {
        let at = self.waiting.iter().position(|w| w.id == id)?;
        Some(self.waiting.remove(at))
    }

    /// Shows a watched price to every waiting order of that source; removes and returns the ones
    /// that fire, ascending by id.
    pub fn fire(&mut self, source: TriggerSource, price: Price) -> Vec<(ConditionalOrder, Price)> {
        let mut fired = Vec::new();
        let mut i = 0;
        while i < self.waiting.len() {
            let w = &mut self.waiting[i];
            if w.place.trigger_source == source && observe_price(w, price) {
                fired.push((self.waiting.remove(i), price));
            } else {
                i += 1;
            }
        }
        fired
    }

    /// Evaluates the pending mark and last price after each order has finished matching; orders
    /// fired together run in ascending id, later firings queue behind them.
    pub fn run_triggers(&mut self, j: &mut Journal) {
        let mut queue: VecDeque<(ConditionalOrder, Price)> = VecDeque::new();
        loop {
            let mut fired = Vec::new();
            if let Some(mark) = self.pending_mark.take() {
                fired.extend(self.fire(TriggerSource::MarkPrice, mark));
            }
            if let Some(last) = self.pending_last.take() {
                fired.extend(self.fire(TriggerSource::LastPrice, last));
            }
            fired.sort_by_key(|(w, _)| w.id);
            queue.extend(fired);
            let Some((order, trigger_price)) = queue.pop_front() else { return };
            let place = order.place;
            j.events.push(Event::OrderTriggered { account: place.account, symbol: self.symbol(), order_id: order.id, trigger_price });
            let taker = self.taker(order.id, &place);
            if place.close_position {
                self.expire(&taker.resting.order, ExpireReason::NothingToClose, j);
            } else {
                self.execute(taker, j);
            }
        }
    }

    pub fn resolve(&self, account: AccountId, order: OrderRef) -> Result<OrderId, (Option<OrderId>, RejectReason)> {
        match order {
            OrderRef::Id(id) => {
                if self.live().any(|(live, owner, _, _)| live == id && owner == account) {
                    Ok(id)
                } else {
                    Err((Some(id), RejectReason::UnknownOrder))
                }
            }
            OrderRef::Client(cid) => self
                .live()
                .find(|&(_, owner, c, _)| owner == account && c == Some(cid))
                .map(|(id, ..)| id)
                .ok_or((None, RejectReason::UnknownOrder)),
        }
    }

    /// Removes a live order; returns its owner and open quantity.
    pub fn remove_live(&mut self, id: OrderId) -> (AccountId, Qty) {
        if let Some(resting) = self.remove_resting(id) {
            (resting.order.account, resting.order.leaves)
        } else {
            let waiting = self.remove_waiting(id).expect("live order");
            (waiting.place.account, waiting.place.qty)
        }
    }

    pub fn cancel_live(&mut self, id: OrderId, reason: CancelReason, j: &mut Journal) {
        let (account, leaves) = self.remove_live(id);
        j.events.push(Event::OrderCancelled { account, symbol: self.symbol(), order_id: id, leaves, reason });
    }

    pub fn cancel(&mut self, account: AccountId, order: OrderRef, j: &mut Journal) -> Result<(), (Option<OrderId>, RejectReason)> {
        let id = self.resolve(account, order)?;
        self.cancel_live(id, CancelReason::User, j);
        Ok(())
    }

    pub fn cancel_all(&mut self, account: AccountId, j: &mut Journal) {
        let mut ids: Vec<OrderId> = self.live().filter(|&(_, owner, ..)| owner == account).map(|(id, ..)| id).collect();
        ids.sort_unstable();
        for id in ids {
            self.cancel_live(id, CancelReason::CancelAll, j);
        }
    }

    pub fn expire_good_till(&mut self, id: OrderId, j: &mut Journal) {
        let (account, leaves) = self.remove_live(id);
        j.events.push(Event::OrderExpired { account, symbol: self.symbol(), order_id: id, leaves, reason: ExpireReason::GoodTillReached });
    }

    pub fn amend(
        &mut self,
        account: AccountId,
        order: OrderRef,
        price: Price,
        qty: Qty,
        j: &mut Journal,
    ) -> Result<(), (Option<OrderId>, RejectReason)> {
        let id = self.resolve(account, order)?;
        let err = |reason| (Some(id), reason);
        let Some(old) = self.bids.iter().chain(&self.asks).find(|r| r.order.id == id).cloned() else {
            return Err(err(RejectReason::NotAmendable));
        };
        if !self.spec.trading {
            return Err(err(RejectReason::SymbolHalted));
        }
        self.check_qty(qty).map_err(err)?;
        let price = self.check_limit_price(Some(price)).map_err(err)?;
        self.check_band(price).map_err(err)?;
        self.check_notional(price, qty).map_err(err)?;
        let filled = old.order.qty.raw() - old.order.leaves.raw();
        if qty.raw() <= filled {
            return Err(err(RejectReason::AmendBelowFilled));
        }
        if price == old.order.price && qty == old.order.qty {
            return Err(err(RejectReason::AmendNoChange));
        }
        let keeps_priority = price == old.order.price && qty < old.order.qty;
        if !keeps_priority && old.order.time_in_force == TimeInForce::Gtx && self.would_take(old.order.side, price) {
            return Err(err(RejectReason::PostOnlyWouldTake));
        }
        let leaves = Qty(qty.raw() - filled);
        j.events.push(Event::OrderAmended {
            account,
            symbol: self.symbol(),
            order_id: id,
            price,
            qty,
            leaves,
            priority_kept: keeps_priority,
        });
        if keeps_priority {
            self.touched.push((old.order.side, price));
            let book = self.side(old.order.side);
            let resting = book.iter_mut().find(|r| r.order.id == id).expect("found above");
            resting.order.qty = qty;
            resting.order.leaves = leaves;
            return Ok(());
        }
        let mut resting = self.remove_resting(id).expect("found above");
        resting.order.price = price;
        resting.order.qty = qty;
        resting.order.leaves = leaves;
        self.execute(Taker { resting, limit: Limit::At(price) }, j);
        self.run_triggers(j);
        Ok(())
    }

    pub fn set_mark_price(&mut self, mark: Price, index: Price, j: &mut Journal) {
        self.mark = Some(mark);
        self.index = Some(index);
        self.pending_mark = Some(mark);
        j.events.push(Event::MarkPriceSet { symbol: self.symbol(), mark, index });
        self.run_triggers(j);
    }

    pub fn flush_book_deltas(&mut self, j: &mut Journal) {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for (side, price) in touched {
            j.events.push(Event::BookDelta { symbol: self.symbol(), side, price, qty: self.level_qty(side, price) });
        }
    }
}

/// The whole reference exchange.
#[derive(Debug, Default)]
pub struct Reference {
    /// Ascending symbol id.
    pub markets: Vec<RefMarket>,
    pub journal: Journal,
}

impl Reference {
    pub fn market(&self, symbol: SymbolId) -> Option<&RefMarket> {
        self.markets.iter().find(|m| m.symbol() == symbol)
    }

    pub fn reject(&mut self, account: AccountId, symbol: SymbolId, order_id: Option<OrderId>, reason: RejectReason) {
        self.journal.events.push(Event::OrderRejected { account, symbol, order_id, reason });
    }

    /// A refused listing or mark: it names a symbol and no account.
    pub fn refuse(&mut self, symbol: SymbolId, reason: RejectReason) {
        self.journal.events.push(Event::CommandRejected { account: None, symbol: Some(symbol), reason });
    }

    /// Runs `f` on the market `symbol`, or returns `UnknownSymbol`.
    pub fn with_market<T>(&mut self, symbol: SymbolId, f: impl FnOnce(&mut RefMarket, &mut Journal) -> T) -> Result<T, RejectReason> {
        let Self { markets, journal } = self;
        let market = markets.iter_mut().find(|m| m.symbol() == symbol).ok_or(RejectReason::UnknownSymbol)?;
        Ok(f(market, journal))
    }

    pub fn apply(&mut self, now: Nanos, command: &Command) -> Vec<Event> {
        self.journal.now = now;
        self.expire_due(now);
        match command {
            // Funding only: the reference models matching, not clearing.
            Command::Deposit { .. }
            | Command::Withdraw { .. }
            | Command::OpenAccount { .. }
            | Command::Transfer { .. }
            | Command::SetLeverage { .. }
            | Command::SetPositionMode { .. }
            | Command::ApplyFunding { .. }
            | Command::InsurancePayout { .. }
            | Command::SetInsuranceFloor { .. }
            | Command::SetAdlRanking { .. }
            | Command::PlaceWithStops { .. }
            | Command::SetFeeTier { .. }
            | Command::ClosePosition { .. }
            | Command::CloseAll { .. }
            | Command::Reverse { .. }
            | Command::SetMarginType { .. }
            | Command::AdjustIsolatedMargin { .. } => {}
            Command::AddInstrument(spec) => self.add_instrument(spec),
            Command::UpdateInstrument(spec) => self.update_instrument(spec),
            Command::PlaceOrder(p) => {
                if let Err(reason) = self.with_market(p.symbol, |m, j| m.place(p, j)).and_then(|r| r) {
                    self.reject(p.account, p.symbol, None, reason);
                }
            }
            &Command::CancelOrder { account, symbol, order } => {
                let result = self.with_market(symbol, |m, j| m.cancel(account, order, j));
                if let Err((id, reason)) = result.map_err(|r| (None, r)).and_then(|r| r) {
                    self.reject(account, symbol, id, reason);
                }
            }
            &Command::CancelAll { account, symbol } => {
                if let Err(reason) = self.with_market(symbol, |m, j| m.cancel_all(account, j)) {
                    self.reject(account, symbol, None, reason);
                }
            }
            &Command::AmendOrder { account, symbol, order, price, qty } => {
                let result = self.with_market(symbol, |m, j| m.amend(account, order, price, qty, j));
                if let Err((id, reason)) = result.map_err(|r| (None, r)).and_then(|r| r) {
                    self.reject(account, symbol, id, reason);
                }
            }
            &Command::SetMarkPrice { symbol, mark, index } => {
                let result = if mark.raw() <= 0 || index.raw() <= 0 {
                    Err(RejectReason::PriceNotPositive)
                } else {
                    self.with_market(symbol, |m, j| m.set_mark_price(mark, index, j))
                };
                if let Err(reason) = result {
                    self.refuse(symbol, reason);
                }
            }
        }
        for market in &mut self.markets {
            market.flush_book_deltas(&mut self.journal);
        }
        std::mem::take(&mut self.journal.events)
    }

    pub fn expire_due(&mut self, now: Nanos) {
        let mut due: Vec<(Nanos, SymbolId, OrderId)> = Vec::new();
        for m in &self.markets {
            due.extend(m.live().filter_map(|(id, _, _, until)| until.filter(|&u| u <= now).map(|u| (u, m.symbol(), id))));
        }
        due.sort_unstable();
        for (_, symbol, id) in due {
            self.with_market(symbol, |m, j| m.expire_good_till(id, j)).expect("listed");
        }
    }

    pub fn add_instrument(&mut self, spec: &InstrumentSpec) {
        if self.markets.iter().any(|m| m.symbol() == spec.symbol || m.spec.name == spec.name) {
            self.refuse(spec.symbol, RejectReason::SymbolExists);
        } else if spec.validate().is_err() {
            self.refuse(spec.symbol, RejectReason::InvalidInstrument);
        } else {
            let at = self.markets.iter().position(|m| m.symbol() > spec.symbol).unwrap_or(self.markets.len());
            self.markets.insert(at, RefMarket::new(spec.clone()));
            self.journal.events.push(Event::InstrumentUpdated { symbol: spec.symbol });
        }
    }

    pub fn update_instrument(&mut self, spec: &InstrumentSpec) {
        let reason = match self.market(spec.symbol) {
            None => Some(RejectReason::UnknownSymbol),
            Some(m) if m.spec.name != spec.name || spec.validate().is_err() => Some(RejectReason::InvalidInstrument),
            Some(_) => None,
        };
        match reason {
            Some(reason) => self.refuse(spec.symbol, reason),
            None => {
                self.with_market(spec.symbol, |m, _| m.spec = spec.clone()).expect("listed");
                self.journal.events.push(Event::InstrumentUpdated { symbol: spec.symbol });
            }
        }
    }
}
