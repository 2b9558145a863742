//! The batch stream: JetStream stream `{PREFIX}_BATCHES`, subject `{prefix}.batches`, one message
//! per batch (`batch_body`: journal frames + events), in seq order, after the batch is durable.
//!
//! - Headers: `Nats-Msg-Id` = first seq (the server drops a retried duplicate within its 2-minute
//!   window), `Derivatives-First-Seq`, `Derivatives-Last-Seq`, `Derivatives-Ts`; and
//!   `Nats-Expected-Last-Sequence` = the stream sequence the message must follow, so a message
//!   published after one that was lost (a connection dropped mid-round) is refused by the server
//!   instead of leaving a gap.
//! - A batch larger than the server's payload limit goes out as several messages, cut at command
//!   boundaries (`batch_body::chunks`); consumers go by seq, never by message.
//! - At start and after any publish failure the publisher reads where the stream really ends (its
//!   last message's `Derivatives-Last-Seq`), drops what the stream already holds, and regenerates
//!   from the journal whatever lies between the stream's end and the oldest batch it still holds
//!   in memory (frames as on disk, events by replaying them in a separate engine: the same bytes,
//!   the engine is deterministic). Regenerated messages cover up to [`REGENERATED_COMMANDS`]
//!   commands each and carry the time of their first command.
//!
//! Invariants: the stream's seqs are contiguous and each is stored once (expected-last-sequence
//! plus dedup ids); nothing is published before it is durable (live batches come from released
//! outcomes, regenerated ones from the journal's durable prefix).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config as StreamConfig, LastRawMessageErrorKind, StorageType};
use async_nats::jetstream::Context;
use bytes::Bytes;
use derivatives_core::event_stream::apply_and_encode;
use derivatives_core::ids::Seq;
use derivatives_core::journal::{frame, history};
use derivatives_core::replication::batch_body;
use serde_json::json;
use tokio::sync::mpsc;

use crate::log;
use crate::wire::{Names, FIRST_SEQ, LAST_SEQ, TS};

/// Commands per regenerated message at most (then cut further to the payload limit).
pub const REGENERATED_COMMANDS: usize = 1_000;
/// Messages published before their acknowledgements are awaited.
const ROUND: usize = 256;
const RETRY: Duration = Duration::from_millis(250);
/// Room left under the server's payload limit for headers.
const HEADER_ROOM: usize = 1_024;

/// A durable batch for the stream.
#[derive(Debug)]
pub struct Batch {
    /// Seq of its first command.
    pub first_seq: Seq,
    /// The batch time.
    pub ts: u64,
    /// Its journal frames.
    pub frames: Vec<u8>,
    /// Its event envelopes.
    pub events: Bytes,
}

/// One stream message.
#[derive(Clone, Debug)]
struct Message {
    first_seq: Seq,
    last_seq: Seq,
    ts: u64,
    body: Bytes,
}

/// Creates the stream if it does not exist (file storage, 2-minute duplicate window, no limits).
///
/// # Errors
/// The server's refusal.
pub async fn ensure(js: &Context, names: &Names) -> Result<(), String> {
    let config = StreamConfig {
        name: names.stream.clone(),
        subjects: vec![names.batches.clone()],
        storage: StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..StreamConfig::default()
    };
    js.get_or_create_stream(config).await.map(|_| ()).map_err(|e| format!("creating stream {}: {e}", names.stream))
}

/// Where the stream ends: (stream sequence of its last message, engine seq that message ends at).
async fn position(js: &Context, names: &Names) -> Result<(u64, Seq), String> {
    let stream = js.get_stream(&names.stream).await.map_err(|e| e.to_string())?;
    let stream_seq = stream.cached_info().state.last_sequence;
    match stream.get_last_raw_message_by_subject(&names.batches).await {
        Ok(message) => {
            let last = message.headers.get(LAST_SEQ).and_then(|v| v.as_str().parse().ok());
            last.map(|last| (stream_seq, last)).ok_or_else(|| format!("the stream's last message has no {LAST_SEQ} header"))
        }
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok((stream_seq, 0)),
        Err(e) => Err(e.to_string()),
    }
}

/// Publishes batches in order; see the module documentation.
pub struct Publisher {
    js: Context,
    names: Names,
    journal: PathBuf,
    max_body: usize,
    outbox: VecDeque<Message>,
    /// Every seq up to this one exists in the journal (the outbox or the live queue has the rest).
    known: Seq,
    /// (stream sequence, engine seq) of the stream's end, when known.
    end: Option<(u64, Seq)>,
}

impl Publisher {
    /// A publisher for the journal in `journal`, which ends at `last_seq` now; messages of at most
    /// `max_payload` bytes (the server's limit).
    #[must_use]
    pub fn new(js: Context, names: Names, journal: PathBuf, last_seq: Seq, max_payload: usize) -> Self {
        let max_body = max_payload.saturating_sub(HEADER_ROOM).max(HEADER_ROOM);
        Self { js, names, journal, max_body, outbox: VecDeque::new(), known: last_seq, end: None }
    }

    /// Publishes every batch of `live` (and first what the stream misses from the journal) until
    /// `live` closes and everything is published.
    pub async fn run(mut self, mut live: mpsc::UnboundedReceiver<Batch>) {
        let mut open = true;
        loop {
            if self.end.is_none() && !self.resync().await {
                tokio::time::sleep(RETRY).await;
                continue;
            }
            if self.outbox.is_empty() {
                if !open {
                    return;
                }
                match live.recv().await {
                    Some(batch) => self.push(batch),
                    None => open = false,
                }
            }
            while let Ok(batch) = live.try_recv() {
                self.push(batch);
            }
            let round: Vec<Message> = self.outbox.iter().take(ROUND).cloned().collect();
            if let Err(e) = self.publish(&round).await {
                log::warn(
                    "stream publish failed; resyncing with the stream",
                    json!({"error": e, "first_seq": round.first().map(|m| m.first_seq)}),
                );
                self.end = None;
                tokio::time::sleep(RETRY).await;
                continue;
            }
            self.outbox.drain(..round.len());
        }
    }

    fn push(&mut self, batch: Batch) {
        for (first_seq, last_seq, body) in batch_body::chunks(batch.first_seq, &batch.frames, &batch.events, self.max_body) {
            self.outbox.push_back(Message { first_seq, last_seq, ts: batch.ts, body: body.into() });
            self.known = self.known.max(last_seq);
        }
    }

    /// Learns where the stream ends, drops what it holds, and publishes from the journal what it
    /// misses before the outbox; false (with a warning) when that failed.
    async fn resync(&mut self) -> bool {
        let (stream_seq, last) = match position(&self.js, &self.names).await {
            Ok(end) => end,
            Err(e) => {
                log::warn("cannot read the stream's end; retrying", json!({"stream": self.names.stream, "error": e}));
                return false;
            }
        };
        self.end = Some((stream_seq, last));
        while self.outbox.front().is_some_and(|m| m.last_seq <= last) {
            self.outbox.pop_front();
        }
        let before = self.outbox.front().map_or(self.known, |m| m.first_seq - 1);
        if last > before {
            log::error(
                "the stream is ahead of this journal: it holds batches this engine never had (an asynchronous standby promoted after losing them?); publishing goes on above them",
                json!({"stream_last_seq": last, "journal_last_seq": self.known}),
            );
        }
        if last >= before {
            return true;
        }
        log::info("republishing from the journal", json!({"after_seq": last, "upto_seq": before, "stream": self.names.stream}));
        match self.republish(last, before).await {
            Ok(()) => true,
            Err(e) => {
                log::warn("republishing from the journal failed; retrying", json!({"error": e}));
                self.end = None;
                false
            }
        }
    }

    /// Regenerates the messages of seqs `after + 1 ..= upto` from the journal (on a blocking
    /// thread) and publishes them in order.
    async fn republish(&mut self, after: Seq, upto: Seq) -> Result<(), String> {
        let (chunks, mut regenerated) = mpsc::channel::<Result<Message, String>>(64);
        let (dir, max_body) = (self.journal.clone(), self.max_body);
        let producer = tokio::task::spawn_blocking(move || regenerate(&dir, after, upto, max_body, &chunks));
        while let Some(first) = regenerated.recv().await {
            let mut round = vec![first?];
            while round.len() < ROUND {
                match regenerated.try_recv() {
                    Ok(message) => round.push(message?),
                    Err(_) => break,
                }
            }
            self.publish(&round).await?;
        }
        drop(regenerated);
        producer.await.map_err(|e| e.to_string())
    }

    /// Publishes `messages` in one round and waits for every acknowledgement.
    async fn publish(&mut self, messages: &[Message]) -> Result<(), String> {
        let (mut stream_seq, _) = self.end.ok_or("stream position unknown")?;
        let mut acks = Vec::with_capacity(messages.len());
        for (i, m) in (0_u64..).zip(messages) {
            let publish = PublishMessage::build()
                .payload(m.body.clone())
                .message_id(m.first_seq.to_string())
                .expected_last_sequence(stream_seq + i)
                .header(FIRST_SEQ, m.first_seq.to_string().as_str())
                .header(LAST_SEQ, m.last_seq.to_string().as_str())
                .header(TS, m.ts.to_string().as_str());
            acks.push(self.js.send_publish(self.names.batches.clone(), publish).await.map_err(|e| e.to_string())?);
        }
        for (ack, m) in acks.into_iter().zip(messages) {
            let ack = ack.await.map_err(|e| format!("seq {}: {e}", m.first_seq))?;
            stream_seq = ack.sequence;
            self.end = Some((stream_seq, m.last_seq));
        }
        Ok(())
    }
}

/// Sends the messages of seqs `after + 1 ..= upto`, regenerated from the journal in `dir`.
fn regenerate(dir: &std::path::Path, after: Seq, upto: Seq, max_body: usize, out: &mpsc::Sender<Result<Message, String>>) {
    if let Err(e) = regenerate_into(dir, after, upto, max_body, out) {
        let _ = out.blocking_send(Err(e));
    }
}

fn regenerate_into(
    dir: &std::path::Path,
    after: Seq,
    upto: Seq,
    max_body: usize,
    out: &mpsc::Sender<Result<Message, String>>,
) -> Result<(), String> {
    let (mut engine, mut frames) = history::open_at(dir, after).map_err(|e| e.to_string())?;
    let mut scratch = Vec::new();
    let mut discard = Vec::new();
    while engine.last_seq() < after {
        let envelope = frames.next_envelope().map_err(|e| e.to_string())?.ok_or("the journal ends early")?;
        apply_and_encode(&mut engine, &envelope, &mut scratch, &mut discard).map_err(|e| e.to_string())?;
        discard.clear();
    }
    while engine.last_seq() < upto {
        let (first_seq, mut ts) = (engine.last_seq() + 1, None);
        let (mut chunk_frames, mut events) = (Vec::new(), Vec::new());
        for _ in 0..REGENERATED_COMMANDS {
            if engine.last_seq() >= upto {
                break;
            }
            let bytes = frames.next_frame().map_err(|e| e.to_string())?.ok_or("the journal ends before the seq to republish")?;
            let envelope = frame::decode(&bytes[frame::HEADER..]).map_err(|e| e.to_string())?;
            apply_and_encode(&mut engine, &envelope, &mut scratch, &mut events).map_err(|e| e.to_string())?;
            ts.get_or_insert(envelope.ts);
            chunk_frames.extend_from_slice(&bytes);
        }
        for (first, last, body) in batch_body::chunks(first_seq, &chunk_frames, &events, max_body) {
            let message = Message { first_seq: first, last_seq: last, ts: ts.unwrap_or(0), body: body.into() };
            if out.blocking_send(Ok(message)).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}
