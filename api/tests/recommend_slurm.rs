//! `costmill recommend --kind cloud` through the binary on a real ClickHouse: ten days of Slurm
//! jobs of two shapes (and GPU jobs, which stay) with their allocated cost; the cheapest AWS
//! offers computed here from the catalog CSV with plain code, interruptions and egress counted
//! by hand. Then the plan proposes a SkyPilot task, and the executor writes it and removes it.
use std::path::Path;

use rust_decimal::Decimal;
use serde_json::Value;

mod common;
use common::{costmill, dec, Db};

const START: &str = "2026-10-01 00:00:00";

fn setup(db: &Db) {
    // genomics: 40 jobs of 8 CPUs / 32 GiB for 3 h, 20 jobs of 2 CPUs / 4 GiB for 1.5 h;
    // vision: 10 jobs with a GPU.
    let jobs = [
        ("genomics", 0, 40, 8, 32768, 0, 5 * 3600, 3 * 3600),
        ("genomics", 40, 20, 2, 4096, 0, 11 * 3600, 5400),
        ("vision", 60, 10, 4, 16384, 1, 20 * 3600, 4 * 3600),
    ];
    for (account, first, n, cpus, mb, gpus, every, secs) in jobs {
        db.query(&format!(
            "INSERT INTO slurm_jobs SELECT 'hpc', toString({first} + number), 'job', 'cpu', '{account}', 'alice', \
             {cpus}, {mb}, {gpus}, toDateTime('{START}', 'UTC') + 3600 + number * {every}, \
             toDateTime('{START}', 'UTC') + 3600 + number * {every} + {secs}, 'COMPLETED', now() \
             FROM numbers({n})"
        ));
        // Each job's cost on its day: 0.12 USD per CPU-hour (GPU jobs 2.5 per hour).
        let rate = if gpus > 0 { "2.5" } else { "0.12" };
        let per_job = if gpus > 0 {
            dec(rate) * Decimal::from(secs) / Decimal::from(3600)
        } else {
            dec(rate) * Decimal::from(cpus * secs) / Decimal::from(3600)
        };
        db.query(&format!(
            "INSERT INTO allocations (day, service, team, env, currency, kind, method, input_ref, share, billed, effective, computed_at) \
             SELECT toDate(toDateTime('{START}', 'UTC') + 3600 + number * {every}), 'pipeline', 'research', 'prod', 'USD', 'rule', \
             'slurm TRES-hours', concat('slurm://hpc/cpu/', toString({first} + number)), 1, \
             toDecimal128('{per_job}', 18), toDecimal128('{per_job}', 18), now() FROM numbers({n})"
        ));
    }
}

/// The cheapest AWS offer for `hours` hours of `jobs` jobs of (cpus, GiB), one node per job:
/// on demand, or spot plus 0.10 interruptions a node-month × 0.5 h redone; plus `egress` GB a
/// job at 0.09 USD. (total over the window, instance type, spot).
fn cheapest(
    cpus: u32,
    gib: u32,
    hours: Decimal,
    jobs: u32,
    egress: Decimal,
) -> (Decimal, String, bool) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../optimizer/data/catalog/aws.csv");
    let mut best: Option<(Decimal, String, bool)> = None;
    let mut reader = csv::Reader::from_path(path).unwrap();
    let egress_cost = Decimal::from(jobs) * egress * dec("0.09");
    for record in reader.records() {
        let r = record.unwrap();
        // provider,instance_type,vcpus,memory_gib,accelerator_name,accelerator_count,region,zone,price,spot
        if !r[4].is_empty() || dec(&r[2]) < Decimal::from(cpus) || dec(&r[3]) < Decimal::from(gib) {
            continue;
        }
        let mut options = Vec::new();
        if !r[8].is_empty() {
            options.push((hours * dec(&r[8]) + egress_cost, false));
        }
        if !r[9].is_empty() {
            let spot = dec(&r[9]);
            let interruptions = hours / dec("730") * dec("0.10") * dec("0.5") * spot;
            options.push((hours * spot + interruptions + egress_cost, true));
        }
        for (total, spot) in options {
            if best.as_ref().is_none_or(|b| total < b.0) {
                best = Some((total, r[1].to_string(), spot));
            }
        }
    }
    best.unwrap()
}

#[test]
fn slurm_jobs_get_the_cheapest_cloud_offer_and_a_skypilot_task() {
    let tasks_dir = tempfile::tempdir().unwrap();
    let tasks = tasks_dir.path().join("tasks");
    let (db, dir, config) = common::project(
        "recommend_slurm",
        &format!(
            "[migrations.policy]\ndry_run = false\n\n\
             [migrations.skypilot]\noutput_dir = \"{}\"\n",
            tasks.display()
        ),
    );
    setup(&db);

    let out = costmill(
        dir.path(),
        &config,
        &[
            "recommend",
            "--kind",
            "cloud",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-11",
            "--cloud-providers",
            "aws",
            "--egress-gb-per-job",
            "1",
            "--format",
            "json",
        ],
    );
    let recs: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(recs.len(), 1, "GPU jobs (model unknown) get none: {out}");
    let rec = &recs[0];
    assert_eq!(rec["kind"], "cloud");
    assert_eq!(rec["workload"], "slurm://hpc/cpu/genomics");
    assert_eq!(rec["team"], "research");
    // 240 hours; 120 h × 8 CPUs + 30 h × 2 CPUs at 0.12 = 122.4 USD, × 730 / 240.
    let month = dec("730") / dec("240");
    assert_eq!(dec(rec["current_monthly"].as_str().unwrap()), dec("372.3"));
    let (a, a_type, a_spot) = cheapest(8, 32, dec("120"), 40, Decimal::ONE);
    let (b, b_type, _) = cheapest(2, 4, dec("30"), 20, Decimal::ONE);
    assert_eq!(
        dec(rec["proposed_monthly"].as_str().unwrap()),
        ((a + b) * month).round_dp(6),
        "{rec}"
    );
    let shapes = rec["evidence"]["shapes"].as_array().unwrap();
    let big = shapes.iter().find(|s| s["cpus"] == 8).unwrap();
    assert_eq!(big["candidate"]["instance_type"], a_type.as_str());
    assert_eq!(big["candidate"]["spot"], a_spot);
    assert_eq!(big["egress_usd"], "3.6", "40 jobs × 1 GB × 0.09");
    let small = shapes.iter().find(|s| s["cpus"] == 2).unwrap();
    assert_eq!(small["candidate"]["instance_type"], b_type.as_str());

    // The plan proposes the SkyPilot task; the executor writes it, and removes it on rollback.
    let out = costmill(dir.path(), &config, &["migrations", "plan"]);
    let id = common::proposed_id(&out);
    assert!(
        out.contains("slurm://hpc/cpu/genomics to the cloud"),
        "{out}"
    );
    costmill(dir.path(), &config, &["migrations", "approve", &id]);
    let items: Vec<Value> = serde_json::from_str(&costmill(
        dir.path(),
        &config,
        &["migrations", "execute", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(items[0]["result"], "applied", "{items:?}");
    let file = tasks.join(format!("{id}.yaml"));
    let task: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let first = &task["resources"]["any_of"][0];
    assert_eq!(first["cloud"], "aws");
    assert_eq!(
        first["instance_type"],
        a_type.as_str(),
        "the shape with the most hours"
    );
    assert_eq!(first["use_spot"], a_spot);
    costmill(dir.path(), &config, &["migrations", "rollback", &id]);
    let items: Vec<Value> = serde_json::from_str(&costmill(
        dir.path(),
        &config,
        &["migrations", "execute", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(items[0]["result"], "rolled back", "{items:?}");
    assert!(!file.exists());
}
