//! Worked examples of the risk desk's engine queries: the liquidation map and the stress test.
//!
//! Set-up (as in `liquidation.rs`): account 1 deposits 1,000 USDT and buys 0.4 BTC at 50,000 as a
//! taker (wallet 990) from account 2, the market maker (10,000,000 USDT, maker fee 4).
//! - Account 1's liquidation price (MECHANICS §5.1, bracket 1): `(20,000 − 990) / (0.4 · 0.996)`
//!   = 47,715.8634…, up to the tick: 47,715.9; bankruptcy price `50,000 − 990 / 0.4` = 47,525.
//! - Account 2's (short 0.4, wallet 9,999,996): bracket 4 (MMR 2.5 %, cum 46,300) holds it:
//!   `(−20,000 − 9,999,996 − 46,300) / (−0.4 − 0.4 · 0.025)` = 24,551,941.463…, down to the tick:
//!   24,551,941.4.

use derivatives_core::accounts::INSURANCE_FUND;
use derivatives_core::liquidation_map::{liquidation_map, Bucket};
use derivatives_core::order::Side;
use derivatives_core::stress::{self, LiquidatedAccount, Shock, StressError, Target};
use derivatives_core::testkit::{dec, instrument, limit, px, qty, Harness};
use derivatives_core::units::{Quote, Rate};
use derivatives_core::Command;

const BTC: u32 = 1;

fn usdt(text: &str) -> Quote {
    Quote(dec(text))
}

fn long_account() -> Harness {
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(BTC, "BTCUSDT")));
    h.send(Command::SetMarkPrice { symbol: BTC, mark: px("50000"), index: px("50000") });
    h.send(Command::Deposit { account: 1, amount: usdt("1000") });
    h.send(Command::Deposit { account: 2, amount: usdt("10000000") });
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("0.4")));
    h.place(limit(1, BTC, Side::Buy, px("50000"), qty("0.4")));
    h
}

fn at(symbol: u32, price: &str) -> Shock {
    Shock { symbol, target: Target::Price(px(price)) }
}

#[test]
fn test_liquidation_map_buckets_each_leg_at_its_engine_liquidation_price() {
    let h = long_account();
    let map = liquidation_map(&h.engine, BTC, px("100")).unwrap().unwrap();
    assert_eq!(map.mark, Some(px("50000")));
    assert_eq!(
        map.buckets,
        vec![
            // 0.4 × 47,715.9 = 19,086.36
            Bucket { price: px("47700"), long_notional: usdt("19086.36"), long_legs: 1, ..Bucket::default() },
            // 0.4 × 24,551,941.4 = 9,820,776.56
            Bucket { price: px("24551900"), short_notional: usdt("9820776.56"), short_legs: 1, ..Bucket::default() },
        ]
    );
    assert_eq!(map.unpriced, 0);
}

#[test]
fn test_liquidation_map_adds_legs_of_one_bucket_and_skips_the_fund() {
    let mut h = long_account();
    // Account 3: the same long, so the same liquidation price, from account 2's second lot.
    h.send(Command::Deposit { account: 3, amount: usdt("1000") });
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("0.4")));
    h.place(limit(3, BTC, Side::Buy, px("50000"), qty("0.4")));
    // The fund holds a position too, which the map leaves out (it is deleveraged by its own rule).
    h.send(Command::Deposit { account: INSURANCE_FUND, amount: usdt("1000") });
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("0.01")));
    h.place(limit(INSURANCE_FUND, BTC, Side::Buy, px("50000"), qty("0.01")));
    let map = liquidation_map(&h.engine, BTC, px("1000")).unwrap().unwrap();
    let first = map.buckets[0];
    assert_eq!((first.price, first.long_notional, first.long_legs), (px("47000"), usdt("38172.72"), 2));
    assert_eq!(map.buckets.len(), 2, "the two longs and the market maker's short");
}

#[test]
fn test_liquidation_map_needs_a_known_symbol_and_a_positive_step() {
    let h = long_account();
    assert_eq!(liquidation_map(&h.engine, 7, px("100")), Ok(None));
    assert_eq!(liquidation_map(&h.engine, BTC, px("0")), Ok(None));
}

#[test]
fn test_stress_fills_in_the_book_and_leaves_the_live_engine_untouched() {
    let mut h = long_account();
    h.place(limit(2, BTC, Side::Buy, px("47600"), qty("1")));
    let hash = h.engine.state_hash();
    let report = stress::run_on(&h.engine, &[at(BTC, "47700")]).unwrap();
    assert_eq!(h.engine.state_hash(), hash, "the test ran on a copy");
    // At 47,700: MB = 990 + 0.4 × (47,700 − 50,000) = 70 < MM = 0.4 × 47,700 × 0.4 % = 76.32.
    assert_eq!(
        report.accounts,
        vec![LiquidatedAccount {
            account: 1,
            margin_balance: usdt("70"),
            maintenance: usdt("76.32"),
            closed: true,
            offered: usdt("19010")
        }]
    );
    let btc = report.symbols[0];
    assert_eq!((btc.mark_before, btc.mark_after), (px("50000"), px("47700")));
    // Offered 0.4 at the bankruptcy price 47,525 = 19,010; filled at the bid 47,600 = 19,040.
    assert_eq!((btc.offered, btc.filled, btc.taken_over, btc.deleveraged), (usdt("19010"), usdt("19040"), Quote::ZERO, Quote::ZERO));
    // The fee is capped at the surplus over the bankruptcy price: 0.4 × 75 = 30, to the fund.
    assert_eq!((report.fees, report.bad_debt, report.adl_accounts), (usdt("30"), Quote::ZERO, 0));
    assert_eq!((report.fund_before, report.fund_after, report.fund_drawdown()), (Quote::ZERO, usdt("30"), Ok(usdt("-30"))));
    assert_eq!(stress::run_on(&h.engine, &[at(BTC, "47700")]), Ok(report), "deterministic");
}

#[test]
fn test_stress_reports_takeover_by_the_fund_at_the_bankruptcy_price() {
    let mut h = long_account();
    h.send(Command::Deposit { account: INSURANCE_FUND, amount: usdt("1000") });
    h.place(limit(2, BTC, Side::Buy, px("47000"), qty("1")));
    let report = stress::run_on(&h.engine, &[at(BTC, "47600")]).unwrap();
    assert_eq!(report.symbols[0].taken_over, usdt("19010"), "0.4 × 47,525");
    assert_eq!(report.symbols[0].filled, Quote::ZERO, "no bid at or above the bankruptcy price");
    // The fund holds 0.4 from 47,525 at the mark 47,600: 1,000 + 0.4 × 75.
    assert_eq!((report.fund_before, report.fund_after), (usdt("1000"), usdt("1030")));
}

#[test]
fn test_stress_reports_auto_deleveraging_when_the_fund_cannot_take_the_gap() {
    // Shorts of 0.2 from accounts 3 and 4; an empty fund cannot take a long at 47,525 under a
    // mark of 47,000, so both shorts are deleveraged at 47,525: 0.4 × 47,525 = 19,010.
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(BTC, "BTCUSDT")));
    h.send(Command::SetMarkPrice { symbol: BTC, mark: px("50000"), index: px("50000") });
    for (account, amount) in [(1, "1000"), (3, "100000"), (4, "2000")] {
        h.send(Command::Deposit { account, amount: usdt(amount) });
    }
    h.place(limit(3, BTC, Side::Sell, px("50000"), qty("0.2")));
    h.place(limit(4, BTC, Side::Sell, px("50000"), qty("0.2")));
    h.place(limit(1, BTC, Side::Buy, px("50000"), qty("0.4")));
    let report = stress::run_on(&h.engine, &[at(BTC, "47000")]).unwrap();
    let btc = report.symbols[0];
    assert_eq!((btc.offered, btc.filled, btc.deleveraged), (usdt("19010"), Quote::ZERO, usdt("19010")));
    assert_eq!(report.adl_accounts, 2);
    assert_eq!(report.accounts.iter().map(|a| a.account).collect::<Vec<_>>(), vec![1]);
}

#[test]
fn test_stress_moves_round_to_the_tick_away_from_the_mark() {
    let h = long_account();
    // 50,000 × (1 − 0.0123456) = 49,382.72, down to the tick: 49,382.7; up: 50,000 × 1.0123456
    // = 50,617.28 -> 50,617.3.
    let down = stress::run_on(&h.engine, &[Shock { symbol: BTC, target: Target::Move(Rate(dec("-0.0123456"))) }]).unwrap();
    assert_eq!(down.symbols[0].mark_after, px("49382.7"));
    assert!(down.accounts.is_empty());
    let up = stress::run_on(&h.engine, &[Shock { symbol: BTC, target: Target::Move(Rate(dec("0.0123456"))) }]).unwrap();
    assert_eq!(up.symbols[0].mark_after, px("50617.3"));
}

#[test]
fn test_stress_refuses_bad_shocks() {
    let mut h = long_account();
    assert_eq!(stress::run_on(&h.engine, &[]), Err(StressError::NoShock));
    assert_eq!(stress::run_on(&h.engine, &[at(9, "1")]), Err(StressError::UnknownSymbol(9)));
    assert_eq!(stress::run_on(&h.engine, &[at(BTC, "1"), at(BTC, "2")]), Err(StressError::DuplicateSymbol(BTC)));
    let crash = Shock { symbol: BTC, target: Target::Move(Rate(dec("-1"))) };
    assert_eq!(stress::run_on(&h.engine, &[crash]), Err(StressError::PriceNotPositive(BTC)));
    h.send(Command::AddInstrument(instrument(2, "ETHUSDT")));
    let unmarked = Shock { symbol: 2, target: Target::Move(Rate(dec("-0.1"))) };
    assert_eq!(stress::run_on(&h.engine, &[unmarked]), Err(StressError::NoMark(2)));
}
