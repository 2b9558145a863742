use super::*;

fn order(id: OrderId, account: AccountId, side: Side, price: i64, leaves: i64) -> RestingOrder {
    RestingOrder {
        id,
        account,
        side,
        price: Price(price),
        qty: Qty(leaves),
        leaves: Qty(leaves),
        time_in_force: TimeInForce::Gtc,
        stp: StpMode::None,
        reduce_only: false,
        position_side: PositionSide::Both,
    }
}

#[test]
fn test_insert_keeps_price_time_priority() {
    let mut book = OrderBook::default();
    book.insert(order(1, 7, Side::Buy, 100, 5));
    book.insert(order(2, 8, Side::Buy, 101, 5));
    book.insert(order(3, 7, Side::Buy, 101, 3));
    book.insert(order(4, 9, Side::Sell, 103, 2));
    book.check_integrity().unwrap();
    let ids: Vec<_> = book.iter_side(Side::Buy).map(|o| o.id).collect();
    assert_eq!(ids, vec![2, 3, 1]);
    assert_eq!(book.best_price(Side::Buy), Some(Price(101)));
    assert_eq!(book.best_price(Side::Sell), Some(Price(103)));
    assert_eq!(book.level_qty(Side::Buy, Price(101)), Qty(8));
    assert_eq!(book.account_order_ids(7), vec![1, 3]);
    assert_eq!(book.depth(Side::Buy).collect::<Vec<_>>(), vec![(Price(101), Qty(8)), (Price(100), Qty(5))]);
}

#[test]
fn test_remove_and_reduce_keep_the_structure_consistent() {
    let mut book = OrderBook::default();
    for id in 1..=4 {
        book.insert(order(id, id % 2, Side::Sell, 200, 10));
    }
    assert_eq!(book.remove(2).map(|o| o.id), Some(2));
    assert_eq!(book.remove(2), None);
    book.check_integrity().unwrap();
    let reduced = book.reduce(3, Qty(4), Qty(10)).unwrap();
    assert_eq!(reduced.leaves, Qty(4));
    assert_eq!(book.level_qty(Side::Sell, Price(200)), Qty(24));
    assert_eq!(book.iter_side(Side::Sell).map(|o| o.id).collect::<Vec<_>>(), vec![1, 3, 4]);
    book.reduce(1, Qty(0), Qty(10));
    book.remove(3);
    book.remove(4);
    assert!(book.is_empty());
    assert_eq!(book.best_price(Side::Sell), None);
    assert!(book.account_order_ids(1).is_empty());
    book.check_integrity().unwrap();
}

#[test]
fn test_integrity_check_detects_a_crossed_book() {
    let mut book = OrderBook::default();
    book.insert(order(1, 1, Side::Buy, 105, 1));
    book.insert(order(2, 2, Side::Sell, 105, 1));
    assert!(book.check_integrity().unwrap_err().contains("crossed"));
}

#[test]
fn test_reinserting_the_same_order_id_goes_to_the_back_of_the_queue() {
    // An amendment that loses priority removes and re-inserts the same order id, possibly into
    // the same slot: its old queue entry must stay dead.
    let mut book = OrderBook::default();
    book.insert(order(1, 7, Side::Buy, 100, 5));
    book.insert(order(2, 8, Side::Buy, 100, 5));
    let moved = book.remove(1).unwrap();
    book.insert(moved);
    book.check_integrity().unwrap();
    assert_eq!(book.iter_side(Side::Buy).map(|o| o.id).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(book.best_order(Side::Buy).map(|o| o.id), Some(2));
    assert_eq!(book.account_order_ids(7), vec![1]);
}

#[test]
fn test_many_cancels_compact_the_queue_and_keep_the_front_live() {
    let mut book = OrderBook::default();
    for id in 1..=100 {
        book.insert(order(id, id % 3, Side::Sell, 200, 1));
    }
    for id in (2..=99).rev() {
        book.remove(id);
        book.check_integrity().unwrap();
    }
    assert_eq!(book.iter_side(Side::Sell).map(|o| o.id).collect::<Vec<_>>(), vec![1, 100]);
    book.remove(1);
    assert_eq!(book.best_order(Side::Sell).map(|o| o.id), Some(100));
    book.check_integrity().unwrap();
}
