//! The managed ClickHouse server: one private `clickhouse-server` per data dir, on free
//! loopback ports, started on first use and reused by later commands.
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Where a running managed server listens; recorded in `<dir>/server.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServerState {
    pub pid: u32,
    pub http_port: u16,
    pub tcp_port: u16,
    pub binary: PathBuf,
}

impl ServerState {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }
}

/// The managed server's directory under a data dir.
/// Absolute: the server runs with this directory as its working directory, so a relative data
/// dir (`data_dir = "data"`) would otherwise be resolved twice.
pub fn server_dir(data_dir: &Path) -> PathBuf {
    std::path::absolute(data_dir)
        .unwrap_or_else(|_| data_dir.to_path_buf())
        .join("clickhouse")
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("server.json")
}

/// The recorded server, if its process is alive and answers `/ping`.
pub fn running(data_dir: &Path) -> Option<ServerState> {
    let dir = server_dir(data_dir);
    let text = fs::read_to_string(state_path(&dir)).ok()?;
    let state: ServerState = serde_json::from_str(&text).ok()?;
    (process_alive(state.pid) && ping(state.http_port)).then_some(state)
}

/// Reuse the recorded server or start a new one. Concurrent callers serialize on a lock file,
/// so two commands started together share one server.
pub fn ensure_running(
    data_dir: &Path,
    binary: Option<&Path>,
    timeout: Duration,
    password: &str,
) -> Result<ServerState, StoreError> {
    let dir = server_dir(data_dir);
    fs::create_dir_all(&dir).map_err(StoreError::io(&dir))?;
    let _lock = lock_dir(&dir)?;
    // The configured password, hashed; a running server reloads users.xml when it changes.
    let users = users_xml(password);
    let users_path = dir.join("users.xml");
    if fs::read_to_string(&users_path).ok().as_deref() != Some(users.as_str()) {
        write_file(&users_path, &users)?;
    }
    if let Some(state) = running(data_dir) {
        return Ok(state);
    }
    let binary = find_binary(binary)?;
    let state = start(&dir, &binary, timeout, "UTC")?;
    let path = state_path(&dir);
    fs::write(
        &path,
        serde_json::to_string_pretty(&state).expect("state serializes"),
    )
    .map_err(StoreError::io(&path))?;
    Ok(state)
}

/// The lock that serialises starting and stopping the managed server of a directory.
fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let lock_path = dir.join(".lock");
    let lock = File::create(&lock_path).map_err(StoreError::io(&lock_path))?;
    lock.lock().map_err(StoreError::io(&lock_path))?;
    Ok(lock)
}

/// Whether `pid` is a ClickHouse server started with this directory's config file: a recorded
/// pid may have been reused by an unrelated process since.
fn is_our_server(pid: u32, dir: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let expected = format!("--config-file={}", dir.join("config.xml").display());
    args.first().is_some_and(|a| a.contains("clickhouse")) && args.iter().any(|a| *a == expected)
}

/// Stop the managed server of a data dir. Returns whether one was running.
pub fn stop(data_dir: &Path) -> Result<bool, StoreError> {
    let dir = server_dir(data_dir);
    if !dir.exists() {
        return Ok(false);
    }
    let _lock = lock_dir(&dir)?;
    let path = state_path(&dir);
    let Ok(text) = fs::read_to_string(&path) else {
        return Ok(false);
    };
    let Ok(state) = serde_json::from_str::<ServerState>(&text) else {
        return Ok(false);
    };
    if process_alive(state.pid) && !is_our_server(state.pid, &dir) {
        // The pid was reused: our server is gone; never signal a stranger.
        tracing::warn!(
            pid = state.pid,
            "the recorded pid is not this data dir's ClickHouse server; not signalling it"
        );
        fs::remove_file(&path).map_err(StoreError::io(&path))?;
        return Ok(false);
    }
    let was_running = process_alive(state.pid);
    if was_running {
        // SAFETY: plain syscall on a pid we recorded ourselves.
        unsafe { libc::kill(state.pid as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while process_alive(state.pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if process_alive(state.pid) {
            unsafe { libc::kill(state.pid as libc::pid_t, libc::SIGKILL) };
        }
    }
    fs::remove_file(&path).map_err(StoreError::io(&path))?;
    Ok(was_running)
}

fn find_binary(configured: Option<&Path>) -> Result<PathBuf, StoreError> {
    if let Some(path) = configured {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(StoreError::ServerBinaryMissing {
                looked: path.display().to_string(),
            })
        };
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/bin", "/usr/sbin", "/usr/local/bin"].map(PathBuf::from));
    for name in ["clickhouse-server", "clickhouse"] {
        if let Some(found) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) {
            return Ok(found);
        }
    }
    Err(StoreError::ServerBinaryMissing {
        looked: "clickhouse-server and clickhouse on PATH, /usr/bin, /usr/sbin, /usr/local/bin"
            .into(),
    })
}

fn free_port() -> Result<u16, StoreError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(StoreError::io("127.0.0.1:0"))?;
    Ok(listener
        .local_addr()
        .map_err(StoreError::io("127.0.0.1:0"))?
        .port())
}

/// A private server whose own timezone is `timezone`, for the tests that prove costmill's days
/// and months do not depend on it. Stop it with [`stop`].
#[cfg(feature = "test-support")]
pub fn start_in_timezone(data_dir: &Path, timezone: &str) -> Result<ServerState, StoreError> {
    let dir = server_dir(data_dir);
    fs::create_dir_all(&dir).map_err(StoreError::io(&dir))?;
    write_file(&dir.join("users.xml"), &users_xml(""))?;
    let state = start(&dir, &find_binary(None)?, Duration::from_secs(60), timezone)?;
    let path = state_path(&dir);
    write_file(
        &path,
        &serde_json::to_string_pretty(&state).expect("state serializes"),
    )?;
    Ok(state)
}

fn start(
    dir: &Path,
    binary: &Path,
    timeout: Duration,
    timezone: &str,
) -> Result<ServerState, StoreError> {
    for sub in ["data", "tmp", "user_files", "log"] {
        let path = dir.join(sub);
        fs::create_dir_all(&path).map_err(StoreError::io(&path))?;
    }
    let (http_port, tcp_port) = (free_port()?, free_port()?);
    let config_path = dir.join("config.xml");
    write_file(
        &config_path,
        &server_config(dir, http_port, tcp_port, timezone),
    )?;

    let log_path = dir.join("log").join("stdout.log");
    let log = File::create(&log_path).map_err(StoreError::io(&log_path))?;
    let log_err = log.try_clone().map_err(StoreError::io(&log_path))?;
    let mut command = Command::new(binary);
    // The multi-call `clickhouse` binary needs the `server` verb; `clickhouse-server` does not.
    if binary.file_name().is_some_and(|n| n == "clickhouse") {
        command.arg("server");
    }
    command
        .arg(format!("--config-file={}", config_path.display()))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Own process group: Ctrl-C on a costmill command must not take the shared server down.
        .process_group(0);
    let mut child = command.spawn().map_err(|source| StoreError::ServerSpawn {
        binary: binary.to_path_buf(),
        source,
    })?;
    tracing::info!(port = http_port, dir = %dir.display(), "started managed ClickHouse server");

    let deadline = Instant::now() + timeout;
    let err_log = dir.join("log").join("err.log");
    loop {
        if ping(http_port) {
            return Ok(ServerState {
                pid: child.id(),
                http_port,
                tcp_port,
                binary: binary.to_path_buf(),
            });
        }
        let exited = matches!(child.try_wait(), Ok(Some(_)));
        if exited || Instant::now() > deadline {
            let mut tail = tail_of(&err_log, 1500);
            if tail.is_empty() {
                tail = tail_of(&log_path, 1500);
            }
            let tail = if tail.is_empty() {
                String::new()
            } else {
                format!(":\n{tail}")
            };
            let _ = child.kill();
            return Err(StoreError::ServerNotReady {
                seconds: timeout.as_secs(),
                log: err_log,
                tail,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), StoreError> {
    File::create(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(StoreError::io(path))
}

fn tail_of(path: &Path, bytes: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(bytes);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].trim().to_string()
}

/// GET /ping over plain HTTP/1.0; ClickHouse answers `Ok.`.
fn ping(port: u16) -> bool {
    let Ok(mut stream) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.") && response.contains(" 200 ") && response.ends_with("Ok.\n")
}

fn process_alive(pid: u32) -> bool {
    // A zombie (exited, not yet reaped by a parent in this process) counts as dead.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn server_config(dir: &Path, http_port: u16, tcp_port: u16, timezone: &str) -> String {
    let d = dir.display();
    // <yandex> is the root both 18.16 and current releases accept.
    format!(
        r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/log/server.log</log><errorlog>{d}/log/err.log</errorlog></logger>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>536870912</mark_cache_size>
  <timezone>{timezone}</timezone>
</yandex>
"#
    )
}

fn users_xml(password: &str) -> String {
    let password = if password.is_empty() {
        "<password></password>".to_string()
    } else {
        use sha2::Digest;
        let hash = sha2::Sha256::digest(password.as_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        format!("<password_sha256_hex>{hex}</password_sha256_hex>")
    };
    USERS_XML.replace("<password></password>", &password)
}

const USERS_XML: &str = r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>10000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"#;
