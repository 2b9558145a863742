//! Property tests over random command sequences.
//!
//! Each case is a proptest-generated tape of random words that `common::Generator` turns into a
//! command stream (about 100-200 commands over two markets and six accounts, every order type,
//! TIF, STP mode, amends, cancels, invalid input, mark prices and GTD expiry). Shrinking shortens
//! the tape and zeroes words, which means fewer and simpler commands. After every command:
//!
//! - (a) `OrderBook::check_integrity` passes for every market: never crossed, index, levels and
//!   account lists consistent;
//! - (b) every trade fills the same positive quantity on both sides, no more than either order
//!   had open, at the maker's price, and the reported leaves (trades, cancels, expiries,
//!   amendments) agree with the open quantities tracked from the events alone; order and trade
//!   ids are handed out contiguously (so a rejection consumes none);
//! - (c) an order with a terminal event (fully filled, cancelled, expired) is in neither the book
//!   nor the trigger book, every other accepted order is in exactly one of them, and each resting
//!   order's open quantity is the tracked one;
//! - (d) replaying the same commands on a fresh engine gives identical events and an identical
//!   `state_hash` after every command;
//! - (e) a rejected command emits only the rejection (after any GTD expiries due at its time and
//!   their book deltas) and leaves books, trigger books, client ids, GTD times and prices exactly
//!   as they were, apart from those expiries.
//!
//! - (f) money is conserved: Σ over every account (fee account included) of `wallet − Σ position
//!   cost` equals deposits minus withdrawals (MECHANICS §9.1 in the form that holds at any mark:
//!   long and short quantities are equal, so total equity does not depend on the price); and
//!   long open interest equals short open interest in every symbol (§9.2).
//!
//! Why: these invariants must hold whatever the exact semantics, so they catch classes of bugs
//! (lost quantity, zombie orders, hidden non-determinism, partial mutation before a rejection)
//! independently of the differential test's reference model.

mod common;

use std::collections::BTreeMap;

use common::{Dice, Generator, Tape};
use derivatives_core::book::RestingOrder;
use derivatives_core::engine::Engine;
use derivatives_core::ids::{ClientOrderId, Nanos, OrderId, SymbolId, TradeId};
use derivatives_core::order::Side;
use derivatives_core::testkit::Harness;
use derivatives_core::triggers::ConditionalOrder;
use derivatives_core::units::{Price, Qty};
use derivatives_core::{Command, Event};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Upper bound of the tape length; about 40 words make one command.
const MAX_WORDS: usize = 10_000;
/// Cases per property; the whole file stays well under 30 s in the dev profile.
const CASES: u32 = 512;

fn tape() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(any::<u64>(), 0..MAX_WORDS)
}

/// One applied command and what it produced.
struct Step<'a> {
    command: &'a Command,
    events: &'a [Event],
    engine: &'a Engine,
}

/// Runs the command stream encoded by `words` on a fresh engine, calling `check` after every
/// command (the market listings first). Returns the stream, for replays.
fn drive(words: &[u64], mut check: impl FnMut(&Step<'_>) -> Result<(), TestCaseError>) -> Result<Vec<(Nanos, Command)>, TestCaseError> {
    let mut tape = Tape::new(words);
    let mut generator = Generator::new();
    let mut harness = Harness::default();
    let mut stream = generator.setup();
    let mut applied = 0;
    loop {
        if applied == stream.len() {
            if tape.exhausted() {
                return Ok(stream);
            }
            stream.push(generator.next(&mut Dice(&mut tape)));
        }
        let (now, command) = &stream[applied];
        harness.now = *now;
        let events = harness.send(command.clone());
        generator.observe(&events);
        check(&Step { command, events: &events, engine: &harness.engine })?;
        applied += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// (b) and (c): what the events say about every order.
// ---------------------------------------------------------------------------------------------

/// An order as the event stream describes it.
#[derive(Clone, Copy, Debug)]
struct Tracked {
    symbol: SymbolId,
    side: Side,
    price: Option<Price>,
    qty: Qty,
    open: Qty,
    finished: bool,
}

/// Every accepted order's open quantity and state, rebuilt from events only.
#[derive(Debug, Default)]
struct Ledger {
    orders: BTreeMap<OrderId, Tracked>,
    last_order_id: OrderId,
    last_trade_id: TradeId,
}

impl Ledger {
    fn live(&mut self, id: OrderId) -> Result<&mut Tracked, TestCaseError> {
        let order = self.orders.get_mut(&id).ok_or_else(|| TestCaseError::fail(format!("order {id} never accepted")))?;
        prop_assert!(!order.finished, "order {} has an event after its terminal event", id);
        Ok(order)
    }

    fn end(&mut self, id: OrderId, leaves: Qty) -> Result<(), TestCaseError> {
        let order = self.live(id)?;
        prop_assert_eq!(leaves, order.open, "leaves reported when order {} ended", id);
        order.open = Qty::ZERO;
        order.finished = true;
        Ok(())
    }

    fn fill(&mut self, id: OrderId, qty: Qty, leaves: Qty) -> Result<Tracked, TestCaseError> {
        let order = self.live(id)?;
        prop_assert!(qty <= order.open, "order {} filled {:?} with only {:?} open", id, qty, order.open);
        order.open = Qty(order.open.raw() - qty.raw());
        prop_assert_eq!(leaves, order.open, "leaves of order {} after a trade", id);
        order.finished = order.open.raw() == 0;
        Ok(*order)
    }

    /// Applies one command's events, checking property (b) on the way.
    fn apply(&mut self, events: &[Event]) -> Result<(), TestCaseError> {
        for event in events {
            match *event {
                Event::OrderAccepted { order_id, order } => {
                    prop_assert_eq!(order_id, self.last_order_id + 1, "order ids are contiguous");
                    self.last_order_id = order_id;
                    let tracked = Tracked {
                        symbol: order.symbol,
                        side: order.side,
                        price: order.price,
                        qty: order.qty,
                        open: order.qty,
                        finished: false,
                    };
                    self.orders.insert(order_id, tracked);
                }
                Event::Trade { trade_id, price, qty, taker_side, maker_order_id, maker_leaves, taker_order_id, taker_leaves, .. } => {
                    prop_assert_eq!(trade_id, self.last_trade_id + 1, "trade ids are contiguous");
                    self.last_trade_id = trade_id;
                    prop_assert!(qty.raw() > 0, "trade {} of nothing", trade_id);
                    prop_assert_ne!(maker_order_id, taker_order_id);
                    let maker = self.fill(maker_order_id, qty, maker_leaves)?;
                    let taker = self.fill(taker_order_id, qty, taker_leaves)?;
                    prop_assert_eq!(Some(price), maker.price, "trade {} not at the maker's price", trade_id);
                    prop_assert_eq!(taker_side, taker.side);
                    prop_assert_ne!(maker.side, taker.side);
                }
                Event::OrderAmended { order_id, price, qty, leaves, .. } => {
                    let order = self.live(order_id)?;
                    let filled = order.qty.raw() - order.open.raw();
                    prop_assert_eq!(leaves.raw(), qty.raw() - filled, "amended leaves of order {}", order_id);
                    *order = Tracked { price: Some(price), qty, open: leaves, ..*order };
                }
                Event::OrderCancelled { order_id, leaves, .. } | Event::OrderExpired { order_id, leaves, .. } => {
                    self.end(order_id, leaves)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Property (c): finished orders are gone, all others are live exactly once with the
    /// tracked open quantity.
    fn check_against(&self, engine: &Engine) -> Result<(), TestCaseError> {
        for (&id, order) in &self.orders {
            let market = engine.market(order.symbol).expect("orders are accepted on listed symbols");
            let resting = market.book.get(id);
            let waiting = market.triggers.get(id);
            if order.finished {
                prop_assert!(resting.is_none() && waiting.is_none(), "finished order {} is still live", id);
                continue;
            }
            prop_assert!(resting.is_some() != waiting.is_some(), "unfinished order {} is not live exactly once", id);
            if let Some(resting) = resting {
                prop_assert_eq!(resting.leaves, order.open, "open quantity of resting order {}", id);
            }
        }
        for market in engine.markets() {
            let resting = [Side::Buy, Side::Sell].into_iter().flat_map(|side| market.book.iter_side(side).map(|o| o.id));
            for id in resting.chain(market.triggers.iter().map(|c| c.id)) {
                prop_assert!(self.orders.get(&id).is_some_and(|o| !o.finished), "live order {} unknown or finished", id);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// (e): everything a rejected command must leave alone.
// ---------------------------------------------------------------------------------------------

type Entry<T> = (T, Option<ClientOrderId>, Option<Nanos>);

/// The observable state of one market.
#[derive(Clone, Debug, PartialEq)]
struct MarketState {
    symbol: SymbolId,
    trading: bool,
    prices: [Option<Price>; 3],
    bids: Vec<Entry<RestingOrder>>,
    asks: Vec<Entry<RestingOrder>>,
    waiting: Vec<Entry<ConditionalOrder>>,
}

fn snapshot(engine: &Engine) -> Vec<MarketState> {
    engine
        .markets()
        .map(|m| {
            let entry = |id: OrderId| (m.client_order_id(id), m.good_till(id));
            let side = |side| m.book.iter_side(side).map(|o| (*o, entry(o.id).0, entry(o.id).1)).collect();
            MarketState {
                symbol: m.spec.symbol,
                trading: m.spec.trading,
                prices: [m.last_price, m.mark_price, m.index_price],
                bids: side(Side::Buy),
                asks: side(Side::Sell),
                waiting: m.triggers.iter().map(|c| (*c, entry(c.id).0, entry(c.id).1)).collect(),
            }
        })
        .collect()
}

/// `state` without the orders in `gone`.
fn without(mut state: Vec<MarketState>, gone: &[OrderId]) -> Vec<MarketState> {
    for m in &mut state {
        m.bids.retain(|(o, ..)| !gone.contains(&o.id));
        m.asks.retain(|(o, ..)| !gone.contains(&o.id));
        m.waiting.retain(|(c, ..)| !gone.contains(&c.id));
    }
    state
}

/// Ids expired by GTD at the start of a command.
fn gtd_expired(events: &[Event]) -> Vec<OrderId> {
    use derivatives_core::event::ExpireReason;
    events
        .iter()
        .filter_map(|e| match *e {
            Event::OrderExpired { order_id, reason: ExpireReason::GoodTillReached, .. } => Some(order_id),
            _ => None,
        })
        .collect()
}

fn is_rejection(event: &Event) -> bool {
    matches!(event, Event::OrderRejected { .. } | Event::CommandRejected { .. })
}

/// Checks (f) after one command; `deposited` accumulates deposits minus withdrawals.
fn check_conservation(step: &Step<'_>, deposited: &mut i128) -> Result<(), TestCaseError> {
    use derivatives_core::event::BalanceKind;
    for event in step.events {
        if let Event::BalanceChanged { amount, kind: BalanceKind::Deposit | BalanceKind::Withdrawal, .. } = event {
            *deposited += i128::from(amount.raw());
        }
    }
    let accounts = step.engine.accounts();
    let mut total = 0_i128;
    let mut open_interest: BTreeMap<SymbolId, (i128, i128)> = BTreeMap::new();
    for id in accounts.ids() {
        let account = accounts.get(id).expect("listed");
        total += i128::from(account.wallet.raw());
        for (symbol, state) in &account.symbols {
            for position in &state.positions {
                total -= i128::from(position.cost.raw());
                let (long, short) = open_interest.entry(*symbol).or_default();
                if position.qty > 0 {
                    *long += i128::from(position.qty);
                } else {
                    *short -= i128::from(position.qty);
                }
            }
        }
    }
    prop_assert_eq!(total, *deposited, "money created or destroyed by {:?}", step.command);
    for (symbol, (long, short)) in open_interest {
        prop_assert_eq!(long, short, "open interest of symbol {} unbalanced by {:?}", symbol, step.command);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// (f) Money is conserved and open interest balances.
    #[test]
    fn prop_money_is_conserved_and_open_interest_balances(words in tape()) {
        let mut deposited = 0_i128;
        drive(&words, |step| check_conservation(step, &mut deposited))?;
    }

    /// (a) The book is never crossed and its index stays consistent.
    #[test]
    fn prop_books_stay_consistent(words in tape()) {
        drive(&words, |step| {
            for market in step.engine.markets() {
                if let Err(broken) = market.book.check_integrity() {
                    return Err(TestCaseError::fail(format!("after {:?}: {broken}", step.command)));
                }
            }
            Ok(())
        })?;
    }

    /// (b) Trades conserve quantity and every reported open quantity adds up.
    #[test]
    fn prop_trades_conserve_quantity(words in tape()) {
        let mut ledger = Ledger::default();
        drive(&words, |step| ledger.apply(step.events))?;
    }

    /// (c) An order is live until its terminal event and never after it.
    #[test]
    fn prop_finished_orders_never_rest(words in tape()) {
        let mut ledger = Ledger::default();
        drive(&words, |step| {
            ledger.apply(step.events)?;
            ledger.check_against(step.engine)
        })?;
    }

    /// (d) The same commands give the same events and state hash on a fresh engine.
    #[test]
    fn prop_replay_is_deterministic(words in tape()) {
        let mut first_run = Vec::new();
        let stream = drive(&words, |step| {
            first_run.push((step.events.to_vec(), step.engine.state_hash()));
            Ok(())
        })?;
        let mut replay = Harness::default();
        for (n, ((now, command), (events, hash))) in stream.into_iter().zip(first_run).enumerate() {
            replay.now = now;
            prop_assert_eq!(replay.send(command), events, "events of command {}", n);
            prop_assert_eq!(replay.engine.state_hash(), hash, "state hash after command {}", n);
        }
    }

    /// (e) A rejected command changes nothing but the GTD expiries due at its time.
    #[test]
    fn prop_rejections_change_nothing(words in tape()) {
        let mut before: Vec<MarketState> = Vec::new();
        let mut rejections = 0_usize;
        drive(&words, |step| {
            let after = snapshot(step.engine);
            if step.events.iter().any(is_rejection) {
                rejections += 1;
                let expired = gtd_expired(step.events);
                let rest: Vec<&Event> = step.events[expired.len()..]
                    .iter()
                    .filter(|e| !matches!(e, Event::BookDelta { .. }))
                    .collect();
                prop_assert!(rest.len() == 1 && is_rejection(rest[0]), "a rejection came with {:?}", step.events);
                prop_assert_eq!(&after, &without(before.clone(), &expired), "{:?} changed state", step.command);
            }
            before = after;
            Ok(())
        })?;
        prop_assert!(words.len() < 300 || rejections > 0, "a long stream had no rejection to check");
    }
}
