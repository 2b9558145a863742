//! The wire protocol's names (docs/ARCHITECTURE.md, "The engine service wire protocol") and the
//! split of a batch's events into each request's share.

use derivatives_core::ids::Seq;
use derivatives_core::replication::batch_body;

/// Queue group of the command subject: a promoted standby joins the same one.
pub const QUEUE_GROUP: &str = "engine";
/// Reply and stream header: seq of the first command.
pub const FIRST_SEQ: &str = "Derivatives-First-Seq";
/// Reply and stream header: seq of the last command.
pub const LAST_SEQ: &str = "Derivatives-Last-Seq";
/// Reply and stream header: the batch's time (Unix ns).
pub const TS: &str = "Derivatives-Ts";
/// Failure reply header: `malformed` or `unavailable`.
pub const ERROR: &str = "Derivatives-Error";
/// The batch did not decode; nothing was applied.
pub const MALFORMED: &str = "malformed";
/// The engine is stopping or its journal failed.
pub const UNAVAILABLE: &str = "unavailable";

/// The subjects and stream of one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// `{prefix}.engine.commands`.
    pub commands: String,
    /// `{prefix}.batches`.
    pub batches: String,
    /// `{PREFIX}_BATCHES` (upper case, dots made underscores: a stream name has no dots).
    pub stream: String,
}

impl Names {
    /// The names under `prefix` (default `derivatives`).
    #[must_use]
    pub fn new(prefix: &str) -> Self {
        Self {
            commands: format!("{prefix}.engine.commands"),
            batches: format!("{prefix}.batches"),
            stream: format!("{}_BATCHES", prefix.to_uppercase().replace('.', "_")),
        }
    }
}

/// Byte ranges of `events` (a batch's event envelopes, in seq order) belonging to consecutive
/// seq ranges of `counts[i]` commands each, starting at `first_seq`.
#[must_use]
pub fn split_events(events: &[u8], first_seq: Seq, counts: &[u64]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::with_capacity(counts.len());
    let (mut start, mut next) = (0, first_seq);
    for &count in counts {
        next += count;
        let end = start + batch_body::events_through(&events[start..], next - 1);
        out.push(start..end);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_follow_the_prefix() {
        let names = Names::new("test-7.x");
        assert_eq!(
            (names.commands.as_str(), names.batches.as_str(), names.stream.as_str()),
            ("test-7.x.engine.commands", "test-7.x.batches", "TEST-7_X_BATCHES")
        );
        assert_eq!(Names::new("derivatives").stream, "DERIVATIVES_BATCHES");
    }

    #[test]
    fn test_events_are_split_by_seq_with_empty_requests_in_between() {
        let record = |seq: u64, extra: usize| {
            let mut out = u32::try_from(8 + extra).expect("small").to_le_bytes().to_vec();
            out.extend_from_slice(&seq.to_le_bytes());
            out.extend(std::iter::repeat_n(0, extra));
            out
        };
        let events: Vec<u8> = [record(10, 3), record(10, 1), record(12, 0), record(13, 5)].concat();
        let ranges = split_events(&events, 10, &[2, 0, 1, 1]);
        assert_eq!(ranges, vec![0..28, 28..28, 28..40, 40..57], "records of 15, 13, 12 and 17 bytes");
    }
}
