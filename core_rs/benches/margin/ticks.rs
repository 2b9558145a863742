//! One million open positions and mark ticks that liquidate nobody.
//!
//! `pairs` pairs of accounts each open 0.01 BTC long against 0.01 BTC short at 50,000 (so
//! 2 × `pairs` accounts and positions). Wallets are seeded between 50 and 100 USDT (5–10x), so
//! long liquidation prices lie between ~40,160 and ~45,180 and short ones between ~54,780 and
//! ~59,760: a mark moving ±1 USDT around 50,000 crosses no trigger of the liquidation index.
//!
//! Printed: resident memory per account (deposits) and per position (the crossing fills, then
//! the index entries built on the first scan); time per `SetMarkPrice` over many such ticks; ticks
//! that cross the triggers of k long accounts (checked, not liquidated: the triggers sit 0.1 %
//! above the liquidation prices); a full health scan of every account (what the index avoids);
//! the quiet tick again on the same market built with a mark tick every 1,000 set-up commands
//! (so that no more than ~1,000 accounts are touched between two scans, as when the oracle ticks
//! during trading), then on that market restored from its snapshot; and the same tick on a
//! market with no position (the baseline).

use derivatives_core::accounts::margin::health;
use derivatives_core::accounts::INSURANCE_FUND;
use derivatives_core::testkit::Harness;
use derivatives_core::units::{Price, Quote};
use derivatives_core::workload::SplitMix64;
use derivatives_core::Engine;
use hdrhistogram::Histogram;

use super::market::{cents, deposit, liquidations, listed, offer, take, tick, BTC, LOT};
use crate::support::{latency_histogram, percentiles, rss_bytes};

const TICK: i64 = 10_000_000; // 0.1
const MID: i64 = 50_000 * 100_000_000;

/// `ticks` marks within ±10 price ticks of 50,000, timed; also counts liquidations started.
fn quiet_ticks(engine: &mut Engine, ticks: usize, seed: u64) -> (Histogram<u64>, usize) {
    let mut rng = SplitMix64::new(seed);
    let mut histogram = latency_histogram();
    let mut out = Vec::with_capacity(16);
    let mut liquidated = 0;
    for _ in 0..ticks {
        let offset = i64::try_from(rng.below(21)).unwrap_or(0) - 10;
        let took = tick(engine, Price(MID + offset * TICK), &mut out);
        histogram.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        liquidated += liquidations(&out);
    }
    (histogram, liquidated)
}

/// The highest mark on the tick grid at which the index names at least `k` accounts.
fn mark_crossing(engine: &mut Engine, k: usize) -> Price {
    let (mut low, mut high) = (30_000 * 10, 50_000 * 10); // in ticks; count(low) ≥ k > count(high)
    while high - low > 1 {
        let middle = (low + high) / 2;
        if engine.liquidation_candidates(BTC, Price(middle * TICK)).len() >= k {
            low = middle;
        } else {
            high = middle;
        }
    }
    Price(low * TICK)
}

/// Ticks alternating between a mark that crosses k long triggers and one tick below it.
fn crossing_ticks(engine: &mut Engine, k: usize, ticks: usize) -> (usize, Histogram<u64>, usize) {
    let mark = mark_crossing(engine, k);
    let crossed = engine.liquidation_candidates(BTC, mark).len();
    let mut histogram = latency_histogram();
    let mut out = Vec::with_capacity(16);
    let mut liquidated = 0;
    for i in 0..ticks {
        let took = tick(engine, Price(mark.raw() - TICK * i64::from(i % 2 == 1)), &mut out);
        histogram.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        liquidated += liquidations(&out);
    }
    (crossed, histogram, liquidated)
}

/// Nanoseconds to evaluate `health` of every account once (no index).
fn full_scan(engine: &Engine) -> (usize, u128) {
    let ids = engine.accounts().ids();
    let start = std::time::Instant::now();
    let mut under = 0;
    for id in &ids {
        let account = engine.accounts().get(*id).expect("listed");
        if health(account, engine.market_map(), engine.reference_prices()).is_ok_and(|(b, m)| m.raw() > 0 && b < m) {
            under += 1;
        }
    }
    let took = start.elapsed().as_nanos();
    assert_eq!(under, 0, "nobody is under water at 50,000");
    (ids.len(), took)
}

/// The market of `pairs` pairs, with a mark tick at 50,000 after every `tick_every` set-up
/// commands (as the oracle's ticks interleave with trading); resident memory is sampled before,
/// after the deposits and after the positions.
fn build(pairs: u64, tick_every: u64) -> (Harness, [u64; 3]) {
    let mut rng = SplitMix64::new(7);
    let mut out = Vec::new();
    let mut sent = 0_u64;
    let mut pace = |h: &mut Harness, commands: u64| {
        sent += commands;
        if sent >= tick_every {
            sent = 0;
            tick(&mut h.engine, Price(MID), &mut out);
        }
    };
    let before = rss_bytes();
    let mut h = listed();
    for account in 1..=2 * pairs {
        let extra = i64::try_from(rng.below(50 * 100_000_000)).unwrap_or(0);
        deposit(&mut h, account, Quote(cents(5_000).raw() + extra));
        pace(&mut h, 1);
    }
    let with_accounts = rss_bytes();
    for pair in 0..pairs {
        offer(&mut h, 2 * pair + 2, LOT);
        take(&mut h, 2 * pair + 1, LOT);
        pace(&mut h, 2);
    }
    (h, [before, with_accounts, rss_bytes()])
}

/// Runs the section with `pairs` long/short pairs and `ticks` quiet ticks.
pub fn run(pairs: u64, ticks: usize) {
    let accounts = 2 * pairs;
    println!("\n== mark ticks: {pairs} long/short pairs = {accounts} accounts and open positions, 0.01 BTC each ==");
    let (mut h, [before, with_accounts, with_positions]) = build(pairs, u64::MAX);
    let mut out = Vec::new();
    let first = tick(&mut h.engine, Price(MID), &mut out);
    let with_index = rss_bytes();
    assert_eq!(liquidations(&out), 0);
    let per = |grown: u64| grown / accounts.max(1);
    println!(
        "memory: {} bytes per account (funded, no position); {} bytes per open position (fill, position, holder set); \
         {} bytes per position for its liquidation-index entry (built by the first scan, which took {:.0} ms)",
        per(with_accounts.saturating_sub(before)),
        per(with_positions.saturating_sub(with_accounts)),
        per(with_index.saturating_sub(with_positions)),
        first.as_secs_f64() * 1e3
    );
    assert!(h.engine.accounts().get(INSURANCE_FUND).is_none_or(|f| f.wallet.raw() == 0));

    let (quiet, liquidated) = quiet_ticks(&mut h.engine, ticks, 11);
    println!(
        "tick, nobody crossed, after a set-up with no tick ({ticks} ticks within ±1 USDT of 50,000; {liquidated} liquidations): ns {}",
        percentiles(&quiet)
    );
    // Long triggers lie 0.1 % (~45 USDT) above their liquidation prices, `pairs / 5,000` per
    // USDT: crossing more than ~45 USDT of them would liquidate the first ones crossed.
    let safe = usize::try_from(pairs * 40 / 5_000).unwrap_or(0);
    for k in [1, 10, 100, 1_000, 4_000].into_iter().filter(|&k| k <= safe) {
        let (crossed, histogram, liquidated) = crossing_ticks(&mut h.engine, k, 1_000);
        println!("tick crossing {crossed:>5} long triggers (1,000 ticks; {liquidated} liquidations): ns {}", percentiles(&histogram));
    }
    let (scanned, took) = full_scan(&h.engine);
    println!("without the index: one health scan of all {scanned} accounts takes {:.1} ms", took as f64 / 1e6);
    drop(h);

    let (mut paced, _) = build(pairs, 1_000);
    let (quiet, liquidated) = quiet_ticks(&mut paced.engine, ticks, 11);
    println!(
        "tick, nobody crossed, same market built with a tick every 1,000 commands ({ticks} ticks; {liquidated} liquidations): ns {}",
        percentiles(&quiet)
    );
    let mut restored = Engine::restore(&paced.engine.snapshot()).expect("restores");
    drop(paced);
    tick(&mut restored, Price(MID), &mut Vec::new());
    let (quiet, liquidated) = quiet_ticks(&mut restored, ticks, 11);
    println!(
        "tick, nobody crossed, that market restored from its snapshot (restore touches every account) ({ticks} ticks; {liquidated} liquidations): ns {}",
        percentiles(&quiet)
    );
    drop(restored);

    let mut empty = listed();
    let (baseline, _) = quiet_ticks(&mut empty.engine, ticks, 11);
    println!("baseline, same run: tick on a market with no position ({ticks} ticks): ns {}", percentiles(&baseline));
}
