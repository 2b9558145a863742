//! Differential test of the matching engine against a deliberately simple reference model.
//!
//! What is checked: for every one of more than a million seeded random commands (see
//! `common::Generator`), the real [`Engine`] and the [`Reference`] below must emit exactly the same
//! `Vec<Event>`: the same order and trade ids, rejections with the same first reason, trades,
//! expiries, cancels, amendments, triggers and the per-command L2 deltas. Every
//! [`STATE_CHECK_EVERY`] commands, and at the end, the whole resting book (orders in priority
//! order with client ids and GTD times), the L2 depth, the waiting conditional orders with their
//! trailing state and the last/mark/index prices are compared too.
//!
//! Why: the engine is optimised (intrusive lists in a slab, a `BTreeMap` of levels, trigger
//! indices); the reference is written from the documented semantics with the plainest data
//! structures (one `Vec` per side in priority order, one `Vec` of waiting orders, linear scans
//! everywhere, FOK answered by a dry run of the real matching loop on a copy), so the two share no
//! code path that could hide the same mistake.
//!
//! The reference covers: price-time priority at the maker price; GTC/IOC/FOK/GTX/GTD; market orders
//! protected by the market band around the reference price (mark, else last, else none); the limit
//! band; every STP mode (taker's mode decides) including FOK under STP; GTX rejection and
//! triggered-GTX expiry; cancel by id and client id; cancel-all in ascending id; amend (priority
//! kept only for a quantity decrease at the same price); the documented order of the placement
//! checks (docs/ARCHITECTURE.md "Validation order", in `reference/validation.rs`, written from that
//! list and not from the engine's code); client-id uniqueness among live orders; GTD expiry before
//! the command; halts; and conditional orders: stop and take-profit (market and limit) and trailing
//! stops on last and mark price, fired in ascending id, triggers evaluated after each order
//! finishes matching, cascading until nothing fires. Excluded: clearing (accounts are funded far
//! beyond need, and the settlement and balance events are filtered out; clearing has worked
//! examples and conservation properties of its own), reduce-only and close-position orders (they
//! depend on positions), and arithmetic overflow (the generator's prices and quantities are small).

mod common;
mod reference;

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::time::Instant;

use common::{Dice, Generator, SplitMix64};
use derivatives_core::event::ExpireReason;
use derivatives_core::ids::SymbolId;
use derivatives_core::order::Side;
use derivatives_core::reject::RejectReason;
use derivatives_core::testkit::Harness;
use derivatives_core::{Command, Engine, Event};
use reference::{RefMarket, Reference};

/// Full state comparison period, in commands.
const STATE_CHECK_EVERY: usize = 97;

// ---------------------------------------------------------------------------------------------
// The comparison driver.
// ---------------------------------------------------------------------------------------------

/// How often each kind of outcome happened, so a run can prove it exercised what it claims to.
#[derive(Debug, Default)]
struct Coverage {
    counts: BTreeMap<(&'static str, u8), u64>,
}

impl Coverage {
    fn bump(&mut self, kind: &'static str, detail: u8) {
        *self.counts.entry((kind, detail)).or_default() += 1;
    }

    fn record(&mut self, events: &[Event]) {
        for event in events {
            match *event {
                Event::OrderRejected { reason, .. } | Event::CommandRejected { reason, .. } => self.bump("rejected", reason.to_u8()),
                Event::OrderExpired { reason, .. } => self.bump("expired", reason.to_u8()),
                Event::OrderCancelled { reason, .. } => self.bump("cancelled", reason.to_u8()),
                Event::OrderAmended { priority_kept, .. } => self.bump("amended", u8::from(priority_kept)),
                Event::OrderAccepted { order, .. } => self.bump("accepted", order.order_type.to_u8()),
                Event::Trade { maker_account, taker_account, .. } => self.bump("trade", u8::from(maker_account == taker_account)),
                Event::OrderTriggered { .. } => self.bump("triggered", 0),
                Event::BookDelta { .. } => self.bump("delta", 0),
                Event::MarkPriceSet { .. } => self.bump("mark", 0),
                Event::InstrumentUpdated { .. } => self.bump("instrument", 0),
                // Clearing, funding and liquidation events are filtered out before recording.
                _ => {}
            }
        }
    }

    fn count(&self, kind: &'static str, detail: u8) -> u64 {
        self.counts.get(&(kind, detail)).copied().unwrap_or(0)
    }

    /// Panics unless every outcome the generator aims at happened at least `min` times.
    fn assert_broad(&self, min: u64) {
        use RejectReason as R;
        let reasons = [
            R::UnknownSymbol,
            R::SymbolHalted,
            R::QuantityNotPositive,
            R::QuantityBelowMin,
            R::QuantityAboveMax,
            R::QuantityOffStep,
            R::PriceNotPositive,
            R::PriceOffTick,
            R::NotionalBelowMin,
            R::PriceAboveBand,
            R::PriceBelowBand,
            R::PriceNotAllowed,
            R::InvalidStopPrice,
            R::WouldImmediatelyTrigger,
            R::InvalidCallbackRate,
            R::InvalidTimeInForce,
            R::InvalidGoodTill,
            R::InvalidClosePosition,
            R::DuplicateClientOrderId,
            R::UnknownOrder,
            R::PostOnlyWouldTake,
            R::AmendNoChange,
            R::NotAmendable,
            R::AmendBelowFilled,
        ];
        let mut wanted: Vec<(&'static str, u8)> = reasons.iter().map(|r| ("rejected", r.to_u8())).collect();
        // Every expiry except NothingToClose and InsufficientMargin (they need positions and
        // margin, which this run does not model).
        wanted.extend(
            [
                ExpireReason::Unfilled,
                ExpireReason::FokUnfillable,
                ExpireReason::GoodTillReached,
                ExpireReason::SelfTrade,
                ExpireReason::PostOnlyWouldTake,
            ]
            .map(|r| ("expired", r.to_u8())),
        );
        wanted.extend((0..=6).map(|t| ("accepted", t)));
        wanted.extend([("cancelled", 0), ("cancelled", 1), ("amended", 0), ("amended", 1)]);
        wanted.extend([("trade", 0), ("trade", 1), ("triggered", 0), ("delta", 0), ("mark", 0), ("instrument", 0)]);
        let missing: Vec<_> = wanted.into_iter().filter(|&(k, d)| self.count(k, d) < min).collect();
        assert!(missing.is_empty(), "the generator did not exercise {missing:?} at least {min} times: {self:?}");
    }
}

/// Formats both event lists with the first difference marked.
fn describe_mismatch(engine: &[Event], reference: &[Event]) -> String {
    let first = engine.iter().zip(reference).position(|(a, b)| a != b).unwrap_or(engine.len().min(reference.len()));
    let mut text = format!("first difference at event {first}\n--- engine ({}):\n", engine.len());
    for (i, e) in engine.iter().enumerate() {
        let _ = writeln!(text, "{}{i:3} {e:?}", if i == first { ">" } else { " " });
    }
    let _ = writeln!(text, "--- reference ({}):", reference.len());
    for (i, e) in reference.iter().enumerate() {
        let _ = writeln!(text, "{}{i:3} {e:?}", if i == first { ">" } else { " " });
    }
    text
}

/// Compares everything observable about each market of the engine with the reference.
fn assert_same_state(engine: &Engine, reference: &Reference, context: &str) {
    let engine_symbols: Vec<SymbolId> = engine.markets().map(|m| m.spec.symbol).collect();
    let reference_symbols: Vec<SymbolId> = reference.markets.iter().map(RefMarket::symbol).collect();
    assert_eq!(engine_symbols, reference_symbols, "{context}: listed symbols");
    for r in &reference.markets {
        let e = engine.market(r.symbol()).expect("listed");
        e.book.check_integrity().unwrap_or_else(|err| panic!("{context}: engine book {}: {err}", r.symbol()));
        assert_eq!(e.spec, r.spec, "{context}: spec");
        assert_eq!((e.last_price, e.mark_price, e.index_price), (r.last, r.mark, r.index), "{context}: prices");
        for (side, book) in [(Side::Buy, &r.bids), (Side::Sell, &r.asks)] {
            let engine_orders: Vec<_> = e.book.iter_side(side).map(|o| (*o, e.client_order_id(o.id), e.good_till(o.id))).collect();
            let reference_orders: Vec<_> = book.iter().map(|o| (o.order, o.client_id, o.good_till)).collect();
            assert_eq!(engine_orders, reference_orders, "{context}: {side:?} orders of symbol {}", r.symbol());
            assert_eq!(e.book.depth(side).collect::<Vec<_>>(), r.depth(side), "{context}: {side:?} depth");
        }
        let engine_waiting: Vec<_> = e.triggers.iter().map(|c| (*c, e.client_order_id(c.id), e.good_till(c.id))).collect();
        let reference_waiting: Vec<_> = r.waiting.iter().map(|c| (*c, c.place.client_order_id, c.place.good_till)).collect();
        assert_eq!(engine_waiting, reference_waiting, "{context}: waiting conditional orders of symbol {}", r.symbol());
    }
}

/// Feeds `commands` generated commands from `seed` to both the engine and the reference and
/// panics at the first difference. Returns what the run exercised.
/// True for the events the reference models: listings, orders, trades, triggers, L2, marks.
fn is_matching_event(event: &Event) -> bool {
    matches!(
        event,
        Event::InstrumentUpdated { .. }
            | Event::OrderAccepted { .. }
            | Event::OrderRejected { .. }
            | Event::CommandRejected { symbol: Some(_), account: None, .. }
            | Event::OrderTriggered { .. }
            | Event::Trade { .. }
            | Event::OrderCancelled { .. }
            | Event::OrderExpired { .. }
            | Event::OrderAmended { .. }
            | Event::BookDelta { .. }
            | Event::MarkPriceSet { .. }
    )
}

fn run_differential(seed: u64, commands: usize) -> Coverage {
    let mut harness = Harness::default();
    let mut reference = Reference::default();
    let mut generator = Generator::new();
    let mut entropy = SplitMix64::new(seed);
    let mut coverage = Coverage::default();
    let mut recent: VecDeque<Command> = VecDeque::with_capacity(8);
    let setup = generator.setup();
    for n in 0..setup.len() + commands {
        let (now, command) = match setup.get(n) {
            Some(listing) => listing.clone(),
            None => generator.next(&mut Dice(&mut entropy)),
        };
        harness.now = now;
        let actual: Vec<Event> = harness.send(command.clone()).into_iter().filter(is_matching_event).collect();
        let expected = reference.apply(now, &command);
        if recent.len() == 8 {
            recent.pop_front();
        }
        recent.push_back(command);
        if actual != expected {
            panic!(
                "seed {seed}, command {n} at t={now} differs.\nrecent commands (last is the culprit):\n{recent:#?}\n{}",
                describe_mismatch(&actual, &expected)
            );
        }
        generator.observe(&actual);
        coverage.record(&actual);
        if n % STATE_CHECK_EVERY == 0 {
            assert_same_state(&harness.engine, &reference, &format!("seed {seed}, after command {n}"));
        }
    }
    assert_same_state(&harness.engine, &reference, &format!("seed {seed}, at the end"));
    coverage
}

#[test]
fn test_differential_small_run_covers_every_outcome() {
    let started = Instant::now();
    let coverage = run_differential(0x5EED_0001, 50_000);
    coverage.assert_broad(2);
    eprintln!("50 000 commands in {:?}: {coverage:?}", started.elapsed());
}

#[test]
fn test_differential_one_million_commands() {
    const SEEDS: u64 = 8;
    const PER_SEED: usize = 125_000;
    let started = Instant::now();
    let mut total = Coverage::default();
    for seed in 0..SEEDS {
        let coverage = run_differential(0xD1FF_0000 + seed, PER_SEED);
        for (key, n) in coverage.counts {
            *total.counts.entry(key).or_default() += n;
        }
    }
    total.assert_broad(100);
    eprintln!("{} commands in {:?}: {total:?}", SEEDS * PER_SEED as u64, started.elapsed());
}
