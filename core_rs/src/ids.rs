//! Identifiers and short fixed-size strings.
//!
//! Invariants: ids are plain integers assigned in command order (orders and trades by the engine,
//! accounts and symbols by the caller), so replay reproduces them exactly. Client order ids and
//! symbol names are stored inline (no heap), validated once on entry.

use std::fmt;

/// A trading account (user sub-account).
pub type AccountId = u64;
/// An order, assigned by the engine from 1 in acceptance order.
pub type OrderId = u64;
/// A trade, assigned by the engine from 1 in execution order.
pub type TradeId = u64;
/// An instrument, chosen by whoever adds it.
pub type SymbolId = u32;
/// The position of a command in the single total order of commands, from 1.
pub type Seq = u64;
/// Unix time in nanoseconds, stamped on each command by the sequencer.
pub type Nanos = u64;

/// Why a short string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// Empty or longer than the type allows.
    BadLength,
    /// A character outside the allowed set.
    BadCharacter,
}

macro_rules! short_string {
    ($(#[$doc:meta])* $name:ident, $cap:literal, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            len: u8,
            bytes: [u8; $cap],
        }

        impl $name {
            /// The longest accepted value, in bytes.
            pub const MAX_LEN: usize = $cap;

            /// Validates and stores `text`.
            ///
            /// # Errors
            /// [`NameError`] when `text` is empty, too long or has a character not allowed.
            pub fn new(text: &str) -> Result<Self, NameError> {
                let raw = text.as_bytes();
                if raw.is_empty() || raw.len() > $cap {
                    return Err(NameError::BadLength);
                }
                if !raw.iter().all(|&b| $allowed(b)) {
                    return Err(NameError::BadCharacter);
                }
                let mut bytes = [0_u8; $cap];
                bytes[..raw.len()].copy_from_slice(raw);
                #[allow(clippy::cast_possible_truncation, reason = "length checked against the capacity")]
                Ok(Self { len: raw.len() as u8, bytes })
            }

            /// The stored text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                // Only ASCII is ever stored, so this cannot fail.
                std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

short_string!(
    /// A client order id: Binance's `^[\.A-Z\:/a-z0-9_-]{1,36}$`, unique among an account's live orders on one symbol.
    ClientOrderId,
    36,
    |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-')
);

short_string!(
    /// An instrument name such as `BTCUSDT`: upper-case letters and digits, at most 20.
    SymbolName,
    20,
    |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit()
);
