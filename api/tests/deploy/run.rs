//! deploy/ run for real: `costmill config check` on the ConfigMap with the Deployment's
//! environment, and `costmill serve` with both on the test ClickHouse, probed as the kubelet would.
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::common::{free_port, http, wait_for, Db, BIN};
use super::manifests::{load, Deploy};

/// `costmill config check` with the ConfigMap's file and exactly `env`.
fn config_check(deploy: &Deploy, env: &BTreeMap<String, String>) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = deploy.config_path();
    let file = dir.path().join(key);
    std::fs::write(&file, deploy.costmill_toml().0).unwrap();
    let output = Command::new(BIN)
        .args(["config", "check"])
        .env_clear()
        .envs(env)
        .env("COSTMILL_CONFIG", &file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn costmill_accepts_the_config_map_with_the_deployments_environment() {
    let deploy = load();
    let env = deploy.environment();
    let (ok, out) = config_check(&deploy, &env);
    assert!(ok, "{out}");
    let (_, toml) = deploy.costmill_toml();
    let url = toml["clickhouse"]["url"].as_str().unwrap();
    let database = toml["clickhouse"]["database"].as_str().unwrap();
    assert!(
        out.contains(&format!("clickhouse: {url} (database {database})")),
        "{out}"
    );
    // The Slack variables reached [alerts.slack]: one webhook per variable.
    let webhooks = env
        .keys()
        .filter(|k| k.starts_with("COSTMILL_ALERTS__SLACK__"))
        .count();
    assert!(webhooks >= 2);
    assert!(
        out.contains(&format!("(Slack: {webhooks} webhook(s))")),
        "{out}"
    );

    // A misspelled variable is refused (so the accepted ones above are real settings).
    let mut misspelled = env.clone();
    let password = misspelled
        .remove("COSTMILL_EMAIL__SMTP__PASSWORD")
        .expect("SMTP password");
    misspelled.insert("COSTMILL_EMAIL__SMTP__PASSWD".into(), password);
    let (ok, out) = config_check(&deploy, &misspelled);
    assert!(!ok && out.contains("passwd"), "{out}");
    // What service links would add for the Service `costmill` (hence enableServiceLinks: false).
    let mut linked = env.clone();
    linked.insert("COSTMILL_SERVICE_HOST".into(), "10.96.0.10".into());
    linked.insert("COSTMILL_PORT".into(), "tcp://10.96.0.10:8080".into());
    let (ok, out) = config_check(&deploy, &linked);
    assert!(!ok && out.contains("unknown field"), "{out}");
    // Values are typed: a password that reads as a number or boolean needs double quotes (as
    // secret.yaml says).
    for (raw, accepted) in [
        ("12345", false),
        ("\"12345\"", true),
        ("true", false),
        ("\"true\"", true),
    ] {
        let mut typed = env.clone();
        typed.insert("COSTMILL_CLICKHOUSE__PASSWORD".into(), raw.into());
        let (ok, out) = config_check(&deploy, &typed);
        assert_eq!(ok, accepted, "password {raw}: {out}");
        if !accepted {
            assert!(
                out.contains("clickhouse.password") && out.contains("expected a string"),
                "{out}"
            );
        }
    }
}

#[test]
fn serve_with_the_manifests_config_and_environment_answers_the_probes_and_stops_on_sigterm() {
    let deploy = load();
    let db = Db::new("deploy");
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = deploy.config_path();
    let config = dir.path().join(key);
    std::fs::write(&config, deploy.costmill_toml().0).unwrap();
    let port = free_port();
    let closed = free_port(); // nothing listens there: no message can leave this machine
    let mut env = deploy.environment();
    // What differs from a cluster: where ClickHouse is, its user, the address, and peers on
    // loopback. Everything else (the file, the Secret's variables, the arguments) is deploy/'s.
    for (k, v) in [
        ("COSTMILL_CONFIG", config.display().to_string()),
        ("COSTMILL_CLICKHOUSE__URL", db.url.clone()),
        ("COSTMILL_CLICKHOUSE__DATABASE", db.database.clone()),
        ("COSTMILL_CLICKHOUSE__USER", "default".into()),
        ("COSTMILL_CLICKHOUSE__PASSWORD", String::new()),
        ("COSTMILL_SERVE__LISTEN", format!("127.0.0.1:{port}")),
        ("COSTMILL_EMAIL__SMTP__HOST", "127.0.0.1".into()),
        ("COSTMILL_EMAIL__SMTP__PORT", closed.to_string()),
        (
            "COSTMILL_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
    ] {
        env.insert(k.into(), v);
    }
    for (k, v) in env.iter_mut() {
        if k.starts_with("COSTMILL_ALERTS__SLACK__") {
            *v = format!("http://127.0.0.1:{closed}/hook");
        }
    }
    let log = dir.path().join("serve.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Killed(
        Command::new(BIN)
            .args(deploy.container().args.clone().unwrap())
            .env_clear()
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let addr = format!("127.0.0.1:{port}");
    let get = |path: &str| {
        http(
            &addr,
            format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes(),
        )
    };
    let c = deploy.container();
    let probes = [&c.startup_probe, &c.liveness_probe, &c.readiness_probe];
    for probe in probes {
        let path = probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .clone()
            .unwrap();
        let (status, body) = wait_for(
            Duration::from_secs(60),
            || format!("{path}:\n{}", logs()),
            || {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "serve exited:\n{}",
                    logs()
                );
                get(&path).filter(|(status, _)| *status == 200)
            },
        );
        assert_eq!(status, 200, "{path}: {body}");
    }
    assert_eq!(get("/readyz").unwrap().1, "ready\n");
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let grace = deploy.pod().termination_grace_period_seconds.unwrap() as u64;
    let status = wait_for(
        Duration::from_secs(grace),
        || format!("no exit:\n{}", logs()),
        || child.try_wait().unwrap(),
    );
    assert!(status.success(), "{status}:\n{}", logs());
    assert!(logs().contains("costmill serve: stopped"), "{}", logs());
}

/// A child process killed if the test ends without it having exited.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
