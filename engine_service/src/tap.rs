//! A journal sink wrapper that keeps a copy of each appended batch's frames for the stream
//! publisher.
//!
//! Invariant: the group commit appends a batch's frames before it syncs and only then releases the
//! batch's outcome, so when an outcome arrives its frames are already here, at the front, in seq
//! order (one entry per non-empty batch).

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use derivatives_core::ids::Seq;
use derivatives_core::journal::JournalSink;

/// The frames appended and not yet taken, by first seq.
#[derive(Clone, Debug, Default)]
pub struct Tapped(Arc<Mutex<VecDeque<(Seq, Vec<u8>)>>>);

impl Tapped {
    /// The frames of the batch starting at `first_seq` (older entries are dropped: their
    /// batches were taken already or had no outcome).
    ///
    /// # Panics
    /// If they are not there (the invariant above was broken).
    #[must_use]
    pub fn take(&self, first_seq: Seq) -> Vec<u8> {
        let mut queue = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((seq, frames)) = queue.pop_front() {
            if seq == first_seq {
                return frames;
            }
        }
        panic!("Invariant: the frames of seq {first_seq} were appended before its outcome was released");
    }
}

/// `inner` plus a copy of every append in [`Tapped`].
pub struct Tap {
    inner: Box<dyn JournalSink>,
    tapped: Tapped,
}

impl Tap {
    /// Wraps `inner`; the copies go to `tapped`.
    #[must_use]
    pub fn new(inner: Box<dyn JournalSink>, tapped: Tapped) -> Self {
        Self { inner, tapped }
    }
}

impl JournalSink for Tap {
    fn append(&mut self, first_seq: Seq, frames: &[u8]) -> io::Result<()> {
        self.inner.append(first_seq, frames)?;
        self.tapped.0.lock().unwrap_or_else(PoisonError::into_inner).push_back((first_seq, frames.to_vec()));
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
    }
}
