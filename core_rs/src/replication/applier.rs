//! The follower's applier thread: applies the groups of frames the receiving thread has made
//! durable and acknowledged, in order, and publishes the applied position and (optionally) the
//! state hash after each group.
//!
//! Invariants: groups arrive in seq order, already checked (CRC, contiguous seqs) and durable in
//! the follower's journal; when the receiving side closes the queue, every group queued is applied
//! before the engine is handed back, so it has applied exactly its journal; an engine refusal
//! (ruled out by determinism) stops the applier with the error recorded.

use std::sync::mpsc::Receiver;

use super::follower::Shared;
use crate::engine::Engine;
use crate::journal::frame;

/// The engine side of a follower.
pub(super) struct Applier {
    pub(super) engine: Engine,
    pub(super) hash_each_batch: bool,
    pub(super) shared: Shared,
}

impl Applier {
    /// Applies every group received until the queue closes (or a frame is refused).
    pub(super) fn run(mut self, groups: &Receiver<Vec<u8>>) -> Engine {
        let mut events = Vec::new();
        for frames in groups {
            let mut pos = 0;
            while pos < frames.len() {
                let (payload, end) = frame::check(&frames, pos).expect("Invariant: checked on receipt");
                let applied = frame::decode(payload).map_err(|e| format!("undecodable frame: {e}")).and_then(|envelope| {
                    self.engine.apply(&envelope, &mut events).map_err(|e| format!("the engine refused seq {}: {e}", envelope.seq))
                });
                if let Err(reason) = applied {
                    self.shared.fail(&reason);
                    return self.engine;
                }
                events.clear();
                pos = end;
            }
            let (last_seq, hash) = (self.engine.last_seq(), self.hash_each_batch.then(|| self.engine.state_hash()));
            self.shared.set(|s| {
                s.last_seq = last_seq;
                s.state_hash = hash;
            });
        }
        self.engine
    }
}
