//! The command subject: request-reply, queue group `engine`.
//!
//! ```text
//! collector (async): take every request that has arrived (up to MAX_REQUESTS), decode each;
//!   a malformed one is answered `malformed` at once and left out; the rest are ONE engine batch,
//!   submitted without waiting (the runtime pipelines it behind the batches before it)
//!     ──(pending batch, its requests)──▶ waiter thread: waits for each batch in order (durable)
//!     ──(outcome, requests)──▶ replier (async): each request its seqs and its slice of the
//!        events; the batch (frames + events) to the stream publisher
//! ```
//!
//! Invariants: a request is answered only after its batch is durable (the runtime releases an
//! outcome only then); request `i` of a batch gets the seqs after those of requests `0..i`, in
//! arrival order, and exactly the events of its own commands; a malformed request changes
//! nothing; batches reach the publisher in seq order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use async_nats::{Client, HeaderMap, Subject, Subscriber};
use bytes::Bytes;
use derivatives_core::codec::{decode_batch, Reader};
use derivatives_core::runtime::{BatchOutcome, Pending, Runtime, RuntimeError};
use futures::{FutureExt, StreamExt};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use crate::log;
use crate::stream::Batch;
use crate::tap::Tapped;
use crate::wire::{split_events, ERROR, FIRST_SEQ, LAST_SEQ, MALFORMED, TS, UNAVAILABLE};

/// Requests gathered into one engine batch at most.
pub const MAX_REQUESTS: usize = 4_096;
/// Engine batches waiting to become durable at most (then the collector waits: back-pressure).
const IN_FLIGHT: usize = 256;

/// One request of a batch: where to answer, and how many commands it had.
#[derive(Debug)]
struct Request {
    reply: Option<Subject>,
    commands: u64,
}

/// What the command path needs.
pub struct Context {
    /// The NATS connection (replies).
    pub client: Client,
    /// The engine.
    pub runtime: Arc<Runtime>,
    /// Each batch's frames, from the journal sink.
    pub tapped: Tapped,
    /// Durable batches for the stream publisher.
    pub batches: mpsc::UnboundedSender<Batch>,
    /// Last seq acknowledged (read by the snapshot schedule).
    pub progress: Arc<AtomicU64>,
}

/// Serves `requests` until `stop` turns true, then answers everything in flight and returns.
pub async fn serve(context: Context, mut requests: Subscriber, mut stop: watch::Receiver<bool>) {
    let (to_waiter, waiting) = sync_channel::<(Pending, Vec<Request>)>(IN_FLIGHT);
    let (to_replier, replies) = mpsc::unbounded_channel();
    let waiter = std::thread::Builder::new()
        .name("engine-waiter".into())
        .spawn(move || wait_in_order(&waiting, &to_replier))
        .expect("spawn the waiter thread");
    let Context { client, runtime, tapped, batches, progress } = context;
    let replier = tokio::spawn(reply(client.clone(), replies, tapped, batches, progress));
    loop {
        let first = tokio::select! {
            message = requests.next() => message,
            _ = stop.wait_for(|stopping| *stopping) => None,
        };
        let Some(first) = first else { break };
        let mut arrived = vec![first];
        while arrived.len() < MAX_REQUESTS {
            match requests.next().now_or_never() {
                Some(Some(message)) => arrived.push(message),
                _ => break,
            }
        }
        let mut commands = Vec::new();
        let mut batch = Vec::with_capacity(arrived.len());
        for message in arrived {
            match decode_batch(&message.payload, |r: &mut Reader<'_>| r.command()) {
                Ok(decoded) => {
                    batch.push(Request { reply: message.reply, commands: decoded.len() as u64 });
                    commands.extend(decoded);
                }
                Err(e) => fail(&client, message.reply, MALFORMED, &e.to_string()).await,
            }
        }
        if batch.is_empty() {
            continue;
        }
        let submitted = tokio::task::block_in_place(|| match runtime.submit(commands, None) {
            Ok(pending) => to_waiter.send((pending, batch)).map_err(|e| e.0 .1),
            Err(_) => Err(batch),
        });
        if let Err(batch) = submitted {
            for request in batch {
                fail(&client, request.reply, UNAVAILABLE, "the engine has stopped").await;
            }
            break;
        }
    }
    let _ = requests.unsubscribe().await;
    while let Some(Some(message)) = requests.next().now_or_never() {
        fail(&client, message.reply, UNAVAILABLE, "the engine service is stopping").await;
    }
    drop(to_waiter);
    let _ = tokio::task::spawn_blocking(move || waiter.join()).await;
    let _ = replier.await;
}

type Outcome = (Result<BatchOutcome, RuntimeError>, Vec<Request>);

fn wait_in_order(waiting: &Receiver<(Pending, Vec<Request>)>, replies: &mpsc::UnboundedSender<Outcome>) {
    for (pending, requests) in waiting {
        if replies.send((pending.wait(), requests)).is_err() {
            return;
        }
    }
}

async fn reply(
    client: Client,
    mut outcomes: mpsc::UnboundedReceiver<Outcome>,
    tapped: Tapped,
    batches: mpsc::UnboundedSender<Batch>,
    progress: Arc<AtomicU64>,
) {
    while let Some((outcome, requests)) = outcomes.recv().await {
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                log::error("the engine refused a batch; stopping", json!({"error": e.to_string()}));
                for request in requests {
                    fail(&client, request.reply, UNAVAILABLE, &e.to_string()).await;
                }
                continue;
            }
        };
        let events = Bytes::copy_from_slice(&outcome.events);
        let counts: Vec<u64> = requests.iter().map(|r| r.commands).collect();
        let mut first = outcome.first_seq;
        for (request, range) in requests.into_iter().zip(split_events(&events, outcome.first_seq, &counts)) {
            let Some(reply) = request.reply else {
                first += request.commands;
                continue;
            };
            let mut headers = HeaderMap::new();
            headers.insert(FIRST_SEQ, first.to_string().as_str());
            headers.insert(LAST_SEQ, (first + request.commands - 1).to_string().as_str());
            headers.insert(TS, outcome.ts.to_string().as_str());
            if let Err(e) = client.publish_with_headers(reply, headers, events.slice(range)).await {
                log::warn("reply not sent", json!({"error": e.to_string(), "first_seq": first}));
            }
            first += request.commands;
        }
        if outcome.last_seq >= outcome.first_seq {
            progress.store(outcome.last_seq, Ordering::Relaxed);
            let frames = tapped.take(outcome.first_seq);
            let _ = batches.send(Batch { first_seq: outcome.first_seq, ts: outcome.ts, frames, events });
        }
    }
}

/// Answers a request with an error (`malformed`, `unavailable`) and a message.
async fn fail(client: &Client, reply: Option<Subject>, kind: &str, message: &str) {
    let Some(reply) = reply else { return };
    let mut headers = HeaderMap::new();
    headers.insert(ERROR, kind);
    if let Err(e) = client.publish_with_headers(reply, headers, Bytes::copy_from_slice(message.as_bytes())).await {
        log::warn("error reply not sent", json!({"error": e.to_string()}));
    }
}
