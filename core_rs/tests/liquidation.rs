//! Worked examples of liquidation (MECHANICS §5.1, §6.2).
//!
//! Set-up shared by the examples: account 1 deposits 1,000 USDT and, at the default 20x, buys
//! 0.4 BTC at 50,000 as a taker (notional 20,000, IM 1,000, taker fee 10: wallet 990).
//! Binance's single-position formulas (MECHANICS §5.1, bracket 1: MMR 0.4 %, cum 0):
//! - liquidation price `LP = (Q·EP − WB − cum) / (Q·(1 − MMR)) = 19,010 / 0.3984 = 47,715.8634…`,
//!   so a mark of 47,715.9 is safe and 47,715.8 liquidates;
//! - bankruptcy price `BP = EP − WB / Q = 50,000 − 990 / 0.4 = 47,525` (already on the tick).

use derivatives_core::accounts::INSURANCE_FUND;
use derivatives_core::event::{BalanceKind, ExpireReason};
use derivatives_core::order::{PositionSide, Side};
use derivatives_core::testkit::{dec, instrument, limit, px, qty, Harness};
use derivatives_core::units::Quote;
use derivatives_core::{Command, Event};

const BTC: u32 = 1;

fn usdt(text: &str) -> Quote {
    Quote(dec(text))
}

fn mark(h: &mut Harness, price: &str) -> Vec<Event> {
    h.send(Command::SetMarkPrice { symbol: BTC, mark: px(price), index: px(price) })
}

fn wallet(h: &Harness, account: u64) -> Quote {
    h.engine.accounts().get(account).map_or(Quote::ZERO, |a| a.wallet)
}

fn position(h: &Harness, account: u64) -> (i64, Quote) {
    let p = h.engine.accounts().get(account).map(|a| a.symbols[&BTC].positions[0]).unwrap_or_default();
    (p.qty, p.cost)
}

/// Account 1 long 0.4 at 50,000 with wallet 990; account 2 is the market maker.
fn long_account() -> Harness {
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(BTC, "BTCUSDT")));
    mark(&mut h, "50000");
    h.send(Command::Deposit { account: 1, amount: usdt("1000") });
    h.send(Command::Deposit { account: 2, amount: usdt("10000000") });
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("0.4")));
    h.place(limit(1, BTC, Side::Buy, px("50000"), qty("0.4")));
    assert_eq!(wallet(&h, 1), usdt("990"));
    h
}

#[test]
fn test_liquidation_triggers_strictly_below_the_maintenance_margin_on_mark() {
    let mut h = long_account();
    assert_eq!(mark(&mut h, "47715.9").len(), 1, "MB 76.36 ≥ MM 76.34544: safe");
    // A trade far below on the last price never liquidates: only the mark counts.
    h.send(Command::Deposit { account: 3, amount: usdt("1000") });
    h.place(limit(2, BTC, Side::Buy, px("47600"), qty("0.001")));
    h.place(limit(3, BTC, Side::Sell, px("47600"), qty("0.001")));
    assert_eq!(h.engine.market(BTC).unwrap().last_price, Some(px("47600")));
    assert_eq!(position(&h, 1).0, dec("0.4"));
    let events = mark(&mut h, "47715.8");
    assert_eq!(
        events[1],
        Event::LiquidationStarted { account: 1, margin_balance: usdt("76.32"), maintenance: usdt("76.34528") }
    );
}

#[test]
fn test_liquidation_order_fills_better_than_bankruptcy_and_pays_the_fee_from_the_surplus() {
    let mut h = long_account();
    h.place(limit(2, BTC, Side::Buy, px("47600"), qty("1")));
    let events = mark(&mut h, "47700");
    let order_id = match events[2] {
        Event::LiquidationOrder { order_id, side: Side::Sell, qty: q, bankruptcy_price, .. } => {
            assert_eq!((q, bankruptcy_price), (qty("0.4"), px("47525")));
            order_id
        }
        ref other => panic!("expected the liquidation order, got {other:?}"),
    };
    // Sold 0.4 at the bid 47,600: PnL 0.4 × (47,600 − 50,000) = −960, wallet 30; surplus over BP
    // (47,600 − 47,525) × 0.4 = 30 caps the 1.25 % fee (238) at 30: the trader ends at 0.
    let trader = events.iter().find_map(|e| match *e {
        Event::FillSettled { account: 1, order_id: o, fee, realised_pnl, wallet, .. } if o == order_id => Some((fee, realised_pnl, wallet)),
        _ => None,
    });
    assert_eq!(trader, Some((Quote::ZERO, usdt("-960"), usdt("30"))), "no taker fee on a liquidation fill");
    assert!(events.contains(&Event::BalanceChanged { account: 1, amount: usdt("-30"), wallet: Quote::ZERO, kind: BalanceKind::LiquidationFee }));
    assert!(events.contains(&Event::BalanceChanged { account: INSURANCE_FUND, amount: usdt("30"), wallet: usdt("30"), kind: BalanceKind::LiquidationFee }));
    assert!(events.contains(&Event::LiquidationFinished { account: 1, closed: true }));
    assert_eq!((position(&h, 1), wallet(&h, 1)), ((0, Quote::ZERO), Quote::ZERO));
}

#[test]
fn test_unfilled_rest_is_taken_over_by_the_insurance_fund_at_the_bankruptcy_price() {
    let mut h = long_account();
    // Open orders are cancelled first; no bid is at or above the bankruptcy price.
    h.place(limit(1, BTC, Side::Sell, px("52000"), qty("0.1")));
    h.place(limit(2, BTC, Side::Buy, px("47000"), qty("1")));
    let events = mark(&mut h, "47600");
    assert!(events.iter().any(|e| matches!(e, Event::OrderCancelled { account: 1, .. })));
    assert!(events.iter().any(|e| matches!(e, Event::OrderExpired { account: 1, reason: ExpireReason::Unfilled, .. })));
    assert!(events.contains(&Event::PositionTakenOver {
        account: 1,
        symbol: BTC,
        position_side: PositionSide::Both,
        qty: dec("0.4"),
        price: px("47525"),
    }));
    // Closing at BP realises 0.4 × (47,525 − 50,000) = −990: exactly the wallet.
    assert_eq!(wallet(&h, 1), Quote::ZERO);
    assert_eq!(position(&h, INSURANCE_FUND), (dec("0.4"), usdt("19010")));
    assert!(!events.iter().any(|e| matches!(e, Event::Trade { .. })), "nothing traded below the bankruptcy price");
}

#[test]
fn test_a_healthy_account_is_left_alone_and_money_is_conserved() {
    let mut h = long_account();
    h.send(Command::Deposit { account: 1, amount: usdt("5000") });
    assert_eq!(mark(&mut h, "45000").len(), 1, "with 5,990 the position survives 45,000");
    h.place(limit(2, BTC, Side::Buy, px("44000"), qty("1")));
    mark(&mut h, "40000");
    // Conservation across trading, fees, liquidation and takeover: Σ (wallet − cost) = deposits.
    let accounts = h.engine.accounts();
    let total: i64 = accounts
        .ids()
        .iter()
        .map(|&id| {
            let a = accounts.get(id).unwrap();
            a.wallet.raw() - a.symbols.values().flat_map(|s| s.positions.iter()).map(|p| p.cost.raw()).sum::<i64>()
        })
        .sum();
    assert_eq!(total, dec("1000") + dec("10000000") + dec("5000"));
}
