//! What the benchmark binaries share: environment overrides, resident memory, applying a
//! workload to an engine, the throughput loop and percentile printing.
//!
//! Figures are printed, never asserted; `f64` appears only in timing figures.

#![allow(dead_code, reason = "each bench binary uses its own subset")]

use std::time::Instant;

use derivatives_core::workload::Workload;
use derivatives_core::{Command, CommandEnvelope, Engine, Event};
use hdrhistogram::Histogram;

/// The environment variable `name` as a number, else `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Resident set size of this process.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Applies `commands` in order at time 1.
pub fn apply_all(engine: &mut Engine, commands: &[Command], out: &mut Vec<Event>) {
    for command in commands {
        let envelope = CommandEnvelope { seq: engine.last_seq() + 1, ts: 1, command: command.clone() };
        out.clear();
        engine.apply(&envelope, out).expect("in order");
    }
}

/// A fresh engine with the workload's setup applied.
pub fn prefilled(workload: &Workload) -> Engine {
    let mut engine = Engine::new();
    apply_all(&mut engine, &workload.setup, &mut Vec::new());
    engine
}

/// Commands per second of the workload's timed mix on a prefilled engine (envelopes built first).
pub fn throughput(workload: &Workload) -> f64 {
    let mut engine = prefilled(workload);
    let mut out = Vec::with_capacity(64);
    let envelopes: Vec<CommandEnvelope> = workload
        .mix
        .iter()
        .enumerate()
        .map(|(i, c)| CommandEnvelope { seq: engine.last_seq() + 1 + i as u64, ts: 1, command: c.clone() })
        .collect();
    let start = Instant::now();
    for envelope in &envelopes {
        out.clear();
        engine.apply(envelope, &mut out).expect("in order");
    }
    envelopes.len() as f64 / start.elapsed().as_secs_f64()
}

/// A histogram for nanosecond latencies from 1 ns to 10 s.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("bounds")
}

/// Records the nanoseconds elapsed since `start`.
pub fn record_since(histogram: &mut Histogram<u64>, start: Instant) {
    histogram.saturating_record(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
}

/// `p50 … | p99 … | p99.9 … | max … | mean …` in nanoseconds.
pub fn percentiles(h: &Histogram<u64>) -> String {
    format!(
        "p50 {} | p99 {} | p99.9 {} | max {} | mean {:.0}",
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        h.mean()
    )
}

/// The median of `values` and all of them, formatted with `f`.
pub fn median_and_runs(values: &mut [f64], f: impl Fn(f64) -> String) -> (String, String) {
    values.sort_by(f64::total_cmp);
    let median = f(values[values.len() / 2]);
    (median, values.iter().map(|&v| f(v)).collect::<Vec<_>>().join(", "))
}
