//! Worked examples of the liquidation rules beyond the single position: the insurance fund
//! offered to the book before anyone is auto-deleveraged, tier reduction of a cross unit with
//! several legs, and displayed prices that match the orders the engine places. Each number is
//! derived by hand beside the test (MECHANICS §4.1 brackets of the testkit BTCUSDT: 0–50k 0.4 %,
//! 50k–250k 0.5 %/50, 250k–3M 1 %/1,300; taker 0.05 %, liquidation fee 1.25 %).

use derivatives_core::account_view::account_view;
use derivatives_core::accounts::INSURANCE_FUND;
use derivatives_core::order::{PositionSide, Side};
use derivatives_core::testkit::{dec, instrument, limit, px, qty, Harness};
use derivatives_core::units::{Price, Quote};
use derivatives_core::{Command, Event};

const BTC: u32 = 1;
const ETH: u32 = 2;

fn usdt(text: &str) -> Quote {
    Quote(dec(text))
}

fn mark(h: &mut Harness, symbol: u32, price: &str) -> Vec<Event> {
    h.send(Command::SetMarkPrice { symbol, mark: px(price), index: px(price) })
}

fn position(h: &Harness, account: u64, symbol: u32) -> i64 {
    h.engine.accounts().get(account).and_then(|a| a.symbols.get(&symbol)).map_or(0, |s| s.positions[0].qty)
}

fn wallet(h: &Harness, account: u64) -> Quote {
    h.engine.accounts().get(account).map_or(Quote::ZERO, |a| a.wallet)
}

fn deleveraged(events: &[Event]) -> Vec<(u64, i64, Price)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::AutoDeleveraged { account, qty, price, .. } => Some((account, qty, price)),
            _ => None,
        })
        .collect()
}

/// Account 1 long 0.4 at 50,000 with wallet 990 (bankruptcy 47,525), sold by account 2; the
/// mark gaps to 47,600 with no bid: the fund (1,000) takes the long over at 47,525. The fund's
/// own bankruptcy price is then `(19,010 − 1,000) / 0.4 = 45,025`; it is under its maintenance
/// margin (0.4 × mark × 0.4 %) when `1,000 + 0.4 × (mark − 47,525) < 0.0016 × mark`, i.e. below
/// 45,205.22; at 46,000 it is safe.
fn fund_holding_a_long() -> Harness {
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(BTC, "BTCUSDT")));
    mark(&mut h, BTC, "50000");
    for (account, amount) in [(1, "1000"), (2, "10000000"), (INSURANCE_FUND, "1000")] {
        h.send(Command::Deposit { account, amount: usdt(amount) });
    }
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("0.4")));
    h.place(limit(1, BTC, Side::Buy, px("50000"), qty("0.4")));
    mark(&mut h, BTC, "47600");
    assert_eq!(position(&h, INSURANCE_FUND, BTC), dec("0.4"));
    assert!(mark(&mut h, BTC, "46000").len() == 1, "the fund is safe at 46,000");
    h
}

#[test]
fn test_the_underwater_fund_is_offered_to_the_book_before_adl() {
    let mut h = fund_holding_a_long();
    // A bid of 1 at 45,100 (above the fund's bankruptcy price 45,025) absorbs all 0.4.
    h.place(limit(2, BTC, Side::Buy, px("45100"), qty("1")));
    let events = mark(&mut h, BTC, "45200");
    assert!(events.iter().any(|e| matches!(
        *e,
        Event::LiquidationOrder { account: INSURANCE_FUND, qty: q, bankruptcy_price, .. } if q == qty("0.4") && bankruptcy_price == px("45025")
    )));
    assert_eq!(deleveraged(&events), vec![], "nobody is deleveraged");
    assert_eq!(position(&h, INSURANCE_FUND, BTC), 0);
    // Sold at 45,100: 0.4 × (45,100 − 47,525) = −970, no fee: 1,000 − 970 = 30.
    assert_eq!(wallet(&h, INSURANCE_FUND), usdt("30"));
}

#[test]
fn test_what_the_book_does_not_take_from_the_fund_is_deleveraged() {
    let mut h = fund_holding_a_long();
    h.place(limit(2, BTC, Side::Buy, px("45100"), qty("0.1")));
    let events = mark(&mut h, BTC, "45200");
    // 0.1 sells into the bid; the other 0.3 is deleveraged against account 2's short at 45,025.
    assert_eq!(deleveraged(&events), vec![(2, dec("0.3"), px("45025"))]);
    assert_eq!(position(&h, INSURANCE_FUND, BTC), 0);
    // 1,000 + 0.1 × (45,100 − 47,525) + 0.3 × (45,025 − 47,525) = 1,000 − 242.5 − 750 = 7.5.
    assert_eq!(wallet(&h, INSURANCE_FUND), usdt("7.5"));
}

/// Account 1 (cross) long 6 BTC at 50,000 (leverage 50) and 10 ETH at 3,000: fees 150 + 15, so a
/// deposit of 7,865 leaves a wallet of 7,700.
fn two_legs() -> Harness {
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(BTC, "BTCUSDT")));
    h.send(Command::AddInstrument(instrument(ETH, "ETHUSDT")));
    mark(&mut h, BTC, "50000");
    mark(&mut h, ETH, "3000");
    h.send(Command::Deposit { account: 1, amount: usdt("7865") });
    h.send(Command::Deposit { account: 2, amount: usdt("10000000") });
    h.send(Command::SetLeverage { account: 1, symbol: BTC, leverage: 50 });
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("6")));
    h.place(limit(1, BTC, Side::Buy, px("50000"), qty("6")));
    h.place(limit(2, ETH, Side::Sell, px("3000"), qty("10")));
    h.place(limit(1, ETH, Side::Buy, px("3000"), qty("10")));
    assert_eq!(wallet(&h, 1), usdt("7700"));
    h
}

#[test]
fn test_a_cross_unit_with_two_legs_is_tier_reduced_on_its_largest_leg() {
    let mut h = two_legs();
    h.place(limit(2, BTC, Side::Buy, px("48800"), qty("1")));
    // Mark 49,000: MB = 7,700 − 6 × 1,000 = 1,700; MM = BTC 294,000 × 1 % − 1,300 = 1,640 plus
    // ETH 30,000 × 0.4 % = 120: 1,760 > 1,700, liquidated. BTC has the larger MM: reduced first.
    // Its bankruptcy price: (300,000 − (1,700 + 6,000)) / 6 = 48,716.67 → 48,716.7 (long: up).
    // Keeping r BTC leaves MB' = 1,700 × r / 6 against MM' = 120 + MM(49,000 r): in bracket 3
    // 1,700 r / 6 − (490 r − 1,300) ≥ 120 ⇔ r ≤ 5.7097: keep 5.709 (surplus 1,617.55 −
    // 1,497.41 = 120.14), sell 0.291. (5.710 gives 119.93 < 120.)
    let events = mark(&mut h, BTC, "49000");
    assert!(events.iter().any(|e| matches!(
        *e,
        Event::LiquidationOrder { account: 1, symbol: BTC, qty: q, bankruptcy_price, .. } if q == qty("0.291") && bankruptcy_price == px("48716.7")
    )));
    assert!(events.contains(&Event::LiquidationFinished { account: 1, closed: false }));
    assert_eq!((position(&h, 1, BTC), position(&h, 1, ETH)), (dec("5.709"), dec("10")), "ETH untouched");
    // Sold 0.291 at 48,800: PnL 0.291 × (−1,200) = −349.2; fee min(1.25 % × 14,200.8, surplus
    // 0.291 × 83.3 = 24.2403) = 24.2403: wallet 7,700 − 349.2 − 24.2403 = 7,326.5597.
    assert_eq!(wallet(&h, 1), usdt("7326.5597"));
    // Now MB = 7,326.5597 + 5.709 × 49,000 − 285,450 = 1,617.5597 ≥ MM 1,497.41 + 120.
    assert_eq!(mark(&mut h, BTC, "49000").len(), 1, "safe at the same mark");
}

#[test]
fn test_displayed_bankruptcy_price_of_a_short_is_the_liquidation_order_price() {
    // Account 1 sells 3.001 at 50,000 to account 2 (fee 75.025) with 8,000 at 20x.
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(BTC, "BTCUSDT")));
    mark(&mut h, BTC, "50000");
    h.send(Command::Deposit { account: 1, amount: usdt("8000") });
    h.send(Command::Deposit { account: 2, amount: usdt("10000000") });
    h.place(limit(2, BTC, Side::Buy, px("50000"), qty("3.001")));
    h.place(limit(1, BTC, Side::Sell, px("50000"), qty("3.001")));
    let view = account_view(&h.engine, 1).expect("account 1");
    let leg = view.legs.iter().find(|l| l.position_side == PositionSide::Both).expect("the short");
    // BP = (150,050 + 7,924.975) / 3.001 = 52,640.78... → floor to the tick: 52,640.7.
    assert_eq!(leg.bankruptcy_price, px("52640.7"));
    let events = mark(&mut h, BTC, "52500");
    let placed = events.iter().find_map(|e| match *e {
        Event::LiquidationOrder { account: 1, bankruptcy_price, .. } => Some(bankruptcy_price),
        _ => None,
    });
    assert_eq!(placed, Some(leg.bankruptcy_price));
}
