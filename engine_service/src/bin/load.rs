//! `derivatives-engine-load`: the engine service alone over NATS, from a native load client.
//!
//! Generates the benchmark workload (`derivatives_core::workload`: a prefill of resting orders,
//! then the timed mix), and runs it twice in the same run, on the same disk:
//! 1. **baseline**: the in-process runtime with its journal (group commit), the mix submitted as
//!    batches of `--per-request` commands with `--in-flight` batches outstanding;
//! 2. **service**: `derivatives-engine` (started here, with a private nats-server unless
//!    `--nats-url` is given) and the same batches as NATS requests, `--in-flight` outstanding.
//!
//! Prints commands/s and request latency p50/p99/max for both, and how long after the last reply
//! the batch stream held the last seq. Figures are printed, never asserted.
//!
//! Flags: `--prefill N` (100,000), `--commands N` (1,000,000), `--per-request N` (100),
//! `--in-flight N` (64), `--nats-url URL`, `--dir DIR` (target/engine-load; removed afterwards).

#![allow(clippy::float_arithmetic, reason = "rates and percentiles for display, never money")]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use derivatives_core::codec::encode_command;
use derivatives_core::journal::{self, JournalConfig};
use derivatives_core::runtime::{Pending, Runtime, RuntimeConfig};
use derivatives_core::workload::{generate, WorkloadConfig};
use derivatives_core::Command;
use derivatives_engine_service::nats_server::{self, NatsServer};
use derivatives_engine_service::wire::{Names, ERROR, LAST_SEQ};
use futures::StreamExt;
use hdrhistogram::Histogram;

struct Options {
    prefill: usize,
    commands: usize,
    per_request: usize,
    in_flight: usize,
    nats_url: Option<String>,
    dir: PathBuf,
}

fn options() -> Options {
    let mut o = Options {
        prefill: 100_000,
        commands: 1_000_000,
        per_request: 100,
        in_flight: 64,
        nats_url: None,
        dir: PathBuf::from("target/engine-load"),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        let number = || value.parse::<usize>().unwrap_or_else(|_| panic!("{}: not a number: {value}", pair[0]));
        match pair[0].as_str() {
            "--prefill" => o.prefill = number(),
            "--commands" => o.commands = number(),
            "--per-request" => o.per_request = number().max(1),
            "--in-flight" => o.in_flight = number().max(1),
            "--nats-url" => o.nats_url = Some(value),
            "--dir" => o.dir = PathBuf::from(value),
            other => panic!("unknown flag {other}"),
        }
    }
    o
}

fn encode(commands: &[Command]) -> Bytes {
    let mut bytes = Vec::with_capacity(commands.len() * 96);
    for command in commands {
        encode_command(&mut bytes, command);
    }
    bytes.into()
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("bounds")
}

fn report(name: &str, commands: usize, elapsed: Duration, latency: &Histogram<u64>) {
    let us = |q: f64| latency.value_at_quantile(q) as f64 / 1e3;
    println!(
        "{name:<34} {:>10.0} cmd/s   request p50 {:>8.0} µs  p99 {:>8.0} µs  max {:>8.0} µs  ({commands} commands in {:.2} s)",
        commands as f64 / elapsed.as_secs_f64(),
        us(0.50),
        us(0.99),
        latency.max() as f64 / 1e3,
        elapsed.as_secs_f64()
    );
}

/// The in-process runtime with a journal: batches of `per_request`, `in_flight` outstanding.
fn baseline(o: &Options, setup: &[Command], mix: &[Command]) {
    let dir = o.dir.join("baseline");
    let _ = std::fs::remove_dir_all(&dir);
    let recovered = journal::recover(&JournalConfig::new(&dir)).expect("a fresh journal");
    let rt = Runtime::start(recovered.engine, Box::new(|| 1), RuntimeConfig::default(), Some(Box::new(recovered.writer)));
    for chunk in setup.chunks(10_000) {
        rt.execute(chunk.to_vec(), None).expect("setup");
    }
    let mut latency = histogram();
    let mut outstanding: VecDeque<(Pending, Instant)> = VecDeque::new();
    let started = Instant::now();
    for chunk in mix.chunks(o.per_request) {
        if outstanding.len() == o.in_flight {
            let (pending, at) = outstanding.pop_front().expect("full");
            pending.wait().expect("acknowledged");
            latency.saturating_record(at.elapsed().as_nanos() as u64);
        }
        outstanding.push_back((rt.submit(chunk.to_vec(), None).expect("submitted"), Instant::now()));
    }
    for (pending, at) in outstanding {
        pending.wait().expect("acknowledged");
        latency.saturating_record(at.elapsed().as_nanos() as u64);
    }
    report("in-process runtime + journal", mix.len(), started.elapsed(), &latency);
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts the service and waits for its "serving" line.
fn start_service(dir: &Path, url: &str, prefix: &str) -> Child {
    let binary = std::env::current_exe().expect("own path").with_file_name("derivatives-engine");
    let mut child = Process::new(binary)
        .args(["--journal", &dir.display().to_string(), "--nats-url", url, "--prefix", prefix, "--snapshot-every-commands", "0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("derivatives-engine starts (cargo build --release -p derivatives-engine-service)");
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    for line in lines.by_ref() {
        let line = line.expect("stderr");
        if line.contains("\"msg\":\"serving\"") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    child
}

async fn over_nats(o: &Options, url: &str, setup: &[Command], mix: &[Command]) {
    let dir = o.dir.join("service");
    let _ = std::fs::remove_dir_all(&dir);
    let prefix = format!("load{}", std::process::id());
    let mut service = start_service(&dir, url, &prefix);
    let names = Names::new(&prefix);
    let client = async_nats::connect(url).await.expect("connected");
    let send = |payload: Bytes| {
        let (client, subject) = (client.clone(), names.commands.clone());
        async move {
            let at = Instant::now();
            let reply = client.request(subject, payload).await.expect("a reply");
            let headers = reply.headers.expect("reply headers");
            assert!(headers.get(ERROR).is_none(), "error reply: {:?}", std::str::from_utf8(&reply.payload));
            let last: u64 = headers.get(LAST_SEQ).expect("last seq").as_str().parse().expect("a number");
            (at.elapsed(), last)
        }
    };
    for chunk in setup.chunks(5_000) {
        send(encode(chunk)).await;
    }
    let requests: Vec<Bytes> = mix.chunks(o.per_request).map(encode).collect();
    let mut latency = histogram();
    let mut last_seq = 0;
    let started = Instant::now();
    let mut replies = futures::stream::iter(requests).map(send).buffer_unordered(o.in_flight);
    while let Some((elapsed, last)) = replies.next().await {
        latency.saturating_record(elapsed.as_nanos() as u64);
        last_seq = last_seq.max(last);
    }
    let elapsed = started.elapsed();
    report("engine service over NATS", mix.len(), elapsed, &latency);
    let js = jetstream::new(client.clone());
    let stream = js.get_stream(&names.stream).await.expect("the stream");
    let caught_up = loop {
        let message = stream.get_last_raw_message_by_subject(&names.batches).await.expect("a last message");
        let published: u64 = message.headers.get(LAST_SEQ).expect("header").as_str().parse().expect("a number");
        if published >= last_seq {
            break started.elapsed().saturating_sub(elapsed);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let info = js.get_stream(&names.stream).await.expect("the stream").cached_info().state.clone();
    println!(
        "batch stream: seq {last_seq} published {:.0} ms after the last reply; {} messages, {:.1} MB",
        caught_up.as_secs_f64() * 1e3,
        info.messages,
        info.bytes as f64 / 1e6
    );
    let _ = Process::new("kill").args(["-TERM", &service.id().to_string()]).status();
    let _ = service.wait();
    let _ = js.delete_stream(&names.stream).await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let o = options();
    let config = WorkloadConfig { prefill_orders: o.prefill, commands: o.commands, ..WorkloadConfig::default() };
    let workload = generate(config, |_, _| {});
    println!(
        "workload: {} setup commands ({} resting orders), {} timed commands in requests of {}, {} in flight",
        workload.setup.len(),
        o.prefill,
        workload.mix.len(),
        o.per_request,
        o.in_flight
    );
    baseline(&o, &workload.setup, &workload.mix);
    let (server, url) = match &o.nats_url {
        Some(url) => (None, url.clone()),
        None => {
            let binary = nats_server::find().expect("nats-server (PATH or .venv/bin), or --nats-url");
            let server = NatsServer::start(&binary, &o.dir.join("nats")).expect("nats-server starts");
            let url = server.url();
            (Some(server), url)
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    runtime.block_on(over_nats(&o, &url, &workload.setup, &workload.mix));
    drop(server);
    let _ = std::fs::remove_dir_all(&o.dir);
}
