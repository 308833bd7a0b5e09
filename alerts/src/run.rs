//! One alerting pass, as `costmill serve` runs it on its schedule and `costmill alerts check` runs
//! it on demand: spikes, month over month and budgets, reconciled with the stored alerts.
use chrono::{Duration, NaiveDate};

use crate::config::{AlertsConfig, BudgetConfig};
use crate::detect::{self, Dimension};
use crate::model::{Alert, AlertState};
use crate::{budget, store, AlertError};
use queries::Store;

/// What one pass found and wrote.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// The last complete day looked at, for owners and for billing dimensions.
    pub owners_as_of: Option<NaiveDate>,
    pub billing_as_of: Option<NaiveDate>,
    /// Alerts created or changed by this pass (state changes included).
    pub written: Vec<Alert>,
    /// Every alert open after the pass.
    pub open: Vec<Alert>,
    pub budgets: Vec<budget::BudgetStatus>,
}

/// Check the configuration before anything runs; errors name the key.
pub fn validate(cfg: &AlertsConfig) -> Result<(Vec<Dimension>, Vec<Dimension>), AlertError> {
    let spikes = detect::parse_dimensions(&cfg.spike.dimensions, "alerts.spike.dimensions")?;
    let mom = detect::parse_dimensions(
        &cfg.month_over_month.dimensions,
        "alerts.month_over_month.dimensions",
    )?;
    if !["effective", "billed"].contains(&cfg.spike.metric.as_str()) {
        return Err(AlertError::Config {
            key: "alerts.spike.metric".into(),
            message: format!("`{}`: use effective or billed", cfg.spike.metric),
        });
    }
    if cfg.spike.baseline_days < 14 {
        return Err(AlertError::Config {
            key: "alerts.spike.baseline_days".into(),
            message: "at least 14 (two of each weekday)".into(),
        });
    }
    Ok((spikes, mom))
}

/// An alert acknowledged while this pass ran (after it read the alerts) stays acknowledged: the
/// state is read again right before the write.
async fn keep_acknowledgements(store: &Store, alerts: &mut [Alert]) -> Result<(), AlertError> {
    if alerts.is_empty() {
        return Ok(());
    }
    let acknowledged = store::list(store, &[AlertState::Acknowledged]).await?;
    for a in alerts.iter_mut().filter(|a| a.state == AlertState::Open) {
        if let Some(ack) = acknowledged
            .iter()
            .find(|k| k.id == a.id && k.revision == a.revision)
        {
            a.state = AlertState::Acknowledged;
            a.acked_by = ack.acked_by.clone();
        }
    }
    Ok(())
}

/// Run spike, month-over-month and budget checks for the data up to `today` (exclusive: today is
/// never complete) and store what changed.
pub async fn check(
    store: &Store,
    cfg: &AlertsConfig,
    budgets: &[BudgetConfig],
    today: NaiveDate,
) -> Result<CheckReport, AlertError> {
    let (spike_dims, mom_dims) = validate(cfg)?;
    let existing = store::list(store, &[]).await?;
    let (owners_last, billing_last) = detect::last_days(store).await?;
    let yesterday = today - Duration::days(1);
    let settle = Duration::days(cfg.spike.settle_days as i64);
    let owners_as_of = owners_last.map(|d| (d - settle).min(yesterday));
    let billing_as_of = billing_last.map(|d| (d - settle).min(yesterday));
    let as_of = |dim: Dimension| match dim {
        Dimension::Owner(_) => owners_as_of,
        Dimension::Billing(_) => billing_as_of,
    };

    let mut written = Vec::new();
    // Spike alerts of a series no longer watched are over: nothing would ever resolve them.
    for a in &existing {
        if a.kind == crate::AlertKind::Spike
            && a.state != AlertState::Resolved
            && !spike_dims.iter().any(|d| d.name() == a.dimension)
        {
            written.push(Alert {
                state: AlertState::Resolved,
                updated_at: chrono::Utc::now(),
                ..a.clone()
            });
        }
    }
    for dim in spike_dims {
        if let Some(day) = as_of(dim) {
            written.extend(detect::spike::detect(store, &cfg.spike, dim, day, &existing).await?);
        }
    }
    for dims in [
        mom_dims
            .iter()
            .copied()
            .filter(|d| matches!(d, Dimension::Owner(_)))
            .collect::<Vec<_>>(),
        mom_dims
            .iter()
            .copied()
            .filter(|d| matches!(d, Dimension::Billing(_)))
            .collect(),
    ] {
        if let Some(day) = dims.first().and_then(|d| as_of(*d)) {
            written.extend(
                detect::mom::detect(
                    store,
                    &cfg.month_over_month,
                    &dims,
                    &cfg.spike.metric,
                    day,
                    &existing,
                )
                .await?,
            );
        }
    }
    // Detection is saved before budgets run, so a failing budget check loses none of it.
    keep_acknowledgements(store, &mut written).await?;
    store::save(store, &written).await?;
    let statuses = budget::check(store, budgets, today).await?;
    let mut budget_alerts = budget::alerts_for(&statuses, &existing, chrono::Utc::now());
    keep_acknowledgements(store, &mut budget_alerts).await?;
    store::save(store, &budget_alerts).await?;
    written.extend(budget_alerts);
    let open = store::list(store, &[AlertState::Open]).await?;
    Ok(CheckReport {
        owners_as_of,
        billing_as_of,
        written,
        open,
        budgets: statuses,
    })
}
