//! Fixed-point money types: every price, quantity, quote amount and rate is an `i64` count of 1e-8.
//!
//! Invariants:
//! - There is no float constructor and no float anywhere in this module. Values enter as raw
//!   integers or as decimal strings parsed exactly ([`parse_decimal`]); a string with more than
//!   eight decimals, a value outside `i64` or a sign where none is allowed is an error, never a
//!   silent rounding.
//! - Products and quotients go through [`mul_div`], which works in `i128` and takes the rounding
//!   rule explicitly (MECHANICS §10: charges round up, credits round toward −∞, published prices
//!   round half-even).
//!
//! | type    | meaning                       | sign         |
//! |---------|-------------------------------|--------------|
//! | `Price` | quote per one unit of base    | > 0 on orders |
//! | `Qty`   | base quantity                 | ≥ 0 (side carried separately) |
//! | `Quote` | settlement-asset amount (USDT)| signed       |
//! | `Rate`  | dimensionless ratio (0.0004)  | signed       |

use std::fmt;

/// Number of decimal places of every fixed-point type.
pub const DECIMALS: u32 = 8;
/// Raw units in one whole unit (10^8).
pub const SCALE: i64 = 100_000_000;

/// Why a decimal string could not be turned into a fixed-point value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The string was empty.
    Empty,
    /// The string is not a plain decimal number (`-12.5`, `0.00000001`).
    Invalid,
    /// More than [`DECIMALS`] digits after the point.
    TooManyDecimals,
    /// The value does not fit in an `i64` of 1e-8 units.
    Overflow,
    /// A negative value where only non-negative values are allowed.
    Negative,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty number",
            Self::Invalid => "not a decimal number",
            Self::TooManyDecimals => "more than 8 decimal places",
            Self::Overflow => "number too large",
            Self::Negative => "negative number not allowed",
        })
    }
}

impl std::error::Error for ParseError {}

/// An arithmetic result did not fit in an `i64` (or a division by zero was asked for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow;

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fixed-point overflow")
    }
}

impl std::error::Error for Overflow {}

/// The rounding rule of a division; always named at the call site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// Toward −∞ (credits: PnL paid out, funding received).
    Floor,
    /// Toward +∞ (charges: margin, fees).
    Ceil,
    /// To nearest, ties to even (published index and mark prices).
    HalfEven,
    /// Toward zero (truncation).
    TowardZero,
}

/// `a * b / d` computed exactly (in `i64` where the operands allow, else `i128`) and rounded by
/// `rounding`.
///
/// # Errors
/// [`Overflow`] when `d` is zero or the result does not fit in an `i64`.
pub fn mul_div(a: i64, b: i64, d: i64, rounding: Rounding) -> Result<i64, Overflow> {
    if d == 0 {
        return Err(Overflow);
    }
    // Fast paths: the product fits in i64 (small notionals), so divide in i64; or the divisor is
    // the scale and the quotient fits in 64 bits (large notionals), see `split_div`; else i128.
    let (q, r, negative) = match a.checked_mul(b).and_then(|n| Some((n, n.checked_div(d)?))) {
        Some((n, q)) => (i128::from(q), i128::from(n % d), (n < 0) != (d < 0)),
        None => match (d == SCALE).then(|| split_div(a.unsigned_abs(), b.unsigned_abs(), SCALE.unsigned_abs())).flatten() {
            Some((q, r)) => {
                // `split_div` works on magnitudes: give the truncated quotient the product's sign.
                let negative = (a < 0) != (b < 0);
                (if negative { -i128::from(q) } else { i128::from(q) }, i128::from(r), negative)
            }
            None => {
                let n = i128::from(a) * i128::from(b);
                let wide = i128::from(d);
                (n / wide, n % wide, (n < 0) != (d < 0))
            }
        },
    };
    let d = i128::from(d);
    let q = if r == 0 {
        q
    } else {
        // The exact quotient lies strictly between q and the next integer away from zero.
        let away = if negative { q - 1 } else { q + 1 };
        match rounding {
            Rounding::TowardZero => q,
            Rounding::Floor => {
                if negative {
                    away
                } else {
                    q
                }
            }
            Rounding::Ceil => {
                if negative {
                    q
                } else {
                    away
                }
            }
            Rounding::HalfEven => match (r.abs() * 2).cmp(&d.abs()) {
                std::cmp::Ordering::Less => q,
                std::cmp::Ordering::Greater => away,
                std::cmp::Ordering::Equal => {
                    if q % 2 == 0 {
                        q
                    } else {
                        away
                    }
                }
            },
        }
    };
    i64::try_from(q).map_err(|_| Overflow)
}

/// `(a × b / d, a × b mod d)` in 64-bit arithmetic, for `0 < d < 2^32`; `None` when the
/// quotient does not fit in a `u64`. With `a = ah·d + al` and `b = bh·d + bl`,
/// `a·b = d·(ah·b + al·bh) + al·bl`, and `al·bl < d² < 2^64`, so no step needs 128 bits. Called
/// with the constant scale, every division here compiles to a multiplication.
#[inline]
const fn split_div(a: u64, b: u64, d: u64) -> Option<(u64, u64)> {
    let (ah, al, bh, bl) = (a / d, a % d, b / d, b % d);
    let low = al * bl;
    let Some(high) = ah.checked_mul(b) else { return None };
    let Some(high) = high.checked_add(al * bh) else { return None };
    match high.checked_add(low / d) {
        Some(q) => Some((q, low % d)),
        None => None,
    }
}

/// Parses a plain decimal string (`"-12.5"`, `"0.00000001"`, `"100"`) into 1e-8 units, exactly.
///
/// # Errors
/// See [`ParseError`]: empty, malformed, too many decimals, or out of range.
pub fn parse_decimal(text: &str) -> Result<i64, ParseError> {
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    let (negative, digits) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, frac) = match digits.split_once('.') {
        Some((w, f)) => (w, f),
        None => (digits, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !all_digits(whole) || !all_digits(frac) {
        return Err(ParseError::Invalid);
    }
    let frac_trimmed = frac.trim_end_matches('0');
    if frac_trimmed.len() > DECIMALS as usize {
        return Err(ParseError::TooManyDecimals);
    }
    let mut raw: i128 = 0;
    for b in whole.bytes().chain(frac_trimmed.bytes()) {
        raw = raw * 10 + i128::from(b - b'0');
        if raw > i128::from(i64::MAX) * 10 {
            return Err(ParseError::Overflow);
        }
    }
    #[allow(clippy::cast_possible_truncation, reason = "frac_trimmed.len() <= 8")]
    let missing = DECIMALS - frac_trimmed.len() as u32;
    raw *= 10_i128.pow(missing);
    if negative {
        raw = -raw;
    }
    i64::try_from(raw).map_err(|_| ParseError::Overflow)
}

/// Formats 1e-8 units as a decimal string with exactly eight decimals (`"0.00010000"`), as
/// Binance prints them.
#[must_use]
pub fn format_decimal(raw: i64) -> String {
    let sign = if raw < 0 { "-" } else { "" };
    let abs = raw.unsigned_abs();
    let scale = SCALE.unsigned_abs();
    format!("{sign}{}.{:08}", abs / scale, abs % scale)
}

macro_rules! fixed_type {
    ($(#[$doc:meta])* $name:ident, signed = $signed:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(0);

            /// The raw count of 1e-8 units.
            #[must_use]
            pub const fn raw(self) -> i64 {
                self.0
            }

            /// Parses an exact decimal string.
            ///
            /// # Errors
            /// [`ParseError`] when the text is not exact at 1e-8, out of range, or negative for
            /// an unsigned type.
            pub fn parse(text: &str) -> Result<Self, ParseError> {
                let raw = parse_decimal(text)?;
                if !$signed && raw < 0 {
                    return Err(ParseError::Negative);
                }
                Ok(Self(raw))
            }

            /// Checked addition.
            ///
            /// # Errors
            /// [`Overflow`] when the sum does not fit.
            pub fn checked_add(self, other: Self) -> Result<Self, Overflow> {
                self.0.checked_add(other.0).map(Self).ok_or(Overflow)
            }

            /// Checked subtraction.
            ///
            /// # Errors
            /// [`Overflow`] when the difference does not fit.
            pub fn checked_sub(self, other: Self) -> Result<Self, Overflow> {
                self.0.checked_sub(other.0).map(Self).ok_or(Overflow)
            }

            /// True when the value is an exact multiple of `step` (a tick or a lot size).
            #[must_use]
            pub const fn is_multiple_of(self, step: Self) -> bool {
                step.0 > 0 && self.0 % step.0 == 0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&format_decimal(self.0))
            }
        }
    };
}

fixed_type!(
    /// Quote currency per one unit of base, at 1e-8.
    Price, signed = false
);
fixed_type!(
    /// Base-asset quantity at 1e-8; never negative (the side is carried separately).
    Qty, signed = false
);
fixed_type!(
    /// A settlement-asset (USDT) amount at 1e-8: balances, PnL, fees.
    Quote, signed = true
);
fixed_type!(
    /// A dimensionless rate at 1e-8 (`0.0004` is `Rate(40_000)`): fees, funding, margin ratios.
    Rate, signed = true
);

/// The quote value of `qty` at `price`, rounded by `rounding`.
///
/// # Errors
/// [`Overflow`] when the notional does not fit in an `i64`.
pub fn notional(price: Price, qty: Qty, rounding: Rounding) -> Result<Quote, Overflow> {
    mul_div(price.0, qty.0, SCALE, rounding).map(Quote)
}

/// `price × (1 ± rate)`, rounded by `rounding`; used for price bands and trailing stops.
///
/// # Errors
/// [`Overflow`] when the result does not fit in an `i64`.
pub fn scale_price(price: Price, rate: Rate, rounding: Rounding) -> Result<Price, Overflow> {
    let factor = SCALE.checked_add(rate.0).ok_or(Overflow)?;
    mul_div(price.0, factor, SCALE, rounding).map(Price)
}

#[cfg(test)]
mod tests;
