//! `costmill recommend` through the binary on a real ClickHouse: two weeks of hourly pod windows
//! of four workloads (a web service over-requested, a database that refuses spot, a crawler using
//! what it asks, a GPU trainer) with their allocated cost; spot figures checked against the
//! cheapest packing computed here from the catalog CSV with plain code, rightsizing against hand
//! arithmetic.
use std::path::Path;

use rust_decimal::Decimal;
use serde_json::Value;

mod common;
use common::{costmill, dec, Db};

const START: &str = "2026-10-01 00:00:00";
const HOURS: u64 = 14 * 24;

/// One workload: namespace, name, replicas, requests (CPU, GiB, GPUs), p95 usage (CPU, GiB),
/// labels, allocated USD per day.
struct Workload {
    namespace: &'static str,
    name: &'static str,
    replicas: u64,
    cpu: &'static str,
    memory_gib: u64,
    gpus: u64,
    cpu_used: &'static str,
    memory_used_gib: &'static str,
    spot: &'static str,
    per_day: &'static str,
}

const WORKLOADS: [Workload; 4] = [
    Workload {
        namespace: "payments",
        name: "ledger",
        replicas: 3,
        cpu: "1",
        memory_gib: 2,
        gpus: 0,
        cpu_used: "0.3",
        memory_used_gib: "1",
        spot: "",
        per_day: "3",
    },
    Workload {
        namespace: "payments",
        name: "postgres",
        replicas: 1,
        cpu: "2",
        memory_gib: 8,
        gpus: 0,
        cpu_used: "1.9",
        memory_used_gib: "7.5",
        spot: "never",
        per_day: "6",
    },
    Workload {
        namespace: "search",
        name: "crawler",
        replicas: 2,
        cpu: "0.5",
        memory_gib: 1,
        gpus: 0,
        cpu_used: "0.45",
        memory_used_gib: "0.95",
        spot: "allowed",
        per_day: "1.5",
    },
    Workload {
        namespace: "ml",
        name: "trainer",
        replicas: 1,
        cpu: "8",
        memory_gib: 32,
        gpus: 1,
        cpu_used: "7.5",
        memory_used_gib: "30",
        spot: "",
        per_day: "40",
    },
];

fn setup(db: &Db) {
    db.query(&format!(
        "INSERT INTO k8s_nodes SELECT 'prod', concat('node-', toString(number % 4)), \
         concat('aws:///us-east-1a/i-0', toString(number % 4)), 'm5.4xlarge', 16, 68719476736, 1, \
         toDateTime('{START}', 'UTC') + intDiv(number, 4) * 3600, \
         toDateTime('{START}', 'UTC') + intDiv(number, 4) * 3600 + 3600, now() FROM numbers({})",
        4 * HOURS
    ));
    for (i, w) in WORKLOADS.iter().enumerate() {
        let gib = 1u64 << 30;
        db.query(&format!(
            "INSERT INTO k8s_pod_usage SELECT 'prod', concat('node-', toString((number + {i}) % 4)), \
             '{ns}', concat('{name}-', toString(number % {r})), 'Deployment', '{name}', \
             ['app', 'costmill.io/spot'], ['{name}', '{spot}'], \
             toDateTime('{START}', 'UTC') + intDiv(number, {r}) * 3600, \
             toDateTime('{START}', 'UTC') + intDiv(number, {r}) * 3600 + 3600, \
             {cpu}, {cpu_used}, {mem}, {mem_used}, {gpus}, now() FROM numbers({n})",
            ns = w.namespace,
            name = w.name,
            r = w.replicas,
            spot = w.spot,
            cpu = w.cpu,
            cpu_used = w.cpu_used,
            mem = w.memory_gib * gib,
            mem_used = (dec(w.memory_used_gib) * Decimal::from(gib)).round(),
            gpus = w.gpus,
            n = w.replicas * HOURS,
        ));
        db.query(&format!(
            "INSERT INTO allocations (day, service, team, env, currency, kind, method, input_ref, share, billed, effective, computed_at) \
             SELECT toDate('{START}') + number, '{name}', '{ns}', 'prod', 'USD', 'rule', 'kubernetes requests', \
             'k8s://prod/{ns}/{name}', 1, {per_day}, {per_day}, now() FROM numbers(14)",
            ns = w.namespace,
            name = w.name,
            per_day = w.per_day,
        ));
    }
}

/// The cheapest spot packing of `replicas` × (cpu, GiB) on one AWS us-east-1 shape, from the
/// catalog CSV: (instance type, nodes, spot price).
fn cheapest_spot(replicas: u64, cpu: Decimal, gib: Decimal) -> (String, u64, Decimal) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../optimizer/data/catalog/aws.csv");
    let mut best: Option<(Decimal, String, u64, Decimal)> = None;
    let mut reader = csv::Reader::from_path(path).unwrap();
    for record in reader.records() {
        let r = record.unwrap();
        // provider,instance_type,vcpus,memory_gib,accelerator_name,accelerator_count,region,zone,price,spot
        if &r[6] != "us-east-1" || r[9].is_empty() || !r[4].is_empty() {
            continue;
        }
        let (vcpus, memory, spot) = (dec(&r[2]), dec(&r[3]), dec(&r[9]));
        let per_node = (vcpus / cpu).floor().min((memory / gib).floor());
        if per_node < Decimal::ONE {
            continue;
        }
        let nodes = (Decimal::from(replicas) / per_node).ceil();
        let total = nodes * spot;
        if best.as_ref().is_none_or(|b| total < b.0) {
            best = Some((total, r[1].to_string(), u64::try_from(nodes).unwrap(), spot));
        }
    }
    let (_, instance_type, nodes, spot) = best.unwrap();
    (instance_type, nodes, spot)
}

fn figure(rec: &Value, key: &str) -> Decimal {
    dec(rec[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {rec}")))
}

#[test]
fn spot_and_rightsizing_recommendations_carry_exact_figures_and_their_evidence() {
    let (db, dir, config) = common::project("recommend", "");
    setup(&db);

    let out = costmill(dir.path(), &config, &["recommend", "--format", "json"]);
    let recs: Vec<Value> = serde_json::from_str(&out).unwrap();
    let kinds: Vec<(String, String)> = recs
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().into(),
                r["workload"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ("rightsize".to_string(), "k8s://prod/payments/ledger".to_string()),
            ("spot".into(), "k8s://prod/payments/ledger".into()),
            ("spot".into(), "k8s://prod/search/crawler".into()),
        ],
        "postgres refuses spot and uses what it asks; the trainer needs a GPU and uses what it asks"
    );
    // Best saving first.
    let savings: Vec<Decimal> = recs.iter().map(|r| figure(r, "saving_monthly")).collect();
    assert!(savings.windows(2).all(|w| w[0] >= w[1]), "{savings:?}");

    for rec in &recs {
        let workload = rec["workload"].as_str().unwrap();
        let w = WORKLOADS
            .iter()
            .find(|w| workload.ends_with(&format!("/{}", w.name)))
            .unwrap();
        // 14 days of the allocated cost over 336 hours, for a month of 730 hours.
        let current =
            dec(w.per_day) * Decimal::from(14) / Decimal::from(HOURS) * Decimal::from(730);
        assert_eq!(figure(rec, "current_monthly"), current.round_dp(6), "{rec}");
        assert_eq!(rec["team"], w.namespace);
        let proposed = figure(rec, "proposed_monthly");
        assert_eq!(
            figure(rec, "saving_monthly"),
            figure(rec, "current_monthly") - proposed
        );
        match rec["kind"].as_str().unwrap() {
            "spot" => {
                let (instance_type, nodes, spot) =
                    cheapest_spot(w.replicas, dec(w.cpu), Decimal::from(w.memory_gib));
                let evidence = &rec["evidence"];
                assert_eq!(
                    evidence["candidate"]["instance_type"],
                    instance_type.as_str(),
                    "{rec}"
                );
                assert_eq!(evidence["candidate"]["nodes"], nodes, "{rec}");
                assert_eq!(evidence["candidate"]["region"], "us-east-1");
                assert_eq!(evidence["today"]["instance_type"], "m5.4xlarge");
                // Nodes × spot × 730, plus nodes × 0.10 interruptions × 0.5 h × spot.
                let n = Decimal::from(nodes);
                let expected = n * spot * Decimal::from(730) + n * dec("0.10") * dec("0.5") * spot;
                assert_eq!(proposed, expected.round_dp(6), "{rec}");
            }
            "rightsize" => {
                // Ledger: CPU 0.3 × 1.2 = 0.36 of 1; memory 1 GiB × 1.2 → 1229 MiB of 2048.
                assert_eq!(
                    proposed,
                    (current * dec("1229") / dec("2048")).round_dp(6),
                    "{rec}"
                );
                assert_eq!(rec["evidence"]["proposed_requests"]["cpu"], "0.36");
            }
            other => panic!("kind {other}"),
        }
    }

    // Stored for the API and the email: one computation, its rows all of one time.
    let stored = db.query("SELECT count(), uniqExact(computed_at) FROM recommendations FORMAT TSV");
    assert_eq!(stored.trim(), "3\t1");
    // One kind at a time; a higher interruption rate for the family shrinks the spot saving.
    let only: Vec<Value> = serde_json::from_str(&costmill(
        dir.path(),
        &config,
        &[
            "recommend",
            "--kind",
            "spot",
            "--interruption-rate",
            "aws=2",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert!(only.iter().all(|r| r["kind"] == "spot") && !only.is_empty());
    for rec in &only {
        let before = recs
            .iter()
            .find(|r| r["kind"] == "spot" && r["workload"] == rec["workload"])
            .unwrap();
        assert!(
            figure(rec, "saving_monthly") < figure(before, "saving_monthly"),
            "{rec}"
        );
        assert_eq!(
            rec["evidence"]["assumptions"]["interruptions_per_node_month"],
            "2"
        );
    }

    // The planner turns the latest spot recommendations into proposals, once per workload.
    let out = costmill(dir.path(), &config, &["migrations", "plan"]);
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("proposed mig-"))
            .count(),
        2,
        "{out}"
    );
    let again = costmill(dir.path(), &config, &["migrations", "plan"]);
    assert!(again.starts_with("nothing new to propose"), "{again}");
    let proposals: Vec<Value> = serde_json::from_str(&costmill(
        dir.path(),
        &config,
        &["migrations", "list", "--format", "json"],
    ))
    .unwrap();
    let mut workloads: Vec<&str> = proposals
        .iter()
        .map(|m| m["workload"].as_str().unwrap())
        .collect();
    workloads.sort();
    assert_eq!(
        workloads,
        ["k8s://prod/payments/ledger", "k8s://prod/search/crawler"]
    );
    for m in &proposals {
        assert_eq!(m["status"], "proposed");
        assert_eq!(m["kind"], "kubernetes");
        let patch: Value = serde_json::from_str(m["spec_after"].as_str().unwrap()).unwrap();
        let pod = &patch["spec"]["template"]["spec"];
        assert_eq!(pod["nodeSelector"]["karpenter.sh/capacity-type"], "spot");
        assert_eq!(pod["tolerations"][0]["effect"], "NoSchedule");
        // The saving is the latest spot recommendation's (the one with interruption rate 2).
        let rec = only
            .iter()
            .find(|r| r["workload"] == m["workload"])
            .unwrap();
        assert_eq!(
            dec(m["saving_month"].as_str().unwrap()),
            figure(rec, "saving_monthly")
        );
        assert!(
            m["to_placement"]
                .as_str()
                .unwrap()
                .contains("spot in us-east-1"),
            "{m}"
        );
    }
}

/// Migrations carried out on the fake Kubernetes API server (testing/fake-kube, whose `prod`
/// fixtures hold the same workloads): dry run first, then the move, an automatic rollback of a
/// move that stays Pending, a rollback a person asks for, and the saving measured afterwards.
#[test]
fn approved_migrations_move_workloads_on_the_cluster_and_are_measured_after() {
    let kube = common::FakeKube::start("prod");
    let (db, dir, config) = common::project(
        "migrations_exec",
        &format!(
            "[migrations.kubernetes]\nclusters = [{{ name = \"prod\", url = \"{}\" }}]\n\
             rollout_timeout_secs = 3\npoll_secs = 0.2\n",
            kube.url
        ),
    );
    setup(&db);
    costmill(dir.path(), &config, &["recommend"]);
    costmill(dir.path(), &config, &["migrations", "plan"]);
    let list = |status: &str| -> Vec<Value> {
        serde_json::from_str(&costmill(
            dir.path(),
            &config,
            &["migrations", "list", "--status", status, "--format", "json"],
        ))
        .unwrap()
    };
    let id_of = |workload: &str| -> String {
        list("proposed")
            .iter()
            .chain(list("approved").iter())
            .find(|m| m["workload"] == workload)
            .map(|m| m["id"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no migration of {workload}"))
    };
    let ledger = id_of("k8s://prod/payments/ledger");
    let crawler = id_of("k8s://prod/search/crawler");
    let status = |id: &str| -> String {
        let shown: Value =
            serde_json::from_str(&costmill(dir.path(), &config, &["migrations", "show", id]))
                .unwrap();
        shown["status"].as_str().unwrap().to_string()
    };
    let execute = |args: &[&str]| -> Vec<Value> {
        let mut all = vec!["migrations", "execute", "--format", "json"];
        all.extend_from_slice(args);
        serde_json::from_str(&costmill(dir.path(), &config, &all)).unwrap()
    };
    costmill(dir.path(), &config, &["migrations", "approve", &ledger]);

    // The policy's default is a dry run: the executor reads and previews, nothing is patched.
    let items = execute(&[]);
    assert_eq!(items.len(), 1, "only the approved one: {items:?}");
    assert_eq!(items[0]["id"], ledger.as_str());
    assert_eq!(items[0]["result"], "would apply");
    assert!(kube.patches("deployments/ledger").is_empty());
    assert_eq!(status(&ledger), "approved");

    // For real: one strategic merge patch adding the spot selector; the rollout is healthy.
    let items = execute(&["--apply"]);
    assert_eq!(items[0]["result"], "applied", "{items:?}");
    let patches = kube.patches("deployments/ledger");
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(patches[0]["content_type"]
        .as_str()
        .unwrap()
        .starts_with("application/strategic-merge-patch+json"));
    let body: Value = match &patches[0]["body"] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(
        body["spec"]["template"]["spec"]["nodeSelector"]["karpenter.sh/capacity-type"], "spot",
        "{body}"
    );
    assert_eq!(status(&ledger), "applied");

    // A move whose pods stay Pending is put back by the executor at once.
    kube.control(
        "/_fake/scenario",
        &serde_json::json!({"search/crawler": "pending"}),
    );
    costmill(dir.path(), &config, &["migrations", "approve", &crawler]);
    let items = execute(&["--apply", "--id", &crawler]);
    assert_eq!(items[0]["result"], "failed, rolled back", "{items:?}");
    let patches = kube.patches("deployments/crawler");
    assert_eq!(patches.len(), 2, "the move and its undoing: {patches:?}");
    assert!(patches[1]["content_type"]
        .as_str()
        .unwrap()
        .starts_with("application/merge-patch+json"));
    assert_eq!(status(&crawler), "rolled_back");

    // A person asks for the ledger move to be undone; the next run restores the template.
    costmill(dir.path(), &config, &["migrations", "rollback", &ledger]);
    let items = execute(&["--apply"]);
    assert_eq!(items[0]["step"], "rollback", "{items:?}");
    assert_eq!(items[0]["result"], "rolled back", "{items:?}");
    assert_eq!(kube.patches("deployments/ledger").len(), 2);
    assert_eq!(status(&ledger), "rolled_back");
    let shown: Value = serde_json::from_str(&costmill(
        dir.path(),
        &config,
        &["migrations", "show", &ledger],
    ))
    .unwrap();
    let trail: Vec<String> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(trail.len(), 4, "{trail:?}");
    assert_eq!(trail[1], "executor:applied");
    assert_eq!(trail[3], "executor:rolled back");

    // The measured saving: a move applied ten days ago, its workload's allocated cost 3 USD a
    // day for five days before and 1.2 a day for the nine whole days since. 730 / 24 days a
    // month: 91.25 before, 36.5 after, 54.75 measured.
    db.query(
        "INSERT INTO workload_migrations (id, created_at, created_by, kind, workload, team, service, \
         saving_month, currency) VALUES ('mig-old', now() - 20 * 86400, 'test', 'kubernetes', \
         'k8s://prod/web/old', 'web', 'old', 50, 'USD')",
    );
    db.query(
        "INSERT INTO migration_events (migration_id, seq, at, actor, action, status_before, \
         status_after, detail) VALUES \
         ('mig-old', 1, now() - 12 * 86400, 'cli:alice', 'approve', 'proposed', 'approved', ''), \
         ('mig-old', 2, now() - 10 * 86400, 'executor', 'applied', 'approved', 'applied', '')",
    );
    db.query(
        "INSERT INTO allocations (day, service, team, env, currency, kind, method, input_ref, share, billed, effective, computed_at) \
         SELECT today() - 15 + number, 'old', 'web', 'prod', 'USD', 'rule', 'kubernetes requests', \
         'k8s://prod/web/old', 1, 3, 3, now() FROM numbers(5)",
    );
    db.query(
        "INSERT INTO allocations (day, service, team, env, currency, kind, method, input_ref, share, billed, effective, computed_at) \
         SELECT today() - 10 + number, 'old', 'web', 'prod', 'USD', 'rule', 'kubernetes requests', \
         'k8s://prod/web/old', 1, a, a, now() FROM (SELECT number, if(number = 0, toDecimal128('2', 18), toDecimal128('1.2', 18)) AS a FROM numbers(11))",
    );
    let report: Vec<Value> = serde_json::from_str(&costmill(
        dir.path(),
        &config,
        &["migrations", "report", "--format", "json"],
    ))
    .unwrap();
    let old = report.iter().find(|r| r["id"] == "mig-old").unwrap();
    assert_eq!(old["before_days"], 5, "{old}");
    // The day of the move (mixed, 2 USD) and today (not whole) are left out.
    assert_eq!(old["after_days"], 9, "{old}");
    assert_eq!(dec(old["before_monthly"].as_str().unwrap()), dec("91.25"));
    assert_eq!(dec(old["after_monthly"].as_str().unwrap()), dec("36.5"));
    assert_eq!(
        dec(old["measured_saving_monthly"].as_str().unwrap()),
        dec("54.75")
    );
    assert_eq!(
        dec(old["estimated_saving_monthly"].as_str().unwrap()),
        dec("50")
    );
    // N whole days on each side: 3 before (of the 5 with cost), 3 after.
    let short: Vec<Value> = serde_json::from_str(&costmill(
        dir.path(),
        &config,
        &["migrations", "report", "--days", "3", "--format", "json"],
    ))
    .unwrap();
    let old = short.iter().find(|r| r["id"] == "mig-old").unwrap();
    assert_eq!(
        (&old["before_days"], &old["after_days"]),
        (&3.into(), &3.into()),
        "{old}"
    );
    // The crawler never ran on spot: nothing to measure.
    assert!(report.iter().all(|r| r["id"] != crawler.as_str()));
}
