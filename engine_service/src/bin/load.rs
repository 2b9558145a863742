//! `derivatives-engine-load`: the engine service alone over NATS, from a native load client.
//!
//! Generates the benchmark workload (`derivatives_core::workload`: a prefill of resting orders,
//! then the timed mix), and runs it twice in the same run, on the same disk:
//! 1. **baseline**: the in-process runtime with its journal (group commit), the mix submitted as
//!    batches of `--per-request` commands with `--in-flight` batches outstanding;
//! 2. **service**: `derivatives-engine` (started here, with a private nats-server unless
//!    `--nats-url` is given) and the same batches as NATS requests, `--in-flight` outstanding.
//!
//! Prints commands/s and request latency p50/p99/max for both (with the 1-minute load average at
//! the end of each run), the CPU each process spent per command (`/proc`: load-independent, so
//! the capacity of a free core can be read from it on a busy machine), and how long after the last reply the batch stream held the last seq.
//! Figures are printed, never asserted.
//!
//! Exit paths: the service is always stopped and reaped (SIGTERM, SIGKILL after 15 s), a panic
//! included, so it never outlives this client (an orphaned service kept the client's stdout open,
//! so `make bench | tee ...` never ended); a failed request or a stream that does not reach the last
//! seq within 120 s is an error (exit 1) quoting the last lines of the service log (`DIR/service.log`).
//!
//! Flags: `--prefill N` (100,000), `--commands N` (1,000,000), `--per-request N` (100),
//! `--in-flight N` (64), `--nats-url URL`, `--dir DIR` (target/engine-load; removed afterwards).

#![allow(clippy::float_arithmetic, reason = "rates and percentiles for display, never money")]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
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

/// How long the service may take to stop cleanly before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// How long after the last reply the batch stream may take to hold the last seq.
const STREAM_DEADLINE: Duration = Duration::from_secs(120);
/// Commands per request of the setup (prefill) phase.
const SETUP_PER_REQUEST: usize = 5_000;

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

/// The 1-minute load average (`/proc/loadavg`), printed with each figure: the machine may be shared.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| s.split_whitespace().next().map(str::to_owned)).unwrap_or_else(|| "?".into())
}

/// CPU seconds (user + system) process `pid` has used so far (`/proc/PID/stat`), 0 when unreadable.
fn cpu_seconds(pid: u32) -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        let out = Process::new("getconf").arg("CLK_TCK").output().ok();
        out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100.0)
    });
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / ticks
}

/// CPU seconds used so far by each of `pids` (label, pid).
fn cpu_of(pids: &[(&'static str, u32)]) -> Vec<f64> {
    pids.iter().map(|&(_, pid)| cpu_seconds(pid)).collect()
}

/// Prints the CPU each process spent per command between `before` and now.
fn report_cpu(pids: &[(&'static str, u32)], before: &[f64], commands: usize) {
    let spent: Vec<String> = pids
        .iter()
        .zip(cpu_of(pids).iter().zip(before))
        .map(|(&(name, _), (now, then))| format!("{name} {:.2} µs", (now - then) * 1e6 / commands as f64))
        .collect();
    println!("CPU per command: {}", spent.join(", "));
}

fn report(name: &str, commands: usize, elapsed: Duration, latency: &Histogram<u64>) {
    let us = |q: f64| latency.value_at_quantile(q) as f64 / 1e3;
    println!(
        "{name:<30} {:>9.0} cmd/s   request p50 {:>7.0} µs  p99 {:>7.0} µs  max {:>7.0} µs  ({commands} commands in {:.2} s, load average {})",
        commands as f64 / elapsed.as_secs_f64(),
        us(0.50),
        us(0.99),
        latency.max() as f64 / 1e3,
        elapsed.as_secs_f64(),
        load_average()
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
    let cpu_before = cpu_of(&[("this process", std::process::id())]);
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
    report_cpu(&[("this process", std::process::id())], &cpu_before, mix.len());
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The service process: stopped (SIGTERM, then SIGKILL after [`STOP_GRACE`]) and reaped when
/// dropped, so no exit path of this client (a panic included) leaves it running.
struct Service {
    child: Child,
    log: PathBuf,
}

impl Service {
    /// Starts the service (its log lines go to `log`) and waits for its "serving" line.
    fn start(dir: &Path, log: &Path, url: &str, prefix: &str) -> Self {
        let binary = std::env::current_exe().expect("own path").with_file_name("derivatives-engine");
        let mut child = Process::new(binary)
            .args(["--journal", &dir.display().to_string(), "--nats-url", url, "--prefix", prefix, "--snapshot-every-commands", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("derivatives-engine starts (cargo build --release -p derivatives-engine-service)");
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let mut file = std::fs::File::create(log).expect("the service log file");
        for line in lines.by_ref() {
            let line = line.expect("stderr");
            writeln!(file, "{line}").expect("the service log file");
            if line.contains("\"msg\":\"serving\"") {
                break;
            }
        }
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
            }
        });
        Self { child, log: log.to_path_buf() }
    }

    /// The last `n` lines of its log.
    fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Process::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + STOP_GRACE;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Drives the service with the same batches; `Err` (with the service's last log lines) when it
/// does not answer or does not publish the stream within [`STREAM_DEADLINE`].
async fn over_nats(o: &Options, url: &str, nats_pid: Option<u32>, setup: &[Command], mix: &[Command]) -> Result<(), String> {
    let dir = o.dir.join("service");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&o.dir).map_err(|e| format!("{}: {e}", o.dir.display()))?;
    let prefix = format!("load{}", std::process::id());
    let service = Service::start(&dir, &o.dir.join("service.log"), url, &prefix);
    let names = Names::new(&prefix);
    let client = async_nats::connect(url).await.map_err(|e| e.to_string())?;
    let send = |payload: Bytes| {
        let (client, subject) = (client.clone(), names.commands.clone());
        async move {
            let at = Instant::now();
            let reply = client.request(subject, payload).await.map_err(|e| format!("request: {e}"))?;
            let headers = reply.headers.ok_or("a reply without headers")?;
            if headers.get(ERROR).is_some() {
                return Err(format!("error reply: {}", String::from_utf8_lossy(&reply.payload)));
            }
            let last = headers.get(LAST_SEQ).and_then(|v| v.as_str().parse::<u64>().ok()).ok_or("no last seq")?;
            Ok::<_, String>((at.elapsed(), last))
        }
    };
    let with_log = |e: String| format!("{e}\nlast lines of the service log ({}):\n{}", service.log.display(), service.log_tail(20));
    for chunk in setup.chunks(SETUP_PER_REQUEST) {
        send(encode(chunk)).await.map_err(with_log)?;
    }
    let requests: Vec<Bytes> = mix.chunks(o.per_request).map(encode).collect();
    let mut pids = vec![("engine service", service.child.id()), ("load client", std::process::id())];
    pids.extend(nats_pid.map(|pid| ("nats-server", pid)));
    let cpu_before = cpu_of(&pids);
    let mut latency = histogram();
    let mut last_seq = 0;
    let started = Instant::now();
    let mut replies = futures::stream::iter(requests).map(send).buffer_unordered(o.in_flight);
    while let Some(reply) = replies.next().await {
        let (elapsed, last) = reply.map_err(with_log)?;
        latency.saturating_record(elapsed.as_nanos() as u64);
        last_seq = last_seq.max(last);
    }
    let elapsed = started.elapsed();
    report("engine service over NATS", mix.len(), elapsed, &latency);
    report_cpu(&pids, &cpu_before, mix.len());
    let js = jetstream::new(client.clone());
    let stream = js.get_stream(&names.stream).await.map_err(|e| with_log(e.to_string()))?;
    let deadline = Instant::now() + STREAM_DEADLINE;
    let caught_up = loop {
        let published = match stream.get_last_raw_message_by_subject(&names.batches).await {
            Ok(message) => message.headers.get(LAST_SEQ).and_then(|v| v.as_str().parse::<u64>().ok()).unwrap_or(0),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => 0,
            Err(e) => return Err(with_log(e.to_string())),
        };
        if published >= last_seq {
            break started.elapsed().saturating_sub(elapsed);
        }
        if Instant::now() > deadline {
            return Err(with_log(format!(
                "the batch stream holds seqs up to {published} only, {} s after the last reply (seq {last_seq})",
                STREAM_DEADLINE.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let info = js.get_stream(&names.stream).await.map_err(|e| e.to_string())?.cached_info().state.clone();
    println!(
        "batch stream: seq {last_seq} published {:.0} ms after the last reply; {} messages, {:.1} MB",
        caught_up.as_secs_f64() * 1e3,
        info.messages,
        info.bytes as f64 / 1e6
    );
    drop(service);
    let _ = js.delete_stream(&names.stream).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
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
    let nats_pid = server.as_ref().and_then(NatsServer::pid);
    let outcome = runtime.block_on(over_nats(&o, &url, nats_pid, &workload.setup, &workload.mix));
    drop(runtime);
    drop(server);
    if let Err(e) = outcome {
        eprintln!("derivatives-engine-load: {e}");
        std::process::exit(1);
    }
    let _ = std::fs::remove_dir_all(&o.dir);
}
