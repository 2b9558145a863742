use super::*;
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

#[test]
fn test_initial_margin_charges_the_worst_side_and_open_loss() {
    let mut s = SymbolAccount { leverage: 10, ..SymbolAccount::default() };
    s.positions[0] = pos("1", "100");
    // Open buys 2 at 101 (1 above reference 100: open loss 2), open sells 0.5 at 100.
    s.open[0] = OpenOrders { buy_qty: dec("2"), sell_qty: dec("0.5"), buy_value: Quote(dec("202")), sell_value: Quote(dec("50")) };
    // Worst: long 3 if the buys fill → 300 / 10 = 30, plus open loss 2.
    assert_eq!(s.initial_margin(false, px("100")), Ok(Quote(dec("32"))));
    // Hedge: long leg 0 + buys 2 on LONG; short leg 1 + sells 0.5 on SHORT.
    let mut h = SymbolAccount { leverage: 10, ..SymbolAccount::default() };
    h.positions[2] = pos("-1", "-100");
    h.open[1] = OpenOrders { buy_qty: dec("2"), buy_value: Quote(dec("200")), ..OpenOrders::default() };
    h.open[2] = OpenOrders { sell_qty: dec("0.5"), sell_value: Quote(dec("50")), ..OpenOrders::default() };
    assert_eq!(h.initial_margin(true, px("100")), Ok(Quote(dec("35"))));
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
