//! Start-up, wiring and shutdown.
//!
//! Primary: recover the journal (newest valid snapshot + tail), connect to NATS, make sure the
//! stream exists, start the runtime with group commit (and the replication link with
//! `--replicate-to`), the stream publisher (which first republishes what the stream misses), the
//! snapshot schedule, and the command subject. Standby (`--standby --listen`): recover the own
//! journal and follow the primary until SIGUSR1, then go on as the primary with the promoted
//! engine: the command subject is the same and so is the queue group, so gateways don't change.
//!
//! Shutdown (SIGTERM/SIGINT): stop taking requests, answer what is in flight, publish every
//! durable batch (up to [`DRAIN`]; the next start republishes anything left from the journal),
//! flush NATS, stop the engine and the journal thread.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use derivatives_core::journal::{self, JournalConfig, JournalSink, SegmentWriter};
use derivatives_core::replication::{self, Follower, Mode};
use derivatives_core::runtime::{system_clock, Runtime, RuntimeConfig};
use derivatives_core::Engine;
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use crate::commands::{self, Context};
use crate::config::Config;
use crate::log;
use crate::snapshots::{self, Schedule};
use crate::stream::{self, Publisher};
use crate::tap::{Tap, Tapped};
use crate::wire::{Names, QUEUE_GROUP};

/// How long a stopping service keeps trying to publish the last batches.
pub const DRAIN: Duration = Duration::from_secs(10);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A watch that turns true on SIGTERM or SIGINT.
fn stop_signal() -> Result<watch::Receiver<bool>, String> {
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let (set, stop) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        log::info("stopping", json!({}));
        let _ = set.send(true);
    });
    Ok(stop)
}

/// Runs the service until stopped.
///
/// # Errors
/// Why it could not start or go on (journal, NATS).
pub async fn run(config: Config) -> Result<(), String> {
    let mut stop = stop_signal()?;
    let journal = JournalConfig { dir: config.journal.clone(), segment_bytes: config.segment_bytes };
    let (engine, writer) = match &config.standby_listen {
        Some(listen) => match follow(&journal, listen, &mut stop).await? {
            Some(promoted) => promoted,
            None => return Ok(()),
        },
        None => {
            let recovered = tokio::task::block_in_place(|| journal::recover(&journal)).map_err(|e| e.to_string())?;
            let r = &recovered.report;
            log::info(
                "recovered",
                json!({"journal": config.journal.display().to_string(), "frames": r.frames, "last_seq": r.last_seq,
                       "truncated_bytes": r.truncated_bytes, "snapshot_seq": r.snapshot_seq}),
            );
            (recovered.engine, recovered.writer)
        }
    };
    serve(&config, engine, writer, stop).await
}

/// Follows a primary into the own journal until SIGUSR1 (the promoted engine and writer) or
/// SIGTERM/SIGINT (`None`).
async fn follow(
    journal: &JournalConfig,
    listen: &str,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<(Engine, SegmentWriter)>, String> {
    let mut promote = signal(SignalKind::user_defined1()).map_err(|e| e.to_string())?;
    let recovered = tokio::task::block_in_place(|| journal::recover(journal)).map_err(|e| e.to_string())?;
    let last_seq = recovered.report.last_seq;
    let follower = Follower::start(recovered.engine, recovered.writer, listen, false).map_err(|e| format!("listening on {listen}: {e}"))?;
    log::info("following", json!({"listen": follower.address().to_string(), "last_seq": last_seq}));
    tokio::select! {
        _ = promote.recv() => {}
        _ = stop.wait_for(|stopping| *stopping) => {
            drop(tokio::task::spawn_blocking(move || follower.promote()).await);
            return Ok(None);
        }
    }
    let (engine, writer) = tokio::task::spawn_blocking(move || follower.promote()).await.map_err(|e| e.to_string())??;
    log::info("promoted", json!({"last_seq": engine.last_seq(), "state_hash": hex(&engine.state_hash())}));
    Ok(Some((engine, writer)))
}

/// Connects to NATS, retrying until it answers or the service is stopped.
async fn connect(url: &str, stop: &watch::Receiver<bool>) -> Result<async_nats::Client, String> {
    loop {
        let options = async_nats::ConnectOptions::new().name("derivatives-engine").max_reconnects(None);
        match options.connect(url).await {
            Ok(client) => return Ok(client),
            Err(e) if !*stop.borrow() => {
                log::warn("cannot reach NATS; retrying", json!({"url": url, "error": e.to_string()}));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

async fn serve(config: &Config, engine: Engine, writer: SegmentWriter, stop: watch::Receiver<bool>) -> Result<(), String> {
    let names = Names::new(&config.prefix);
    let client = connect(&config.nats_url, &stop).await?;
    let js = jetstream::ContextBuilder::new().timeout(Duration::from_secs(5)).ack_timeout(Duration::from_secs(5)).build(client.clone());
    stream::ensure(&js, &names).await?;
    let last_seq = engine.last_seq();
    let tapped = Tapped::default();
    let mode = if config.sync { Mode::Sync } else { Mode::Async };
    let replicate = config.replicate_to.as_deref().map(|to| (to, mode));
    let (sink, _replication) = replication::sink(writer, &config.journal, last_seq, replicate);
    let sink: Box<dyn JournalSink> = Box::new(Tap::new(sink, tapped.clone()));
    let runtime_config = RuntimeConfig { event_log_bytes: 0, ..RuntimeConfig::default() };
    let runtime = Arc::new(Runtime::start(engine, system_clock(), runtime_config, Some(sink)));
    let (batches, live) = mpsc::unbounded_channel();
    let max_payload = client.server_info().max_payload;
    let publisher = tokio::spawn(Publisher::new(js, names.clone(), config.journal.clone(), last_seq, max_payload).run(live));
    let progress = Arc::new(AtomicU64::new(last_seq));
    let schedule = Schedule { every_commands: config.snapshot_every_commands, every: Duration::from_secs(config.snapshot_every_seconds) };
    let snapshots =
        tokio::spawn(snapshots::run(Arc::clone(&runtime), config.journal.clone(), schedule, Arc::clone(&progress), stop.clone()));
    let requests = client.queue_subscribe(names.commands.clone(), QUEUE_GROUP.into()).await.map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())?;
    log::info(
        "serving",
        json!({"commands": names.commands, "stream": names.stream, "subject": names.batches, "last_seq": last_seq,
               "nats": config.nats_url, "replicate_to": config.replicate_to, "sync": config.sync}),
    );
    let context = Context { client: client.clone(), runtime: Arc::clone(&runtime), tapped, batches, progress };
    commands::serve(context, requests, stop).await;
    if tokio::time::timeout(DRAIN, publisher).await.is_err() {
        log::warn("stopped before every batch reached the stream; the next start republishes them from the journal", json!({}));
    }
    let _ = snapshots.await;
    let _ = client.flush().await;
    let runtime = Arc::try_unwrap(runtime).map_err(|_| "the runtime is still shared".to_owned())?;
    let engine = tokio::task::block_in_place(|| runtime.stop()).map_err(|e| e.to_string())?;
    log::info("stopped", json!({"last_seq": engine.last_seq(), "state_hash": hex(&engine.state_hash())}));
    Ok(())
}
