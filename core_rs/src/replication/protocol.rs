//! The replication wire protocol over one TCP connection, integers little-endian:
//!
//! ```text
//! message = [kind: u8][len: u32][body: len bytes]
//! HELLO  (follower → primary, once, first): body = last seq durable in the follower's journal
//! FRAMES (primary → follower): body = whole journal frames (`journal::frame`), contiguous seqs,
//!        starting right after the last seq the follower has (HELLO, then previous FRAMES)
//! ACK    (follower → primary): body = last seq now durable (fdatasync) in the follower's journal
//! ```
//!
//! Invariants: the frames travel exactly as they are on disk (CRC included) and the follower checks
//! each one, so a follower's journal is byte for byte the primary's; a body is at most
//! [`MAX_BODY`] bytes, anything longer is a protocol error.

use std::io::{self, Read, Write};

use crate::ids::Seq;

/// The longest body accepted.
pub const MAX_BODY: usize = 64 << 20;
/// Frames per FRAMES message at most (in bytes, about: whole frames).
pub const FRAMES_CHUNK: usize = 4 << 20;

/// One protocol message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// The follower's last durable seq, as it connects.
    Hello(Seq),
    /// Journal frames to apply and make durable.
    Frames(Vec<u8>),
    /// Everything up to this seq is durable on the follower.
    Ack(Seq),
}

const HELLO: u8 = 1;
const FRAMES: u8 = 2;
const ACK: u8 = 3;

/// Writes one message.
///
/// # Errors
/// The socket's error.
pub fn write(out: &mut impl Write, message: &Message) -> io::Result<()> {
    match message {
        Message::Hello(seq) => write_parts(out, HELLO, &seq.to_le_bytes()),
        Message::Ack(seq) => write_parts(out, ACK, &seq.to_le_bytes()),
        Message::Frames(frames) => write_parts(out, FRAMES, frames),
    }
}

fn write_parts(out: &mut impl Write, kind: u8, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len()).map_err(|_| io::Error::other("message body too long"))?;
    let mut header = [0_u8; 5];
    header[0] = kind;
    header[1..].copy_from_slice(&len.to_le_bytes());
    out.write_all(&header)?;
    out.write_all(body)?;
    out.flush()
}

/// Reads one message.
///
/// # Errors
/// The socket's error (`UnexpectedEof` when the peer closed), or `InvalidData` for an unknown kind
/// or a bad length.
pub fn read(input: &mut impl Read) -> io::Result<Message> {
    let mut header = [0_u8; 5];
    input.read_exact(&mut header)?;
    let len = u32::from_le_bytes(header[1..].try_into().expect("four bytes")) as usize;
    if len > MAX_BODY {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("message body of {len} bytes")));
    }
    let mut body = vec![0; len];
    input.read_exact(&mut body)?;
    let seq = || -> io::Result<Seq> {
        let bytes: [u8; 8] = body.as_slice().try_into().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a seq is 8 bytes"))?;
        Ok(Seq::from_le_bytes(bytes))
    };
    match header[0] {
        HELLO => Ok(Message::Hello(seq()?)),
        ACK => Ok(Message::Ack(seq()?)),
        FRAMES => Ok(Message::Frames(body)),
        kind => Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown message kind {kind}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_messages_round_trip_and_garbage_is_refused() {
        for message in [Message::Hello(7), Message::Ack(u64::MAX), Message::Frames(vec![1, 2, 3]), Message::Frames(Vec::new())] {
            let mut bytes = Vec::new();
            write(&mut bytes, &message).unwrap();
            assert_eq!(read(&mut bytes.as_slice()).unwrap(), message);
        }
        let unknown = [9_u8, 0, 0, 0, 0];
        assert_eq!(read(&mut unknown.as_slice()).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let short_seq = [ACK, 1, 0, 0, 0, 0];
        assert_eq!(read(&mut short_seq.as_slice()).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let huge = [FRAMES, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(read(&mut huge.as_slice()).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
