//! Worked examples of the pre-trade margin check: closing is never margined, only the opening
//! part of an order is, market orders are margined at their expected fill price, and open loss is
//! charged per order. Each number is derived by hand in the comment beside it.
//!
//! Setting (`Harness::btc_at_mark`, shared with `clearing.rs`): BTCUSDT, mark 50,000, maker
//! 0.02 %, taker 0.05 %, default leverage 20, market band 5 %. Formulas: IM = worst-case
//! notional at the mark / leverage, plus open loss `max(0, price − mark) × qty` per buy and
//! `max(0, mark − price) × qty` per sell (Binance "open loss"); available = wallet + uPnL − IM;
//! an order is accepted when it adds no IM or
//! available ≥ the IM it adds.

use derivatives_core::accounts::INSURANCE_FUND;
use derivatives_core::event::ExpireReason;
use derivatives_core::order::{OrderType, PositionSide, Side, TriggerSource};
use derivatives_core::reject::RejectReason;
use derivatives_core::testkit::{dec, instrument, limit, market, px, qty, rejection, usdt, Harness};
use derivatives_core::units::Quote;
use derivatives_core::{Command, Event, PlaceOrder};

const BTC: u32 = 1;
const MAKER: u64 = 9;

fn exchange(deposits: &[(u64, &str)]) -> Harness {
    let mut all = vec![(MAKER, "10000000")];
    all.extend_from_slice(deposits);
    Harness::btc_at_mark(&all)
}

fn accepted(events: &[Event]) -> bool {
    matches!(events.first(), Some(Event::OrderAccepted { .. }))
}

fn position(h: &Harness, account: u64) -> i64 {
    h.engine.accounts().get(account).and_then(|a| a.symbols.get(&BTC)).map_or(0, |s| s.positions[0].qty)
}

fn available(h: &Harness, account: u64) -> Quote {
    let prices = [(BTC, px("50000"))].into_iter().collect();
    h.engine.accounts().get(account).unwrap().available(&prices).unwrap()
}

/// A long of 0.04 at 50,000 bought with exactly its initial margin: 100 USDT at 20x
/// (2,000 / 20 = 100); the taker fee 2,000 × 0.05 % = 1 leaves the wallet at 99, so available is
/// 99 − 100 = −1: any order that adds margin is refused.
fn thin_long(account: u64) -> Harness {
    let mut h = exchange(&[(account, "100")]);
    h.place(limit(MAKER, BTC, Side::Sell, px("50000"), qty("0.04")));
    h.place(limit(account, BTC, Side::Buy, px("50000"), qty("0.04")));
    assert_eq!(position(&h, account), dec("0.04"));
    assert_eq!(available(&h, account), usdt("-1"));
    h
}

#[test]
fn test_a_thin_long_can_always_close_below_the_mark() {
    let mut h = thin_long(1);
    // Reduce-only sell 0.04 at 49,900: 100 under the mark. Its open loss (100 × 0.04 = 4) would
    // have been charged before; closing is never margined, so it is accepted with available −1.
    let reduce = PlaceOrder { reduce_only: true, ..limit(1, BTC, Side::Sell, px("49900"), qty("0.04")) };
    assert!(accepted(&h.place(reduce)));
    h.send(Command::CancelAll { account: 1, symbol: BTC });
    // The same sell without reduce-only: all 0.04 closes the long, nothing opens: accepted.
    assert!(accepted(&h.place(limit(1, BTC, Side::Sell, px("49900"), qty("0.04")))));
    h.send(Command::CancelAll { account: 1, symbol: BTC });
    // 0.05 at 49,900 opens a short of 0.01: the worst case stays max(0.04, |0.04 − 0.05|) = 0.04,
    // but the opening 0.01 carries open loss 100 × 0.01 = 1 > available −1: refused.
    let flip = limit(1, BTC, Side::Sell, px("49900"), qty("0.05"));
    assert_eq!(rejection(&h.place(flip)), Some(RejectReason::InsufficientMargin));
    // At the mark the opening 0.01 has no loss and a smaller worst case: accepted (Binance
    // margins a flipping order for the new side only).
    assert!(accepted(&h.place(limit(1, BTC, Side::Sell, px("50000"), qty("0.05")))));
    h.send(Command::CancelAll { account: 1, symbol: BTC });
    // ClosePosition sends a reduce-only market sell; the only bid is 49,900 (the expected fill
    // price, 100 under the mark): it fills and the long is gone.
    h.place(limit(MAKER, BTC, Side::Buy, px("49900"), qty("1")));
    h.send(Command::ClosePosition { account: 1, symbol: BTC, position_side: PositionSide::Both });
    assert_eq!(position(&h, 1), 0);
}

#[test]
fn test_a_close_position_stop_below_the_mark_fires_on_a_thin_account() {
    let mut h = thin_long(1);
    let stop = PlaceOrder {
        order_type: OrderType::StopMarket,
        stop_price: Some(px("49950")),
        trigger_source: TriggerSource::MarkPrice,
        close_position: true,
        ..market(1, BTC, Side::Sell, qty("0"))
    };
    assert!(accepted(&h.place(stop)));
    // The mark falls to 49,950 (uPnL −2, available −3); the stop sells into the 49,900 bid.
    h.place(limit(MAKER, BTC, Side::Buy, px("49900"), qty("1")));
    let events = h.send(Command::SetMarkPrice { symbol: BTC, mark: px("49950"), index: px("49950") });
    assert!(!events.iter().any(|e| matches!(e, Event::OrderExpired { reason: ExpireReason::InsufficientMargin, .. })));
    assert_eq!(position(&h, 1), 0);
}

#[test]
fn test_hedge_mode_closing_side_is_never_margined() {
    let mut h = exchange(&[(1, "100")]);
    h.send(Command::SetPositionMode { account: 1, hedge: true });
    h.place(limit(MAKER, BTC, Side::Sell, px("50000"), qty("0.04")));
    h.place(PlaceOrder { position_side: PositionSide::Long, ..limit(1, BTC, Side::Buy, px("50000"), qty("0.04")) });
    // Available −1 as in `thin_long`; a sell on the LONG leg 500 under the mark only closes it.
    let close = PlaceOrder { position_side: PositionSide::Long, ..limit(1, BTC, Side::Sell, px("49500"), qty("0.04")) };
    assert!(accepted(&h.place(close)));
    // Opening the SHORT leg needs margin: refused.
    let open = PlaceOrder { position_side: PositionSide::Short, ..limit(1, BTC, Side::Sell, px("50000"), qty("0.001")) };
    assert_eq!(rejection(&h.place(open)), Some(RejectReason::InsufficientMargin));
}

#[test]
fn test_the_insurance_fund_can_sell_a_taken_over_long_below_the_mark() {
    // The fund holds a long of 1 bought at 50,000 with 2,526 at 20x: IM 2,500, fee 25 → wallet
    // 2,501, available 1. Selling it reduce-only at 49,000 (open loss 1,000 before) is accepted.
    let mut h = exchange(&[(INSURANCE_FUND, "2526")]);
    h.place(limit(MAKER, BTC, Side::Sell, px("50000"), qty("1")));
    h.place(limit(INSURANCE_FUND, BTC, Side::Buy, px("50000"), qty("1")));
    assert_eq!(available(&h, INSURANCE_FUND), usdt("1"));
    let sell = PlaceOrder { reduce_only: true, ..limit(INSURANCE_FUND, BTC, Side::Sell, px("49000"), qty("1")) };
    assert!(accepted(&h.place(sell)));
}

/// Account 5 at 125x with 25 USDT; asks 0.03 at 50,000 and 0.03 at 50,100.
fn leveraged_buyer() -> Harness {
    let mut h = exchange(&[(5, "25")]);
    h.send(Command::SetLeverage { account: 5, symbol: BTC, leverage: 125 });
    h.place(limit(MAKER, BTC, Side::Sell, px("50000"), qty("0.03")));
    h.place(limit(MAKER, BTC, Side::Sell, px("50100"), qty("0.03")));
    h
}

#[test]
fn test_a_125x_market_order_is_margined_at_its_expected_fill() {
    let mut h = leveraged_buyer();
    // Market buy 0.06 walks both levels: average (1,500 + 1,503) / 0.06 = 50,050. IM at the
    // mark 3,000 / 125 = 24, open loss (50,050 − 50,000) × 0.06 = 3: 27 > 25, refused.
    assert_eq!(rejection(&h.place(market(5, BTC, Side::Buy, qty("0.06")))), Some(RejectReason::InsufficientMargin));
    // 0.05: average (1,500 + 1,002) / 0.05 = 50,040; IM 2,500 / 125 = 20, open loss 40 × 0.05
    // = 2: 22 ≤ 25, accepted. (Margined at the band edge 52,500 it needed 20 + 2,500 × 0.05 =
    // 145, i.e. at most 0.0083 BTC, about 17x.)
    let events = h.place(market(5, BTC, Side::Buy, qty("0.05")));
    assert!(accepted(&events));
    assert_eq!(position(&h, 5), dec("0.05"));
    // Fee (1,500 + 1,002) × 0.05 % = 1.251.
    assert_eq!(h.engine.accounts().get(5).unwrap().wallet, usdt("23.749"));
}

#[test]
fn test_a_market_order_larger_than_the_book_is_margined_on_what_can_fill() {
    let mut h = leveraged_buyer();
    h.send(Command::CancelAll { account: MAKER, symbol: BTC });
    h.place(limit(MAKER, BTC, Side::Sell, px("50000"), qty("0.03")));
    // Market buy 1: only 0.03 can fill within the band (at 50,000): IM 1,500 / 125 = 12 ≤ 25.
    // The other 0.97 expires unfilled and opens nothing.
    let events = h.place(market(5, BTC, Side::Buy, qty("1")));
    assert!(accepted(&events));
    assert!(events.iter().any(|e| matches!(e, Event::OrderExpired { leaves, .. } if *leaves == qty("0.97"))));
    assert_eq!(position(&h, 5), dec("0.03"));
    // With nothing to fill a market order is accepted and expires: nothing to margin.
    assert!(accepted(&h.place(market(5, BTC, Side::Buy, qty("1")))));
}

#[test]
fn test_open_loss_is_charged_per_order() {
    // Flat at 20x with 110. Sell 0.02 at 52,000 (above the mark: no loss): IM 1,000 / 20 = 50.
    let mut h = exchange(&[(2, "110")]);
    assert!(accepted(&h.place(limit(2, BTC, Side::Sell, px("52000"), qty("0.02")))));
    // Sell 0.02 at 49,000: worst case short 0.04 → 2,000 / 20 = 100, plus its own open loss
    // 1,000 × 0.02 = 20 (the sell above the mark does not offset it): IM 120, it adds 70 but
    // only 110 − 50 = 60 is available: refused. (Summed over the side, 2,020 of sells against
    // 2,000 at the mark showed no loss, and it passed.)
    assert_eq!(rejection(&h.place(limit(2, BTC, Side::Sell, px("49000"), qty("0.02")))), Some(RejectReason::InsufficientMargin));
    // With 10 more it fits exactly: available 70 = 70.
    h.send(Command::Deposit { account: 2, amount: usdt("10") });
    assert!(accepted(&h.place(limit(2, BTC, Side::Sell, px("49000"), qty("0.02")))));
    assert_eq!(available(&h, 2), usdt("0"));
}

#[test]
fn test_a_resting_closing_order_is_charged_only_for_what_it_opens() {
    // Long 0.04 (thin_long, available −1) plus 10 more: available 9.
    let mut h = thin_long(1);
    h.send(Command::Deposit { account: 1, amount: usdt("10") });
    // Sell 0.04 at 49,900 rests and closes the long: no margin.
    assert!(accepted(&h.place(limit(1, BTC, Side::Sell, px("49900"), qty("0.04")))));
    assert_eq!(available(&h, 1), usdt("9"));
    // A second sell 0.04 at 49,800 fills first (lower), so it takes over the closing and the
    // 49,900 one now opens a short of 0.04 with open loss 100 × 0.04 = 4; the worst case
    // max(0.04, |0.04 − 0.08|) = 0.04 is unchanged: it adds 4 ≤ 9, accepted, available 5.
    assert!(accepted(&h.place(limit(1, BTC, Side::Sell, px("49800"), qty("0.04")))));
    assert_eq!(available(&h, 1), usdt("5"));
}

#[test]
fn test_a_reduce_only_order_below_the_minimum_notional_still_closes_dust() {
    // ETHUSDT-like (testkit spec, min notional 5) at mark 3,000: long 0.002 (6 USDT), then
    // 0.001 left to close is worth 3 USDT, under the minimum.
    let mut h = exchange(&[(3, "1000")]);
    h.send(Command::AddInstrument(instrument(2, "ETHUSDT")));
    h.send(Command::SetMarkPrice { symbol: 2, mark: px("3000"), index: px("3000") });
    h.place(limit(MAKER, 2, Side::Sell, px("3000"), qty("0.002")));
    h.place(limit(3, 2, Side::Buy, px("3000"), qty("0.002")));
    h.place(limit(MAKER, 2, Side::Buy, px("3000"), qty("1")));
    assert_eq!(rejection(&h.place(limit(3, 2, Side::Sell, px("3000"), qty("0.001")))), Some(RejectReason::NotionalBelowMin));
    let close = PlaceOrder { reduce_only: true, ..limit(3, 2, Side::Sell, px("3000"), qty("0.001")) };
    assert!(accepted(&h.place(close)));
    let left = h.engine.accounts().get(3).map(|a| a.symbols[&2].positions[0].qty);
    assert_eq!(left, Some(dec("0.001")));
}
