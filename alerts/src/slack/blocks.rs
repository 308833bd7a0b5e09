//! The Block Kit body of an alert message: a header, the summary, the figures as section fields,
//! the top causes, the `explain` command and a link to the dashboard, plus the `text` fallback
//! Slack shows in notifications.
//!
//! Slack rejects a message whose blocks break its limits (`invalid_blocks`), so every text is cut
//! to fit: header 150 characters, section text 3000, a field 2000, at most 10 fields, a button
//! label 75, a button URL 3000. Text in `mrkdwn` has `&`, `<` and `>` escaped, so a service or
//! tag value cannot turn into a link or a mention.
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{json, Value};

pub(crate) use crate::detect::money;
use crate::model::{Alert, AlertKind};

/// Slack's limits (Block Kit reference).
pub(crate) const HEADER_MAX: usize = 150;
pub(crate) const SECTION_TEXT_MAX: usize = 3000;
pub(crate) const FIELD_TEXT_MAX: usize = 2000;
pub(crate) const FIELDS_MAX: usize = 10;
pub(crate) const BUTTON_TEXT_MAX: usize = 75;
pub(crate) const BUTTON_URL_MAX: usize = 3000;
/// Causes listed in a message.
pub const CAUSES_SHOWN: usize = 5;
/// A dimension value (service, resource, tag…) is cut to this many characters in a message.
const VALUE_MAX: usize = 120;
/// The `text` fallback: what notifications and old clients show.
const FALLBACK_MAX: usize = 1000;

/// The Block Kit body of the message for one alert (see the module doc for its parts).
pub fn message(alert: &Alert, dashboard_url: &str) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut(&header(alert), HEADER_MAX), "emoji": true},
    })];
    if !alert.summary.trim().is_empty() {
        blocks.push(mrkdwn_section(&escape(&alert.summary)));
    }
    let fields: Vec<Value> = figures(alert)
        .into_iter()
        .take(FIELDS_MAX)
        .map(|(label, value)| {
            let text = format!("*{label}*\n{}", escape(&value));
            json!({"type": "mrkdwn", "text": cut(&text, FIELD_TEXT_MAX)})
        })
        .collect();
    blocks.push(json!({"type": "section", "fields": fields}));
    if !alert.causes.is_empty() {
        let mut text = String::from("*Top causes*");
        for c in alert.causes.iter().take(CAUSES_SHOWN) {
            text.push_str(&format!(
                "\n• {} `{}`: {}",
                escape(&cut(&c.dimension, VALUE_MAX)),
                code(&cut(&c.value, VALUE_MAX)),
                escape(&signed_money(c.amount, &alert.currency))
            ));
        }
        if alert.causes.len() > CAUSES_SHOWN {
            text.push_str(&format!(
                "\n_and {} more: see the explain command below_",
                alert.causes.len() - CAUSES_SHOWN
            ));
        }
        blocks.push(mrkdwn_section(&text));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{
            "type": "mrkdwn",
            "text": cut(
                &format!(
                    "Why: `{}` · alert `{}`, revision {}",
                    code(&alert.explain_command()),
                    code(&alert.id),
                    alert.revision
                ),
                SECTION_TEXT_MAX,
            ),
        }],
    }));
    if let Some(url) = dashboard_link(dashboard_url) {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "action_id": "open_dashboard",
                "text": {"type": "plain_text", "text": cut("Open the Grafana dashboard", BUTTON_TEXT_MAX)},
                "url": url,
            }],
        }));
    }
    json!({"text": fallback(alert), "blocks": blocks})
}

/// The dashboard URL when it can be a button: http(s), within Slack's length limit.
fn dashboard_link(url: &str) -> Option<&str> {
    let url = url.trim();
    let web = url.starts_with("https://") || url.starts_with("http://");
    (web && url.chars().count() <= BUTTON_URL_MAX).then_some(url)
}

fn mrkdwn_section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_TEXT_MAX)}})
}

/// `Cost spike: service payments-api`, and for a later revision `… (still going: day 3)`.
pub(crate) fn header(alert: &Alert) -> String {
    let what = match alert.kind {
        AlertKind::Spike if alert.impact < Decimal::ZERO => "Cost drop",
        AlertKind::Spike => "Cost spike",
        AlertKind::MonthOverMonth => "Month-over-month change",
        AlertKind::Budget => "Budget alert",
    };
    // The key goes last and is what gets cut, so the kind and the update note always show.
    let note = if alert.revision > 1 {
        format!(" (still going: day {})", days(alert))
    } else {
        String::new()
    };
    let prefix = format!("{what}: {} ", alert.dimension);
    let room = HEADER_MAX.saturating_sub(prefix.chars().count() + note.chars().count());
    format!("{prefix}{}{note}", cut(&alert.key, room.max(1)))
}

/// Label and value of each section field.
fn figures(alert: &Alert) -> Vec<(String, String)> {
    let cur = &alert.currency;
    let (actual, expected) = match alert.kind {
        AlertKind::Spike => (
            format!("Spend on {}", alert.last_day),
            "Expected (same weekday)",
        ),
        AlertKind::MonthOverMonth => ("Projected month end".to_string(), "Last month"),
        // Budget alerts carry the spend of the basis that crossed: the month-end forecast or the
        // spend so far (their summary says which, `name: forecast 112% …`).
        AlertKind::Budget if alert.summary.contains(": forecast ") => {
            ("Forecast month end".to_string(), "Budget")
        }
        AlertKind::Budget => ("Spend so far".to_string(), "Budget"),
    };
    let impact_label = match alert.kind {
        AlertKind::Spike if days(alert) > 1 => format!("Impact over {} days", days(alert)),
        AlertKind::Spike => "Impact".to_string(),
        AlertKind::MonthOverMonth => "Difference".to_string(),
        AlertKind::Budget => "Against budget".to_string(),
    };
    let percent_label = match alert.kind {
        AlertKind::Spike => "Change on the last day",
        _ => "Change",
    };
    let percent = match alert.percent() {
        Some(p) => format!("{}{p}%", if p > Decimal::ZERO { "+" } else { "" }),
        None => "n/a (nothing was expected)".to_string(),
    };
    vec![
        (actual, money(alert.actual, cur)),
        (expected.to_string(), money(alert.expected, cur)),
        (impact_label, signed_money(alert.impact, cur)),
        (percent_label.to_string(), percent),
        (
            "Days".to_string(),
            day_range(alert.first_day, alert.last_day),
        ),
    ]
}

/// The plain `text` of the message (notifications, screen readers, old clients).
fn fallback(alert: &Alert) -> String {
    let text = format!(
        "{}: {} vs {} expected, impact {}; {}. Why: {}",
        header(alert),
        money(alert.actual, &alert.currency),
        money(alert.expected, &alert.currency),
        signed_money(alert.impact, &alert.currency),
        day_range(alert.first_day, alert.last_day),
        alert.explain_command()
    );
    escape(&cut(&text, FALLBACK_MAX))
}

/// Days the alert covers, first and last included.
pub(crate) fn days(alert: &Alert) -> i64 {
    (alert.last_day - alert.first_day).num_days() + 1
}

fn day_range(first: NaiveDate, last: NaiveDate) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first} → {last} ({} days)", (last - first).num_days() + 1)
    }
}

/// Like [`money`] (crate::detect::money), with `+` on increases.
pub(crate) fn signed_money(amount: Decimal, currency: &str) -> String {
    let text = money(amount, currency);
    if amount.round_dp(2) > Decimal::ZERO {
        format!("+{text}")
    } else {
        text
    }
}

/// `&`, `<` and `>` are control characters of Slack's mrkdwn (links, mentions).
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text inside a `code span`: escaped, and a backtick would end the span.
fn code(s: &str) -> String {
    escape(&s.replace('`', "'"))
}

/// At most `max` characters (not bytes), `…` marking a cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn money_is_exact_grouped_and_signed() {
        assert_eq!(money(d("1234567.891"), "USD"), "1,234,567.89 USD");
        assert_eq!(money(d("999.999"), "EUR"), "1,000.00 EUR");
        assert_eq!(money(d("-950"), "EUR"), "-950.00 EUR");
        assert_eq!(signed_money(d("12.5"), "USD"), "+12.50 USD");
        assert_eq!(signed_money(d("-0.004"), "USD"), "0.00 USD");
        // 18 fractional digits (Decimal(38, 18) in ClickHouse), beyond an f64's precision: only
        // the last digit puts it above the midpoint.
        assert_eq!(
            money(d("9876543210.125000000000000001"), "USD"),
            "9,876,543,210.13 USD"
        );
        assert_eq!(money(d("9876543210.125"), "USD"), "9,876,543,210.12 USD");
    }

    #[test]
    fn budget_figures_say_whether_they_are_forecast_or_spend_so_far() {
        let day = NaiveDate::from_ymd_opt(2026, 10, 17).unwrap();
        let mut alert = Alert {
            id: "budget-1".into(),
            kind: AlertKind::Budget,
            dimension: "budget".into(),
            key: "payments".into(),
            currency: "USD".into(),
            state: crate::AlertState::Open,
            first_day: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            last_day: day,
            actual: d("28000"),
            expected: d("25000"),
            impact: d("3000"),
            causes: vec![],
            summary: "payments: forecast 112% of the 25,000.00 USD monthly budget (actual 61%); \
                      threshold 100%"
                .into(),
            acked_by: String::new(),
            revision: 1,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        let labels = |a: &Alert| figures(a).into_iter().map(|(l, _)| l).collect::<Vec<_>>();
        assert_eq!(
            labels(&alert)[..3],
            ["Forecast month end", "Budget", "Against budget"]
        );
        alert.summary = "payments: actual 84% of the 25,000.00 USD monthly budget (forecast 95%); \
                         threshold 80%"
            .into();
        assert_eq!(labels(&alert)[0], "Spend so far");
    }

    #[test]
    fn cut_counts_characters_not_bytes() {
        assert_eq!(cut("ééééé", 5), "ééééé");
        assert_eq!(cut("éééééé", 5), "éééé…");
        assert_eq!(cut("éééééé", 5).chars().count(), 5);
    }

    #[test]
    fn escape_neutralises_links_and_mentions() {
        assert_eq!(
            escape("<!channel> & <http://x|y>"),
            "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
        );
    }
}
