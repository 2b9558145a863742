//! `cargo bench --bench engine`: in-engine throughput, per-command latency and memory per resting
//! order on the workload of `derivatives_core::workload` (several symbols, thousands of levels,
//! one million resting orders, then ~50 % places / 35 % cancels / 10 % market-IOC / 5 % amends).
//!
//! Also the snapshot size and the time to take and restore it at the prefilled state.
//!
//! Figures are printed, never asserted. Environment overrides: `BENCH_PREFILL`, `BENCH_COMMANDS`,
//! `BENCH_ACCOUNTS`,
//! `BENCH_RUNS` (throughput repetitions; raise it to make the timed phase dominate a profile).

#![allow(clippy::float_arithmetic, reason = "timing figures, not money")]

#[path = "../tests/reference/mod.rs"]
mod reference;
mod support;

use std::time::Instant;

use derivatives_core::workload::{generate, Workload, WorkloadConfig};
use derivatives_core::{CommandEnvelope, Engine};
use hdrhistogram::Histogram;
use support::{env_or, prefilled, record_since, rss_bytes, throughput};

fn latency(workload: &Workload) -> Histogram<u64> {
    let mut engine = prefilled(workload);
    let mut out = Vec::with_capacity(64);
    let mut histogram = support::latency_histogram();
    for command in &workload.mix {
        let envelope = CommandEnvelope { seq: engine.last_seq() + 1, ts: 1, command: command.clone() };
        out.clear();
        let start = Instant::now();
        engine.apply(&envelope, &mut out).expect("in order");
        record_since(&mut histogram, start);
    }
    histogram
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

fn main() {
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

    let h = latency(&workload);
    println!(
        "latency per command (ns, timer included): p50 {} | p99 {} | p99.9 {} | p99.99 {} | max {} | mean {:.0}",
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.value_at_quantile(0.9999),
        h.max(),
        h.mean()
    );
}
