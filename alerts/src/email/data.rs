//! Gathering a weekly report from ClickHouse: daily allocated cost (sql/email_daily.sql), what the
//! shared pools charged (sql/email_pools.sql), open alerts and the latest recommendations
//! (sql/email_recommendations.sql). Sums are kept in Decimal(38, 18) units (i128) until the end, so
//! they are exactly ClickHouse's `sum(effective)`.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate};
use clickhouse::Row;
use queries::{q, Dec18, Param, Query, Store};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::{
    check_monday, CurrencySection, DailyCost, DailySeries, Mover, Period, PoolCharge,
    Recommendation, ServiceSeries, TeamTotals, Totals, WeeklyReport, CHART_SERVICES, CHART_WEEKS,
    OTHER,
};
use crate::model::from_day_number;
use crate::{AlertError, AlertState};

/// Movers listed per currency.
const MOVERS: usize = 5;
/// Recommendations listed.
const RECOMMENDATIONS: u32 = 5;
/// How the FinOps summary names spend without a team.
const NO_TEAM: &str = "(none)";

/// sql/email_daily.sql
#[derive(Debug, Clone, Row, Deserialize)]
struct DayRow {
    day: u16,
    team: String,
    service: String,
    currency: String,
    effective: Dec18,
}

/// sql/email_pools.sql
#[derive(Debug, Clone, Row, Deserialize)]
struct PoolRow {
    pool: String,
    currency: String,
    effective: Dec18,
    teams: Vec<String>,
    methods: Vec<String>,
    services: Vec<String>,
    fallback_days: u64,
}

/// The periods of the week starting on `week_start`: (week, previous week, month to date,
/// previous month to date, chart).
pub(crate) fn periods(week_start: NaiveDate) -> (Period, Period, Period, Period, Period) {
    let week = Period {
        first: week_start,
        last: week_start + Duration::days(6),
    };
    let previous_week = Period {
        first: week_start - Duration::days(7),
        last: week_start - Duration::days(1),
    };
    let month_first = week.last.with_day(1).expect("day 1");
    let month = Period {
        first: month_first,
        last: week.last,
    };
    let previous_first = (month_first - Duration::days(1))
        .with_day(1)
        .expect("day 1");
    let previous_len = (month_first - previous_first).num_days();
    let previous_month = Period {
        first: previous_first,
        last: previous_first + Duration::days(month.days().min(previous_len) - 1),
    };
    let chart = Period {
        first: week_start - Duration::days(7 * (CHART_WEEKS - 1)),
        last: week.last,
    };
    (week, previous_week, month, previous_month, chart)
}

fn scoped(query: Query, team: Option<&str>, period: Period) -> Query {
    query
        .bind("from", Param::Date(period.first))
        .bind("to", Param::Date(period.end()))
        .bind("all_teams", Param::Int(team.is_none() as i128))
        .bind_str("team", team.unwrap_or_default())
}

fn dec(units: i128) -> Result<Decimal, AlertError> {
    Ok(Dec18(units).to_decimal()?)
}

/// Week and month sums of one series, in Decimal(38, 18) units.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    week: i128,
    previous_week: i128,
    month: i128,
    previous_month: i128,
}

impl Sums {
    fn totals(&self) -> Result<Totals, AlertError> {
        Ok(Totals {
            week: dec(self.week)?,
            previous_week: dec(self.previous_week)?,
            month_to_date: dec(self.month)?,
            previous_month_to_date: dec(self.previous_month)?,
        })
    }
}

/// Gather the report of `team` (`None`: the FinOps summary of all teams) for the week starting on
/// Monday `week_start`.
pub async fn weekly_report(
    store: &Store,
    team: Option<&str>,
    week_start: NaiveDate,
    dashboard_url: &str,
) -> Result<WeeklyReport, AlertError> {
    check_monday(week_start)?;
    let (week, previous_week, month, previous_month, chart) = periods(week_start);
    let window = Period {
        first: chart.first.min(previous_month.first),
        last: week.last,
    };
    let rows: Vec<DayRow> = store
        .fetch_all(&scoped(q::email_daily(), team, window))
        .await?;
    tracing::debug!(team = ?team, %week_start, rows = rows.len(), "weekly report: daily costs");

    // Totals per currency, per (currency, team) and per (currency, service, team).
    let mut by_currency: BTreeMap<&str, Sums> = BTreeMap::new();
    let mut by_team: BTreeMap<(&str, &str), Sums> = BTreeMap::new();
    let mut by_service: BTreeMap<(&str, &str, &str), Sums> = BTreeMap::new();
    let mut team_services: BTreeSet<&str> = BTreeSet::new();
    for row in &rows {
        let day = from_day_number(row.day);
        let key = (row.currency.as_str(), row.team.as_str());
        team_services.insert(&row.service);
        for sums in [
            by_currency.entry(&row.currency).or_default(),
            by_team.entry(key).or_default(),
            by_service
                .entry((&row.currency, &row.service, &row.team))
                .or_default(),
        ] {
            let v = row.effective.0;
            if week.contains(day) {
                sums.week += v;
            }
            if previous_week.contains(day) {
                sums.previous_week += v;
            }
            if month.contains(day) {
                sums.month += v;
            }
            if previous_month.contains(day) {
                sums.previous_month += v;
            }
        }
    }

    let mut currencies = Vec::new();
    for (currency, sums) in &by_currency {
        let mut teams = Vec::new();
        if team.is_none() {
            for ((c, t), s) in &by_team {
                if c == currency {
                    let name = if t.is_empty() { NO_TEAM } else { t };
                    teams.push(TeamTotals {
                        team: name.to_string(),
                        totals: s.totals()?,
                    });
                }
            }
            teams.sort_by(|a, b| b.totals.week.cmp(&a.totals.week).then(a.team.cmp(&b.team)));
        }
        currencies.push(CurrencySection {
            currency: currency.to_string(),
            totals: sums.totals()?,
            teams,
        });
    }
    currencies.sort_by(|a, b| {
        b.totals
            .week
            .cmp(&a.totals.week)
            .then(a.currency.cmp(&b.currency))
    });

    let movers = movers(&currencies, &by_service)?;
    let (daily, csv_rows) = daily(&rows, &currencies, chart)?;
    let pools = pools(store, team, week, &currencies).await?;

    let mut anomalies = crate::store::list(store, &[AlertState::Open]).await?;
    if let Some(team) = team {
        anomalies.retain(|a| match a.dimension.as_str() {
            "team" => a.key == team,
            "service" => team_services.contains(a.key.as_str()),
            _ => false,
        });
    }

    let recommendations = store
        .fetch_all::<queries::rows::RecommendationRow>(
            &q::email_recommendations()
                .bind("all_teams", Param::Int(team.is_none() as i128))
                .bind_str("team", team.unwrap_or_default())
                .bind("limit", Param::Int(RECOMMENDATIONS as i128)),
        )
        .await?
        .into_iter()
        .map(|r| {
            Ok(Recommendation {
                current_monthly: r.current_monthly.to_decimal()?,
                proposed_monthly: r.proposed_monthly.to_decimal()?,
                saving_monthly: r.saving_monthly.to_decimal()?,
                id: r.id,
                kind: r.kind,
                workload: r.workload,
                team: r.team,
                service: r.service,
                currency: r.currency,
                summary: r.summary,
            })
        })
        .collect::<Result<Vec<_>, AlertError>>()?;

    Ok(WeeklyReport {
        team: team.map(String::from),
        week_start,
        week,
        previous_week,
        month,
        previous_month,
        chart_period: chart,
        dashboard_url: dashboard_url.to_string(),
        currencies,
        movers,
        pools,
        anomalies,
        recommendations,
        daily,
        rows: csv_rows,
    })
}

/// Per currency (in the order of the sections), the services whose week changed most.
fn movers(
    currencies: &[CurrencySection],
    by_service: &BTreeMap<(&str, &str, &str), Sums>,
) -> Result<Vec<Mover>, AlertError> {
    let mut out = Vec::new();
    for section in currencies {
        let mut changed: Vec<(&str, &str, &Sums)> = by_service
            .iter()
            .filter(|((c, _, _), s)| *c == section.currency && s.week != s.previous_week)
            .map(|((_, service, team), s)| (*service, *team, s))
            .collect();
        changed.sort_by(|a, b| {
            let delta = |s: &Sums| (s.week - s.previous_week).abs();
            delta(b.2)
                .cmp(&delta(a.2))
                .then((a.0, a.1).cmp(&(b.0, b.1)))
        });
        for (service, team, sums) in changed.into_iter().take(MOVERS) {
            out.push(Mover {
                service: service.to_string(),
                team: team.to_string(),
                currency: section.currency.clone(),
                week: dec(sums.week)?,
                previous_week: dec(sums.previous_week)?,
            });
        }
    }
    Ok(out)
}

/// The chart's series (top services and "other", per currency) and the CSV rows.
fn daily(
    rows: &[DayRow],
    currencies: &[CurrencySection],
    chart: Period,
) -> Result<(Vec<DailySeries>, Vec<DailyCost>), AlertError> {
    let days: Vec<NaiveDate> = chart
        .first
        .iter_days()
        .take(chart.days() as usize)
        .collect();
    let mut csv_rows = Vec::new();
    // currency → service → units per day of the chart.
    let mut values: BTreeMap<&str, BTreeMap<&str, Vec<i128>>> = BTreeMap::new();
    for row in rows {
        let day = from_day_number(row.day);
        if !chart.contains(day) {
            continue;
        }
        let index = (day - chart.first).num_days() as usize;
        values
            .entry(&row.currency)
            .or_default()
            .entry(&row.service)
            .or_insert_with(|| vec![0; days.len()])[index] += row.effective.0;
        csv_rows.push(DailyCost {
            day,
            team: row.team.clone(),
            service: row.service.clone(),
            currency: row.currency.clone(),
            effective: row.effective.to_decimal()?,
        });
    }
    let mut out = Vec::new();
    for section in currencies {
        let Some(services) = values.get(section.currency.as_str()) else {
            continue;
        };
        let mut ranked: Vec<(&str, &Vec<i128>)> = services.iter().map(|(s, v)| (*s, v)).collect();
        let total = |v: &Vec<i128>| v.iter().sum::<i128>();
        ranked.sort_by(|a, b| total(b.1).cmp(&total(a.1)).then(a.0.cmp(b.0)));
        let mut series = Vec::new();
        let mut other = vec![0i128; days.len()];
        for (i, (name, units)) in ranked.iter().enumerate() {
            if i < CHART_SERVICES || ranked.len() == CHART_SERVICES + 1 {
                series.push(ServiceSeries {
                    name: name.to_string(),
                    values: units.iter().map(|u| dec(*u)).collect::<Result<_, _>>()?,
                });
            } else {
                for (o, u) in other.iter_mut().zip(units.iter()) {
                    *o += u;
                }
            }
        }
        if ranked.len() > CHART_SERVICES + 1 {
            series.push(ServiceSeries {
                name: OTHER.to_string(),
                values: other.iter().map(|u| dec(*u)).collect::<Result<_, _>>()?,
            });
        }
        out.push(DailySeries {
            currency: section.currency.clone(),
            days: days.clone(),
            series,
        });
    }
    Ok((out, csv_rows))
}

/// What the shared pools charged in the week, biggest first per currency.
async fn pools(
    store: &Store,
    team: Option<&str>,
    week: Period,
    currencies: &[CurrencySection],
) -> Result<Vec<PoolCharge>, AlertError> {
    let rows: Vec<PoolRow> = store
        .fetch_all(&scoped(q::email_pools(), team, week))
        .await?;
    let mut out = Vec::new();
    for section in currencies {
        for row in rows.iter().filter(|r| r.currency == section.currency) {
            let amount = row.effective.to_decimal()?;
            let week_total = section.totals.week;
            let sorted = |v: &Vec<String>| {
                let mut v = v.clone();
                v.sort();
                v
            };
            out.push(PoolCharge {
                pool: row.pool.clone(),
                currency: row.currency.clone(),
                teams: sorted(&row.teams),
                amount,
                percent_of_week: (!week_total.is_zero())
                    .then(|| (amount * Decimal::from(100) / week_total).round_dp(1)),
                methods: sorted(&row.methods),
                services: sorted(&row.services),
                fallback_days: row.fallback_days,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::from_str(s).unwrap()
    }

    #[test]
    fn month_to_date_is_compared_with_as_many_days_of_the_month_before() {
        let (week, previous_week, month, previous_month, chart) = periods(day("2026-10-12"));
        assert_eq!(
            (week.first, week.last),
            (day("2026-10-12"), day("2026-10-18"))
        );
        assert_eq!(previous_week.first, day("2026-10-05"));
        assert_eq!(
            (month.first, month.last),
            (day("2026-10-01"), day("2026-10-18"))
        );
        assert_eq!(
            (previous_month.first, previous_month.last),
            (day("2026-09-01"), day("2026-09-18"))
        );
        assert_eq!(chart.first, day("2026-08-24"));
        assert_eq!(chart.days(), 56);
        // A week ending on March 31st: February has fewer days, all of them are compared.
        let (_, _, month, previous_month, _) = periods(day("2025-03-25"));
        assert_eq!(month.days(), 31);
        assert_eq!(
            (previous_month.first, previous_month.last),
            (day("2025-02-01"), day("2025-02-28"))
        );
        // A week across a month boundary: the month is the one of its Sunday.
        let (_, _, month, previous_month, _) = periods(day("2026-09-28"));
        assert_eq!(
            (month.first, month.last),
            (day("2026-10-01"), day("2026-10-04"))
        );
        assert_eq!(previous_month.last, day("2026-09-04"));
    }
}
