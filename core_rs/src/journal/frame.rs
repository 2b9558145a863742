//! One journal frame: `[len: u32][crc: u32][payload]`, integers little-endian.
//!
//! The payload is the canonical encoding of a [`CommandEnvelope`] (`seq: u64`, `ts: u64`, then
//! the command; see [`crate::codec`]) and `crc` is the CRC-32 (IEEE) of the payload.
//!
//! Invariants: `MIN_PAYLOAD <= len <= MAX_PAYLOAD` for every frame ever written (the largest
//! command, an instrument with 255 brackets, is about 7.3 KiB), so a length outside that range
//! is damage, never data. A frame whose CRC matches decodes without error, or the writer had a bug.

use std::fmt;

use crate::codec::{DecodeError, Reader, Writer};
use crate::command::CommandEnvelope;

/// Bytes before the payload: length and CRC.
pub const HEADER: usize = 8;
/// The shortest payload: sequence number, timestamp and a command tag.
pub const MIN_PAYLOAD: usize = 17;
/// The longest payload accepted.
pub const MAX_PAYLOAD: usize = 64 << 10;

/// Appends the frame of one envelope.
///
/// # Panics
/// If the encoded envelope is longer than [`MAX_PAYLOAD`] (no command is).
pub fn encode(out: &mut Vec<u8>, envelope: &CommandEnvelope) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    Writer::new(out).envelope(envelope);
    let payload = &out[start + HEADER..];
    assert!(payload.len() <= MAX_PAYLOAD, "Invariant: a command envelope fits in a frame");
    let len = u32::try_from(payload.len()).expect("below MAX_PAYLOAD");
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
}

/// How many frames `frames` (whole frames, as [`encode`] appends them) holds.
///
/// # Panics
/// If `frames` does not end on a frame boundary.
#[must_use]
pub fn count(frames: &[u8]) -> u64 {
    let mut pos = 0;
    let mut count = 0;
    while pos < frames.len() {
        let len = u32::from_le_bytes(frames[pos..pos + 4].try_into().expect("four bytes")) as usize;
        pos += HEADER + len;
        count += 1;
    }
    assert_eq!(pos, frames.len(), "Invariant: a batch holds whole frames");
    count
}

/// Why the bytes at an offset are not a whole, valid frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The header or the payload runs past the end of the bytes.
    Truncated,
    /// A length no frame can have.
    BadLength(u32),
    /// A whole frame whose payload does not match its CRC.
    BadCrc,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("frame runs past the end of the file"),
            Self::BadLength(len) => write!(f, "impossible frame length {len}"),
            Self::BadCrc => f.write_str("CRC mismatch"),
        }
    }
}

/// Examines the frame that starts at `pos` in `bytes`: its payload and the offset just after it.
///
/// # Errors
/// The [`Damage`] when the bytes there are not a whole frame with a matching CRC.
pub fn check(bytes: &[u8], pos: usize) -> Result<(&[u8], usize), Damage> {
    let header = bytes.get(pos..pos + HEADER).ok_or(Damage::Truncated)?;
    let len = u32::from_le_bytes(header[..4].try_into().expect("four bytes"));
    let crc = u32::from_le_bytes(header[4..].try_into().expect("four bytes"));
    let size = len as usize;
    if !(MIN_PAYLOAD..=MAX_PAYLOAD).contains(&size) {
        return Err(Damage::BadLength(len));
    }
    let end = pos + HEADER + size;
    let payload = bytes.get(pos + HEADER..end).ok_or(Damage::Truncated)?;
    if crc32fast::hash(payload) == crc {
        Ok((payload, end))
    } else {
        Err(Damage::BadCrc)
    }
}

/// Decodes a payload that passed its CRC.
///
/// # Errors
/// A [`DecodeError`] when the payload is not exactly one envelope.
pub fn decode(payload: &[u8]) -> Result<CommandEnvelope, DecodeError> {
    let mut reader = Reader::new(payload);
    let envelope = reader.envelope()?;
    if !reader.is_done() {
        return Err(DecodeError { offset: reader.position(), what: "trailing bytes in frame" });
    }
    Ok(envelope)
}
