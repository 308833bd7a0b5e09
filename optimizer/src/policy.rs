//! The migration policy (`[migrations.policy]` in costmill.toml): what the executors may move,
//! when, and how many at once. The runner ([`crate::execute::runner`]) checks it before every
//! move; a move outside it waits (it stays approved) and the run says why.
use std::str::FromStr;

use chrono::{DateTime, Utc};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::migration::MigrationRow;

/// `[migrations.policy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MigrationPolicy {
    /// Only say what would be done; change nothing and record nothing. Default: `true`.
    /// `costmill migrations execute --apply` overrides it for one run.
    pub dry_run: bool,
    /// Approve proposals within the policy by itself (actor `policy`), so that costmill moves
    /// workloads on its own. Default: `false`: a person approves each one.
    pub auto_approve: bool,
    /// Moves rolled out at once in a run; more wait for the next run. Default: 1.
    pub max_concurrent: usize,
    /// Kubernetes namespaces whose workloads may move (globs; empty: all). Default: empty.
    pub allow_namespaces: Vec<String>,
    /// Kubernetes namespaces whose workloads never move (globs). Default: empty.
    pub deny_namespaces: Vec<String>,
    /// Teams whose workloads may move (globs; empty: all). Default: empty.
    pub allow_teams: Vec<String>,
    /// Teams whose workloads never move (globs). Default: empty.
    pub deny_teams: Vec<String>,
    /// Workload ids that may move, e.g. `k8s://prod/*` or `slurm://hpc/*` (globs; empty: all).
    /// Default: empty.
    pub allow_workloads: Vec<String>,
    /// Workload ids that never move (globs). Default: empty.
    pub deny_workloads: Vec<String>,
    /// Moves start only inside one of these windows (UTC); empty: at any time. Rollbacks are
    /// not held back by windows or lists: they put things back as they were. Default: empty.
    pub maintenance_windows: Vec<MaintenanceWindow>,
}

impl Default for MigrationPolicy {
    fn default() -> Self {
        MigrationPolicy {
            dry_run: true,
            auto_approve: false,
            max_concurrent: 1,
            allow_namespaces: Vec::new(),
            deny_namespaces: Vec::new(),
            allow_teams: Vec::new(),
            deny_teams: Vec::new(),
            allow_workloads: Vec::new(),
            deny_workloads: Vec::new(),
            maintenance_windows: Vec::new(),
        }
    }
}

/// A window that opens at each time of `cron` and stays open `duration_minutes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// Cron expression with seconds, UTC, e.g. `0 0 2 * * Sat` (Saturdays 02:00).
    pub cron: String,
    /// How long it stays open, in minutes.
    pub duration_minutes: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("migrations.policy.{key}: {reason}")]
    Invalid { key: String, reason: String },
}

/// The policy, compiled.
#[derive(Debug, Clone)]
pub struct Policy {
    pub dry_run: bool,
    pub auto_approve: bool,
    pub max_concurrent: usize,
    namespaces: Lists,
    teams: Lists,
    workloads: Lists,
    windows: Vec<(cron::Schedule, chrono::Duration)>,
}

#[derive(Debug, Clone)]
struct Lists {
    allow: Option<GlobSet>,
    deny: GlobSet,
}

impl Lists {
    fn new(key: &str, allow: &[String], deny: &[String]) -> Result<Lists, PolicyError> {
        let set = |which: &str, globs: &[String]| -> Result<GlobSet, PolicyError> {
            let mut builder = GlobSetBuilder::new();
            for g in globs {
                builder.add(Glob::new(g).map_err(|e| PolicyError::Invalid {
                    key: format!("{which}_{key}"),
                    reason: format!("`{g}` is not a glob: {e}"),
                })?);
            }
            builder.build().map_err(|e| PolicyError::Invalid {
                key: format!("{which}_{key}"),
                reason: e.to_string(),
            })
        };
        Ok(Lists {
            allow: if allow.is_empty() {
                None
            } else {
                Some(set("allow", allow)?)
            },
            deny: set("deny", deny)?,
        })
    }

    /// Why `value` may not move, if it may not.
    fn refuses(&self, what: &str, value: &str) -> Option<String> {
        if self.deny.is_match(value) {
            return Some(format!("{what} `{value}` is in the policy's deny list"));
        }
        match &self.allow {
            Some(allow) if !allow.is_match(value) => Some(format!(
                "{what} `{value}` is not in the policy's allow list"
            )),
            _ => None,
        }
    }
}

impl MigrationPolicy {
    pub fn compile(&self) -> Result<Policy, PolicyError> {
        if self.max_concurrent == 0 {
            return Err(PolicyError::Invalid {
                key: "max_concurrent".into(),
                reason: "must be at least 1".into(),
            });
        }
        let mut windows = Vec::new();
        for (i, w) in self.maintenance_windows.iter().enumerate() {
            let schedule = cron::Schedule::from_str(&w.cron).map_err(|e| PolicyError::Invalid {
                key: format!("maintenance_windows[{i}].cron"),
                reason: format!(
                    "`{}` is not a cron expression with seconds, such as `0 0 2 * * Sat`: {e}",
                    w.cron
                ),
            })?;
            if w.duration_minutes == 0 {
                return Err(PolicyError::Invalid {
                    key: format!("maintenance_windows[{i}].duration_minutes"),
                    reason: "must be at least 1".into(),
                });
            }
            windows.push((
                schedule,
                chrono::Duration::minutes(w.duration_minutes.into()),
            ));
        }
        Ok(Policy {
            dry_run: self.dry_run,
            auto_approve: self.auto_approve,
            max_concurrent: self.max_concurrent,
            namespaces: Lists::new("namespaces", &self.allow_namespaces, &self.deny_namespaces)?,
            teams: Lists::new("teams", &self.allow_teams, &self.deny_teams)?,
            workloads: Lists::new("workloads", &self.allow_workloads, &self.deny_workloads)?,
            windows,
        })
    }
}

/// The Kubernetes namespace of a workload id `k8s://cluster/namespace/name`.
pub fn k8s_namespace(workload: &str) -> Option<&str> {
    let rest = workload.strip_prefix("k8s://")?;
    let mut parts = rest.split('/');
    parts.next()?;
    parts.next().filter(|ns| !ns.is_empty())
}

impl Policy {
    /// Why this migration may not move at `now`, if it may not.
    pub fn refuses(&self, m: &MigrationRow, now: DateTime<Utc>) -> Option<String> {
        if let Some(reason) = self.workloads.refuses("workload", &m.workload) {
            return Some(reason);
        }
        if let Some(ns) = k8s_namespace(&m.workload) {
            if let Some(reason) = self.namespaces.refuses("namespace", ns) {
                return Some(reason);
            }
        }
        if let Some(reason) = self.teams.refuses("team", &m.team) {
            return Some(reason);
        }
        if !self.in_window(now) {
            return Some(format!(
                "outside every maintenance window (next opens {})",
                self.next_window(now)
                    .map_or("never".to_string(), |t| t.to_rfc3339())
            ));
        }
        None
    }

    /// Inside a maintenance window at `now` (always, when there are none).
    pub fn in_window(&self, now: DateTime<Utc>) -> bool {
        self.windows.is_empty()
            || self.windows.iter().any(|(schedule, length)| {
                // The latest opening at or before now is the first after (now - length), if
                // that is not later than now.
                schedule
                    .after(&(now - *length))
                    .next()
                    .is_some_and(|open| open <= now)
            })
    }

    /// When the next window opens after `now`.
    pub fn next_window(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.windows
            .iter()
            .filter_map(|(schedule, _)| schedule.after(&now).next())
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use queries::Dec18;

    fn row(workload: &str, team: &str) -> MigrationRow {
        MigrationRow {
            id: "mig-1".into(),
            created_at: 0,
            created_by: "t".into(),
            kind: "kubernetes".into(),
            workload: workload.into(),
            team: team.into(),
            service: "s".into(),
            env: String::new(),
            from_placement: String::new(),
            to_placement: String::new(),
            spec_before: String::new(),
            spec_after: String::new(),
            saving_month: Dec18(0),
            currency: "USD".into(),
            evidence: String::new(),
            status: "approved".into(),
            updated_at: 0,
            updated_by: String::new(),
            events: 1,
        }
    }

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        // 2026-11-28 is a Saturday.
        Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap()
    }

    #[test]
    fn deny_wins_over_allow_and_an_allow_list_admits_only_its_own() {
        let policy = MigrationPolicy {
            allow_namespaces: vec!["payments*".into(), "search".into()],
            deny_namespaces: vec!["payments-critical".into()],
            deny_teams: vec!["finance".into()],
            deny_workloads: vec!["k8s://prod/search/indexer".into()],
            ..MigrationPolicy::default()
        }
        .compile()
        .unwrap();
        let now = at(28, 3, 0);
        assert_eq!(
            policy.refuses(&row("k8s://prod/payments-api/web", "pay"), now),
            None
        );
        let why = |w: &str, t: &str| policy.refuses(&row(w, t), now).unwrap_or_default();
        assert!(why("k8s://prod/payments-critical/ledger", "pay").contains("deny list"));
        assert!(why("k8s://prod/checkout/web", "shop").contains("not in the policy's allow list"));
        assert!(why("k8s://prod/search/api", "finance").contains("team `finance`"));
        assert!(why("k8s://prod/search/indexer", "search").contains("workload"));
        // Slurm workloads have no namespace: the namespace lists do not apply to them.
        assert_eq!(
            policy.refuses(&row("slurm://hpc/debug/team-a", "a"), now),
            None
        );
    }

    #[test]
    fn windows_open_at_their_cron_times_for_their_length() {
        let policy = MigrationPolicy {
            maintenance_windows: vec![MaintenanceWindow {
                cron: "0 0 2 * * Sat".into(),
                duration_minutes: 120,
            }],
            ..MigrationPolicy::default()
        }
        .compile()
        .unwrap();
        assert!(!policy.in_window(at(28, 1, 59)));
        assert!(policy.in_window(at(28, 2, 0)));
        assert!(policy.in_window(at(28, 3, 59)));
        assert!(!policy.in_window(at(28, 4, 0)));
        assert!(!policy.in_window(at(27, 2, 30)), "a Friday");
        let why = policy
            .refuses(&row("k8s://prod/a/b", "t"), at(28, 5, 0))
            .unwrap();
        assert!(why.contains("2026-12-05T02:00:00"), "{why}");
        // No window: always open.
        let open = MigrationPolicy::default().compile().unwrap();
        assert!(open.in_window(at(27, 13, 0)));
    }

    #[test]
    fn bad_settings_name_their_key() {
        let bad = MigrationPolicy {
            maintenance_windows: vec![MaintenanceWindow {
                cron: "every saturday".into(),
                duration_minutes: 60,
            }],
            ..MigrationPolicy::default()
        };
        let e = bad.compile().unwrap_err().to_string();
        assert!(e.contains("maintenance_windows[0].cron"), "{e}");
        let e = MigrationPolicy {
            max_concurrent: 0,
            ..MigrationPolicy::default()
        }
        .compile()
        .unwrap_err()
        .to_string();
        assert!(e.contains("max_concurrent"), "{e}");
        let e = MigrationPolicy {
            deny_teams: vec!["a[".into()],
            ..MigrationPolicy::default()
        }
        .compile()
        .unwrap_err()
        .to_string();
        assert!(e.contains("deny_teams"), "{e}");
    }
}
