//! The event stream's bytes: one command applied, its events encoded as length-prefixed
//! [`EventEnvelope`]s carrying the command's seq, the event's index within it and the command's
//! time.
//!
//! Invariant: this is the only place that turns an applied command into event-stream bytes, used
//! by the live runtime and by the journal's history reader alike, so events regenerated from the
//! journal are byte-identical to the ones emitted live (the engine is deterministic).

use crate::codec::encode_event;
use crate::command::CommandEnvelope;
use crate::engine::{Engine, EngineError};
use crate::event::{Event, EventEnvelope};

/// Applies `envelope` to `engine` and appends its encoded events to `out`; `scratch` is a reusable
/// buffer (left empty).
///
/// # Errors
/// The engine's refusal of the envelope (out of sequence or time order); nothing is appended.
///
/// # Panics
/// If one command emits 2^32 events or more (none can).
pub fn apply_and_encode(
    engine: &mut Engine,
    envelope: &CommandEnvelope,
    scratch: &mut Vec<Event>,
    out: &mut Vec<u8>,
) -> Result<(), EngineError> {
    scratch.clear();
    engine.apply(envelope, scratch)?;
    for (index, event) in scratch.drain(..).enumerate() {
        let index = u32::try_from(index).expect("Invariant: fewer than 2^32 events per command");
        encode_event(out, &EventEnvelope { seq: envelope.seq, index, ts: envelope.ts, event });
    }
    Ok(())
}
