use super::*;
use crate::order::Side;
use crate::testkit::{dec, px};

fn pos(qty: &str, cost: &str) -> Position {
    Position { qty: dec(qty), cost: Quote(dec(cost)) }
}

#[test]
fn test_opening_adds_cost_and_closing_realises_pnl() {
    // Buy 0.003 at 50,000 then 0.002 at 51,000: cost 150 + 102 = 252, entry 50,400.
    let one = apply_fill(Position::default(), dec("0.003"), px("50000")).unwrap();
    let two = apply_fill(one.position, dec("0.002"), px("51000")).unwrap();
    assert_eq!(two.position, pos("0.005", "252"));
    assert_eq!(two.position.entry_price(), px("50400"));
    // Sell 0.001 at 52,000: closes 1/5 of the cost (50.4), PnL 52 − 50.4 = 1.6.
    let three = apply_fill(two.position, -dec("0.001"), px("52000")).unwrap();
    assert_eq!(three.realised_pnl, Quote(dec("1.6")));
    assert_eq!(three.position, pos("0.004", "201.6"));
}

#[test]
fn test_short_pnl_and_flip_in_one_way_mode() {
    let short = apply_fill(Position::default(), -dec("2"), px("100")).unwrap().position;
    assert_eq!(short, pos("-2", "-200"));
    // Buy 3 at 90: closes the short for +20 and opens a long of 1 at 90.
    let flipped = apply_fill(short, dec("3"), px("90")).unwrap();
    assert_eq!(flipped.realised_pnl, Quote(dec("20")));
    assert_eq!(flipped.position, pos("1", "90"));
}

#[test]
fn test_partial_close_rounds_the_credit_down_and_keeps_the_rest() {
    // Cost 100 over 3 units: closing 1 moves ceil(33.333…) = 33.33333334 out, PnL floors.
    let p = pos("3", "100");
    let closed = apply_fill(p, -dec("1"), px("40")).unwrap();
    assert_eq!(closed.realised_pnl, Quote(dec("6.66666666")));
    assert_eq!(closed.position.cost, Quote(dec("66.66666666")));
    // Over the life of the position nothing is lost: total PnL = 3 × 40 − 100 = 20 exactly.
    let rest = apply_fill(closed.position, -dec("2"), px("40")).unwrap();
    assert_eq!(closed.realised_pnl.raw() + rest.realised_pnl.raw(), dec("20"));
    assert_eq!(rest.position, Position::default());
}

fn open(orders: &[(Side, &str, &str)]) -> OpenOrders {
    let mut open = OpenOrders::default();
    for &(side, qty, price) in orders {
        open.add(side, dec(qty), px(price)).unwrap();
    }
    open
}

#[test]
fn test_initial_margin_charges_the_worst_side_and_open_loss() {
    let mut s = SymbolAccount { leverage: 10, ..SymbolAccount::default() };
    s.positions[0] = pos("1", "100");
    // Open buys 2 at 101 (1 above reference 100: open loss 2), open sells 0.5 at 100.
    s.open[0] = open(&[(Side::Buy, "2", "101"), (Side::Sell, "0.5", "100")]);
    // Worst: long 3 if the buys fill → 300 / 10 = 30, plus open loss 2.
    assert_eq!(s.initial_margin(false, px("100")), Ok(Quote(dec("32"))));
    // Hedge: long leg 0 + buys 2 on LONG; short leg 1 + sells 0.5 on SHORT.
    let mut h = SymbolAccount { leverage: 10, ..SymbolAccount::default() };
    h.positions[2] = pos("-1", "-100");
    h.open[1] = open(&[(Side::Buy, "2", "100")]);
    h.open[2] = open(&[(Side::Sell, "0.5", "100")]);
    assert_eq!(h.initial_margin(true, px("100")), Ok(Quote(dec("35"))));
}

#[test]
fn test_open_loss_is_per_order_and_skips_the_closing_part() {
    // Flat, leverage 10, reference 100. Sells 1 at 90 (loss 10) and 1 at 120 (no loss): the
    // sell above the reference does not offset the one below. Worst case short 2 → 200 / 10 = 20.
    let mut s = SymbolAccount { leverage: 10, ..SymbolAccount::default() };
    s.open[0] = open(&[(Side::Sell, "1", "90"), (Side::Sell, "1", "120")]);
    assert_eq!(s.initial_margin(false, px("100")), Ok(Quote(dec("30"))), "20 + 10");
    // Long 1: the sell at 90 fills first and only closes: no loss; the sell at 120 opens a short
    // of 1 (worst case max(|1|, |1 − 2|) = 1 → 10), without loss.
    s.positions[0] = pos("1", "100");
    assert_eq!(s.initial_margin(false, px("100")), Ok(Quote(dec("10"))));
    // Long 0.5: 0.5 of the sell at 90 closes, the other 0.5 opens with loss 0.5 × 10 = 5; worst
    // case max(0.5, |0.5 − 2|) = 1.5 → 15.
    s.positions[0] = pos("0.5", "50");
    assert_eq!(s.initial_margin(false, px("100")), Ok(Quote(dec("20"))), "15 + 5");
    // Hedge mode: a sell on the LONG leg closes it and is never charged, at any price.
    let mut h = SymbolAccount { leverage: 10, ..SymbolAccount::default() };
    h.positions[1] = pos("1", "100");
    h.open[1] = open(&[(Side::Sell, "1", "90")]);
    assert_eq!(h.initial_margin(true, px("100")), Ok(Quote(dec("10"))));
}

#[test]
fn test_open_orders_keep_totals_and_levels_in_step() {
    let mut o = open(&[(Side::Buy, "1", "100"), (Side::Buy, "2", "100"), (Side::Buy, "1", "99")]);
    assert_eq!((o.buy_qty, o.buy_value), (dec("4"), Quote(dec("399"))));
    o.add(Side::Buy, -dec("3"), px("100")).unwrap();
    assert_eq!(o.buy_levels.iter().collect::<Vec<_>>(), vec![(px("99"), dec("1"))], "an emptied price leaves no level");
}

#[test]
fn test_available_and_withdrawable() {
    let mut account = Account { wallet: Quote(dec("1000")), ..Account::default() };
    let s = account.symbol_mut(1);
    s.leverage = 5;
    s.positions[0] = pos("1", "100");
    let prices: ReferencePrices = [(1, px("150"))].into_iter().collect();
    // uPnL +50, IM 150 / 5 = 30.
    assert_eq!(account.available(&prices), Ok(Quote(dec("1020"))));
    assert_eq!(account.withdrawable(&prices), Ok(Quote(dec("970"))));
}
