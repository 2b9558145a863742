//! Hot standby: a follower process tails the primary's journal over TCP, applies it with the same
//! engine and keeps its own durable journal; it can be promoted to primary.
//!
//! - [`protocol`]: the framed messages (HELLO, FRAMES = journal frames as on disk, ACK).
//! - [`shipper`]: the primary's [`JournalSink`](crate::journal::JournalSink) wrapper: local journal
//!   plus shipping out of the journal files; in sync mode a group commit waits for the ACK.
//! - [`follower`]: checks, journals, syncs, ACKs, then hands the group to its applier thread
//!   (`applier.rs`); promotion hands back engine and writer.
//! - [`batch_body`]: the body of one batch-stream message (a batch's journal frames and events),
//!   as the engine service publishes it.
//! - [`replica`]: an engine fed those bodies in seq order, for readers (gateways) that need the
//!   engine's own figures.
//!
//! Invariants: a follower's journal is byte for byte a prefix of the primary's; in sync mode a
//! command is acknowledged only once durable on both machines, and a lost follower blocks
//! acknowledgements instead of silently degrading. See `docs/DURABILITY.md`.

mod applier;
pub mod batch_body;
pub mod follower;
pub mod protocol;
pub mod replica;
pub mod shipper;

pub use follower::{Follower, FollowerStatus};
pub use replica::{Replica, ReplicaError};
pub use shipper::{sink, Mode, ReplicatedSink, ReplicationHandle, ReplicationStatus};

#[cfg(test)]
mod tests;
