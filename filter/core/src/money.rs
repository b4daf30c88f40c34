//! Money as integers, never floats.
//!
//! * Amounts (costs, balances) are **nanodollars** (`1e-9` USD) in an `i64`: exact for
//!   every per-request cost priced from a list quoted to 1/1000 of a dollar per million
//!   tokens, and still ±9.2 billion dollars of range for totals.
//! * Prices are **micro-dollars per million tokens** (= picodollars per token) in a `u64`,
//!   so a price such as `$0.075 / MTok` is the integer 75 000.
//!
//! Decimal text (`"0.15"`, `12.5`) is parsed digit by digit; a YAML number is read back
//! through its shortest decimal form, so what the user wrote is what is stored.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digits::push_padded;

pub const NANOS_PER_USD: i64 = 1_000_000_000;

/// Parses a non-negative decimal with at most `scale` fractional digits into an integer
/// scaled by `10^scale`. Rejects signs, exponents, empty parts and overflow.
pub fn parse_decimal(text: &str, scale: u32) -> Result<u64, String> {
    let t = text.trim();
    let (int_part, frac_part) = match t.split_once('.') {
        Some((i, f)) => (i, f),
        None => (t, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() && frac_part.is_empty()
        || !all_digits(int_part)
        || !all_digits(frac_part)
        || (t.contains('.') && frac_part.is_empty())
    {
        return Err(format!(
            "expected a non-negative decimal number, found '{text}'"
        ));
    }
    if frac_part.len() > scale as usize {
        return Err(format!(
            "'{text}' has more than {scale} digits after the decimal point"
        ));
    }
    let overflow = || format!("'{text}' is too large");
    let mut value: u64 = 0;
    for b in int_part.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    for i in 0..scale as usize {
        let digit = frac_part.as_bytes().get(i).map_or(0, |b| b - b'0');
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or_else(overflow)?;
    }
    Ok(value)
}

/// Formats an integer scaled by `10^scale` as a decimal, trimming trailing zeros but
/// keeping at least `min_frac` fractional digits.
pub fn format_decimal(value: i128, scale: u32, min_frac: usize) -> String {
    let v = value.unsigned_abs();
    let unit = 10u128.pow(scale);
    let mut out = String::with_capacity(24);
    if value < 0 {
        out.push('-');
    }
    // Written through u64 when the parts fit (they do for every amount of money here):
    // every answer's cost header is formatted, and 128-bit division is a software
    // routine in the wasm build.
    let (whole, frac) = (v / unit, v % unit);
    match u64::try_from(whole) {
        Ok(whole) => push_padded(&mut out, whole, 1),
        Err(_) => out.push_str(&whole.to_string()),
    }
    // The fraction is `scale` digits (at least one), trailing zeros dropped down to
    // `min_frac` of them.
    let point = out.len();
    out.push('.');
    let width = (scale as usize).max(1);
    match u64::try_from(frac) {
        Ok(frac) => push_padded(&mut out, frac, width),
        Err(_) => out.push_str(&format!("{frac:0width$}")),
    }
    while out.len() - point - 1 > min_frac && out.ends_with('0') {
        out.pop();
    }
    if out.len() == point + 1 {
        out.pop();
    }
    out
}

/// Formats nanodollars as a USD decimal (`"0.000123"`), at least two decimals.
pub fn format_usd(nanos: i64) -> String {
    format_decimal(i128::from(nanos), 9, 2)
}

/// A YAML/JSON value that may be a decimal string or a number, as decimal text.
#[derive(Deserialize)]
#[serde(untagged)]
enum DecimalText {
    Text(String),
    Int(u64),
    Float(f64),
}

impl DecimalText {
    fn into_text(self) -> Result<String, String> {
        match self {
            DecimalText::Text(s) => Ok(s),
            DecimalText::Int(i) => Ok(i.to_string()),
            // `{}` on f64 prints the shortest text that reads back as the same number,
            // i.e. what the user typed for any price with up to 15 significant digits.
            DecimalText::Float(f) if f.is_finite() && f >= 0.0 => Ok(format!("{f}")),
            DecimalText::Float(f) => Err(format!("expected a non-negative amount, found {f}")),
        }
    }
}

/// A price in micro-dollars per million tokens (picodollars per token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct UsdPerMTok(pub u64);

impl UsdPerMTok {
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_decimal(text, 6).map(UsdPerMTok)
    }
}

impl Serialize for UsdPerMTok {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_decimal(i128::from(self.0), 6, 0))
    }
}

impl<'de> Deserialize<'de> for UsdPerMTok {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = DecimalText::deserialize(d)
            .map_err(|_| {
                serde::de::Error::custom(
                    "expected a price in USD per million tokens, e.g. \"0.15\"",
                )
            })?
            .into_text()
            .map_err(serde::de::Error::custom)?;
        UsdPerMTok::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An amount of USD held as nanodollars; (de)serialised as decimal text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Usd(pub i64);

impl Usd {
    pub fn parse(text: &str) -> Result<Self, String> {
        let v = parse_decimal(text, 9)?;
        i64::try_from(v)
            .map(Usd)
            .map_err(|_| format!("'{text}' is too large"))
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_usd(self.0))
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = DecimalText::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a USD amount, e.g. \"250.00\""))?
            .into_text()
            .map_err(serde::de::Error::custom)?;
        Usd::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formatting machinery's reading of [`format_decimal`].
    fn formatted(value: i128, scale: u32, min_frac: usize) -> String {
        let sign = if value < 0 { "-" } else { "" };
        let v = value.unsigned_abs();
        let unit = 10u128.pow(scale);
        let mut frac = format!("{:0width$}", v % unit, width = scale as usize);
        while frac.len() > min_frac && frac.ends_with('0') {
            frac.pop();
        }
        if frac.is_empty() {
            format!("{sign}{}", v / unit)
        } else {
            format!("{sign}{}.{frac}", v / unit)
        }
    }

    #[test]
    fn decimals_are_written_as_the_formatting_machinery_writes_them() {
        let values = [
            0,
            1,
            9,
            10,
            999_999_999,
            1_000_000_000,
            1_230_000_000,
            270_000,
            -270_000,
            i128::from(i64::MAX),
            i128::from(i64::MIN),
            i128::MAX,
            -i128::MAX,
        ];
        for value in values {
            for scale in [0, 1, 2, 3, 6, 9, 18, 30] {
                for min_frac in [0, 1, 2, 9, 20] {
                    assert_eq!(
                        format_decimal(value, scale, min_frac),
                        formatted(value, scale, min_frac),
                        "{value} {scale} {min_frac}"
                    );
                }
            }
        }
    }

    #[test]
    fn parses_prices_exactly() {
        assert_eq!(UsdPerMTok::parse("0.15").unwrap().0, 150_000);
        assert_eq!(UsdPerMTok::parse("0.075").unwrap().0, 75_000);
        assert_eq!(UsdPerMTok::parse("15").unwrap().0, 15_000_000);
        assert_eq!(UsdPerMTok::parse(".5").unwrap().0, 500_000);
        assert!(UsdPerMTok::parse("0.0000001").is_err());
        assert!(UsdPerMTok::parse("-1").is_err());
        assert!(UsdPerMTok::parse("1e3").is_err());
        assert!(UsdPerMTok::parse("").is_err());
        assert!(UsdPerMTok::parse("1.").is_err());
        assert!(UsdPerMTok::parse("99999999999999999999").is_err());
    }

    #[test]
    fn yaml_numbers_read_as_written() {
        let p: UsdPerMTok = serde_json::from_str("0.1").unwrap();
        assert_eq!(p.0, 100_000);
        let p: UsdPerMTok = serde_json::from_str("2.5").unwrap();
        assert_eq!(p.0, 2_500_000);
        let p: UsdPerMTok = serde_json::from_str("3").unwrap();
        assert_eq!(p.0, 3_000_000);
        let u: Usd = serde_json::from_str("\"250.10\"").unwrap();
        assert_eq!(u.0, 250_100_000_000);
    }

    #[test]
    fn formats_usd() {
        assert_eq!(format_usd(123_000), "0.000123");
        assert_eq!(format_usd(5 * NANOS_PER_USD), "5.00");
        assert_eq!(format_usd(-1_500_000_000), "-1.50");
        assert_eq!(format_usd(1), "0.000000001");
        assert_eq!(format_usd(i64::MAX), "9223372036.854775807");
    }
}
