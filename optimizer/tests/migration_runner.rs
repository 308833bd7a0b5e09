//! The executor run against a real ClickHouse: the policy decides what moves, the audit trail
//! records every action, rollbacks restore what the apply read. The executor here is scripted
//! (its answers are the test's inputs); the real ones are tested against their peers
//! (kubernetes_executor.rs, slurm_executor.rs).
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use optimizer::execute::runner::{self, Executors, RunOptions};
use optimizer::execute::{ExecError, Executor, Outcome};
use optimizer::migration::{self, Action, MigrationRow, Proposal};
use optimizer::policy::MigrationPolicy;
use queries::testing::test_store;
use queries::Store;
use rust_decimal::Decimal;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Script {
    Healthy,
    Unhealthy,
    Refuse,
    BreaksHalfWay,
}

#[derive(Default)]
struct Scripted {
    scripts: BTreeMap<String, Script>,
    calls: Mutex<Vec<(String, String)>>,
    rollbacks_got: Mutex<Vec<Outcome>>,
    /// Rollbacks of these workloads fail (not ok) until taken out.
    rollback_fails: Mutex<std::collections::BTreeSet<String>>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

fn spec(workload: &str, state: &str) -> serde_json::Value {
    serde_json::json!({"workload": workload, "nodeSelector": state})
}

impl Scripted {
    fn script(&self, m: &MigrationRow) -> Script {
        self.scripts
            .get(&m.workload)
            .copied()
            .unwrap_or(Script::Healthy)
    }

    fn call(&self, what: &str, m: &MigrationRow) {
        self.calls
            .lock()
            .unwrap()
            .push((what.to_string(), m.workload.clone()));
    }

    fn calls(&self, what: &str) -> Vec<String> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|(w, _)| w == what)
            .map(|(_, id)| id.clone())
            .collect()
    }
}

/// The executors own their executor; the test keeps a handle to look at its calls.
struct Shared(Arc<Scripted>);

impl Executor for Shared {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }
    fn preview<'a>(&'a self, m: &'a MigrationRow) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        self.0.preview(m)
    }
    fn apply<'a>(&'a self, m: &'a MigrationRow) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        self.0.apply(m)
    }
    fn rollback<'a>(
        &'a self,
        m: &'a MigrationRow,
        applied: &'a Outcome,
    ) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        self.0.rollback(m, applied)
    }
}

impl Executor for Scripted {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    fn preview<'a>(&'a self, m: &'a MigrationRow) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(async move {
            self.call("preview", m);
            if self.script(m) == Script::Refuse {
                return Err(ExecError::Refused {
                    id: m.id.clone(),
                    reason: "PodDisruptionBudget web allows no disruption now".into(),
                });
            }
            Ok(Outcome {
                ok: true,
                spec_before: spec(&m.workload, "on-demand"),
                spec_after: spec(&m.workload, "spot"),
                requests: vec![format!("PATCH {}", m.workload)],
                message: format!("would patch {}", m.workload),
            })
        })
    }

    fn apply<'a>(&'a self, m: &'a MigrationRow) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(async move {
            self.call("apply", m);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            match self.script(m) {
                Script::BreaksHalfWay => Err(ExecError::Target {
                    id: m.id.clone(),
                    target: "cluster prod".into(),
                    reason: "connection reset after the patch was sent".into(),
                    changed: true,
                }),
                script => Ok(Outcome {
                    ok: script == Script::Healthy,
                    spec_before: spec(&m.workload, "on-demand"),
                    spec_after: spec(&m.workload, "spot"),
                    requests: vec![format!("PATCH {}", m.workload)],
                    message: if script == Script::Healthy {
                        "rolled out".into()
                    } else {
                        "pods Pending (Unschedulable) past 600 s: put back".into()
                    },
                }),
            }
        })
    }

    fn rollback<'a>(
        &'a self,
        m: &'a MigrationRow,
        applied: &'a Outcome,
    ) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(async move {
            self.call("rollback", m);
            self.rollbacks_got.lock().unwrap().push(applied.clone());
            if self.rollback_fails.lock().unwrap().contains(&m.workload) {
                // It tried: the workload is still where the move put it.
                return Ok(Outcome {
                    ok: false,
                    spec_before: applied.spec_after.clone(),
                    spec_after: applied.spec_after.clone(),
                    requests: vec![format!("PATCH {} back", m.workload)],
                    message: "pods did not come back in time".into(),
                });
            }
            Ok(Outcome {
                ok: true,
                spec_before: applied.spec_after.clone(),
                spec_after: applied.spec_before.clone(),
                requests: vec![format!("PATCH {} back", m.workload)],
                message: "restored".into(),
            })
        })
    }
}

fn proposal(workload: &str, team: &str) -> Proposal {
    Proposal {
        kind: "kubernetes".into(),
        workload: workload.into(),
        team: team.into(),
        service: "svc".into(),
        spec_after: r#"{"spec":{}}"#.into(),
        saving_month: Decimal::new(12345, 2),
        currency: "USD".into(),
        evidence: "{}".into(),
        ..Proposal::default()
    }
}

async fn approved(store: &Store, workload: &str, team: &str) -> String {
    let id = migration::propose(store, &proposal(workload, team), "test")
        .await
        .unwrap();
    migration::act(store, &id, Action::Approve, "cli:alice", "ok")
        .await
        .unwrap();
    id
}

async fn status(store: &Store, id: &str) -> String {
    migration::get(store, id).await.unwrap().status
}

async fn trail(store: &Store, id: &str) -> Vec<(String, String, String)> {
    migration::events(store, id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action, e.status_after))
        .collect()
}

fn options(dry_run: bool) -> RunOptions {
    RunOptions {
        dry_run,
        only: None,
        now: chrono::Utc::now(),
    }
}

async fn run(
    store: &Store,
    executor: Scripted,
    policy: &MigrationPolicy,
    dry_run: bool,
) -> (Vec<runner::RunItem>, Arc<Scripted>) {
    let executor = Arc::new(executor);
    let executors = Executors::new(vec![Box::new(Shared(executor.clone()))]);
    let items = runner::run(
        store,
        &executors,
        &policy.compile().unwrap(),
        &options(dry_run),
    )
    .await
    .unwrap();
    (items, executor)
}

#[tokio::test]
async fn dry_run_changes_nothing_and_apply_records_every_action() {
    let store = test_store("runner_dry").await;
    let healthy = approved(&store, "k8s://prod/web/api", "web").await;
    let unhealthy = approved(&store, "k8s://prod/web/batch", "web").await;
    let broken = approved(&store, "k8s://prod/web/cron", "web").await;
    let refused = approved(&store, "k8s://prod/web/ledger", "web").await;
    let scripts = || Scripted {
        scripts: BTreeMap::from([
            ("k8s://prod/web/batch".to_string(), Script::Unhealthy),
            ("k8s://prod/web/cron".to_string(), Script::BreaksHalfWay),
            ("k8s://prod/web/ledger".to_string(), Script::Refuse),
        ]),
        ..Scripted::default()
    };
    let policy = MigrationPolicy::default();
    assert!(policy.dry_run, "dry run is the default");

    // Dry run: previews only, nothing recorded.
    let (items, executor) = run(&store, scripts(), &policy, true).await;
    assert!(executor.calls("apply").is_empty());
    assert_eq!(executor.calls("preview").len(), 4);
    let results: BTreeMap<_, _> = items.iter().map(|i| (i.id.clone(), i.result)).collect();
    assert_eq!(results[&healthy], "would apply");
    assert_eq!(results[&refused], "waiting");
    for id in [&healthy, &unhealthy, &broken, &refused] {
        assert_eq!(status(&store, id).await, "approved");
        assert_eq!(trail(&store, id).await.len(), 1, "only the approval");
    }

    // For real.
    let (items, executor) = run(&store, scripts(), &policy, false).await;
    let results: BTreeMap<_, _> = items.iter().map(|i| (i.id.clone(), i.result)).collect();
    assert_eq!(results[&healthy], "applied");
    assert_eq!(results[&unhealthy], "failed, rolled back");
    assert_eq!(results[&broken], "failed");
    assert_eq!(results[&refused], "waiting");
    assert!(!executor
        .calls("apply")
        .contains(&"k8s://prod/web/ledger".to_string()));
    assert_eq!(status(&store, &healthy).await, "applied");
    assert_eq!(status(&store, &unhealthy).await, "rolled_back");
    assert_eq!(status(&store, &broken).await, "failed");
    assert_eq!(status(&store, &refused).await, "approved");
    let who = |t: &[(String, String, String)]| {
        t.iter()
            .map(|(a, x, _)| format!("{a}:{x}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        who(&trail(&store, &unhealthy).await),
        [
            "cli:alice:approve",
            "executor:failed",
            "executor:rolled back"
        ]
    );
    // The applied event carries what the apply read: the rollback gets it back.
    let applied = migration::events(&store, &healthy).await.unwrap();
    let outcome = runner::applied_outcome(&applied).unwrap();
    assert_eq!(outcome.spec_before, spec("k8s://prod/web/api", "on-demand"));

    // People ask for rollbacks; the next run carries them out with the recorded spec.
    migration::act(&store, &healthy, Action::Rollback, "cli:bob", "too slow")
        .await
        .unwrap();
    migration::act(&store, &broken, Action::Rollback, "cli:bob", "broken")
        .await
        .unwrap();
    let (items, executor) = run(&store, scripts(), &policy, false).await;
    let got = executor.rollbacks_got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{items:?}");
    assert!(got
        .iter()
        .all(|o| o.spec_before["nodeSelector"] == "on-demand"));
    assert_eq!(status(&store, &healthy).await, "rolled_back");
    assert_eq!(status(&store, &broken).await, "rolled_back");
    assert_eq!(
        who(&trail(&store, &healthy).await),
        [
            "cli:alice:approve",
            "executor:applied",
            "cli:bob:rollback",
            "executor:rolled back"
        ]
    );
}

#[tokio::test]
async fn the_policy_holds_back_denied_teams_and_limits_concurrent_moves() {
    let store = test_store("runner_policy").await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(approved(&store, &format!("k8s://prod/shop/w{i}"), "shop").await);
    }
    let denied = approved(&store, "k8s://prod/finance/ledger", "finance").await;
    let proposed = migration::propose(&store, &proposal("k8s://prod/shop/auto", "shop"), "planner")
        .await
        .unwrap();
    let policy = MigrationPolicy {
        dry_run: false,
        max_concurrent: 2,
        deny_teams: vec!["fin*".into()],
        ..MigrationPolicy::default()
    };
    let (items, executor) = run(&store, Scripted::default(), &policy, false).await;
    assert_eq!(executor.most_in_flight.load(Ordering::SeqCst), 2);
    for id in &ids {
        assert_eq!(status(&store, id).await, "applied");
    }
    let held = items.iter().find(|i| i.id == denied).unwrap();
    assert_eq!(held.result, "waiting");
    assert!(held.message.contains("deny list"), "{}", held.message);
    assert_eq!(status(&store, &denied).await, "approved");
    // Without auto_approve a proposal waits for a person.
    assert_eq!(status(&store, &proposed).await, "proposed");

    let auto = MigrationPolicy {
        auto_approve: true,
        ..policy
    };
    run(&store, Scripted::default(), &auto, false).await;
    assert_eq!(status(&store, &proposed).await, "applied");
    let actors: Vec<_> = trail(&store, &proposed)
        .await
        .into_iter()
        .map(|(a, x, _)| format!("{a}:{x}"))
        .collect();
    assert_eq!(actors, ["policy:approve", "executor:applied"]);
}

#[tokio::test]
async fn a_failed_rollback_is_retried_with_what_the_apply_read() {
    let store = test_store("runner_rollback_again").await;
    let id = approved(&store, "k8s://prod/web/api", "web").await;
    let policy = MigrationPolicy {
        dry_run: false,
        ..MigrationPolicy::default()
    };
    let executor = Arc::new(Scripted::default());
    let executors = Executors::new(vec![Box::new(Shared(executor.clone()))]);
    let compiled = policy.compile().unwrap();
    let opts = options(false);
    let run = || runner::run(&store, &executors, &compiled, &opts);
    run().await.unwrap();
    assert_eq!(status(&store, &id).await, "applied");

    // The first rollback fails: the workload is still moved, the migration failed.
    executor
        .rollback_fails
        .lock()
        .unwrap()
        .insert("k8s://prod/web/api".into());
    migration::act(&store, &id, Action::Rollback, "cli:bob", "")
        .await
        .unwrap();
    let items = run().await.unwrap();
    assert_eq!(items[0].result, "failed", "{items:?}");
    assert_eq!(status(&store, &id).await, "failed");

    // Asked again, it restores what the APPLY read, not the failed rollback's "before".
    executor.rollback_fails.lock().unwrap().clear();
    migration::act(&store, &id, Action::Rollback, "cli:bob", "")
        .await
        .unwrap();
    let items = run().await.unwrap();
    assert_eq!(items[0].result, "rolled back", "{items:?}");
    let got = executor.rollbacks_got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    for outcome in got {
        assert_eq!(outcome.spec_before, spec("k8s://prod/web/api", "on-demand"));
    }
    assert_eq!(status(&store, &id).await, "rolled_back");
}

#[tokio::test]
async fn one_run_at_a_time_and_a_rejection_during_the_apply_puts_the_workload_back() {
    let store = test_store("runner_race").await;
    let id = approved(&store, "k8s://prod/web/api", "web").await;
    let policy = MigrationPolicy {
        dry_run: false,
        ..MigrationPolicy::default()
    }
    .compile()
    .unwrap();
    let executor = Arc::new(Scripted::default());
    let executors = Executors::new(vec![Box::new(Shared(executor.clone()))]);

    // Another process holds the executor lease: this run does nothing.
    let held = store
        .acquire_lease(
            runner::RUN_LEASE,
            "someone-else",
            "a test",
            std::time::Duration::from_secs(30),
            std::time::Duration::ZERO,
            &Default::default(),
        )
        .await
        .unwrap();
    match runner::run(&store, &executors, &policy, &options(false)).await {
        Err(runner::RunError::Busy(holder)) => assert!(holder.contains("a test"), "{holder}"),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(executor.calls("apply").is_empty());
    held.release().await.unwrap();

    // A person rejects it while the apply rolls out (the scripted apply takes 300 ms).
    let opts = options(false);
    let (items, _) = tokio::join!(runner::run(&store, &executors, &policy, &opts), async {
        while executor.calls("apply").is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        migration::act(&store, &id, Action::Reject, "cli:carol", "not now")
            .await
            .unwrap();
    });
    let items = items.unwrap();
    assert_eq!(items[0].result, "rolled back", "{items:?}");
    assert_eq!(executor.calls("rollback"), ["k8s://prod/web/api"]);
    assert_eq!(status(&store, &id).await, "rejected");
}
