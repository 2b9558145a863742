use super::*;

#[test]
fn test_parse_decimal_is_exact() {
    assert_eq!(parse_decimal("0.00000001"), Ok(1));
    assert_eq!(parse_decimal("1"), Ok(SCALE));
    assert_eq!(parse_decimal("-12.5"), Ok(-1_250_000_000));
    assert_eq!(parse_decimal("+3.10000000000"), Ok(310_000_000));
    assert_eq!(parse_decimal(".5"), Ok(50_000_000));
    assert_eq!(parse_decimal("92233720368.54775807"), Ok(i64::MAX));
}

#[test]
fn test_parse_decimal_rejects_inexact_or_malformed() {
    assert_eq!(parse_decimal(""), Err(ParseError::Empty));
    assert_eq!(parse_decimal("1.000000001"), Err(ParseError::TooManyDecimals));
    assert_eq!(parse_decimal("92233720368.54775808"), Err(ParseError::Overflow));
    assert_eq!(parse_decimal("99999999999999999999999"), Err(ParseError::Overflow));
    for bad in ["abc", "1e5", "1.2.3", "-", ".", " 1", "1,5", "0x10", "NaN", "inf"] {
        assert_eq!(parse_decimal(bad), Err(ParseError::Invalid), "{bad}");
    }
    assert_eq!(Price::parse("-1"), Err(ParseError::Negative));
    assert_eq!(Quote::parse("-1"), Ok(Quote(-SCALE)));
}

#[test]
fn test_format_decimal_round_trips() {
    for raw in [0, 1, -1, SCALE, -SCALE - 7, i64::MAX, i64::MIN + 1] {
        assert_eq!(parse_decimal(&format_decimal(raw)), Ok(raw));
    }
    assert_eq!(format_decimal(10_000), "0.00010000");
    assert_eq!(format_decimal(-150_000_000), "-1.50000000");
}

#[test]
fn test_mul_div_rounds_as_named() {
    // 7 / 2 = 3.5 and -7 / 2 = -3.5
    assert_eq!(mul_div(7, 1, 2, Rounding::Floor), Ok(3));
    assert_eq!(mul_div(7, 1, 2, Rounding::Ceil), Ok(4));
    assert_eq!(mul_div(7, 1, 2, Rounding::TowardZero), Ok(3));
    assert_eq!(mul_div(7, 1, 2, Rounding::HalfEven), Ok(4));
    assert_eq!(mul_div(5, 1, 2, Rounding::HalfEven), Ok(2));
    assert_eq!(mul_div(-7, 1, 2, Rounding::Floor), Ok(-4));
    assert_eq!(mul_div(-7, 1, 2, Rounding::Ceil), Ok(-3));
    assert_eq!(mul_div(-7, 1, 2, Rounding::TowardZero), Ok(-3));
    assert_eq!(mul_div(-7, 1, 2, Rounding::HalfEven), Ok(-4));
    assert_eq!(mul_div(-5, 1, 2, Rounding::HalfEven), Ok(-2));
    assert_eq!(mul_div(7, 1, -2, Rounding::Floor), Ok(-4));
    assert_eq!(mul_div(10, 1, 3, Rounding::HalfEven), Ok(3));
    assert_eq!(mul_div(11, 1, 3, Rounding::HalfEven), Ok(4));
    assert_eq!(mul_div(1, 1, 0, Rounding::Floor), Err(Overflow));
    assert_eq!(mul_div(i64::MAX, 2, 1, Rounding::Floor), Err(Overflow));
    // i128 intermediate: the product overflows i64 but the quotient does not.
    assert_eq!(mul_div(i64::MAX, SCALE, SCALE, Rounding::Floor), Ok(i64::MAX));
}

#[test]
fn test_notional_and_scale_price() {
    let price = Price::parse("50000.5").unwrap();
    let qty = Qty::parse("0.003").unwrap();
    assert_eq!(notional(price, qty, Rounding::Ceil), Ok(Quote::parse("150.0015").unwrap()));
    let band_up = scale_price(Price::parse("100").unwrap(), Rate::parse("0.05").unwrap(), Rounding::Floor);
    assert_eq!(band_up, Ok(Price::parse("105").unwrap()));
    let band_down = scale_price(Price::parse("100").unwrap(), Rate::parse("-0.05").unwrap(), Rounding::Ceil);
    assert_eq!(band_down, Ok(Price::parse("95").unwrap()));
}

/// The rounding of `a × b / d` computed in i128 only, written from the definitions.
fn wide_reference(a: i64, b: i64, d: i64, rounding: Rounding) -> Option<i64> {
    let n = i128::from(a) * i128::from(b);
    let d = i128::from(d);
    let floor = n.div_euclid(d) - i128::from(d < 0 && n.rem_euclid(d) != 0);
    let exact = floor * d == n;
    let q = match rounding {
        Rounding::Floor => floor,
        Rounding::Ceil => floor + i128::from(!exact),
        Rounding::TowardZero => n / d,
        Rounding::HalfEven => {
            let twice = 2 * (n - floor * d); // 2 × the distance above floor, in units of |d| × sign
            match twice.abs().cmp(&d.abs()) {
                std::cmp::Ordering::Less => floor,
                std::cmp::Ordering::Greater => floor + 1,
                std::cmp::Ordering::Equal => floor + (floor & 1),
            }
        }
    };
    i64::try_from(q).ok()
}

proptest::proptest! {
    #[test]
    fn prop_mul_div_matches_the_wide_reference(
        a in proptest::prelude::any::<i64>(),
        b in -3_000_000_000_i64..3_000_000_000,
        d in proptest::prop_oneof![1_i64..1_000, proptest::prelude::Just(SCALE), proptest::prelude::Just(-7_i64), 1_i64..i64::MAX],
        mode in 0_u8..4,
    ) {
        let rounding = [Rounding::Floor, Rounding::Ceil, Rounding::TowardZero, Rounding::HalfEven][usize::from(mode)];
        proptest::prop_assert_eq!(mul_div(a, b, d, rounding).ok(), wide_reference(a, b, d, rounding));
        let small = a % 1_000_000_000;
        proptest::prop_assert_eq!(mul_div(small, b, d, rounding).ok(), wide_reference(small, b, d, rounding));
    }
}

proptest::proptest! {
    /// Products past `i64` divided by the scale (large notionals: the 64-bit split path, and the
    /// `i128` fallback where the quotient itself is too large).
    #[test]
    fn prop_mul_div_by_the_scale_matches_the_wide_reference_past_i64(
        a in proptest::prop_oneof![-100_000_000_000_000_i64..100_000_000_000_000, proptest::prelude::any::<i64>()],
        b in proptest::prop_oneof![-10_000_000_000_000_000_i64..10_000_000_000_000_000, proptest::prelude::any::<i64>()],
        mode in 0_u8..4,
    ) {
        let rounding = [Rounding::Floor, Rounding::Ceil, Rounding::TowardZero, Rounding::HalfEven][usize::from(mode)];
        proptest::prop_assert_eq!(mul_div(a, b, SCALE, rounding).ok(), wide_reference(a, b, SCALE, rounding));
        proptest::prop_assert_eq!(mul_div(b, a, SCALE, rounding).ok(), wide_reference(b, a, SCALE, rounding));
    }
}

#[test]
fn test_split_div_at_its_edges() {
    let d = SCALE.unsigned_abs();
    assert_eq!(split_div(d - 1, d - 1, d), Some((d - 2, 1)), "(d−1)² = d(d−2) + 1");
    assert_eq!(split_div(u64::MAX, d, d), Some((u64::MAX, 0)));
    assert_eq!(split_div(u64::MAX, d + 1, d), None);
    // 1 BTC at 1,000,000 USDT: 1e8 × 1e14 / 1e8 = 1e14 (the product is past i64).
    assert_eq!(mul_div(SCALE, 100_000_000_000_000, SCALE, Rounding::Ceil), Ok(100_000_000_000_000));
    assert_eq!(mul_div(i64::MIN, i64::MIN, SCALE, Rounding::Floor), Err(Overflow));
    assert_eq!(mul_div(-10_000_000_001, 10_000_000_003, SCALE, Rounding::Floor), Ok(-1_000_000_000_401));
    assert_eq!(mul_div(-10_000_000_001, 10_000_000_003, SCALE, Rounding::TowardZero), Ok(-1_000_000_000_400));
}
