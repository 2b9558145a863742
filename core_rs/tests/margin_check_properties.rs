//! Property tests of the pre-trade margin check with several symbols per cross account (BTCUSDT
//! and ETHUSDT, one-way mode, random leverage per symbol, small wallets, limit and market orders
//! around moving marks, a maker quoting both books):
//! - closing is never margined: a reduce-only order is never refused for margin or position size
//!   (only `ReduceOnlyRejected` when it does not fit the position);
//! - an accepted order that fills nothing and lowers the account's available margin leaves it
//!   `≥ 0` (an order may only spend margin that is there);
//! - a refused order changes nothing (the account and the book are as before).

use derivatives_core::accounts::ReferencePrices;
use derivatives_core::reject::RejectReason;
use derivatives_core::testkit::{dec, instrument, limit, market, Harness};
use derivatives_core::units::{Price, Qty, Quote};
use derivatives_core::{Command, Event, PlaceOrder};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const ACCOUNTS: u64 = 6;
const MAKER: u64 = 9;
const TICK: i64 = 10_000_000; // 0.1
const LOT: i64 = 100_000; // 0.001
/// (symbol, starting mark in ticks).
const SYMBOLS: [(u32, i64); 2] = [(1, 500_000), (2, 30_000)];

#[derive(Clone, Debug)]
enum Step {
    Order { account: u64, symbol: usize, buy: bool, market: bool, reduce_only: bool, offset_ticks: i64, lots: i64 },
    Mark { symbol: usize, permille: i64 },
    Leverage { account: u64, symbol: usize, leverage: u32 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (1..=ACCOUNTS, 0..2_usize, any::<bool>(), any::<bool>(), any::<bool>(), -200_i64..200, 1_i64..300).prop_map(
            |(account, symbol, buy, market, reduce_only, offset_ticks, lots)| Step::Order { account, symbol, buy, market, reduce_only, offset_ticks, lots }
        ),
        2 => (0..2_usize, -40_i64..=40).prop_map(|(symbol, permille)| Step::Mark { symbol, permille }),
        1 => (1..=ACCOUNTS, 0..2_usize, 1_u32..=100).prop_map(|(account, symbol, leverage)| Step::Leverage { account, symbol, leverage }),
    ]
}

fn mark_of(h: &Harness, symbol: u32) -> i64 {
    h.engine.market(symbol).and_then(|m| m.mark_price).map_or(0, Price::raw)
}

fn prices(h: &Harness) -> ReferencePrices {
    SYMBOLS.iter().filter_map(|&(s, _)| h.engine.market(s).and_then(|m| m.reference_price()).map(|p| (s, p))).collect()
}

fn available(h: &Harness, account: u64) -> Quote {
    h.engine.accounts().get(account).map_or(Quote::ZERO, |a| a.available(&prices(h)).expect("fits"))
}

/// The maker's two-sided quote around the mark, refreshed after each mark move.
fn quote(h: &mut Harness, symbol: u32) {
    h.send(Command::CancelAll { account: MAKER, symbol });
    let mark = mark_of(h, symbol);
    for (side, offset) in [(derivatives_core::order::Side::Buy, -1), (derivatives_core::order::Side::Sell, 1)] {
        for level in 1..=3 {
            let price = Price((mark / TICK + offset * level * 5) * TICK);
            h.place(limit(MAKER, symbol, side, price, Qty(50 * LOT * level)));
        }
    }
}

fn setup(deposits: &[i64]) -> Harness {
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(1, "BTCUSDT")));
    h.send(Command::AddInstrument(instrument(2, "ETHUSDT")));
    for &(symbol, ticks) in &SYMBOLS {
        h.send(Command::SetMarkPrice { symbol, mark: Price(ticks * TICK), index: Price(ticks * TICK) });
    }
    h.send(Command::Deposit { account: MAKER, amount: Quote(dec("100000000")) });
    for (account, &amount) in (1..=ACCOUNTS).zip(deposits) {
        h.send(Command::Deposit { account, amount: Quote(amount * 100_000_000) });
    }
    for &(symbol, _) in &SYMBOLS {
        quote(&mut h, symbol);
    }
    h
}

fn order(h: &Harness, step: &Step) -> Option<PlaceOrder> {
    let &Step::Order { account, symbol, buy, market: is_market, reduce_only, offset_ticks, lots } = step else { return None };
    let symbol = SYMBOLS[symbol].0;
    let side = if buy { derivatives_core::order::Side::Buy } else { derivatives_core::order::Side::Sell };
    let qty = Qty(lots * LOT);
    let base = if is_market {
        market(account, symbol, side, qty)
    } else {
        let price = Price((mark_of(h, symbol) / TICK + offset_ticks).max(1) * TICK);
        limit(account, symbol, side, price, qty)
    };
    Some(PlaceOrder { reduce_only, ..base })
}

fn check_order(h: &mut Harness, place: PlaceOrder) -> Result<(), TestCaseError> {
    let account_before = h.engine.accounts().get(place.account).cloned();
    let book_before = h.engine.market(place.symbol).map(|m| m.book.len());
    let before = available(h, place.account);
    let events = h.place(place);
    let refused = events.iter().find_map(|e| match *e {
        Event::OrderRejected { reason, .. } => Some(reason),
        _ => None,
    });
    if let Some(reason) = refused {
        prop_assert!(
            !place.reduce_only
                || reason == RejectReason::ReduceOnlyRejected
                || reason == RejectReason::PriceAboveBand
                || reason == RejectReason::PriceBelowBand,
            "a reduce-only order was refused {:?}",
            reason
        );
        prop_assert_eq!(h.engine.accounts().get(place.account).cloned(), account_before, "a refused order changed the account");
        prop_assert_eq!(h.engine.market(place.symbol).map(|m| m.book.len()), book_before);
        return Ok(());
    }
    let filled = events.iter().any(|e| matches!(*e, Event::FillSettled { account, .. } if account == place.account));
    let after = available(h, place.account);
    if !filled && after < before {
        prop_assert!(after.raw() >= 0, "an order spent margin that was not there: {:?} → {:?}", before, after);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn prop_closing_is_never_margined_and_opening_spends_only_available_margin(
        deposits in prop::collection::vec(20_i64..5_000, ACCOUNTS as usize),
        steps in prop::collection::vec(step(), 1..150),
    ) {
        let mut h = setup(&deposits);
        for step in &steps {
            match *step {
                Step::Order { .. } => {
                    let place = order(&h, step).expect("an order step");
                    check_order(&mut h, place)?;
                }
                Step::Mark { symbol, permille } => {
                    let (id, _) = SYMBOLS[symbol];
                    let mark = Price((mark_of(&h, id) / TICK * (1000 + permille) / 1000).max(1) * TICK);
                    h.send(Command::SetMarkPrice { symbol: id, mark, index: mark });
                    quote(&mut h, id);
                }
                Step::Leverage { account, symbol, leverage } => {
                    h.send(Command::SetLeverage { account, symbol: SYMBOLS[symbol].0, leverage });
                }
            }
        }
    }
}
