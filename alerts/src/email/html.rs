//! The HTML body: one 640-pixel column of tables with inline styles (what email clients render),
//! no external resources; the chart is an inline image referenced by Content-ID.
use std::fmt::Write;

use super::format::{
    arrow_percent, currency_label, direction, esc, long_day, money, money_in, month_name,
    short_day, signed, words, Direction,
};
use super::text::ANOMALIES_SHOWN;
use super::{Change, CurrencySection, WeeklyReport};

const FONT: &str = "-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif";
const INK: &str = "#1f2937";
const MUTED: &str = "#6b7280";
const LINE: &str = "#e5e7eb";
const UP: &str = "#b42318";
const UP_BG: &str = "#fef3f2";
const DOWN: &str = "#067647";
const DOWN_BG: &str = "#ecfdf3";
const FLAT_BG: &str = "#f2f4f7";
const NUM: &str = "text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums;";

/// Colour of a cost change: up is red, down is green.
fn colours(change: &Change) -> (&'static str, &'static str) {
    match direction(change) {
        Direction::Up => (UP, UP_BG),
        Direction::Down => (DOWN, DOWN_BG),
        Direction::Flat => (MUTED, FLAT_BG),
    }
}

/// `▲ 8.2%` in a coloured pill.
fn pill(change: &Change) -> String {
    let (fg, bg) = colours(change);
    format!(
        "<span style=\"display:inline-block;padding:2px 8px;border-radius:10px;background:{bg};color:{fg};font-size:12px;font-weight:600;white-space:nowrap;\">{}</span>",
        esc(&arrow_percent(change))
    )
}

/// `+934.10 ▲ 8.2%` in colour, for table cells.
fn change_cell(change: &Change) -> String {
    let (fg, _) = colours(change);
    format!(
        "<td style=\"{NUM}padding:8px 0 8px 12px;border-bottom:1px solid {LINE};color:{fg};font-size:13px;\">{}&nbsp;<span style=\"font-size:12px;\">{}</span></td>",
        esc(&signed(change.amount)),
        esc(&arrow_percent(change))
    )
}

fn th(text: &str, right: bool) -> String {
    let align = if right { "right" } else { "left" };
    let pad = if right {
        "0 0 6px 12px"
    } else {
        "0 12px 6px 0"
    };
    format!(
        "<th style=\"text-align:{align};padding:{pad};border-bottom:2px solid {LINE};color:{MUTED};font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:0.04em;\">{}</th>",
        esc(text)
    )
}

fn td(html: &str) -> String {
    format!(
        "<td style=\"padding:8px 12px 8px 0;border-bottom:1px solid {LINE};font-size:13px;vertical-align:top;\">{html}</td>"
    )
}

fn td_num(text: &str) -> String {
    format!(
        "<td style=\"{NUM}padding:8px 0 8px 12px;border-bottom:1px solid {LINE};font-size:13px;vertical-align:top;\">{}</td>",
        esc(text)
    )
}

fn table(headers: &[(&str, bool)], rows: &[String]) -> String {
    let mut out = String::from(
        "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse;width:100%;margin-top:10px;\"><tr>",
    );
    for (h, right) in headers {
        out.push_str(&th(h, *right));
    }
    out.push_str("</tr>");
    for r in rows {
        let _ = write!(out, "<tr>{r}</tr>");
    }
    out.push_str("</table>");
    out
}

fn section(title: &str, note: &str, body: &str) -> String {
    let note = if note.is_empty() {
        String::new()
    } else {
        format!("<div style=\"color:{MUTED};font-size:12px;margin:2px 0 10px;\">{note}</div>")
    };
    format!(
        "<tr><td style=\"padding:20px 32px 4px;\"><h2 style=\"margin:0;font-size:16px;color:{INK};\">{}</h2>{note}{body}</td></tr>",
        esc(title)
    )
}

fn muted_line(text: &str) -> String {
    format!(
        "<p style=\"margin:6px 0 0;color:{MUTED};font-size:13px;\">{}</p>",
        esc(text)
    )
}

/// One currency's two headline figures: the week and the month to date.
fn kpis(report: &WeeklyReport, section: &CurrencySection) -> String {
    let c = &section.totals;
    let card = |label: &str, amount, change: &Change, against: String| {
        format!(
            "<td width=\"48%\" style=\"width:48%;padding:16px 18px;background:#f9fafb;border:1px solid {LINE};border-radius:8px;vertical-align:top;\">\
             <div style=\"color:{MUTED};font-size:12px;text-transform:uppercase;letter-spacing:0.04em;font-weight:600;\">{}</div>\
             <div style=\"margin:6px 0 8px;font-size:26px;font-weight:700;color:{INK};white-space:nowrap;\">{} <span style=\"font-size:14px;font-weight:600;color:{MUTED};\">{}</span></div>\
             <div>{} <span style=\"color:{MUTED};font-size:12px;\">{}</span></div></td>",
            esc(label),
            esc(&money(amount)),
            esc(currency_label(&section.currency)),
            pill(change),
            esc(&against)
        )
    };
    let month = month_name(report.month.last);
    let previous = format!(
        "vs {} for {}–{} {}",
        money(c.previous_month_to_date),
        report.previous_month.first.format("%-d"),
        report.previous_month.last.format("%-d"),
        report.previous_month.first.format("%b")
    );
    format!(
        "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"width:100%;border-collapse:separate;border-spacing:0 0;margin-top:12px;\"><tr>{}<td width=\"4%\" style=\"width:4%;font-size:0;\">&nbsp;</td>{}</tr></table>",
        card(
            "This week",
            c.week,
            &c.week_change(),
            format!("vs {} last week", money(c.previous_week))
        ),
        card(
            &format!("{month} to date ({} days)", report.month.days()),
            c.month_to_date,
            &c.month_change(),
            previous
        )
    )
}

/// The sentence a person reads first.
fn headline(report: &WeeklyReport) -> String {
    let Some(main) = report.currencies.first() else {
        return "No allocated cost in these eight weeks.".into();
    };
    let who = report.team.as_deref().unwrap_or("All teams together");
    let change = main.totals.week_change();
    let mut s = format!(
        "<strong>{}</strong> spent <strong>{}</strong> in the week of {}, {} from the week before",
        esc(who),
        esc(&money_in(main.totals.week, &main.currency)),
        esc(&short_day(report.week.first)),
        esc(&words(&change))
    );
    if direction(&change) != Direction::Flat {
        let _ = write!(
            s,
            " ({} {})",
            esc(&signed(change.amount)),
            esc(currency_label(&main.currency))
        );
    }
    s.push('.');
    if let Some(m) = report.movers.iter().find(|m| m.currency == main.currency) {
        let _ = write!(
            s,
            " Biggest mover: <strong>{}</strong>, {} {}.",
            esc(&m.service),
            esc(&signed(m.change().amount)),
            esc(currency_label(&m.currency))
        );
    }
    if !report.anomalies.is_empty() {
        let n = report.anomalies.len();
        let _ = write!(
            s,
            " {n} open anomal{}.",
            if n == 1 {
                "y needs a look"
            } else {
                "ies need a look"
            }
        );
    }
    s
}

fn teams_table(report: &WeeklyReport) -> String {
    let mut out = String::new();
    let month = month_name(report.month.last);
    for section in report.currencies.iter().filter(|s| !s.teams.is_empty()) {
        let rows: Vec<String> = section
            .teams
            .iter()
            .map(|t| {
                format!(
                    "{}{}{}{}{}",
                    td(&format!("<strong>{}</strong>", esc(&t.team))),
                    td_num(&money(t.totals.week)),
                    td_num(&money(t.totals.previous_week)),
                    change_cell(&t.totals.week_change()),
                    td_num(&money(t.totals.month_to_date))
                )
            })
            .collect();
        let week = format!("This week ({})", currency_label(&section.currency));
        let mtd = format!("{month} to date");
        out.push_str(&table(
            &[
                ("Team", false),
                (&week, true),
                ("Last week", true),
                ("Change", true),
                (&mtd, true),
            ],
            &rows,
        ));
    }
    out
}

fn movers_table(report: &WeeklyReport) -> String {
    if report.movers.is_empty() {
        return muted_line("No service's cost changed from last week.");
    }
    let rows: Vec<String> = report
        .movers
        .iter()
        .map(|m| {
            let name = if report.team.is_some() {
                format!("<strong>{}</strong>", esc(&m.service))
            } else {
                format!(
                    "<strong>{}</strong> <span style=\"color:{MUTED};\">{}</span>",
                    esc(&m.service),
                    esc(&m.team)
                )
            };
            format!(
                "{}{}{}{}",
                td(&name),
                td_num(&money_in(m.week, &m.currency)),
                td_num(&money(m.previous_week)),
                change_cell(&m.change())
            )
        })
        .collect();
    table(
        &[
            ("Service", false),
            ("This week", true),
            ("Last week", true),
            ("Change", true),
        ],
        &rows,
    )
}

fn pools_table(report: &WeeklyReport) -> String {
    if report.pools.is_empty() {
        return muted_line("No shared pool charged anything this week.");
    }
    let rows: Vec<String> = report
        .pools
        .iter()
        .map(|p| {
            let whom = if report.team.is_some() {
                format!("to {}", p.services.join(", "))
            } else {
                format!(
                    "{} team{}: {}",
                    p.teams.len(),
                    if p.teams.len() == 1 { "" } else { "s" },
                    p.teams.join(", ")
                )
            };
            format!(
                "{}{}{}{}",
                td(&format!("<strong>{}</strong>", esc(&p.pool))),
                td(&format!(
                    "{}<div style=\"color:{MUTED};font-size:12px;margin-top:2px;\">{}</div>",
                    esc(&p.why()),
                    esc(&whom)
                )),
                td_num(&money_in(p.amount, &p.currency)),
                td_num(
                    &p.percent_of_week
                        .map(|x| format!("{x}%"))
                        .unwrap_or_else(|| "–".into())
                )
            )
        })
        .collect();
    table(
        &[
            ("Pool", false),
            ("How it was split", false),
            ("Charged", true),
            ("Share", true),
        ],
        &rows,
    )
}

fn anomalies_list(report: &WeeklyReport) -> String {
    if report.anomalies.is_empty() {
        return muted_line("No open anomalies.");
    }
    let mut out = String::new();
    for a in report.anomalies.iter().take(ANOMALIES_SHOWN) {
        let change = Change {
            amount: a.impact,
            percent: a.percent(),
        };
        let (fg, _) = colours(&change);
        let _ = write!(
            out,
            "<div style=\"border-left:3px solid {fg};padding:8px 12px;margin:10px 0;background:#fcfcfd;\">\
             <div style=\"font-size:13px;\"><strong>{} {}</strong> <span style=\"color:{MUTED};\">· {} · {} – {}</span>\
             <span style=\"float:right;color:{fg};font-weight:600;\">{}</span></div>\
             <div style=\"font-size:13px;margin-top:4px;\">{}</div>\
             <div style=\"font-family:Menlo,Consolas,monospace;font-size:11px;color:{MUTED};margin-top:4px;\">{}</div></div>",
            esc(&a.dimension),
            esc(&a.key),
            esc(a.kind.as_str()),
            esc(&short_day(a.first_day)),
            esc(&short_day(a.last_day)),
            esc(&format!("{} {}", signed(a.impact), currency_label(&a.currency))),
            esc(&a.summary),
            esc(&a.explain_command())
        );
    }
    if report.anomalies.len() > ANOMALIES_SHOWN {
        out.push_str(&muted_line(&format!(
            "… and {} more: costmill alerts list",
            report.anomalies.len() - ANOMALIES_SHOWN
        )));
    }
    out
}

fn recommendations_table(report: &WeeklyReport) -> String {
    if report.recommendations.is_empty() {
        return muted_line("No recommendations this week.");
    }
    let rows: Vec<String> = report
        .recommendations
        .iter()
        .map(|r| {
            let target = if r.workload.is_empty() {
                &r.service
            } else {
                &r.workload
            };
            let what = format!(
                "{}<div style=\"color:{MUTED};font-size:12px;margin-top:2px;\">{} · {}</div>",
                esc(&r.summary),
                esc(&r.kind),
                esc(target)
            );
            let costs = format!(
                "{} → {}",
                money(r.current_monthly),
                money(r.proposed_monthly)
            );
            format!(
                "{}{}<td style=\"{NUM}padding:8px 0 8px 12px;border-bottom:1px solid {LINE};font-size:13px;color:{DOWN};font-weight:600;vertical-align:top;\">{}</td>",
                td(&what),
                td_num(&costs),
                esc(&money_in(r.saving_monthly, &r.currency))
            )
        })
        .collect();
    table(
        &[
            ("Recommendation", false),
            ("Monthly cost", true),
            ("Saves / month", true),
        ],
        &rows,
    )
}

pub(crate) fn html(report: &WeeklyReport, chart_cid: &str) -> String {
    let title = match &report.team {
        Some(team) => format!("Team {team}"),
        None => "FinOps summary: all teams".to_string(),
    };
    let mut body = String::new();
    // Header band.
    let _ = write!(
        body,
        "<tr><td style=\"background:#1e293b;padding:22px 32px;border-radius:8px 8px 0 0;\">\
         <div style=\"color:#94a3b8;font-size:12px;letter-spacing:0.08em;text-transform:uppercase;font-weight:600;\">costmill · weekly cost report</div>\
         <div style=\"color:#ffffff;font-size:24px;font-weight:700;margin-top:6px;\">{}</div>\
         <div style=\"color:#cbd5e1;font-size:14px;margin-top:4px;\">{} – {} (UTC)</div></td></tr>",
        esc(&title),
        esc(&long_day(report.week.first)),
        esc(&long_day(report.week.last))
    );
    let _ = write!(
        body,
        "<tr><td style=\"padding:22px 32px 0;font-size:15px;line-height:1.5;color:{INK};\">{}",
        headline(report)
    );
    for section in &report.currencies {
        body.push_str(&kpis(report, section));
    }
    body.push_str("</td></tr>");
    if report.team.is_none() {
        body.push_str(&section("Teams", "", &teams_table(report)));
    }
    if !report.daily.is_empty() {
        let img = format!(
            "<img src=\"cid:{}\" width=\"576\" alt=\"Daily cost by service over the last {} weeks\" style=\"display:block;width:100%;max-width:576px;height:auto;border:0;margin-top:8px;\">",
            esc(chart_cid),
            super::CHART_WEEKS
        );
        let mut note = format!(
            "{} – {}, this week shaded.",
            esc(&short_day(report.chart_period.first)),
            esc(&short_day(report.chart_period.last))
        );
        let other = report
            .daily
            .iter()
            .any(|d| d.series.iter().any(|s| s.name == super::OTHER));
        if other {
            let _ = write!(
                note,
                " The top {} services by name, the rest as “other”.",
                super::CHART_SERVICES
            );
        }
        body.push_str(&section("Daily cost by service, last 8 weeks", &note, &img));
    }
    body.push_str(&section(
        "Top movers",
        "Services whose cost changed most from last week.",
        &movers_table(report),
    ));
    let pools_note = if report.team.is_some() {
        "What shared pools charged you this week, and how each was split."
    } else {
        "What each shared pool charged the teams this week, and how it was split."
    };
    body.push_str(&section("Shared costs", pools_note, &pools_table(report)));
    body.push_str(&section(
        &format!("Open anomalies ({})", report.anomalies.len()),
        "",
        &anomalies_list(report),
    ));
    body.push_str(&section(
        "Top recommendations",
        "",
        &recommendations_table(report),
    ));
    // Footer.
    let button = if report.dashboard_url.is_empty() {
        String::new()
    } else {
        format!(
            "<a href=\"{}\" style=\"display:inline-block;background:#2563eb;color:#ffffff;text-decoration:none;font-weight:600;font-size:14px;padding:10px 18px;border-radius:6px;margin-bottom:14px;\">Open the cost dashboard</a>",
            esc(&report.dashboard_url)
        )
    };
    let _ = write!(
        body,
        "<tr><td style=\"padding:24px 32px 28px;\">{button}<div style=\"color:{MUTED};font-size:12px;line-height:1.5;\">\
         Effective (amortized) cost per currency, as <code>costmill costs --by team</code> reports it; amounts in different currencies are never added. \
         The attached CSV has the daily figures behind the chart, with exact decimals.</div></td></tr>"
    );
    let preheader = esc(&super::text::subject(report));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title></head>\
         <body style=\"margin:0;padding:0;background:#f1f5f9;\">\
         <div style=\"display:none;max-height:0;overflow:hidden;\">{preheader}</div>\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"background:#f1f5f9;\"><tr><td align=\"center\" style=\"padding:24px 12px;\">\
         <table role=\"presentation\" width=\"640\" cellpadding=\"0\" cellspacing=\"0\" style=\"width:640px;max-width:640px;background:#ffffff;border-radius:8px;font-family:{FONT};color:{INK};\">\
         {body}</table></td></tr></table></body></html>\n",
        esc(&title)
    )
}
