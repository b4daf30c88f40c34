//! Money in the providers' reports as decimal text, to integer nanodollars exactly.
//!
//! OpenAI's Costs API gives `amount.value` in dollars as a JSON number; Anthropic's cost
//! report gives `amount` in cents as a decimal string. Both are read from their text,
//! digit by digit, never through a float. Digits finer than a nanodollar (a cents
//! amount with more than 7 decimals, a dollar amount with more than 9) are rounded
//! half away from zero, once per line.

/// The unit a report's amounts are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Dollars,
    Cents,
}

impl Unit {
    /// Nanodollars per unit, as a power of ten.
    fn exponent(self) -> i32 {
        match self {
            Unit::Dollars => 9,
            Unit::Cents => 7,
        }
    }
}

/// `text` (a JSON number's text or a decimal string: optional sign, digits, optional
/// fraction, optional exponent) in `unit`, as nanodollars.
pub fn to_nanos(text: &str, unit: Unit) -> Result<i64, String> {
    let bad = || format!("'{text}' is not a decimal amount");
    let t = text.trim();
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (t, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty()) || !digits(int_part) || !digits(frac_part) {
        return Err(bad());
    }
    // value = 0.<all digits> shifted: the digits as an integer times 10^shift nanodollars.
    let all: String = format!("{int_part}{frac_part}");
    let all = all.trim_start_matches('0');
    let shift = exp
        .checked_add(unit.exponent())
        .and_then(|e| e.checked_sub(i32::try_from(frac_part.len()).ok()?))
        .ok_or_else(bad)?;
    let too_large = || format!("'{text}' is too large");
    let nanos: i128 = if all.is_empty() {
        0
    } else if shift >= 0 {
        if all.len() as i64 + i64::from(shift) > 19 {
            return Err(too_large());
        }
        let v: i128 = all.parse().map_err(|_| too_large())?;
        v * 10i128.pow(shift as u32)
    } else {
        let drop = (-shift) as usize;
        if drop > all.len() {
            // Below a tenth of a nanodollar: rounds to zero.
            0
        } else {
            let (keep, rest) = all.split_at(all.len() - drop);
            if keep.len() > 19 {
                return Err(too_large());
            }
            let v: i128 = if keep.is_empty() {
                0
            } else {
                keep.parse().map_err(|_| too_large())?
            };
            v + i128::from(rest.as_bytes()[0] >= b'5')
        }
    };
    let signed = if negative { -nanos } else { nanos };
    i64::try_from(signed).map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_and_cents_read_exactly() {
        assert_eq!(to_nanos("0.06", Unit::Dollars), Ok(60_000_000));
        assert_eq!(to_nanos("123.78912", Unit::Cents), Ok(1_237_891_200));
        assert_eq!(to_nanos("123.45", Unit::Cents), Ok(1_234_500_000));
        assert_eq!(to_nanos("1", Unit::Cents), Ok(10_000_000));
        assert_eq!(to_nanos("0.000000001", Unit::Dollars), Ok(1));
        assert_eq!(to_nanos("0.0000001", Unit::Cents), Ok(1));
        // A float would read 0.1 + 0.2 wrong; the text is exact.
        assert_eq!(
            to_nanos("0.30000000000000004", Unit::Dollars),
            Ok(300_000_000)
        );
        assert_eq!(
            to_nanos("12345678.123456789", Unit::Dollars),
            Ok(12_345_678_123_456_789)
        );
        assert_eq!(to_nanos("-2.5", Unit::Dollars), Ok(-2_500_000_000));
        assert_eq!(to_nanos("0", Unit::Cents), Ok(0));
        assert_eq!(to_nanos("000.000", Unit::Cents), Ok(0));
    }

    #[test]
    fn exponents_and_sub_nanodollar_digits() {
        assert_eq!(to_nanos("1.5e-3", Unit::Dollars), Ok(1_500_000));
        assert_eq!(to_nanos("6E-2", Unit::Dollars), Ok(60_000_000));
        assert_eq!(to_nanos("2e3", Unit::Cents), Ok(20_000_000_000));
        // Half a nanodollar rounds away from zero; less rounds to zero.
        assert_eq!(to_nanos("0.0000000015", Unit::Dollars), Ok(2));
        assert_eq!(to_nanos("0.0000000014999", Unit::Dollars), Ok(1));
        assert_eq!(to_nanos("0.0000000005", Unit::Dollars), Ok(1));
        assert_eq!(to_nanos("0.0000000004", Unit::Dollars), Ok(0));
        assert_eq!(to_nanos("-0.0000000005", Unit::Dollars), Ok(-1));
        assert_eq!(to_nanos("1e-30", Unit::Dollars), Ok(0));
        assert_eq!(to_nanos("0.00000000123456", Unit::Cents), Ok(0));
        assert_eq!(to_nanos("0.00000005", Unit::Cents), Ok(1));
    }

    #[test]
    fn what_is_not_an_amount_is_refused() {
        for bad in [
            "",
            "-",
            ".",
            "1.2.3",
            "abc",
            "1e",
            "0x10",
            "1,5",
            "NaN",
            "1e99999999999",
        ] {
            assert!(to_nanos(bad, Unit::Dollars).is_err(), "{bad}");
        }
        assert!(to_nanos("1e30", Unit::Dollars).is_err());
        assert!(to_nanos("99999999999", Unit::Dollars).is_err());
    }
}
