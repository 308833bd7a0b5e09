//! The weekly email: per team, the week's and the month's allocated cost against the week and the
//! month before, the services that moved most, what shared pools charged the team and why, open
//! anomalies, the top optimizer recommendations, a chart of daily cost by service over eight weeks
//! (PNG inline by Content-ID) and the daily data as a CSV attachment; a FinOps summary of all
//! teams. Sent over SMTP with a delivery record per recipient, so a report is never sent twice.
//!
//! Every figure is effective (amortized) cost from the `allocations` table, per currency (amounts
//! in two currencies are never added), summed exactly as `costmill costs --by team` sums them.
//! A week runs Monday to Sunday (UTC) and is named by its Monday.
mod chart;
mod data;
mod format;
mod html;
mod send;
mod text;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use rust_decimal::Decimal;

use crate::{Alert, AlertError};

pub use data::weekly_report;
pub use send::{
    message, message_id, retry_due, retry_due_at, send_weekly, validate, write_files,
    DeliveryOutcome, EmailReport, Outcome,
};

/// The label of the service series that sums every service outside the top eight.
pub const OTHER: &str = "other";
/// Services charted by name; the rest are summed as [`OTHER`].
pub const CHART_SERVICES: usize = 8;
/// Weeks of daily cost in the chart and the CSV (the report's week is the last).
pub const CHART_WEEKS: i64 = 8;

/// Days from `first` to `last`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Period {
    pub fn days(&self) -> i64 {
        (self.last - self.first).num_days() + 1
    }
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.first <= day && day <= self.last
    }
    /// The first day after the period (the exclusive end the SQL files take).
    pub fn end(&self) -> NaiveDate {
        self.last + Duration::days(1)
    }
}

/// A change between two amounts of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub amount: Decimal,
    /// Percent of the earlier amount, one decimal; `None` when the earlier amount was zero.
    pub percent: Option<Decimal>,
}

impl Change {
    pub fn between(before: Decimal, now: Decimal) -> Change {
        Change {
            amount: now - before,
            percent: (!before.is_zero())
                .then(|| ((now - before) * Decimal::from(100) / before.abs()).round_dp(1)),
        }
    }
}

/// Week and month-to-date totals of one currency, with the periods they are compared with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub week: Decimal,
    pub previous_week: Decimal,
    pub month_to_date: Decimal,
    /// The same number of days at the start of the previous month.
    pub previous_month_to_date: Decimal,
}

impl Totals {
    pub fn week_change(&self) -> Change {
        Change::between(self.previous_week, self.week)
    }
    pub fn month_change(&self) -> Change {
        Change::between(self.previous_month_to_date, self.month_to_date)
    }
}

/// One team's totals in one currency (the FinOps summary lists every team).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamTotals {
    pub team: String,
    pub totals: Totals,
}

/// The report's figures in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencySection {
    pub currency: String,
    pub totals: Totals,
    /// FinOps summary: every team with cost in this currency, biggest week first. Empty in a
    /// team's report.
    pub teams: Vec<TeamTotals>,
}

/// A service whose week differs from the week before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mover {
    pub service: String,
    pub team: String,
    pub currency: String,
    pub week: Decimal,
    pub previous_week: Decimal,
}

impl Mover {
    pub fn change(&self) -> Change {
        Change::between(self.previous_week, self.week)
    }
}

/// What one shared pool charged over the week, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolCharge {
    /// The pool path the money went through: `kafka`, or `k8s-core > commitments`.
    pub pool: String,
    pub currency: String,
    /// The teams charged (one in a team's report).
    pub teams: Vec<String>,
    pub amount: Decimal,
    /// Percent of the week's total in this currency (of the team, or of all teams).
    pub percent_of_week: Option<Decimal>,
    /// The split methods the allocator recorded, e.g. `proportional:kafka_bytes`, or
    /// `even (fallback: no kafka_bytes values)`.
    pub methods: Vec<String>,
    /// The services charged.
    pub services: Vec<String>,
    /// Days of the week on which a fallback split was used.
    pub fallback_days: u64,
}

impl PoolCharge {
    /// One line on how the pool was split, for people.
    pub fn why(&self) -> String {
        format::pool_why(&self.methods, self.fallback_days)
    }
}

/// One optimizer recommendation (the `recommendations` table, latest computation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendation {
    pub id: String,
    pub kind: String,
    pub workload: String,
    pub team: String,
    pub service: String,
    pub currency: String,
    pub current_monthly: Decimal,
    pub proposed_monthly: Decimal,
    pub saving_monthly: Decimal,
    pub summary: String,
}

/// One charted series: a service (or [`OTHER`]), a value per day of the chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSeries {
    pub name: String,
    pub values: Vec<Decimal>,
}

/// Daily cost by service over the chart's eight weeks, in one currency: the top
/// [`CHART_SERVICES`] services of those weeks, biggest first, then [`OTHER`] when there are more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailySeries {
    pub currency: String,
    pub days: Vec<NaiveDate>,
    pub series: Vec<ServiceSeries>,
}

/// One row of the CSV attachment: a day's cost of one service of one team, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyCost {
    pub day: NaiveDate,
    pub team: String,
    pub service: String,
    pub currency: String,
    pub effective: Decimal,
}

/// Everything one weekly email says.
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklyReport {
    /// `None`: the FinOps summary of all teams.
    pub team: Option<String>,
    /// The Monday the week starts on.
    pub week_start: NaiveDate,
    pub week: Period,
    pub previous_week: Period,
    /// From the first of the month of the week's last day to that day.
    pub month: Period,
    /// The same number of days from the first of the month before (fewer when it is shorter).
    pub previous_month: Period,
    /// The eight weeks of the chart and the CSV, ending with the report's week.
    pub chart_period: Period,
    pub dashboard_url: String,
    /// One per currency with cost in the chart's weeks, biggest week first.
    pub currencies: Vec<CurrencySection>,
    /// Per currency, the services with the biggest change week over week, biggest first.
    pub movers: Vec<Mover>,
    /// Shared pools charged in the week, biggest first per currency.
    pub pools: Vec<PoolCharge>,
    /// Open alerts about the team or its services (every open alert in the FinOps summary).
    pub anomalies: Vec<Alert>,
    /// Biggest monthly saving first.
    pub recommendations: Vec<Recommendation>,
    /// One per currency, in the order of `currencies`.
    pub daily: Vec<DailySeries>,
    /// The rows of the CSV, by day, team, service and currency.
    pub rows: Vec<DailyCost>,
}

impl WeeklyReport {
    /// `payments`, or `all teams` for the FinOps summary.
    pub fn audience(&self) -> &str {
        self.team.as_deref().unwrap_or("all teams")
    }
    /// The item of the delivery records: `report:<team>:<week>` or `report:finops:<week>`.
    pub fn item(&self) -> String {
        report_item(self.team.as_deref(), self.week_start)
    }
}

/// The delivery item of a report: `report:<team>:<week_start>`, `report:finops:<week_start>`.
pub fn report_item(team: Option<&str>, week_start: NaiveDate) -> String {
    format!("report:{}:{week_start}", team.unwrap_or("finops"))
}

/// A rendered report, ready to be put in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub html: String,
    /// The plain-text alternative.
    pub text: String,
    pub chart_png: Vec<u8>,
    /// The Content-ID of the chart (without angle brackets); the HTML refers to `cid:<it>`.
    pub chart_cid: String,
    pub csv: String,
    pub csv_filename: String,
}

/// The Monday of the last complete week before `now`: on Monday 2026-10-19 at 07:00 UTC, the
/// week of Monday 2026-10-12 (ended Sunday 2026-10-18).
pub fn last_complete_week(now: DateTime<Utc>) -> NaiveDate {
    let today = now.date_naive();
    let this_monday = today - Duration::days(today.weekday().num_days_from_monday() as i64);
    this_monday - Duration::days(7)
}

/// Refuse a week that does not start on a Monday.
pub(crate) fn check_monday(week_start: NaiveDate) -> Result<(), AlertError> {
    if week_start.weekday() == Weekday::Mon {
        Ok(())
    } else {
        Err(AlertError::Config {
            key: "week".into(),
            message: format!(
                "{week_start} is a {:?}; a report week starts on a Monday",
                week_start.weekday()
            ),
        })
    }
}

/// Subject, HTML, plain text, chart and CSV of a report.
pub fn render(report: &WeeklyReport) -> Result<RenderedEmail, AlertError> {
    let chart_cid = format!(
        "chart-{}-{}@costmill",
        format::slug(report.team.as_deref().unwrap_or("finops")),
        report.week_start
    );
    Ok(RenderedEmail {
        subject: text::subject(report),
        html: html::html(report, &chart_cid),
        text: text::plain(report),
        chart_png: chart::png(report)?,
        chart_cid,
        csv: text::csv(report)?,
        csv_filename: format!(
            "costmill-{}-{}.csv",
            format::slug(report.team.as_deref().unwrap_or("finops")),
            report.week_start
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::from_str(s).unwrap()
    }

    #[test]
    fn the_default_week_is_the_one_that_ended_on_sunday() {
        let monday_7am = DateTime::from_str("2026-10-19T07:00:00Z").unwrap();
        assert_eq!(last_complete_week(monday_7am), day("2026-10-12"));
        let sunday_night = DateTime::from_str("2026-10-18T23:59:59Z").unwrap();
        assert_eq!(last_complete_week(sunday_night), day("2026-10-05"));
    }

    #[test]
    fn a_week_must_start_on_monday() {
        assert!(check_monday(day("2026-10-12")).is_ok());
        let err = check_monday(day("2026-10-13")).unwrap_err().to_string();
        assert!(err.contains("2026-10-13 is a Tue"), "{err}");
    }

    #[test]
    fn a_team_without_cost_gets_a_short_report_not_an_error() {
        let (week, previous_week, month, previous_month, chart_period) =
            data::periods(day("2026-10-12"));
        let report = WeeklyReport {
            team: Some("new-team".into()),
            week_start: week.first,
            week,
            previous_week,
            month,
            previous_month,
            chart_period,
            dashboard_url: String::new(),
            currencies: vec![],
            movers: vec![],
            pools: vec![],
            anomalies: vec![],
            recommendations: vec![],
            daily: vec![],
            rows: vec![],
        };
        let r = render(&report).unwrap();
        assert_eq!(
            r.subject,
            "costmill · new-team · week of 12 Oct 2026: no allocated cost"
        );
        assert!(r.html.contains("No allocated cost in these eight weeks."));
        assert!(r.html.contains("No recommendations this week."));
        assert!(!r.html.contains("cid:"), "no chart to refer to");
        assert_eq!(&r.chart_png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(r.csv, "day,team,service,currency,effective_cost\n");
        assert_eq!(r.csv_filename, "costmill-new-team-2026-10-12.csv");
    }

    #[test]
    fn change_is_in_percent_of_the_earlier_amount() {
        let c = Change::between(Decimal::from(200), Decimal::from(250));
        assert_eq!(c.amount, Decimal::from(50));
        assert_eq!(c.percent, Some(Decimal::from_str("25.0").unwrap()));
        assert_eq!(Change::between(Decimal::ZERO, Decimal::ONE).percent, None);
    }
}
