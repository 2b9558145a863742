//! A read replica: an engine fed the batch stream's message bodies (`batch_body`) in seq order.
//!
//! Gateways and other readers keep one to answer the queries `Engine` answers (depth, accounts,
//! prices) from the primary's own code: the engine is deterministic, so a replica at seq S has the
//! primary's state hash at S.
//!
//! Invariants: a body is checked whole (`batch_body::split`) before any frame is applied; frames
//! at or below `last_seq` are skipped (a redelivered message changes nothing); a body whose first
//! new frame is not `last_seq + 1` is a [`ReplicaError::Gap`] and changes nothing.

use std::fmt;

use super::batch_body::{self, BodyError};
use crate::engine::Engine;
use crate::ids::Seq;
use crate::journal::frame;

/// Why a body was not applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicaError {
    /// The body is not a valid batch (nothing applied).
    Malformed(BodyError),
    /// The body starts after `expected` (a message is missing) (nothing applied).
    Gap {
        /// The seq the replica needs next.
        expected: Seq,
        /// The body's first seq.
        got: Seq,
    },
    /// The engine refused a frame (a primary with another history; the replica stops being usable).
    Refused(String),
}

impl fmt::Display for ReplicaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => e.fmt(f),
            Self::Gap { expected, got } => write!(f, "batch starts at seq {got}, the replica needs seq {expected} next"),
            Self::Refused(e) => write!(f, "the replica's engine refused a frame: {e}"),
        }
    }
}

impl std::error::Error for ReplicaError {}

/// An engine following the batch stream.
#[derive(Debug, Default)]
pub struct Replica {
    engine: Engine,
}

impl Replica {
    /// A replica starting from `engine` (empty, or restored from a snapshot).
    #[must_use]
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }

    /// The engine, for queries.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Applies the new frames of `body`; returns the last seq applied.
    ///
    /// # Errors
    /// See [`ReplicaError`].
    pub fn apply(&mut self, body: &[u8]) -> Result<Seq, ReplicaError> {
        let body = batch_body::split(body).map_err(ReplicaError::Malformed)?;
        let last = self.engine.last_seq();
        if body.frames.is_empty() || body.last_seq <= last {
            return Ok(last);
        }
        if body.first_seq > last + 1 {
            return Err(ReplicaError::Gap { expected: last + 1, got: body.first_seq });
        }
        let mut events = Vec::new();
        let mut pos = 0;
        while pos < body.frames.len() {
            let (payload, end) = frame::check(body.frames, pos).expect("Invariant: checked by split");
            pos = end;
            let envelope = frame::decode(payload).map_err(|e| ReplicaError::Refused(format!("undecodable frame: {e}")))?;
            if envelope.seq <= last {
                continue;
            }
            self.engine.apply(&envelope, &mut events).map_err(|e| ReplicaError::Refused(format!("seq {}: {e}", envelope.seq)))?;
            events.clear();
        }
        Ok(self.engine.last_seq())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, CommandEnvelope};
    use crate::event_stream::apply_and_encode;
    use crate::order::Side;
    use crate::testkit::{instrument, limit, px, qty};

    /// A primary applying `batches`, and the body of each batch.
    fn primary(batches: &[Vec<Command>]) -> (Engine, Vec<Vec<u8>>) {
        let mut engine = Engine::new();
        let mut bodies = Vec::new();
        for (i, commands) in batches.iter().enumerate() {
            let ts = 1_000 + u64::try_from(i).expect("small");
            let mut envelopes = Vec::new();
            let mut events = Vec::new();
            for command in commands {
                let envelope = CommandEnvelope { seq: engine.last_seq() + 1, ts, command: command.clone() };
                apply_and_encode(&mut engine, &envelope, &mut Vec::new(), &mut events).expect("applied");
                envelopes.push(envelope);
            }
            bodies.push(batch_body::from_envelopes(&envelopes, &events));
        }
        (engine, bodies)
    }

    fn batches() -> Vec<Vec<Command>> {
        let mut out = vec![vec![Command::AddInstrument(instrument(1, "BTCUSDT"))]];
        for i in 0..6_i64 {
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            let price = crate::units::Price(px("100").raw() + 10_000_000 * (i % 3));
            out.push(vec![
                Command::PlaceOrder(limit(1, 1, side, price, qty("1"))),
                Command::PlaceOrder(limit(2, 1, Side::Buy, px("90"), qty("2"))),
            ]);
        }
        out
    }

    #[test]
    fn test_a_replica_fed_every_body_has_the_primary_state() {
        let (engine, bodies) = primary(&batches());
        let mut replica = Replica::default();
        for body in &bodies {
            replica.apply(body).expect("applied");
        }
        assert_eq!((replica.engine().last_seq(), replica.engine().state_hash()), (engine.last_seq(), engine.state_hash()));
    }

    #[test]
    fn test_duplicates_are_skipped_and_gaps_refused_without_change() {
        let (engine, bodies) = primary(&batches());
        let mut replica = Replica::default();
        assert_eq!(replica.apply(&bodies[0]), Ok(1));
        assert_eq!(replica.apply(&bodies[0]), Ok(1), "a redelivery is skipped");
        let hash = replica.engine().state_hash();
        assert_eq!(replica.apply(&bodies[2]), Err(ReplicaError::Gap { expected: 2, got: 4 }));
        assert_eq!(replica.engine().state_hash(), hash, "a gap changes nothing");
        let mut damaged = bodies[1].clone();
        damaged[10] ^= 0x40;
        assert!(matches!(replica.apply(&damaged), Err(ReplicaError::Malformed(_))));
        assert_eq!(replica.engine().state_hash(), hash, "a damaged body changes nothing");
        for body in &bodies[1..] {
            replica.apply(body).expect("applied");
        }
        assert_eq!(replica.apply(&bodies[3]), Ok(13), "an old message is skipped");
        assert_eq!(replica.engine().state_hash(), engine.state_hash());
    }
}
