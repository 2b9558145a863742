//! Worked examples of BitMEX's auto-deleveraging (ADL), replayed on our engine.
//!
//! BitMEX's examples count inverse contracts in USD; ours are USDT-linear at 1e-8 (MECHANICS
//! [OURS]). The ADL rules carry over unchanged: opposite positions are ranked, the bankrupt
//! position is closed against them in that order at its bankruptcy price, each giving up at most
//! its own size. Translated: a BitMEX "contract" is one unit of a linear instrument priced near
//! the example's prices, and the bankrupt trader's deposit is chosen so that its bankruptcy price
//! is the example's (600 + wallet / 20 = 650 after the 2.4 USDT maker fee of `testkit`'s
//! instrument).
//!
//! Quotes are from the pages cited beside each test (retrieved 2026-11).

use derivatives_core::accounts::INSURANCE_FUND;
use derivatives_core::order::Side;
use derivatives_core::testkit::{dec, instrument, limit, px, qty, Harness};
use derivatives_core::units::Quote;
use derivatives_core::{Command, Event};

const SYMBOL: u32 = 1;

fn usdt(text: &str) -> Quote {
    Quote(dec(text))
}

fn set_mark(h: &mut Harness, mark: &str) -> Vec<Event> {
    h.send(Command::SetMarkPrice { symbol: SYMBOL, mark: px(mark), index: px(mark) })
}

/// A linear market at `mark` with the given deposits.
fn market(mark: &str, deposits: &[(u64, &str)]) -> Harness {
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(SYMBOL, "ABCUSDT")));
    set_mark(&mut h, mark);
    for &(account, amount) in deposits {
        h.send(Command::Deposit { account, amount: usdt(amount) });
    }
    h
}

/// `seller` rests a sell of `size` at `price`; each buyer takes its share in turn.
fn sell_to(h: &mut Harness, seller: u64, buyers: &[(u64, &str)], size: &str, price: &str) {
    h.place(limit(seller, SYMBOL, Side::Sell, px(price), qty(size)));
    for &(buyer, take) in buyers {
        let events = h.place(limit(buyer, SYMBOL, Side::Buy, px(price), qty(take)));
        assert!(events.iter().any(|e| matches!(e, Event::Trade { .. })), "{events:?}");
    }
}

/// The deleveraged (account, signed quantity) pairs of `events`, all at `price`.
fn deleveraged(events: &[Event], price: &str) -> Vec<(u64, i64)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::AutoDeleveraged { account, qty, price: at, .. } => {
                assert_eq!(at, px(price), "ADL happens at the bankruptcy price of the liquidated position");
                Some((account, qty))
            }
            _ => None,
        })
        .collect()
}

fn long_qty(h: &Harness, account: u64) -> i64 {
    h.engine.accounts().get(account).map_or(0, |a| a.symbols[&SYMBOL].positions[0].qty)
}

/// <https://www.bitmex.com/app/autoDeleveragingExamples> ("Example of Auto-Deleveraging and the
/// Ranking System"): six longs with quantities 10, 10, 20, 30, 20, 10 and PNL rankings 3, 6, 1,
/// 4, 5, 2 are ranked 2, 5, 4, 1, 6, 3. "Let's consider a short position that has been
/// liquidated with size 20 and bankruptcy price of USD 650. Accounts 2 and 5 will be deleveraged
/// at the bankruptcy price of USD 650. Account 2 will have their entire position of 10 contracts
/// closed, while the remaining 10 contracts from the short liquidation will be assigned to
/// account 5. Account 5 will thus have 10 contracts remaining (from 20)."
///
/// Ours: the ranking is installed with `SetAdlRanking` (the risk service computes it); account 7
/// is the bankrupt short (20 at 600, wallet 1,000, so bankruptcy price 650), account 8 the other
/// short. The mark gaps to 660, past 650, so the empty insurance fund cannot take the short over.
#[test]
fn test_bitmex_adl_example_deleverages_accounts_2_then_5_at_650() {
    let longs = [(1, "10"), (2, "10"), (3, "20"), (4, "30"), (5, "20"), (6, "10")];
    let mut deposits: Vec<(u64, &str)> = longs.iter().map(|&(account, _)| (account, "10000")).collect();
    deposits.extend([(7, "1002.4"), (8, "100000")]);
    let mut h = market("600", &deposits);
    sell_to(&mut h, 7, &longs[..2], "20", "600");
    sell_to(&mut h, 8, &longs[2..], "80", "600");
    assert_eq!(h.engine.accounts().get(7).map(|a| a.wallet), Some(usdt("1000")));
    h.send(Command::SetAdlRanking { symbol: SYMBOL, side: Side::Buy, accounts: vec![2, 5, 4, 1, 6, 3] });
    let events = set_mark(&mut h, "660");
    assert_eq!(deleveraged(&events, "650"), vec![(2, -dec("10")), (5, -dec("10"))]);
    assert_eq!((long_qty(&h, 2), long_qty(&h, 5), long_qty(&h, 4)), (0, dec("10"), dec("30")));
    assert_eq!(h.engine.accounts().get(INSURANCE_FUND).map_or(0, |f| f.wallet.raw()), 0, "the fund took nothing");
}

/// <https://bitmex.com/app/autoDeleveraging> ("Priority Ranking Calculation"): "Ranking = PNL
/// Percentage * Effective Leverage (if PNL percentage > 0) = PNL Percentage / Effective Leverage
/// (if PNL percentage < 0) where Effective Leverage = abs(Mark Value) / (Mark Value - Bankrupt
/// Value) PNL percentage = (Mark Value - Avg Entry Value) / abs(Avg Entry Value)". With no
/// ranking installed the engine orders by this score itself (MECHANICS §8.1).
///
/// Three longs of 10 at the mark 700 (fees of a few USDT left out of the figures; they do not
/// change the order). Mark Value − Bankrupt Value is the margin balance:
/// - account 1: entry 600, wallet 5,000: PNL% = 1,000 / 6,000 = 0.167, leverage 7,000 / 6,000
///   = 1.17, score 0.19;
/// - account 2: entry 630, wallet 400: PNL% = 700 / 6,300 = 0.111, leverage 7,000 / 1,100 = 6.4,
///   score 0.71 (the lower PnL% but the higher leverage: first);
/// - account 3: entry 600, wallet 1,000: PNL% 0.167, leverage 7,000 / 2,000 = 3.5, score 0.58.
///
/// The bankrupt short of 20 (account 7, bankruptcy price 650) is closed against 2 then 3.
#[test]
fn test_bitmex_score_puts_leverage_ahead_of_a_higher_pnl_percentage() {
    let mut h = market("600", &[(1, "5000"), (2, "400"), (3, "1000"), (7, "1002.4"), (8, "100000")]);
    sell_to(&mut h, 7, &[(1, "10"), (3, "10")], "20", "600");
    set_mark(&mut h, "630");
    sell_to(&mut h, 8, &[(2, "10")], "10", "630");
    let events = set_mark(&mut h, "700");
    assert!(events.iter().any(|e| matches!(e, Event::LiquidationStarted { account: 7, .. })));
    assert_eq!(deleveraged(&events, "650"), vec![(2, -dec("10")), (3, -dec("10"))]);
    assert_eq!(long_qty(&h, 1), dec("10"), "the least leveraged long keeps its position");
}
