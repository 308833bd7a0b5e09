//! A seeded generator of Slurm accounting: jobs on several clusters, partitions, accounts and GPU
//! types, array tasks and heterogeneous components, running, pending and cancelled-before-start
//! jobs, written as `sacct --parsable2` text without `-X` (with steps, columns in an unusual
//! order, memory in every unit) and as a `sacct --json` document. It also says, without
//! costmill's parser, what each job allocated.
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// 2026-11-01T00:00:00Z.
pub const BASE: i64 = 1_793_491_200;
/// When the generated sacct "ran": running jobs' elapsed time goes up to here.
pub const SNAPSHOT: i64 = BASE + 6 * 86_400;

#[derive(Debug, Clone)]
pub struct GenJob {
    pub cluster: &'static str,
    /// As sacct prints it: `123`, `123_4`, `123+1`.
    pub job_id: String,
    /// The id of the record in JSON, and the array / het parts.
    pub raw_id: i64,
    pub array: Option<(i64, i64)>,
    pub het: Option<(i64, i64)>,
    pub name: String,
    pub partition: &'static str,
    pub account: &'static str,
    pub user: &'static str,
    pub cpus: i64,
    /// Memory as sacct would print it, and the same in MB.
    pub mem_text: &'static str,
    pub mem_mb: i64,
    /// (type or None for `gres/gpu`, count) as AllocTRES lists them.
    pub gpu_items: Vec<(Option<&'static str>, i64)>,
    pub gpus: i64,
    pub nodes: String,
    pub node_count: i64,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub state: &'static str,
    /// The State column (`CANCELLED by 1234`).
    pub state_text: String,
}

impl GenJob {
    pub fn started(&self) -> bool {
        self.start.is_some()
    }

    /// Where a landed job ends: its End, or (running) when the snapshot was taken.
    pub fn landed_end(&self) -> i64 {
        self.end.unwrap_or(SNAPSHOT)
    }

    fn elapsed(&self) -> i64 {
        match self.start {
            Some(s) => self.landed_end() - s,
            None => 0,
        }
    }

    fn alloc_tres(&self) -> String {
        if !self.started() {
            return String::new();
        }
        let mut items = vec![
            format!("billing={}", self.cpus * 2),
            format!("cpu={}", self.cpus),
        ];
        for (kind, n) in &self.gpu_items {
            match kind {
                None => items.push(format!("gres/gpu={n}")),
                Some(t) => items.push(format!("gres/gpu:{t}={n}")),
            }
        }
        items.push(format!("mem={}", self.mem_text));
        items.push(format!("node={}", self.node_count));
        items.join(",")
    }
}

const MEMORY: [(&str, i64); 8] = [
    ("128M", 128),
    ("300M", 300),
    ("2G", 2048),
    ("3.50G", 3584),
    ("16G", 16_384),
    ("1.25T", 1_310_720),
    ("2048K", 2),
    ("64G", 65_536),
];

const CLUSTERS: [(&str, &[&str]); 3] = [
    ("alpha", &["cpu", "gpu", "debug"]),
    ("beta", &["standard", "a100", "spot"]),
    ("gamma", &["batch", "h100"]),
];
const ACCOUNTS: [&str; 5] = ["chem", "ml", "physics", "bio", "astro"];
const USERS: [&str; 6] = ["alice", "bob", "carol", "dan", "erin", "femi"];
const GPU_TYPES: [&str; 3] = ["a100", "h100", "l40s"];
const DONE: [&str; 5] = [
    "COMPLETED",
    "COMPLETED",
    "FAILED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
];

pub fn jobs(seed: u64, count: usize) -> Vec<GenJob> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut raw_id = 1000;
    while out.len() < count {
        let (cluster, partitions) = CLUSTERS[rng.gen_range(0..CLUSTERS.len())];
        let partition = partitions[rng.gen_range(0..partitions.len())];
        let gpu_partition = ["gpu", "a100", "h100"].contains(&partition);
        // 1 plain job, or an array of 2..4 tasks, or a het job of 2 components.
        let shape = rng.gen_range(0..10);
        let parts = match shape {
            0..=6 => 1,
            7 | 8 => rng.gen_range(2..5),
            _ => 2,
        };
        raw_id += 1;
        let first = raw_id;
        for k in 0..parts {
            let id = first + k;
            raw_id = raw_id.max(id);
            let (job_id, array, het) = match shape {
                0..=6 => (id.to_string(), None, None),
                7 | 8 => (format!("{first}_{}", k + 1), Some((first, k + 1)), None),
                _ => (format!("{first}+{k}"), None, Some((first, k))),
            };
            let start = BASE + rng.gen_range(0..5 * 86_400);
            let duration = rng.gen_range(60..36_000);
            let fate = rng.gen_range(0..20);
            let (start, end, state, state_text) = match fate {
                0 => (
                    None,
                    Some(start + 30),
                    "CANCELLED",
                    "CANCELLED by 0".to_string(),
                ),
                1 => (None, None, "PENDING", "PENDING".to_string()),
                2 | 3 => (Some(start), None, "RUNNING", "RUNNING".to_string()),
                4 => (
                    Some(start),
                    Some(start + duration),
                    "CANCELLED",
                    format!("CANCELLED by {}", rng.gen_range(1000..2000)),
                ),
                _ => {
                    let s = DONE[rng.gen_range(0..DONE.len())];
                    (Some(start), Some(start + duration), s, s.to_string())
                }
            };
            let (gpu_items, gpus) = if gpu_partition {
                let n = rng.gen_range(1..5);
                match rng.gen_range(0..3) {
                    0 => (vec![(None, n)], n),
                    1 => {
                        let t = GPU_TYPES[rng.gen_range(0..GPU_TYPES.len())];
                        (vec![(None, n), (Some(t), n)], n)
                    }
                    _ => {
                        let m = rng.gen_range(1..3);
                        (vec![(Some("a100"), n), (Some("h100"), m)], n + m)
                    }
                }
            } else {
                (Vec::new(), 0)
            };
            let (mem_text, mem_mb) = MEMORY[rng.gen_range(0..MEMORY.len())];
            let node_count = rng.gen_range(1..4);
            let first_node = rng.gen_range(1..50);
            let nodes = if start.is_none() {
                "None assigned".to_string()
            } else if node_count == 1 {
                format!("{}{first_node:02}", &partition[..1])
            } else {
                format!(
                    "{}[{first_node:02}-{:02}]",
                    &partition[..1],
                    first_node + node_count - 1
                )
            };
            out.push(GenJob {
                cluster,
                job_id,
                raw_id: id,
                array,
                het,
                name: format!(
                    "{}-{}",
                    ["train", "prep", "sim", "eval"][rng.gen_range(0..4)],
                    id % 97
                ),
                partition,
                account: ACCOUNTS[rng.gen_range(0..ACCOUNTS.len())],
                user: USERS[rng.gen_range(0..USERS.len())],
                cpus: *[1, 2, 4, 8, 16, 32, 64].choose(&mut rng).unwrap(),
                mem_text,
                mem_mb,
                gpu_items,
                gpus,
                nodes,
                node_count,
                start,
                end,
                state,
                state_text,
            });
        }
    }
    out
}

fn time(t: Option<i64>, missing: &str) -> String {
    match t {
        Some(t) => chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string(),
        None => missing.to_string(),
    }
}

/// `sacct --parsable2` without `-X`: a job line, then its steps; columns in this order.
pub const HEADER: &str =
    "JobID|Cluster|State|JobName|User|Account|Partition|Start|End|ElapsedRaw|AllocTRES|NodeList|ExitCode";

pub fn parsable(jobs: &[GenJob]) -> String {
    let mut out = format!("{HEADER}\n");
    for j in jobs {
        // Cancelled while pending: Start None, or (Slurm 22.05+) Start = End, never AllocTRES.
        let start = match j.start {
            None if j.state == "CANCELLED" && j.raw_id % 2 == 0 => time(j.end, "None"),
            None if j.state == "CANCELLED" => "None".into(),
            start => time(start, "Unknown"),
        };
        let end = time(j.end, "Unknown");
        out.push_str(&format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|0:0\n",
            j.job_id,
            j.cluster,
            j.state_text,
            j.name,
            j.user,
            j.account,
            j.partition,
            start,
            end,
            j.elapsed(),
            j.alloc_tres(),
            j.nodes
        ));
        if j.started() {
            for step in ["batch", "extern", "0"] {
                out.push_str(&format!(
                    "{}.{step}|{}|{}|{step}||{}||{}|{}|{}|cpu={},mem={},node=1|{}|0:0\n",
                    j.job_id,
                    j.cluster,
                    j.state_text,
                    j.account,
                    start,
                    end,
                    j.elapsed(),
                    j.cpus,
                    j.mem_text,
                    j.nodes
                ));
            }
        }
    }
    out
}

fn set_number(n: Option<i64>) -> Value {
    json!({"set": n.is_some(), "infinite": false, "number": n.unwrap_or(0)})
}

/// The same jobs as a `sacct --json` document (24.05 shapes: data_parser v0.0.41).
pub fn json_document(jobs: &[GenJob]) -> Value {
    let docs: Vec<Value> = jobs
        .iter()
        .map(|j| {
            let mut allocated = Vec::new();
            if j.started() {
                allocated.push(json!({"type": "cpu", "name": "", "id": 1, "count": j.cpus}));
                allocated.push(json!({"type": "mem", "name": "", "id": 2, "count": j.mem_mb}));
                allocated.push(json!({"type": "energy", "name": "", "id": 3, "count": -2}));
                allocated.push(json!({"type": "node", "name": "", "id": 4, "count": j.node_count}));
                allocated.push(json!({"type": "billing", "name": "", "id": 5, "count": j.cpus * 2}));
                for (i, (kind, n)) in j.gpu_items.iter().enumerate() {
                    let name = kind.map_or("gpu".to_string(), |t| format!("gpu:{t}"));
                    allocated.push(json!({"type": "gres", "name": name, "id": 1001 + i, "count": n}));
                }
            }
            json!({
                "account": j.account,
                "array": {
                    "job_id": j.array.map_or(0, |a| a.0),
                    "limits": {"max": {"running": {"tasks": 0}}},
                    "task_id": set_number(j.array.map(|a| a.1)),
                    "task": ""
                },
                "association": {"account": j.account, "cluster": j.cluster, "partition": "", "user": j.user, "id": 7},
                "cluster": j.cluster,
                "exit_code": {"status": ["SUCCESS"], "return_code": set_number(Some(0))},
                "het": {"job_id": j.het.map_or(0, |h| h.0), "job_offset": set_number(j.het.map(|h| h.1))},
                "job_id": j.raw_id,
                "name": j.name,
                "nodes": j.nodes,
                "partition": j.partition,
                "state": {"current": [j.state], "reason": "None"},
                "steps": [{"step": {"id": format!("{}.batch", j.job_id), "name": "batch"}}],
                "time": {
                    "elapsed": j.elapsed(),
                    "end": j.end.unwrap_or(0),
                    "start": j.start.or(j.end.filter(|_| j.raw_id % 2 == 0)).unwrap_or(0),
                    "limit": {"set": true, "infinite": false, "number": 1440},
                    "planned": set_number(Some(12))
                },
                "tres": {"allocated": allocated, "requested": []},
                "user": j.user
            })
        })
        .collect();
    json!({
        "jobs": docs,
        "meta": {"plugin": {"type": "", "name": "", "data_parser": "data_parser/v0.0.41",
                            "accounting_storage": "accounting_storage/slurmdbd"},
                 "slurm": {"version": {"major": "24", "micro": "3", "minor": "05"}, "release": "24.05.3"}},
        "errors": [],
        "warnings": []
    })
}

/// Exact totals of the jobs that land: (jobs, cpu-seconds, memory MB-seconds, GPU-seconds).
pub fn totals(jobs: &[GenJob]) -> (u64, Decimal, Decimal, Decimal) {
    let mut t = (0, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for j in jobs.iter().filter(|j| j.started()) {
        let secs = Decimal::from(j.landed_end() - j.start.unwrap());
        t.0 += 1;
        t.1 += Decimal::from(j.cpus) * secs;
        t.2 += Decimal::from(j.mem_mb) * secs;
        t.3 += Decimal::from(j.gpus) * secs;
    }
    t
}
