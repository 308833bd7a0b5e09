//! A real single-node Slurm with accounting for tests (testing/slurm/cluster.sh), started in a
//! temp dir and stopped when dropped (kept for its logs when the test panicked). Included by the
//! tests that need it with `#[path = ".../testing/slurm/harness.rs"] mod slurm_harness;`.
#![allow(dead_code)]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const CLUSTER: &str = "costmill-test";

/// The cluster of this test; stopped when dropped.
pub struct Cluster {
    pub dir: PathBuf,
}

impl Cluster {
    pub fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testing/slurm/cluster.sh")
    }

    pub fn start() -> Cluster {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir =
            std::env::temp_dir().join(format!("costmill-slurm-{}-{nanos}", std::process::id()));
        // The guard exists before the start, so that a half-started cluster is stopped too.
        let cluster = Cluster { dir };
        let started = Instant::now();
        let out = Command::new(Self::script())
            .arg("start")
            .arg(&cluster.dir)
            .arg(CLUSTER)
            .output()
            .expect("run testing/slurm/cluster.sh");
        assert!(
            out.status.success(),
            "cluster.sh start failed (Slurm packages: scripts/setup.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("slurm cluster up in {:.1?}", started.elapsed());
        cluster
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.join("slurm.conf")
    }

    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .args(args)
            .env("SLURM_CONF", self.conf())
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Submit a job that sleeps; its id.
    pub fn sbatch(&self, name: &str, args: &[&str]) -> String {
        let output = format!("--output={}/job-%j.out", self.dir.display());
        let mut all = vec!["--parsable", "-J", name, output.as_str()];
        all.extend_from_slice(args);
        all.extend(["--wrap", "sleep 600"]);
        let out = self.run("sbatch", &all);
        out.trim().split(';').next().unwrap().to_string()
    }

    /// `scontrol show job ID -o` as key=value (the test's jobs have names without spaces).
    pub fn job(&self, id: &str) -> BTreeMap<String, String> {
        self.run("scontrol", &["show", "job", id, "-o"])
            .split_whitespace()
            .filter_map(|t| t.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub fn partition_and_requeue(&self, id: &str) -> (String, String) {
        let job = self.job(id);
        (job["Partition"].clone(), job["Requeue"].clone())
    }

    /// `sacct -X`: job id → (partition, account).
    pub fn sacct(&self, ids: &[&str]) -> BTreeMap<String, (String, String)> {
        let list = ids.join(",");
        let args = [
            "-X",
            "-n",
            "--parsable2",
            "-o",
            "JobID,Partition,Account",
            "-j",
            &list,
        ];
        self.run("sacct", &args)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('|').collect();
                (f.len() == 3).then(|| (f[0].to_string(), (f[1].to_string(), f[2].to_string())))
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let stopped = Command::new(Self::script())
            .arg("stop")
            .arg(&self.dir)
            .status();
        if std::thread::panicking() {
            eprintln!("slurm cluster kept for its logs: {}", self.dir.display());
        } else if matches!(stopped, Ok(s) if s.success()) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Poll `done` every 200 ms until it holds; panic naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
