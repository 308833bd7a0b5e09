//! Kubernetes resource quantities (`3920m`, `4`, `16Gi`, `16G`, `1e3`, `500Mi`, `0.5`) parsed
//! exactly into [`Dec18`] (value × 10^18), by the grammar of apimachinery's `resource.Quantity`:
//!
//! ```text
//! quantity ::= [+-] number suffix
//! number   ::= digits | digits "." digits | digits "." | "." digits
//! suffix   ::= "" | n | u | m | k | M | G | T | P | E        (powers of 1000)
//!            | Ki | Mi | Gi | Ti | Pi | Ei                   (powers of 1024)
//!            | (e | E) [+-] digits                           (powers of ten)
//! ```
//!
//! Digits past the 18th decimal place are rounded up (away from zero), as Kubernetes rounds a
//! quantity up to the precision it keeps; such values are far below anything a scheduler counts.
use queries::Dec18;
use serde::{Deserialize, Deserializer};

const SCALE: i32 = 18;
/// Decimal(38, 18) holds fewer than 38 digits.
const LIMIT: i128 = 10i128.pow(38);

/// A parsed quantity; deserializes from a JSON string (or a plain JSON number).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quantity(pub Dec18);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Quantity;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a Kubernetes quantity such as \"500m\" or \"16Gi\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
                parse_quantity(v).map(Quantity).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
            // serde_json prints the shortest text that reads back as the same f64.
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `text` as a quantity, or why it is not one.
pub fn parse_quantity(text: &str) -> Result<Dec18, String> {
    let not = || {
        format!(
            "`{text}` is not a Kubernetes quantity (a number with an optional suffix, such as \
             500m, 2, 1.5, 512Mi, 16Gi, 16G or 1e3)"
        )
    };
    let bytes = text.as_bytes();
    let (negative, mut i) = match bytes.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let mut mantissa: i128 = 0;
    let mut digits = 0usize;
    let mut fraction = 0i32;
    let mut seen_point = false;
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' => {
                digits += 1;
                if seen_point {
                    fraction += 1;
                }
                mantissa = mantissa
                    .checked_mul(10)
                    .and_then(|m| m.checked_add(i128::from(bytes[i] - b'0')))
                    .filter(|m| *m < LIMIT)
                    .ok_or_else(|| format!("`{text}` has too many digits for a quantity"))?;
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return Err(not());
    }
    let (exp10, exp2): (i32, u32) = match &text[i..] {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        exponent if exponent.starts_with(['e', 'E']) => {
            let e = &exponent[1..];
            let unsigned = e.strip_prefix(['+', '-']).unwrap_or(e);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not());
            }
            (e.parse::<i32>().map_err(|_| not())?, 0)
        }
        _ => return Err(not()),
    };
    let too_large = || format!("`{text}` is too large for a quantity");
    let scaled = mantissa
        .checked_mul(1i128 << exp2)
        .filter(|m| *m < LIMIT)
        .ok_or_else(too_large)?;
    let power = SCALE - fraction + exp10;
    let units = if power >= 0 {
        10i128
            .checked_pow(power as u32)
            .and_then(|p| scaled.checked_mul(p))
            .filter(|v| *v < LIMIT)
            .ok_or_else(too_large)?
    } else {
        match 10i128.checked_pow(power.unsigned_abs()) {
            Some(p) => scaled / p + i128::from(scaled % p != 0),
            None => i128::from(scaled != 0),
        }
    };
    Ok(Dec18(if negative { -units } else { units }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: i128 = 1_000_000_000_000_000_000;

    fn q(text: &str) -> i128 {
        parse_quantity(text).unwrap_or_else(|e| panic!("{e}")).0
    }

    #[test]
    fn decimal_binary_and_exponent_suffixes() {
        assert_eq!(q("3920m"), 3_920 * UNIT / 1000);
        assert_eq!(q("4"), 4 * UNIT);
        assert_eq!(q("0.5"), UNIT / 2);
        assert_eq!(q(".5"), UNIT / 2);
        assert_eq!(q("5."), 5 * UNIT);
        assert_eq!(q("+2"), 2 * UNIT);
        assert_eq!(q("-250m"), -UNIT / 4);
        assert_eq!(q("16Gi"), (16i128 << 30) * UNIT);
        assert_eq!(q("16G"), 16_000_000_000 * UNIT);
        assert_eq!(q("500Mi"), (500i128 << 20) * UNIT);
        assert_eq!(q("15896988Ki"), 15_896_988 * 1024 * UNIT);
        assert_eq!(q("1.5Gi"), (3i128 << 29) * UNIT);
        assert_eq!(q("1e3"), 1000 * UNIT);
        assert_eq!(q("1E3"), 1000 * UNIT);
        assert_eq!(q("2e-3"), 2 * UNIT / 1000);
        assert_eq!(q("1E"), 1_000_000_000_000_000_000 * UNIT);
        assert_eq!(q("1Ei"), (1i128 << 60) * UNIT);
        assert_eq!(q("1183419n"), 1_183_419 * UNIT / 1_000_000_000);
        assert_eq!(q("250u"), 250 * UNIT / 1_000_000);
        assert_eq!(q("1k"), 1000 * UNIT);
        assert_eq!(q("0"), 0);
        assert_eq!(q("1.000000000000000001"), UNIT + 1);
    }

    #[test]
    fn rounds_up_past_eighteen_places_and_refuses_the_rest() {
        assert_eq!(q("1e-19"), 1);
        assert_eq!(q("1e-40"), 1);
        assert_eq!(q("0e-40"), 0);
        assert_eq!(q("1.0000000000000000001"), UNIT + 1);
        for bad in [
            "", "m", "1.2.3", "1x", "1 Gi", "1gi", "1KiB", "1e", "1e+", "1e1.5", "--1", "0x10",
        ] {
            assert!(parse_quantity(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_quantity("1e30").unwrap_err().contains("too large"));
        assert!(parse_quantity("99999999999999999999999999999999999999999")
            .unwrap_err()
            .contains("too many digits"));
    }

    #[test]
    fn deserializes_strings_and_numbers() {
        let v: Vec<Quantity> = serde_json::from_str(r#"["100m", 2, 0.25]"#).unwrap();
        assert_eq!(
            v,
            [
                Quantity(Dec18(UNIT / 10)),
                Quantity(Dec18(2 * UNIT)),
                Quantity(Dec18(UNIT / 4))
            ]
        );
        let e = serde_json::from_str::<Vec<Quantity>>("[\n \"12x\"]").unwrap_err();
        assert_eq!((e.line(), e.column()), (2, 6));
        assert!(e.to_string().contains("`12x` is not a Kubernetes quantity"));
    }
}
