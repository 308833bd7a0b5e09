//! The subject line, the plain-text alternative and the CSV attachment of a weekly report.
use std::fmt::Write;

use super::format::{
    arrow_percent, currency_label, long_day, money, money_in, month_name, short_day, signed,
};
use super::{Change, WeeklyReport};
use crate::AlertError;

/// Open anomalies listed in full; the rest are counted.
pub(crate) const ANOMALIES_SHOWN: usize = 8;

/// `costmill · payments · week of 12 Oct 2026: 12,345.67 USD (▲ 8.2%)`; every currency is named.
pub(crate) fn subject(report: &WeeklyReport) -> String {
    let who = match &report.team {
        Some(team) => team.clone(),
        None => "FinOps summary".to_string(),
    };
    let figures: Vec<String> = report
        .currencies
        .iter()
        .filter(|c| !c.totals.week.is_zero() || !c.totals.previous_week.is_zero())
        .map(|c| {
            format!(
                "{} ({})",
                money_in(c.totals.week, &c.currency),
                arrow_percent(&c.totals.week_change())
            )
        })
        .collect();
    let figures = if figures.is_empty() {
        "no allocated cost".to_string()
    } else {
        figures.join(", ")
    };
    format!(
        "costmill · {who} · week of {}: {figures}",
        report.week_start.format("%-d %b %Y")
    )
}

/// A change for text: `+934.10 (▲ 8.2%)`.
fn change_text(change: &Change) -> String {
    format!("{} ({})", signed(change.amount), arrow_percent(change))
}

pub(crate) fn plain(report: &WeeklyReport) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "costmill weekly cost report: {}", report.audience());
    let _ = writeln!(
        t,
        "Week {} to {} (UTC). Effective (amortized) cost, as `costmill costs --by team` reports it.",
        long_day(report.week.first),
        long_day(report.week.last)
    );
    if report.currencies.is_empty() {
        let _ = writeln!(t, "\nNo allocated cost in these eight weeks.");
    }
    let month = month_name(report.month.last);
    let previous = format!(
        "{}–{} {}",
        report.previous_month.first.format("%-d"),
        report.previous_month.last.format("%-d"),
        month_name(report.previous_month.first)
    );
    for section in &report.currencies {
        let c = &section.totals;
        let _ = writeln!(t, "\n{}", currency_label(&section.currency));
        let _ = writeln!(
            t,
            "  This week          {:>18}   {}   last week {}",
            money_in(c.week, &section.currency),
            change_text(&c.week_change()),
            money(c.previous_week)
        );
        let _ = writeln!(
            t,
            "  {:<18} {:>18}   {}   {previous}: {}",
            format!("{month} to date"),
            money_in(c.month_to_date, &section.currency),
            change_text(&c.month_change()),
            money(c.previous_month_to_date)
        );
        for team in &section.teams {
            let _ = writeln!(
                t,
                "    {:<22} {:>16}   {:<24} {month} to date {}",
                team.team,
                money(team.totals.week),
                change_text(&team.totals.week_change()),
                money(team.totals.month_to_date)
            );
        }
    }

    let _ = writeln!(t, "\nTop movers (this week against last week)");
    if report.movers.is_empty() {
        let _ = writeln!(t, "  No service changed.");
    }
    for m in &report.movers {
        let who = if report.team.is_some() {
            m.service.clone()
        } else {
            format!("{} ({})", m.service, m.team)
        };
        let _ = writeln!(
            t,
            "  {who:<32} {:>18}   {}",
            money_in(m.week, &m.currency),
            change_text(&m.change())
        );
    }

    let _ = writeln!(t, "\nShared costs (what pools charged this week)");
    if report.pools.is_empty() {
        let _ = writeln!(t, "  No shared pool charged anything this week.");
    }
    for p in &report.pools {
        let share = p
            .percent_of_week
            .map(|x| format!(", {x}% of the week"))
            .unwrap_or_default();
        let _ = writeln!(
            t,
            "  {:<24} {:>18}{share}: {}",
            p.pool,
            money_in(p.amount, &p.currency),
            p.why()
        );
    }

    let _ = writeln!(t, "\nOpen anomalies");
    if report.anomalies.is_empty() {
        let _ = writeln!(t, "  None open.");
    }
    for a in report.anomalies.iter().take(ANOMALIES_SHOWN) {
        let _ = writeln!(
            t,
            "  - {} {} {}, {} to {}: {} (impact {}). {}",
            a.kind.as_str(),
            a.dimension,
            a.key,
            short_day(a.first_day),
            short_day(a.last_day),
            a.summary,
            money_in(a.impact, &a.currency),
            a.explain_command()
        );
    }
    if report.anomalies.len() > ANOMALIES_SHOWN {
        let _ = writeln!(
            t,
            "  … and {} more: costmill alerts list",
            report.anomalies.len() - ANOMALIES_SHOWN
        );
    }

    let _ = writeln!(t, "\nTop recommendations");
    if report.recommendations.is_empty() {
        let _ = writeln!(t, "  No recommendations this week.");
    }
    for r in &report.recommendations {
        let _ = writeln!(
            t,
            "  - {} ({} {}): saves {} a month ({} → {})",
            r.summary,
            r.kind,
            if r.workload.is_empty() {
                &r.service
            } else {
                &r.workload
            },
            money_in(r.saving_monthly, &r.currency),
            money(r.current_monthly),
            money(r.proposed_monthly)
        );
    }

    let _ = writeln!(
        t,
        "\nThe HTML version has a chart of daily cost by service over the last {} weeks; the \
         attached CSV has the daily figures behind it, with exact decimals.",
        super::CHART_WEEKS
    );
    if !report.dashboard_url.is_empty() {
        let _ = writeln!(t, "Dashboard: {}", report.dashboard_url);
    }
    t
}

/// The daily data behind the chart: one row per day, team, service and currency over the chart's
/// weeks, with exact decimals.
pub(crate) fn csv(report: &WeeklyReport) -> Result<String, AlertError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| AlertError::Email {
        recipient: report.audience().to_string(),
        message: format!("CSV attachment: {e}"),
    };
    writer
        .write_record(["day", "team", "service", "currency", "effective_cost"])
        .map_err(err)?;
    for row in &report.rows {
        writer
            .write_record([
                row.day.to_string(),
                row.team.clone(),
                row.service.clone(),
                row.currency.clone(),
                row.effective.to_string(),
            ])
            .map_err(err)?;
    }
    let bytes = writer.into_inner().map_err(|e| AlertError::Email {
        recipient: report.audience().to_string(),
        message: format!("CSV attachment: {e}"),
    })?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 strings"))
}
