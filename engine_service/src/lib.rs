//! The engine service: one process owns the engine, its journal, snapshots and the hot-standby
//! link, and serves it over NATS (docs/ARCHITECTURE.md, "The engine service").
//!
//! - [`config`]: flags and environment.
//! - [`wire`]: subjects, header names, the stream's name; splitting a batch's events per request.
//! - [`tap`]: the journal sink wrapper that hands each batch's frames to the stream publisher.
//! - [`commands`]: the command subject: every request that has arrived is one engine batch;
//!   each request gets its own seqs and events once they are durable.
//! - [`stream`]: the JetStream batch stream: one message per batch in seq order, dedup ids,
//!   republishing from the journal whatever the stream is missing.
//! - [`snapshots`]: periodic snapshots, newest two kept.
//! - [`service`]: start-up (recovery, or following a primary until promoted), wiring, shutdown.
//! - [`log`]: one JSON object per line on stderr.
//! - [`nats_server`]: finds and starts a private `nats-server` (tests and the load client).
//!
//! Invariants: a request is answered only after its commands are durable (and, in sync
//! replication, at the standby); the stream receives batches in seq order after they are
//! durable, never with a gap (an out-of-order publish is refused by the server through the
//! expected-last-sequence check and retried from the stream's real end); `derivatives_core`
//! stays free of NATS and tokio.

pub mod commands;
pub mod config;
pub mod log;
pub mod nats_server;
pub mod service;
pub mod snapshots;
pub mod stream;
pub mod tap;
pub mod wire;
