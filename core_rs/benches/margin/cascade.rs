//! A liquidation cascade: `longs` accounts hold 0.01 BTC long each at 50,000 with 8–16x
//! leverage (wallets seeded between 30 and 60 USDT) against `longs / 100` short accounts of
//! 1 BTC each; the mark falls 30 % (to 35,000) in one tick, below every long's bankruptcy price.
//!
//! The liquidations run in ascending account id, so the set-up decides which step each one
//! reaches: a market maker's stale bids at 48,001–49,000 absorb the first `book_pct` % (fills
//! better than the bankruptcy price, paying the liquidation fee); the insurance fund is funded
//! to take over the next ones (their losses at 35,000 plus its own maintenance margin); the last
//! `adl_pct` % find the fund unable to take them and are auto-deleveraged against the shorts
//! (BitMEX score, or with `ranked` the order of a `SetAdlRanking` listing every short).
//!
//! Printed: wall time of the one `SetMarkPrice`, events by kind; then checked: money conserved
//! (Σ wallet − cost = deposits), long OI = short OI, nobody (fund included) under maintenance.

use std::collections::BTreeMap;

use derivatives_core::accounts::margin::health;
use derivatives_core::accounts::{margin, INSURANCE_FUND};
use derivatives_core::order::Side;
use derivatives_core::testkit::{limit, Harness};
use derivatives_core::units::{Price, Qty, Quote};
use derivatives_core::workload::SplitMix64;
use derivatives_core::{Command, Engine, Event};

use super::market::{cents, deposit, listed, offer, take, tick, BTC, LOT};

const TICK: i64 = 10_000_000; // 0.1
const CRASH: i64 = 35_000 * 100_000_000;
const TAKER_FEE: i64 = 25_000_000; // 0.05 % of 500 USDT

/// The shape of one cascade.
#[derive(Clone, Copy, Debug)]
pub struct Cascade {
    /// Leveraged long accounts (a multiple of 100).
    pub longs: u64,
    /// Percent of them closed against resting bids.
    pub book_pct: u64,
    /// Percent of them left to auto-deleveraging.
    pub adl_pct: u64,
    /// Install an ADL ranking of every short first (as the risk service does each second).
    pub ranked: bool,
}

/// A long's bankruptcy price (raw) from its wallet after the entry fee: `(500 − wallet) / 0.01`
/// rounded up to the tick, as the engine computes it.
const fn bankruptcy(wallet: i64) -> i64 {
    let exact = (500 * 100_000_000 - wallet) * 100;
    (exact + TICK - 1).div_euclid(TICK) * TICK
}

struct Built {
    harness: Harness,
    deposited: i128,
}

fn build(c: Cascade) -> Built {
    let mut h = listed();
    let mut deposited = 0_i128;
    let mut fund = |h: &mut Harness, account: u64, amount: Quote| {
        deposit(h, account, amount);
        deposited += i128::from(amount.raw());
    };
    let mut rng = SplitMix64::new(99);
    let wallets: Vec<i64> = (0..c.longs).map(|_| cents(3_000 + i64::try_from(rng.below(3_000)).unwrap_or(0)).raw()).collect();
    let shorts = c.longs / 100;
    for short in 1..=shorts {
        fund(&mut h, c.longs + short, cents(10_000_000));
        offer(&mut h, c.longs + short, Qty(100 * LOT.raw()));
    }
    for (long, &wallet) in (1..=c.longs).zip(&wallets) {
        fund(&mut h, long, Quote(wallet));
        take(&mut h, long, LOT);
    }
    let maker = c.longs + shorts + 1;
    fund(&mut h, maker, cents(100_000_000_000));
    let book_orders = c.longs * c.book_pct / 100 / 10;
    for i in 0..book_orders {
        let price = Price((49_000 * 100_000_000 - i64::try_from(i).unwrap_or(0) * 100_000_000).max(47_600 * 100_000_000));
        h.place(limit(maker, BTC, Side::Buy, price, Qty(10 * LOT.raw())));
    }
    let first_taken = usize::try_from(book_orders * 10).unwrap_or(0);
    let last_taken = usize::try_from(c.longs - c.longs * c.adl_pct / 100).unwrap_or(0);
    let taken = &wallets[first_taken.min(last_taken)..last_taken];
    let losses: i64 = taken.iter().map(|&w| bankruptcy(w - TAKER_FEE) / 100 - CRASH / 100).sum();
    let spec = h.engine.market(BTC).expect("listed").spec.clone();
    let notional = Quote(i64::try_from(taken.len()).unwrap_or(0) * 350 * 100_000_000);
    let maintenance = margin::maintenance_margin(&spec, notional).expect("fits");
    fund(&mut h, INSURANCE_FUND, Quote(losses + maintenance.raw() + 100_000_000));
    if c.ranked {
        h.send(Command::SetAdlRanking { symbol: BTC, side: Side::Sell, accounts: (c.longs + 1..=c.longs + shorts).collect() });
    }
    Built { harness: h, deposited }
}

fn by_kind(events: &[Event]) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for event in events {
        let name = format!("{event:?}");
        let mut kind = name.split([' ', '{', '(']).next().unwrap_or_default().to_string();
        if let Event::BalanceChanged { kind: balance, .. } = event {
            kind = format!("{kind}/{balance:?}");
        }
        *kinds.entry(kind).or_insert(0) += 1;
    }
    kinds
}

/// Checks the invariants after the cascade; returns (open interest, accounts checked).
fn check(engine: &Engine, deposited: i128) -> (i64, usize) {
    let accounts = engine.accounts();
    let ids = accounts.ids();
    let (mut money, mut long, mut short) = (0_i128, 0_i64, 0_i64);
    for &id in &ids {
        let account = accounts.get(id).expect("listed");
        money += i128::from(account.wallet.raw());
        for position in account.symbols.values().flat_map(|s| s.positions.iter()) {
            money -= i128::from(position.cost.raw());
            if position.qty > 0 {
                long += position.qty;
            } else {
                short -= position.qty;
            }
        }
        let (balance, maintenance) = health(account, engine.market_map(), engine.reference_prices()).expect("fits");
        assert!(!(maintenance.raw() > 0 && balance < maintenance), "account {id} left under maintenance");
    }
    assert_eq!(money, deposited, "money is conserved");
    assert_eq!(long, short, "long open interest equals short open interest");
    (long, ids.len())
}

/// Builds and runs one cascade, printing its figures.
pub fn run(c: Cascade) {
    println!(
        "\n== cascade: {} longs at 8–16x against {} shorts; mark 50,000 → 35,000 in one tick (~{} % planned into the book, ~{} % to ADL{}) ==",
        c.longs,
        c.longs / 100,
        c.book_pct,
        c.adl_pct,
        if c.ranked { ", ADL ranking installed" } else { ", no ADL ranking" }
    );
    let Built { mut harness, deposited } = build(c);
    let mut out = Vec::new();
    let warm = tick(&mut harness.engine, Price(50_000 * 100_000_000), &mut out);
    let took = tick(&mut harness.engine, Price(CRASH), &mut out);
    let kinds = by_kind(&out);
    println!(
        "cascade tick: {:.0} ms wall for {} events (index refresh on the tick before: {:.0} ms)",
        took.as_secs_f64() * 1e3,
        out.len(),
        warm.as_secs_f64() * 1e3
    );
    println!("events by kind: {}", kinds.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", "));
    let (open_interest, checked) = check(&harness.engine, deposited);
    println!(
        "invariants after: money conserved, long OI = short OI = {} BTC, none of {checked} accounts under maintenance (fund included): ok",
        Qty(open_interest)
    );
}
