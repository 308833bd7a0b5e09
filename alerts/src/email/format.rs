//! Numbers, dates and words for people: two-decimal money with thousands separators (the form of
//! `costmill costs`), signed changes, dates like `Mon 12 Oct 2026`, how a pool was split.
use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::Change;

/// `1,234,567.89`: [`queries::money::display`], as `costmill costs` prints.
pub(crate) fn money(value: Decimal) -> String {
    queries::money::display(value)
}

/// `1,234.50 USD`, as `costmill costs` prints an amount.
pub(crate) fn money_in(value: Decimal, currency: &str) -> String {
    format!("{} {}", money(value), currency_label(currency))
}

/// Whole units with separators, for chart axes: `12,300`.
pub(crate) fn whole(value: f64) -> String {
    let rounded = Decimal::from_f64_retain(value.round()).unwrap_or_default();
    let text = money(rounded);
    text.trim_end_matches(".00").to_string()
}

pub(crate) fn currency_label(code: &str) -> &str {
    if code.is_empty() {
        "(none)"
    } else {
        code
    }
}

/// `+1,234.50` / `-12.00` / `0.00`.
pub(crate) fn signed(value: Decimal) -> String {
    let text = money(value);
    if value.round_dp(2) > Decimal::ZERO {
        format!("+{text}")
    } else {
        text
    }
}

/// Which way an amount went: up, down or flat (at cent precision).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Up,
    Down,
    Flat,
}

pub(crate) fn direction(change: &Change) -> Direction {
    let cents = change.amount.round_dp(2);
    if cents > Decimal::ZERO {
        Direction::Up
    } else if cents < Decimal::ZERO {
        Direction::Down
    } else {
        Direction::Flat
    }
}

/// `8.2`, or `<0.1` for a change too small to show at one decimal.
fn percent(p: Decimal) -> String {
    if p.is_zero() {
        "<0.1".into()
    } else {
        format!("{:.1}", p.abs())
    }
}

/// `▲ 8.2%`, `▼ 3.0%`, `▲ new` (nothing before), `no change`.
pub(crate) fn arrow_percent(change: &Change) -> String {
    match (direction(change), change.percent) {
        (Direction::Flat, _) => "no change".into(),
        (Direction::Up, Some(p)) => format!("▲ {}%", percent(p)),
        (Direction::Down, Some(p)) => format!("▼ {}%", percent(p)),
        (Direction::Up, None) => "▲ new".into(),
        (Direction::Down, None) => "▼".into(),
    }
}

/// `up 8.2%`, `down 3.0%`, `unchanged`, `new` — for sentences.
pub(crate) fn words(change: &Change) -> String {
    match (direction(change), change.percent) {
        (Direction::Flat, _) => "unchanged".into(),
        (Direction::Up, Some(p)) => format!("up {}%", percent(p)),
        (Direction::Down, Some(p)) => format!("down {}%", percent(p)),
        (Direction::Up, None) => "up from nothing".into(),
        (Direction::Down, None) => "down".into(),
    }
}

/// `12 Oct`.
pub(crate) fn short_day(day: NaiveDate) -> String {
    day.format("%-d %b").to_string()
}

/// `Mon 12 Oct 2026`.
pub(crate) fn long_day(day: NaiveDate) -> String {
    day.format("%a %-d %b %Y").to_string()
}

/// `October`.
pub(crate) fn month_name(day: NaiveDate) -> String {
    day.format("%B").to_string()
}

/// A name safe in a file name and a Message-ID: ASCII letters, digits, `-`, `_` and `.`.
pub(crate) fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// HTML text and attribute escaping.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How a pool was split, from the allocator's method labels (`proportional:kafka_bytes`, `even`,
/// `weighted`, `fixed`; a fallback names its reason in parentheses, e.g.
/// `even (fallback: no kafka_bytes values)`).
pub(crate) fn pool_why(methods: &[String], fallback_days: u64) -> String {
    fn base_text(base: &str) -> String {
        if let Some(metric) = base.strip_prefix("proportional:") {
            return format!("proportional to {metric}");
        }
        match base {
            "even" => "split evenly".to_string(),
            "weighted" => "weighted by direct cost".to_string(),
            "fixed" => "fixed shares".to_string(),
            other => other.to_string(),
        }
    }
    let mut primary: Vec<String> = Vec::new();
    let mut fallback: Vec<(String, String)> = Vec::new();
    for method in methods {
        match method.split_once(" (") {
            None => primary.push(base_text(method.trim())),
            Some((base, reason)) => {
                let reason = reason.trim_end_matches(')');
                let reason = reason.strip_prefix("fallback: ").unwrap_or(reason);
                fallback.push((base_text(base.trim()), reason.to_string()));
            }
        }
    }
    primary.dedup();
    fallback.dedup();
    if fallback.is_empty() {
        return primary.join("; ");
    }
    let (head, details): (String, Vec<String>) = if primary.is_empty() {
        let mut bases: Vec<String> = fallback.iter().map(|(b, _)| b.clone()).collect();
        bases.dedup();
        (
            bases.join("; "),
            fallback.into_iter().map(|(_, r)| r).collect(),
        )
    } else {
        (
            primary.join("; "),
            fallback
                .into_iter()
                .map(|(b, r)| format!("{b}, {r}"))
                .collect(),
        )
    };
    let days = fallback_days.max(1);
    format!(
        "{head} (fallback on {days} day{}: {})",
        if days == 1 { "" } else { "s" },
        details.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn money_is_two_decimals_with_separators() {
        assert_eq!(money(d("1234567.891")), "1,234,567.89");
        assert_eq!(money(d("-0.004")), "0.00");
        assert_eq!(money(d("-999.995")), "-1,000.00");
        assert_eq!(money_in(d("12"), "EUR"), "12.00 EUR");
        assert_eq!(signed(d("3.5")), "+3.50");
        assert_eq!(signed(d("-3.5")), "-3.50");
        assert_eq!(whole(12345.6), "12,346");
    }

    #[test]
    fn arrows_follow_the_change() {
        let up = Change::between(d("100"), d("108.2"));
        assert_eq!(arrow_percent(&up), "▲ 8.2%");
        let down = Change::between(d("100"), d("97"));
        assert_eq!(arrow_percent(&down), "▼ 3.0%");
        assert_eq!(arrow_percent(&Change::between(d("0"), d("5"))), "▲ new");
        assert_eq!(
            arrow_percent(&Change::between(d("5863.87"), d("5866.43"))),
            "▲ <0.1%"
        );
        assert_eq!(
            arrow_percent(&Change::between(d("5"), d("5.001"))),
            "no change"
        );
    }

    #[test]
    fn pool_methods_read_as_words_with_their_fallbacks() {
        let methods = vec![
            "even (fallback: no kafka_bytes values)".to_string(),
            "proportional:kafka_bytes".to_string(),
        ];
        assert_eq!(
            pool_why(&methods, 2),
            "proportional to kafka_bytes (fallback on 2 days: split evenly, no kafka_bytes values)"
        );
        let only = vec!["proportional:table_bytes (fallback: values of 2026-10-03)".to_string()];
        assert_eq!(
            pool_why(&only, 1),
            "proportional to table_bytes (fallback on 1 day: values of 2026-10-03)"
        );
        assert_eq!(
            pool_why(&["weighted".to_string()], 0),
            "weighted by direct cost"
        );
    }

    #[test]
    fn slugs_and_escapes() {
        assert_eq!(slug("data eng/ml"), "data_eng_ml");
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
