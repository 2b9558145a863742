//! Liquibook's benchmark stream (`test/perf/pt_order_book.cpp`): alternating limit orders, order
//! `i` a buy when `i` is even, priced at `1880 + rand() % 10` (buys) or `1884 + rand() % 10`
//! (sells), quantity `(rand() % 10 + 1) × 100`, with glibc's `rand()` seeded by `srand(3)`;
//! the price draw comes before the quantity draw of the same order. About half the orders cross.
//!
//! Units here ([OURS]): prices in whole USDT, quantities in steps of 0.001 of the fixture
//! instrument (so 0.1 to 1.0 base units per order); order `i` belongs to account
//! `1 + i % LIQUIBOOK_ACCOUNTS`, an odd count so that every account both buys and sells.
//!
//! [`GlibcRand`] is glibc's default `random()` (the TYPE_3 additive feedback generator,
//! `r[i] = r[i−3] + r[i−31]` over 34 seeded words, the first 310 outputs discarded), which is what
//! `rand()` returns on Linux: the same seed gives the same numbers as the C library.

use crate::command::{Command, PlaceOrder};
use crate::ids::AccountId;
use crate::order::Side;
use crate::testkit::{instrument, limit};
use crate::units::{Price, Qty, Quote};

/// Accounts the stream's orders are spread over.
pub const LIQUIBOOK_ACCOUNTS: u64 = 9_999;
/// Orders in the stream, as the issue measured it.
pub const LIQUIBOOK_ORDERS: usize = 3_000_000;

/// glibc's `rand()` (TYPE_3: degree 31, separation 3).
#[derive(Clone, Debug)]
pub struct GlibcRand {
    table: [u32; 34],
    at: usize,
}

impl GlibcRand {
    /// `srand(seed)`.
    #[must_use]
    pub fn new(seed: u32) -> Self {
        let mut table = [0_u32; 34];
        // glibc keeps the seed as a signed 32-bit word and treats 0 as 1.
        let mut word = if seed == 0 { 1 } else { i64::from(seed.cast_signed()) };
        table[0] = word as u32;
        for slot in table.iter_mut().take(31).skip(1) {
            // 16807 × word mod (2^31 − 1), Schrage's method, exactly as glibc computes it.
            let (hi, lo) = (word / 127_773, word % 127_773);
            word = 16_807 * lo - 2_836 * hi;
            if word < 0 {
                word += 2_147_483_647;
            }
            *slot = word as u32;
        }
        for i in 31..34 {
            table[i] = table[i - 31];
        }
        let mut generator = Self { table, at: 0 };
        for _ in 0..310 {
            generator.next_word();
        }
        generator
    }

    fn next_word(&mut self) -> u32 {
        // The ring holds the last 34 words; the new one is r[i−31] + r[i−3].
        let r31 = self.table[(self.at + 34 - 31) % 34];
        let r3 = self.table[(self.at + 34 - 3) % 34];
        let word = r31.wrapping_add(r3);
        self.table[self.at] = word;
        self.at = (self.at + 1) % 34;
        word
    }

    /// The next `rand()`: 0 ..= 2^31 − 1.
    pub fn rand(&mut self) -> u32 {
        self.next_word() >> 1
    }
}

/// The first `n` orders of the stream as (side, price in USDT, quantity in lots of 100).
pub fn orders(n: usize) -> impl Iterator<Item = (Side, i64, i64)> {
    let mut rng = GlibcRand::new(3);
    (0..n).map(move |i| {
        let (side, base) = if i % 2 == 0 { (Side::Buy, 1880) } else { (Side::Sell, 1884) };
        let price = base + i64::from(rng.rand() % 10);
        let qty = (i64::from(rng.rand() % 10) + 1) * 100;
        (side, price, qty)
    })
}

/// The stream as engine commands: `setup` lists the instrument (symbol 1) and funds the
/// accounts; `orders` are the `n` GTC limit orders.
#[must_use]
pub fn commands(n: usize) -> (Vec<Command>, Vec<Command>) {
    let mut setup = vec![Command::AddInstrument(instrument(1, "ETHUSDT"))];
    setup.extend((1..=LIQUIBOOK_ACCOUNTS).map(|account| Command::Deposit { account, amount: Quote(100_000_000 * 100_000_000) }));
    let orders =
        orders(n).enumerate().map(|(i, (side, price, lots))| Command::PlaceOrder(place(account_of(i), side, price, lots))).collect();
    (setup, orders)
}

/// The account of the stream's order `i`.
#[must_use]
pub const fn account_of(i: usize) -> AccountId {
    1 + (i as u64) % LIQUIBOOK_ACCOUNTS
}

fn place(account: AccountId, side: Side, price: i64, lots: i64) -> PlaceOrder {
    limit(account, 1, side, Price(price * 100_000_000), Qty(lots * 100_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_glibc_rand_matches_the_c_library() {
        // First outputs of glibc's rand() after srand(3), and after srand(1) (the widely quoted
        // 1804289383, 846930886, 1681692777).
        let mut three = GlibcRand::new(3);
        let first: Vec<u32> = (0..12).map(|_| three.rand()).collect();
        assert_eq!(
            first,
            [
                1_205_554_746,
                483_147_985,
                844_158_168,
                953_350_440,
                612_121_425,
                310_914_940,
                1_210_224_072,
                1_856_883_376,
                1_922_860_801,
                495_649_264,
                8_614_858,
                989_089_924
            ]
        );
        let mut one = GlibcRand::new(1);
        assert_eq!([one.rand(), one.rand(), one.rand()], [1_804_289_383, 846_930_886, 1_681_692_777]);
        // Far into the sequence: the sum of the first 6M outputs after srand(3) in C.
        let mut three = GlibcRand::new(3);
        assert_eq!((0..6_000_000).map(|_| u64::from(three.rand())).sum::<u64>(), 6_442_797_567_911_784);
    }

    #[test]
    fn test_stream_alternates_and_stays_in_its_price_ranges() {
        let stream: Vec<_> = orders(1_000).collect();
        assert_eq!((stream[0].0, stream[0].1, stream[0].2), (Side::Buy, 1880 + 1_205_554_746 % 10, (483_147_985 % 10 + 1) * 100));
        for (i, &(side, price, lots)) in stream.iter().enumerate() {
            let (expected, range) = if i % 2 == 0 { (Side::Buy, 1880..=1889) } else { (Side::Sell, 1884..=1893) };
            assert_eq!(side, expected);
            assert!(range.contains(&price) && (100..=1000).contains(&lots) && lots % 100 == 0);
        }
    }
}
