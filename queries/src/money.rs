//! `Decimal(38, 18)` on the wire is a little-endian i128 holding value × 10^18.
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::StoreError;

pub const SCALE: u32 = 18;

/// A ClickHouse `Decimal(38, 18)` value as it travels in RowBinary.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Dec18(pub i128);

impl Dec18 {
    pub const ZERO: Dec18 = Dec18(0);

    /// Exact conversion; `None` when the value has more than 18 fractional digits
    /// (callers decide whether rounding is acceptable) or overflows 38 digits.
    pub fn from_decimal_exact(d: Decimal) -> Option<Dec18> {
        let scale = d.scale();
        if scale > SCALE {
            return None;
        }
        let factor = 10i128.checked_pow(SCALE - scale)?;
        d.mantissa().checked_mul(factor).map(Dec18)
    }

    pub fn to_decimal(self) -> Result<Decimal, StoreError> {
        Decimal::try_from_i128_with_scale(self.0, SCALE)
            .map(|d| d.normalize())
            .or_else(|_| {
                // Too many digits for rust_decimal at scale 18: drop fractional digits we cannot hold.
                let mut v = self.0;
                for scale in (0..SCALE).rev() {
                    v /= 10;
                    if let Ok(d) = Decimal::try_from_i128_with_scale(v, scale) {
                        return Ok(d.normalize());
                    }
                }
                Err(StoreError::AmountOutOfRange {
                    value: self.0.to_string(),
                })
            })
    }
}

/// Money for people: two decimals with thousands separators, `1,234,567.89`, rounded to cents half
/// to even (rust_decimal's `round_dp`), `-0.00` shown as `0.00`. Every table, email and message of
/// costmill prints amounts this way, so their figures agree; exact values go to CSV and JSON.
pub fn display(value: Decimal) -> String {
    let rounded = value.round_dp(2);
    let text = format!("{:.2}", rounded.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{grouped}.{frac}")
}

impl std::ops::Add for Dec18 {
    type Output = Dec18;
    fn add(self, rhs: Dec18) -> Dec18 {
        Dec18(self.0 + rhs.0)
    }
}

impl std::iter::Sum for Dec18 {
    fn sum<I: Iterator<Item = Dec18>>(iter: I) -> Dec18 {
        Dec18(iter.map(|d| d.0).sum())
    }
}

impl std::fmt::Display for Dec18 {
    /// Exact decimal text with trailing zeros trimmed (no rust_decimal range limit).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let negative = self.0 < 0;
        let abs = self.0.unsigned_abs();
        let unit = 10u128.pow(SCALE);
        let (int, frac) = (abs / unit, abs % unit);
        let sign = if negative { "-" } else { "" };
        if frac == 0 {
            return write!(f, "{sign}{int}");
        }
        let frac = format!("{frac:018}");
        write!(f, "{sign}{int}.{}", frac.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn round_trips_fifteen_fractional_digits() {
        let d = Decimal::from_str("-1234.567890123456789").unwrap();
        assert_eq!(
            Dec18::from_decimal_exact(d),
            Some(Dec18(-1_234_567_890_123_456_789_000))
        );
        let back = Dec18::from_decimal_exact(d).unwrap().to_decimal().unwrap();
        assert_eq!(back, d);
        assert_eq!(
            Dec18::from_decimal_exact(d).unwrap().to_string(),
            "-1234.567890123456789"
        );
    }

    #[test]
    fn refuses_more_than_eighteen_fractional_digits() {
        let d = Decimal::from_str("0.1234567890123456789").unwrap();
        assert_eq!(Dec18::from_decimal_exact(d), None);
    }

    #[test]
    fn displays_integers_and_small_fractions() {
        assert_eq!(Dec18(5 * 10i128.pow(18)).to_string(), "5");
        assert_eq!(Dec18(1).to_string(), "0.000000000000000001");
        assert_eq!(Dec18(-10i128.pow(17)).to_string(), "-0.1");
    }
}
