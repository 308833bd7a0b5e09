//! Parsers for the value shapes real FOCUS exports contain.
use std::str::FromStr;

use queries::Dec18;
use rust_decimal::{Decimal, RoundingStrategy};

/// Null as real exports write it: empty, the literal `NULL`, or ClickHouse's `\N`.
pub fn is_null(value: &str) -> bool {
    value.is_empty() || value == "NULL" || value == "null" || value == "\\N"
}

/// A parsed decimal and whether it had to be rounded to 18 fractional digits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParsedDecimal {
    pub value: Dec18,
    pub rounded: bool,
}

/// Parse `-12.345`, `1e-7`, `+3` into Decimal(38, 18). Values with more than 18 fractional
/// digits are rounded half-to-even (ClickHouse would refuse them).
pub fn parse_decimal(text: &str) -> Option<ParsedDecimal> {
    let text = text.trim();
    if let Some(value) = parse_plain_decimal(text) {
        return Some(ParsedDecimal {
            value,
            rounded: false,
        });
    }
    let decimal = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()?
    } else {
        Decimal::from_str(text).ok()?
    };
    let rounded = decimal
        .round_dp_with_strategy(queries::money::SCALE, RoundingStrategy::MidpointNearestEven);
    Some(ParsedDecimal {
        value: Dec18::from_decimal_exact(rounded)?,
        rounded: rounded != decimal,
    })
}

/// Fast path for `[+-]digits[.digits]` with at most 18 fractional digits, straight into i128.
fn parse_plain_decimal(text: &str) -> Option<Dec18> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (int.is_empty() && frac.is_empty()) || frac.len() > 18 || int.len() > 20 {
        return None;
    }
    let mut value: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i128::from(b - b'0');
    }
    value *= 10i128.pow(18 - frac.len() as u32);
    Some(Dec18(if negative { -value } else { value }))
}

/// Parse a timestamp into Unix seconds: `2024-09-18 23:00:00`, `2024-09-18T23:00:00Z`,
/// fractional seconds, `+00:00`-style offsets, or a bare date.
pub fn parse_timestamp(text: &str) -> Option<u32> {
    let text = text.trim();
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .or_else(|_| {
            let naive = text.trim_end_matches('Z');
            chrono::NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.f"))
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M"))
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M"))
                .map(|t| t.and_utc().timestamp())
                .or_else(|_| {
                    chrono::NaiveDate::parse_from_str(naive, "%Y-%m-%d").map(|d| {
                        d.and_hms_opt(0, 0, 0)
                            .expect("midnight exists")
                            .and_utc()
                            .timestamp()
                    })
                })
        })
        .ok()?;
    // ClickHouse DateTime is an unsigned 32-bit second count.
    u32::try_from(parsed).ok()
}

/// Tags as the JSON object FOCUS specifies, flattened into parallel key and value arrays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedTags {
    pub keys: Vec<String>,
    pub values: Vec<String>,
    /// A value was an object or array, kept as JSON text (FOCUS asks for scalars).
    pub non_scalar: bool,
}

/// `None` when the text is not a JSON object.
pub fn parse_tags(text: &str) -> Option<ParsedTags> {
    let text = text.trim();
    if is_null(text) || text == "{}" {
        return Some(ParsedTags::default());
    }
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
    let mut tags = ParsedTags::default();
    for (key, value) in object {
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Null => String::new(),
            other => {
                tags.non_scalar = true;
                other.to_string()
            }
        };
        tags.keys.push(key);
        tags.values.push(value);
    }
    Some(tags)
}

/// An enumerated FOCUS column and its allowed values.
pub struct Enumeration {
    pub allowed: &'static [&'static str],
    /// Unknown values are errors (ChargeCategory) rather than deviations.
    pub closed: bool,
}

pub const CHARGE_CATEGORY: Enumeration = Enumeration {
    allowed: &["Usage", "Purchase", "Tax", "Credit", "Adjustment"],
    closed: true,
};
pub const CHARGE_CLASS: Enumeration = Enumeration {
    allowed: &["Correction"],
    closed: false,
};
pub const CHARGE_FREQUENCY: Enumeration = Enumeration {
    allowed: &["One-Time", "Recurring", "Usage-Based"],
    closed: false,
};
pub const PRICING_CATEGORY: Enumeration = Enumeration {
    allowed: &["Standard", "Committed", "Dynamic", "Other"],
    closed: false,
};
pub const COMMITMENT_DISCOUNT_CATEGORY: Enumeration = Enumeration {
    allowed: &["Spend", "Usage"],
    closed: false,
};
pub const COMMITMENT_DISCOUNT_STATUS: Enumeration = Enumeration {
    allowed: &["Used", "Unused"],
    closed: false,
};
pub const SERVICE_CATEGORY: Enumeration = Enumeration {
    allowed: &[
        "AI and Machine Learning",
        "Analytics",
        "Business Applications",
        "Compute",
        "Databases",
        "Developer Tools",
        "Multicloud",
        "Identity",
        "Integration",
        "Internet of Things",
        "Management and Governance",
        "Media",
        "Migration",
        "Mobile",
        "Networking",
        "Security",
        "Storage",
        "Web",
        "Other",
    ],
    closed: false,
};

/// How a value matched its enumeration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EnumMatch {
    Exact(&'static str),
    /// Same value in other casing: the canonical spelling is stored.
    Casing(&'static str),
    Unknown,
}

impl Enumeration {
    pub fn classify(&self, value: &str) -> EnumMatch {
        if let Some(v) = self.allowed.iter().find(|v| **v == value) {
            return EnumMatch::Exact(v);
        }
        match self
            .allowed
            .iter()
            .find(|v| v.eq_ignore_ascii_case(value.trim()))
        {
            Some(v) => EnumMatch::Casing(v),
            None => EnumMatch::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> (String, bool) {
        let p = parse_decimal(text).unwrap();
        (p.value.to_string(), p.rounded)
    }

    #[test]
    fn decimals_in_export_shapes() {
        assert_eq!(
            dec("0.123456789012345"),
            ("0.123456789012345".into(), false)
        );
        assert_eq!(dec("-42"), ("-42".into(), false));
        assert_eq!(dec("+.5"), ("0.5".into(), false));
        assert_eq!(dec("1.5E-7"), ("0.00000015".into(), false));
        assert_eq!(
            dec("0.0000000000000000015"),
            ("0.000000000000000002".into(), true)
        );
        assert_eq!(
            dec("123456789012345678.123456789012345678"),
            ("123456789012345678.123456789012345678".into(), false)
        );
        for bad in ["", "abc", "1.2.3", "1,5", "--1", "."] {
            assert!(parse_decimal(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn timestamps_in_export_shapes() {
        let expected = 1_726_700_400; // 2024-09-18 23:00:00 UTC
        for text in [
            "2024-09-18 23:00:00",
            "2024-09-18T23:00:00Z",
            "2024-09-18T23:00:00.000Z",
            "2024-09-19T01:00:00+02:00",
            "2024-09-18 23:00",
        ] {
            assert_eq!(parse_timestamp(text), Some(expected), "{text}");
        }
        assert_eq!(parse_timestamp("2024-09-18"), Some(1_726_617_600));
        assert_eq!(parse_timestamp("18/09/2024"), None);
        assert_eq!(parse_timestamp("1960-01-01"), None);
    }

    #[test]
    fn tags_flatten_scalars() {
        let t = parse_tags(r#"{"team":"data","cost-center":42,"aws:created":true,"empty":null}"#)
            .unwrap();
        assert_eq!(t.keys, ["aws:created", "cost-center", "empty", "team"]);
        assert_eq!(t.values, ["true", "42", "", "data"]);
        assert!(!t.non_scalar);
        assert_eq!(parse_tags("").unwrap(), ParsedTags::default());
        assert_eq!(parse_tags("NULL").unwrap(), ParsedTags::default());
        assert!(parse_tags(r#"{"a":{"b":1}}"#).unwrap().non_scalar);
        assert!(parse_tags("[1,2]").is_none());
        assert!(parse_tags("team=data").is_none());
    }

    #[test]
    fn enumerations_normalize_casing() {
        assert_eq!(CHARGE_CATEGORY.classify("Usage"), EnumMatch::Exact("Usage"));
        assert_eq!(
            CHARGE_CATEGORY.classify("usage"),
            EnumMatch::Casing("Usage")
        );
        assert_eq!(CHARGE_CATEGORY.classify("Refund"), EnumMatch::Unknown);
    }
}
