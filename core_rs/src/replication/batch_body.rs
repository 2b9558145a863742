//! The body of one batch-stream message: `[N: u32 LE][N bytes of journal frames][event envelopes]`.
//!
//! The frames are exactly what the journal wrote for the batch's commands (`journal::frame`, CRC
//! included), the events exactly what the runtime returned for them (length-prefixed event
//! envelopes, `event_stream`). A replica applies the frames; a reader of events takes the rest.
//!
//! Invariants: the frames are whole, checked frames with contiguous seqs; every event envelope
//! carries a seq inside the frames' range, in order. [`split`] checks both before anything is
//! applied, so a damaged body is refused whole. [`chunks`] cuts a batch at command boundaries
//! into bodies of at most about a byte limit, each holding its commands' frames and events.

use std::fmt;

use crate::command::CommandEnvelope;
use crate::ids::Seq;
use crate::journal::frame;

/// Why a body is not a valid batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyError(pub String);

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed batch body: {}", self.0)
    }
}

impl std::error::Error for BodyError {}

/// Appends the body of a batch: its frames, then its events.
///
/// # Panics
/// If `frames` is 4 GiB or more (a batch is far smaller).
pub fn encode(out: &mut Vec<u8>, frames: &[u8], events: &[u8]) {
    let len = u32::try_from(frames.len()).expect("Invariant: a batch's frames are below 4 GiB");
    out.reserve(4 + frames.len() + events.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(frames);
    out.extend_from_slice(events);
}

/// The body of a batch given as its commands' envelopes (all stamped with one seq range and
/// time) and the events they produced, as the journal and the runtime produced them.
#[must_use]
pub fn from_envelopes<'a>(envelopes: impl IntoIterator<Item = &'a CommandEnvelope>, events: &[u8]) -> Vec<u8> {
    let mut frames = Vec::new();
    for envelope in envelopes {
        frame::encode(&mut frames, envelope);
    }
    let mut out = Vec::new();
    encode(&mut out, &frames, events);
    out
}

/// A checked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Body<'a> {
    /// Seq of the first command (`last_seq + 1` of an empty batch is not representable: an empty
    /// body has `first_seq == 0` and `last_seq == 0`).
    pub first_seq: Seq,
    /// Seq of the last command.
    pub last_seq: Seq,
    /// The journal frames.
    pub frames: &'a [u8],
    /// The event envelopes.
    pub events: &'a [u8],
}

/// Checks a body: whole frames with matching CRCs and contiguous seqs, then whole event records
/// whose seqs lie within the frames' range, in order.
///
/// # Errors
/// [`BodyError`] naming the first problem.
pub fn split(body: &[u8]) -> Result<Body<'_>, BodyError> {
    let header = body.get(..4).ok_or_else(|| BodyError("shorter than its length prefix".into()))?;
    let n = u32::from_le_bytes(header.try_into().expect("four bytes")) as usize;
    let frames = body.get(4..4 + n).ok_or_else(|| BodyError(format!("frames length {n} runs past the end")))?;
    let events = &body[4 + n..];
    let (mut first_seq, mut last_seq, mut pos) = (0, 0, 0);
    while pos < frames.len() {
        let (payload, end) = frame::check(frames, pos).map_err(|d| BodyError(format!("frame at byte {pos}: {d}")))?;
        let seq = Seq::from_le_bytes(payload[..8].try_into().expect("a payload holds a seq"));
        if pos == 0 {
            first_seq = seq;
        } else if seq != last_seq + 1 {
            return Err(BodyError(format!("frame seq {seq} follows {last_seq}")));
        }
        last_seq = seq;
        pos = end;
    }
    let mut previous = first_seq;
    for (at, seq, _) in records(events) {
        let seq = seq.ok_or_else(|| BodyError(format!("event record at byte {at} is truncated")))?;
        if frames.is_empty() || seq < previous || seq > last_seq {
            return Err(BodyError(format!("event of seq {seq} outside the batch {first_seq}..={last_seq} or out of order")));
        }
        previous = seq;
    }
    Ok(Body { first_seq, last_seq, frames, events })
}

/// The event records of `events` as `(offset, seq, end)`; a truncated record yields `seq = None`
/// and ends the iteration.
fn records(events: &[u8]) -> impl Iterator<Item = (usize, Option<Seq>, usize)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= events.len() {
            return None;
        }
        let at = pos;
        let record = events.get(pos..pos + 12).and_then(|head| {
            let len = u32::from_le_bytes(head[..4].try_into().expect("four bytes")) as usize;
            let end = pos + 4 + len;
            (len >= 8 && end <= events.len()).then(|| (Seq::from_le_bytes(head[4..12].try_into().expect("eight bytes")), end))
        });
        match record {
            Some((seq, end)) => {
                pos = end;
                Some((at, Some(seq), end))
            }
            None => {
                pos = events.len();
                Some((at, None, events.len()))
            }
        }
    })
}

/// Where the events of commands up to `seq` end in `events` (well-formed, in seq order).
#[must_use]
pub fn events_through(events: &[u8], seq: Seq) -> usize {
    records(events).take_while(|(_, s, _)| s.is_some_and(|s| s <= seq)).last().map_or(0, |(_, _, end)| end)
}

/// One message's worth of a batch: `(first_seq, last_seq, body)`.
pub type Chunk = (Seq, Seq, Vec<u8>);

/// Cuts the batch of commands `first_seq..` (their `frames` and `events`) at command boundaries
/// into bodies of about `max_bytes` at most; a single command larger than that is a chunk alone.
/// An empty batch gives no chunk.
#[must_use]
pub fn chunks(first_seq: Seq, frames: &[u8], events: &[u8], max_bytes: usize) -> Vec<Chunk> {
    let mut out = Vec::new();
    let (mut seq, mut pos, mut event_pos) = (first_seq, 0, 0);
    while pos < frames.len() {
        let (start_seq, start_pos, start_event) = (seq, pos, event_pos);
        loop {
            let len = u32::from_le_bytes(frames[pos..pos + 4].try_into().expect("four bytes")) as usize;
            let end = pos + frame::HEADER + len;
            let event_end = start_event + events_through(&events[start_event..], seq);
            let size = 4 + (end - start_pos) + (event_end - start_event);
            if seq > start_seq && size > max_bytes {
                break;
            }
            (seq, pos, event_pos) = (seq + 1, end, event_end);
            if pos >= frames.len() {
                break;
            }
        }
        let mut body = Vec::new();
        encode(&mut body, &frames[start_pos..pos], &events[start_event..event_pos]);
        out.push((start_seq, seq - 1, body));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode_event;
    use crate::command::Command;
    use crate::event::{Event, EventEnvelope};
    use crate::testkit::instrument;

    fn envelopes(first: Seq, n: u64) -> Vec<CommandEnvelope> {
        (first..first + n).map(|seq| CommandEnvelope { seq, ts: 7, command: Command::AddInstrument(instrument(1, "BTCUSDT")) }).collect()
    }

    fn events(seqs: &[Seq]) -> Vec<u8> {
        let mut out = Vec::new();
        for (index, &seq) in seqs.iter().enumerate() {
            let amount = crate::units::Quote(i64::try_from(index).expect("small"));
            let event = Event::InsuranceFloorSet { amount };
            encode_event(&mut out, &EventEnvelope { seq, index: 0, ts: 7, event });
        }
        out
    }

    #[test]
    fn test_a_body_splits_back_into_its_frames_and_events() {
        let events = events(&[5, 5, 7]);
        let body = from_envelopes(&envelopes(5, 3), &events);
        let split = split(&body).expect("valid");
        assert_eq!((split.first_seq, split.last_seq, split.events), (5, 7, events.as_slice()));
        assert_eq!(frame::count(split.frames), 3);
    }

    #[test]
    fn test_damaged_bodies_are_refused() {
        let body = from_envelopes(&envelopes(5, 3), &events(&[5, 6]));
        for cut in [0, 3, 20, body.len() - 1] {
            assert!(split(&body[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = body.clone();
        flipped[12] ^= 1;
        assert!(split(&flipped).is_err(), "a flipped frame bit");
        assert!(split(&from_envelopes(&envelopes(5, 3), &events(&[8]))).is_err(), "an event past the batch");
        assert!(split(&from_envelopes(&envelopes(5, 3), &events(&[6, 5]))).is_err(), "events out of order");
        let mut empty = Vec::new();
        encode(&mut empty, &[], &[]);
        assert_eq!(split(&empty).expect("an empty body is valid").frames.len(), 0);
        let envs = envelopes(5, 3);
        let spliced = from_envelopes([&envs[0], &envs[2]], &[]);
        assert!(split(&spliced).is_err(), "a seq gap inside the frames");
    }

    #[test]
    fn test_chunks_cut_at_command_boundaries_and_cover_everything_once() {
        let envs = envelopes(10, 20);
        let events = events(&(10..30).flat_map(|s| [s, s]).collect::<Vec<_>>());
        let whole = split(&from_envelopes(&envs, &events)).expect("valid").frames.to_vec();
        for max in [1, 200, 1000, 1 << 20] {
            let chunks = chunks(10, &whole, &events, max);
            let mut next = 10;
            let (mut frames, mut evs) = (Vec::new(), Vec::new());
            for (first, last, body) in &chunks {
                let part = split(body).expect("each chunk is a valid body");
                assert!(body.len() <= max || first == last, "a chunk of {} bytes for a limit of {max}", body.len());
                assert_eq!((part.first_seq, part.last_seq, *first), (*first, *last, next));
                next = last + 1;
                frames.extend_from_slice(part.frames);
                evs.extend_from_slice(part.events);
            }
            assert_eq!((next, frames, evs), (30, whole.clone(), events.clone()), "limit {max}");
        }
        assert!(chunks(1, &[], &[], 10).is_empty());
    }
}
