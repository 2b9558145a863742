//! The frames of a journal directory read forward from any sequence number, across segment files,
//! following a journal that is still growing (a segment that ends is continued by the segment named
//! after the next seq, if it exists yet).
//!
//! Used by readers that never write: the history reader ([`super::history`]) and the replication
//! shipper. Invariant: the caller reads only frames it knows are whole on disk (durable, or written
//! by a `write` that returned), so any partial or damaged frame met is corruption, never a torn
//! tail; sequence numbers are checked to be contiguous.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::{frame, segment, JournalError};
use crate::command::CommandEnvelope;
use crate::ids::Seq;

/// A forward reader of a journal directory's frames.
#[derive(Debug)]
pub struct FrameStream {
    dir: PathBuf,
    path: PathBuf,
    file: BufReader<File>,
    offset: u64,
    next_seq: Seq,
}

impl FrameStream {
    /// Positioned so that the next frame read is seq `seq` (the segment holding it is found by name
    /// and the frames before it skipped).
    ///
    /// # Errors
    /// [`JournalError::Corrupt`] when no segment reaches back to `seq`, or an I/O error.
    pub fn at(dir: &Path, seq: Seq) -> Result<Self, JournalError> {
        let segments = segment::list(dir)?;
        let Some(start) = segments.iter().rev().find(|s| s.first_seq <= seq) else {
            let reason = format!("no segment reaches back to seq {seq}");
            return Err(JournalError::Corrupt { path: dir.to_path_buf(), offset: 0, reason });
        };
        let mut stream = Self::open(dir, start.first_seq)?;
        while stream.next_seq < seq {
            if stream.next_frame()?.is_none() {
                break;
            }
        }
        Ok(stream)
    }

    fn open(dir: &Path, first_seq: Seq) -> Result<Self, JournalError> {
        let path = dir.join(segment::file_name(first_seq));
        let file = File::open(&path).map_err(|e| JournalError::io(&path, e))?;
        Ok(Self { dir: dir.to_path_buf(), path, file: BufReader::with_capacity(1 << 20, file), offset: 0, next_seq: first_seq })
    }

    /// A corruption error at the current position.
    #[must_use]
    pub fn corrupt(&self, reason: String) -> JournalError {
        JournalError::Corrupt { path: self.path.clone(), offset: self.offset, reason }
    }

    /// The next frame decoded; `None` at the end of the journal so far.
    ///
    /// # Errors
    /// An I/O error, or corruption (a partial or damaged frame, a seq out of order).
    pub fn next_envelope(&mut self) -> Result<Option<CommandEnvelope>, JournalError> {
        let Some(bytes) = self.next_frame()? else { return Ok(None) };
        let envelope = frame::decode(&bytes[frame::HEADER..]).map_err(|e| self.corrupt(format!("undecodable frame: {e}")))?;
        Ok(Some(envelope))
    }

    /// The next whole frame, `[len][crc][payload]` as on disk, its CRC checked; `None` at the end
    /// of the journal so far.
    ///
    /// # Errors
    /// As [`FrameStream::next_envelope`].
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, JournalError> {
        let mut bytes = vec![0; frame::HEADER];
        let got = read_up_to(&mut self.file, &mut bytes).map_err(|e| JournalError::io(&self.path, e))?;
        if got == 0 {
            if !self.dir.join(segment::file_name(self.next_seq)).exists() {
                return Ok(None);
            }
            *self = Self::open(&self.dir, self.next_seq)?;
            return self.next_frame();
        }
        let len = u32::from_le_bytes(bytes[..4].try_into().expect("four bytes")) as usize;
        if got == frame::HEADER && (frame::MIN_PAYLOAD..=frame::MAX_PAYLOAD).contains(&len) {
            bytes.resize(frame::HEADER + len, 0);
            let more = read_up_to(&mut self.file, &mut bytes[frame::HEADER..]).map_err(|e| JournalError::io(&self.path, e))?;
            bytes.truncate(frame::HEADER + more);
        }
        let (payload, end) = frame::check(&bytes, 0).map_err(|damage| self.corrupt(damage.to_string()))?;
        let seq = u64::from_le_bytes(payload[..8].try_into().expect("a payload holds a seq"));
        if seq != self.next_seq {
            return Err(self.corrupt(format!("frame has seq {seq}, expected {}", self.next_seq)));
        }
        self.next_seq += 1;
        self.offset += end as u64;
        Ok(Some(bytes))
    }
}

/// Fills `buf` as far as the file goes; returns the bytes read.
fn read_up_to(file: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
