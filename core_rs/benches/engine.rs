//! `cargo bench --bench engine`: in-engine throughput, per-command latency and memory per resting
//! order on the workload of `derivatives_core::workload` (several symbols, thousands of levels,
//! one million resting orders, then ~50 % places / 35 % cancels / 10 % market-IOC / 5 % amends).
//!
//! Also the snapshot size and the time to take and restore it at the prefilled state.
//!
//! Named workload `liquibook` (first): Liquibook's benchmark stream
//! (`derivatives_core::workload::liquibook`, 3M alternating limit orders, about half crossing)
//! through the whole engine (margin check, clearing, book deltas, events) and through the
//! matching core alone (`OrderBook` + `match_taker`, no accounts), in inserts per second.
//! `BENCH_SKIP=liquibook` or `BENCH_SKIP=mixed` skips a part; `BENCH_LIQUIBOOK_ORDERS` resizes it.
//!
//! Figures are printed, never asserted. Environment overrides: `BENCH_PREFILL`, `BENCH_COMMANDS`,
//! `BENCH_ACCOUNTS`,
//! `BENCH_RUNS` (throughput repetitions; raise it to make the timed phase dominate a profile).

#![allow(clippy::float_arithmetic, reason = "timing figures, not money")]

#[path = "../tests/reference/mod.rs"]
mod reference;
mod support;

use std::time::Instant;

use derivatives_core::book::matching::{match_taker, MatchSink, Taker};
use derivatives_core::book::{OrderBook, RestingOrder};
use derivatives_core::order::{PositionSide, Side, StpMode, TimeInForce};
use derivatives_core::units::{Price, Qty};
use derivatives_core::workload::{generate, liquibook, Workload, WorkloadConfig};
use derivatives_core::{CommandEnvelope, Engine};
use hdrhistogram::Histogram;
use support::{env_or, prefilled, rss_bytes, throughput};

/// Per-command latency histogram, and the slowest commands as (ns, index in the mix).
fn latency(workload: &Workload) -> (Histogram<u64>, Vec<(u64, usize)>) {
    let mut engine = prefilled(workload);
    let mut out = Vec::with_capacity(64);
    let mut histogram = support::latency_histogram();
    let mut slowest: Vec<(u64, usize)> = Vec::new();
    for (i, command) in workload.mix.iter().enumerate() {
        let envelope = CommandEnvelope { seq: engine.last_seq() + 1, ts: 1, command: command.clone() };
        out.clear();
        let start = Instant::now();
        engine.apply(&envelope, &mut out).expect("in order");
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        histogram.saturating_record(ns);
        if slowest.len() < 5 || ns > slowest[4].0 {
            slowest.push((ns, i));
            slowest.sort_unstable_by(|a, b| b.cmp(a));
            slowest.truncate(5);
        }
    }
    (histogram, slowest)
}

/// Commands per second of the engine and of the simple reference model on the same workload
/// (a small book: the reference's linear scans make a million-order book impractical).
fn against_reference() -> (f64, f64) {
    let cfg = WorkloadConfig { prefill_orders: env_or("BENCH_BASELINE_PREFILL", 5_000), commands: 200_000, ..WorkloadConfig::default() };
    let workload = generate(cfg, |_, _| {});
    let engine_rate = throughput(&workload);
    let mut model = reference::Reference::default();
    for command in &workload.setup {
        model.apply(1, command);
    }
    let start = Instant::now();
    for command in &workload.mix {
        model.apply(1, command);
    }
    (engine_rate, workload.mix.len() as f64 / start.elapsed().as_secs_f64())
}

/// Inserts per second of the stream's orders through the whole engine, and what rests at the end.
fn liquibook_engine(n: usize) -> (f64, usize) {
    let (setup, orders) = liquibook::commands(n);
    let mut engine = Engine::new();
    support::apply_all(&mut engine, &setup, &mut Vec::new());
    let first = engine.last_seq() + 1;
    let envelopes: Vec<CommandEnvelope> =
        orders.into_iter().enumerate().map(|(i, command)| CommandEnvelope { seq: first + i as u64, ts: 1, command }).collect();
    let rate = timed_engine_loop(&mut engine, &envelopes);
    (rate, engine.markets().map(|m| m.book.len()).sum())
}

/// Commands per second of applying `envelopes` (not inlined: a profiler can select it alone).
#[inline(never)]
fn timed_engine_loop(engine: &mut Engine, envelopes: &[CommandEnvelope]) -> f64 {
    let mut out = Vec::with_capacity(64);
    let start = Instant::now();
    for envelope in envelopes {
        out.clear();
        engine.apply(envelope, &mut out).expect("in order");
    }
    envelopes.len() as f64 / start.elapsed().as_secs_f64()
}

/// Inserts per second of the stream's orders through the matching core alone: match as a
/// taker, rest the remainder; trades and book-touch records produced as in the engine.
fn liquibook_core(n: usize) -> (f64, usize) {
    let orders: Vec<(usize, (Side, i64, i64))> = liquibook::orders(n).enumerate().collect();
    timed_core_loop(&orders)
}

/// See [`liquibook_core`] (not inlined: a profiler can select it alone).
#[inline(never)]
fn timed_core_loop(orders: &[(usize, (Side, i64, i64))]) -> (f64, usize) {
    let mut book = OrderBook::default();
    let (mut events, mut touched, mut fills, mut expired, mut last_trade_id) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0);
    let start = Instant::now();
    for &(i, (side, price, lots)) in orders {
        let id = i as u64 + 1;
        let account = liquibook::account_of(i);
        let (price, qty) = (Price(price * 100_000_000), Qty(lots * 100_000));
        let mut taker = Taker { id, account, side, limit: Some(price), leaves: qty, stp: StpMode::None };
        let mut sink = MatchSink {
            symbol: 1,
            events: &mut events,
            touched: &mut touched,
            fills: &mut fills,
            expired_makers: &mut expired,
            last_trade_id: &mut last_trade_id,
        };
        match_taker(&mut book, &mut taker, &mut sink);
        if taker.leaves.raw() > 0 {
            book.insert(RestingOrder {
                id,
                account,
                side,
                price,
                qty,
                leaves: taker.leaves,
                time_in_force: TimeInForce::Gtc,
                stp: StpMode::None,
                reduce_only: false,
                position_side: PositionSide::Both,
            });
        }
        events.clear();
        touched.clear();
        fills.clear();
    }
    (orders.len() as f64 / start.elapsed().as_secs_f64(), book.len())
}

fn liquibook_section() {
    let n = env_or("BENCH_LIQUIBOOK_ORDERS", liquibook::LIQUIBOOK_ORDERS);
    let runs = env_or("BENCH_RUNS", 3).max(1);
    let mut engine_rates = Vec::new();
    let mut core_rates = Vec::new();
    let mut resting = (0, 0);
    for _ in 0..runs {
        let (rate, left) = liquibook_engine(n);
        engine_rates.push(rate);
        let (core_rate, core_left) = liquibook_core(n);
        core_rates.push(core_rate);
        resting = (left, core_left);
    }
    let m = |r: f64| format!("{:.2}", r / 1e6);
    let (engine, engine_runs) = support::median_and_runs(&mut engine_rates, m);
    let (core, core_runs) = support::median_and_runs(&mut core_rates, m);
    println!(
        "liquibook stream ({n} orders, {} accounts): engine with margin checks and clearing {engine} M inserts/s (runs: {engine_runs}); \
         matching core alone {core} M inserts/s (runs: {core_runs}); resting at the end {} / {}",
        liquibook::LIQUIBOOK_ACCOUNTS,
        resting.0,
        resting.1
    );
}

fn main() {
    let skip = std::env::var("BENCH_SKIP").unwrap_or_default();
    if !skip.contains("liquibook") {
        liquibook_section();
    }
    if skip.contains("mixed") {
        return;
    }
    let cfg = WorkloadConfig {
        prefill_orders: env_or("BENCH_PREFILL", 1_000_000),
        commands: env_or("BENCH_COMMANDS", 2_000_000),
        accounts: env_or("BENCH_ACCOUNTS", 10_000) as u64,
        ..WorkloadConfig::default()
    };
    println!(
        "engine bench: {} symbols, {} accounts, {} levels/side, {} resting orders prefilled, {} mixed commands",
        cfg.symbols, cfg.accounts, cfg.levels_per_side, cfg.prefill_orders, cfg.commands
    );
    let generated = Instant::now();
    let workload = generate(cfg, |done, total| eprint!("\rgenerating workload {:>3}%", done * 100 / total.max(1)));
    eprintln!("\rgenerated workload in {:.1} s", generated.elapsed().as_secs_f64());

    let before = rss_bytes();
    let engine = prefilled(&workload);
    let resting: usize = engine.markets().map(|m| m.book.len()).sum();
    let levels: usize = engine
        .markets()
        .map(|m| m.book.depth(derivatives_core::order::Side::Buy).count() + m.book.depth(derivatives_core::order::Side::Sell).count())
        .sum();
    let grown = rss_bytes().saturating_sub(before);
    println!(
        "memory: {resting} resting orders on {levels} levels, RSS grew {:.1} MB = {} bytes per resting order",
        grown as f64 / 1e6,
        grown / resting.max(1) as u64
    );
    let started = Instant::now();
    let snapshot = engine.snapshot();
    let taken = started.elapsed();
    let started = Instant::now();
    let restored = Engine::restore(&snapshot).expect("restores");
    let restore = started.elapsed();
    assert_eq!(restored.state_hash(), engine.state_hash(), "a restore is exact");
    println!(
        "snapshot: {resting} orders, {} accounts: {:.1} MB, taken in {:.0} ms, restored in {:.0} ms",
        engine.accounts().len(),
        snapshot.len() as f64 / 1e6,
        taken.as_secs_f64() * 1e3,
        restore.as_secs_f64() * 1e3
    );
    drop((engine, restored, snapshot));

    let runs = env_or("BENCH_RUNS", 3).max(1);
    let mut rates: Vec<f64> = (0..runs).map(|_| throughput(&workload)).collect();
    rates.sort_by(f64::total_cmp);
    println!(
        "throughput (one core, median of {runs}): {:.2} M commands/s (runs: {})",
        rates[runs / 2] / 1e6,
        rates.iter().map(|r| format!("{:.2}", r / 1e6)).collect::<Vec<_>>().join(", ")
    );

    let (engine_rate, reference_rate) = against_reference();
    println!(
        "baseline (same run, {}-order book): engine {:.2} M/s vs simple reference model {:.2} M/s = {:.1}x",
        env_or("BENCH_BASELINE_PREFILL", 5_000),
        engine_rate / 1e6,
        reference_rate / 1e6,
        engine_rate / reference_rate
    );

    let (h, slowest) = latency(&workload);
    println!(
        "latency per command (ns, timer included): p50 {} | p99 {} | p99.9 {} | p99.99 {} | max {} | mean {:.0}",
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.value_at_quantile(0.9999),
        h.max(),
        h.mean()
    );
    let kind = |i: usize| format!("{:?}", workload.mix[i]).split([' ', '(', '{']).next().unwrap_or_default().to_string();
    println!(
        "slowest commands (ns, index in the mix, kind): {}",
        slowest.iter().map(|&(ns, i)| format!("{ns} #{i} {}", kind(i))).collect::<Vec<_>>().join(", ")
    );
}
