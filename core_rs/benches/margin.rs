//! `cargo bench --bench margin`: the margin, clearing and liquidation figures.
//!
//! 1. Mark ticks with one million open positions of which none is liquidated (time per
//!    `SetMarkPrice`, ticks crossing k triggers, a full scan, an empty-market baseline) and
//!    resident memory per account and per position ([`ticks`]).
//! 2. A cascade: 100,000 leveraged accounts, the mark falls 30 % in one tick; every
//!    liquidation, insurance-fund takeover and ADL step runs; invariants checked after
//!    ([`cascade`]).
//! 3. The foundation's mixed workload (`derivatives_core::workload`, full margin checks) with
//!    100,000 accounts against 10,000 in the same invocation, runs interleaved (each 100k run is
//!    compared with the 10k run just before it, so that load changes on a shared machine cancel).
//!
//! Figures are printed, never asserted (invariants are). Environment overrides:
//! `BENCH_POSITION_PAIRS` (500,000), `BENCH_TICKS` (100,000), `BENCH_CASCADE_ACCOUNTS` (100,000),
//! `BENCH_CASCADE_BOOK_PCT` (10), `BENCH_CASCADE_ADL_PCT` (comma-separated, one cascade each: "0,1"), `BENCH_CASCADE_RANKED` (1: install an ADL ranking first), `BENCH_PREFILL` (1,000,000),
//! `BENCH_COMMANDS` (1,000,000), `BENCH_RUNS` (3), `BENCH_SKIP` (comma-separated: ticks,
//! cascade, workload).

#![allow(clippy::float_arithmetic, reason = "timing figures, not money")]

#[path = "margin/cascade.rs"]
mod cascade;
#[path = "margin/market.rs"]
mod market;
mod support;
#[path = "margin/ticks.rs"]
mod ticks;

use derivatives_core::workload::{generate, WorkloadConfig};
use support::{env_or, median_and_runs, throughput};

/// Throughput of the mixed workload with 10,000 and with 100,000 accounts, runs interleaved.
fn workload() {
    let cfg = WorkloadConfig {
        prefill_orders: env_or("BENCH_PREFILL", 1_000_000),
        commands: env_or("BENCH_COMMANDS", 1_000_000),
        ..WorkloadConfig::default()
    };
    println!(
        "\n== mixed workload with full margin checks: {} resting orders prefilled, {} timed commands ==",
        cfg.prefill_orders, cfg.commands
    );
    let small = generate(WorkloadConfig { accounts: 10_000, ..cfg }, |_, _| {});
    let large = generate(WorkloadConfig { accounts: 100_000, ..cfg }, |_, _| {});
    let runs = env_or("BENCH_RUNS", 3).max(1);
    let (mut small_rates, mut large_rates) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        small_rates.push(throughput(&small));
        large_rates.push(throughput(&large));
    }
    let mut ratios: Vec<f64> = large_rates.iter().zip(&small_rates).map(|(large, small)| large / small).collect();
    let mega = |r: f64| format!("{:.2}", r / 1e6);
    let (small_median, small_runs) = median_and_runs(&mut small_rates, mega);
    let (large_median, large_runs) = median_and_runs(&mut large_rates, mega);
    println!("100,000 accounts: {large_median} M cmd/s (median of {runs}; runs {large_runs})");
    println!("baseline, same run, 10,000 accounts: {small_median} M cmd/s (runs {small_runs})");
    let (ratio, all) = median_and_runs(&mut ratios, |r| format!("{r:.2}"));
    println!("ratio 100k / 10k accounts, each run against the 10k run just before it: median {ratio} (all: {all})");
}

fn main() {
    let skip = std::env::var("BENCH_SKIP").unwrap_or_default();
    let uptime = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("margin bench; load average at start: {}", uptime.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    if !skip.contains("ticks") {
        ticks::run(env_or("BENCH_POSITION_PAIRS", 500_000) as u64, env_or("BENCH_TICKS", 100_000));
    }
    if !skip.contains("cascade") {
        let adl = std::env::var("BENCH_CASCADE_ADL_PCT").unwrap_or_else(|_| "0,1".to_string());
        for adl_pct in adl.split(',').filter_map(|p| p.trim().parse().ok()) {
            cascade::run(cascade::Cascade {
                longs: env_or("BENCH_CASCADE_ACCOUNTS", 100_000) as u64,
                book_pct: env_or("BENCH_CASCADE_BOOK_PCT", 10) as u64,
                adl_pct,
                ranked: env_or("BENCH_CASCADE_RANKED", 0) == 1,
            });
        }
    }
    if !skip.contains("workload") {
        workload();
    }
}
