//! bench/api's load driver: an open-loop HTTP/1.1 client for `costmill serve`'s REST API.
//!
//! Requests are scheduled on a clock, `--rate` per second for `--duration` seconds, whatever the
//! server does; each one's latency runs from its scheduled time to the end of its answer, so a slow
//! server cannot hide the queue it causes (no coordinated omission). A request that finds no idle
//! keep-alive connection opens a new one. The mix is what dashboards and team portals ask for (see
//! `MIX`); its parameters (teams, services, months) come from the API itself before the first
//! round. Per round it prints p50/p90/p99/max and errors (non-2xx, transport, timeouts) per route
//! and overall, then the medians over the rounds next to the target. Before the rounds, `--probe`
//! requests of each route are sent one at a time, with nothing else in flight: each route's own
//! service time, and what the mix costs per request on average (what bounds the rate the server
//! can sustain). Each round, and the export, starts once the server has worked off the backlog
//! of the previous one (see `settle`). `/v1/export/focus` is heavy:
//! it is not in the mix but timed on its own after the rounds (`--export-runs`).
//!
//! The client is a plain tokio `TcpStream` speaking HTTP/1.1 (Content-Length and chunked bodies),
//! so the bench needs no HTTP client dependency.
//!
//! cargo run --release -p costmill --example api_load -- --url http://127.0.0.1:8080 --token TOKEN
//!     [--rate 200] [--duration 60] [--rounds 3] [--warmup 5] [--seed 1] [--probe 10] [--export-runs 3]
//!     [--timeout 30] [--target-p99-ms 50]
mod http;
mod mix;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Client;
use mix::{discover, month_after, Data, Rng, MIX};

struct Args {
    addr: String,
    token: String,
    rate: f64,
    duration: f64,
    rounds: usize,
    warmup: f64,
    seed: u64,
    export_runs: usize,
    probe: usize,
    timeout: Duration,
    target_ms: f64,
}

fn args() -> Args {
    let mut a = Args {
        addr: String::new(),
        token: String::new(),
        rate: 200.0,
        duration: 60.0,
        rounds: 3,
        warmup: 5.0,
        seed: 1,
        export_runs: 3,
        probe: 10,
        timeout: Duration::from_secs(30),
        target_ms: 50.0,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: api_load --url http://HOST:PORT --token TOKEN [--rate N] [--duration S] \
                 [--rounds N] [--warmup S] [--seed N] [--probe N] [--export-runs N] [--timeout S] [--target-p99-ms MS]";
    for pair in argv.chunks(2) {
        let [flag, value] = pair else {
            panic!("{usage}")
        };
        let num = || {
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("{flag} {value}: not a number\n{usage}"))
        };
        match flag.as_str() {
            "--url" => {
                let rest = value
                    .strip_prefix("http://")
                    .unwrap_or_else(|| panic!("--url: http:// only"));
                a.addr = rest.trim_end_matches('/').to_string();
            }
            "--token" => a.token = value.clone(),
            "--rate" => a.rate = num(),
            "--duration" => a.duration = num(),
            "--rounds" => a.rounds = num() as usize,
            "--warmup" => a.warmup = num(),
            "--seed" => a.seed = num() as u64,
            "--export-runs" => a.export_runs = num() as usize,
            "--probe" => a.probe = num() as usize,
            "--timeout" => a.timeout = Duration::from_secs_f64(num()),
            "--target-p99-ms" => a.target_ms = num(),
            _ => panic!("unknown flag {flag}\n{usage}"),
        }
    }
    assert!(!a.addr.is_empty() && !a.token.is_empty(), "{usage}");
    assert!(a.rate > 0.0 && a.duration > 0.0 && a.rounds > 0, "{usage}");
    a
}

struct Sample {
    latency_ms: f64,
    ok: bool,
    /// Why it failed (status and the start of the body, or the transport error), and its path.
    what: String,
    path: String,
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Clone, Copy, Default)]
struct Figures {
    n: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    errors: usize,
}

fn figures(samples: &[&Sample]) -> Figures {
    let mut v: Vec<f64> = samples.iter().map(|s| s.latency_ms).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    Figures {
        n: v.len(),
        p50: pct(&v, 50.0),
        p90: pct(&v, 90.0),
        p99: pct(&v, 99.0),
        max: v.last().copied().unwrap_or(f64::NAN),
        errors: samples.iter().filter(|s| !s.ok).count(),
    }
}

const HEADER: &str = "route                            requests     p50 ms     p90 ms     p99 ms     max ms   errors";

fn line(name: &str, f: &Figures) -> String {
    format!(
        "{name:<32} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>8}",
        f.n, f.p50, f.p90, f.p99, f.max, f.errors
    )
}

struct Round {
    per_route: Vec<Figures>,
    all: Figures,
    /// How late the scheduler itself sent its latest request (the driver's own health).
    max_dispatch_lag_ms: f64,
    connections: usize,
}

/// Send `rate`/s for `seconds` on a fixed schedule; wait for every answer (or its timeout).
async fn run(
    client: &Client,
    data: &Data,
    rng: &mut Rng,
    rate: f64,
    seconds: f64,
    timeout: Duration,
) -> (Vec<(usize, Sample)>, f64) {
    let total = (rate * seconds).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let results = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let mut tasks = Vec::with_capacity(total);
    let mut max_lag = 0f64;
    for i in 0..total {
        let (route, path) = data.request(rng);
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due).await;
        max_lag = max_lag.max(due.elapsed().as_secs_f64() * 1000.0);
        let (client, results) = (client.clone(), results.clone());
        let due: Instant = due.into_std();
        tasks.push(tokio::spawn(async move {
            let outcome = tokio::time::timeout(timeout, client.get(&path)).await;
            let latency_ms = due.elapsed().as_secs_f64() * 1000.0;
            let (ok, what) = match outcome {
                Ok(Ok(a)) if (200..300).contains(&a.status) => (true, String::new()),
                Ok(Ok(a)) => {
                    let body =
                        String::from_utf8_lossy(&a.body[..a.body.len().min(160)]).into_owned();
                    (false, format!("HTTP {}: {body}", a.status))
                }
                Ok(Err(e)) => (false, format!("transport: {e}")),
                Err(_) => (false, format!("timeout after {timeout:?}")),
            };
            results.lock().unwrap().push((
                route,
                Sample {
                    latency_ms,
                    ok,
                    what,
                    path,
                },
            ));
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let out = std::mem::take(&mut *results.lock().unwrap());
    (out, max_lag)
}

fn summarize(samples: &[(usize, Sample)], max_lag: f64, connections: usize) -> Round {
    let per_route = (0..MIX.len())
        .map(|r| {
            figures(
                &samples
                    .iter()
                    .filter(|(x, _)| *x == r)
                    .map(|(_, s)| s)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let all = figures(&samples.iter().map(|(_, s)| s).collect::<Vec<_>>());
    Round {
        per_route,
        all,
        max_dispatch_lag_ms: max_lag,
        connections,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn median_figures(all: &[Figures]) -> Figures {
    let m = |f: fn(&Figures) -> f64| median(all.iter().map(f).collect());
    Figures {
        n: m(|f| f.n as f64) as usize,
        p50: m(|f| f.p50),
        p90: m(|f| f.p90),
        p99: m(|f| f.p99),
        max: m(|f| f.max),
        errors: m(|f| f.errors as f64) as usize,
    }
}

/// The heavy route on its own: a month of every team, then a month of one team, `runs` times each.
async fn export(client: &Client, data: &Data, runs: usize) {
    if runs == 0 {
        return;
    }
    let month = &data.months[data.months.len().saturating_sub(2)];
    let window = format!("from={}&to={}", &month[..7], month_after(month, 1));
    let team = &data.teams[0];
    println!(
        "\n/v1/export/focus, not in the mix: {runs} sequential runs each, nothing else running"
    );
    println!(
        "{:<62} {:>10} {:>10} {:>12}",
        "request", "median s", "max s", "bytes"
    );
    for path in [
        format!("/v1/export/focus?{window}"),
        format!("/v1/export/focus?{window}&team={team}"),
    ] {
        let (mut secs, mut bytes) = (Vec::new(), 0);
        for _ in 0..runs {
            let t = Instant::now();
            match client.get(&path).await {
                Ok(a) if a.status == 200 => bytes = a.body.len(),
                Ok(a) => println!(
                    "  {path}: HTTP {} {}",
                    a.status,
                    String::from_utf8_lossy(&a.body[..a.body.len().min(200)])
                ),
                Err(e) => println!("  {path}: {e}"),
            }
            secs.push(t.elapsed().as_secs_f64());
        }
        let max = secs.iter().copied().fold(0f64, f64::max);
        println!(
            "{path:<62} {:>10.2} {:>10.2} {bytes:>12}",
            median(secs),
            max
        );
    }
}

/// Each route alone, `n` requests one after another: its service time without queueing.
async fn probe(client: &Client, data: &Data, rng: &mut Rng, n: usize, timeout: Duration) {
    if n == 0 {
        return;
    }
    println!("\nservice time: {n} requests per route, one at a time, nothing else in flight");
    println!("{HEADER}");
    let (mut weighted, mut weights) = (0f64, 0f64);
    for (r, (name, weight)) in MIX.iter().enumerate() {
        let mut samples = Vec::new();
        for _ in 0..n {
            let path = data.path(r, rng);
            let t = Instant::now();
            let ok = matches!(
                tokio::time::timeout(timeout, client.get(&path)).await,
                Ok(Ok(a)) if (200..300).contains(&a.status)
            );
            let latency_ms = t.elapsed().as_secs_f64() * 1000.0;
            let what = String::new();
            samples.push(Sample {
                latency_ms,
                ok,
                what,
                path,
            });
        }
        let mean = samples.iter().map(|s| s.latency_ms).sum::<f64>() / n as f64;
        weighted += mean * f64::from(*weight);
        weights += f64::from(*weight);
        println!(
            "{}",
            line(name, &figures(&samples.iter().collect::<Vec<_>>()))
        );
    }
    let mean = weighted / weights;
    println!(
        "the mix's mean service time: {mean:.1} ms a request, i.e. {:.0} req/s one at a time",
        1000.0 / mean
    );
}

/// Wait until the server has worked off what earlier requests left behind (an abandoned request's
/// ClickHouse query runs on): `/v1/alerts`, a cheap route, answering within 50 ms three times in a
/// row, 10 minutes at most. Rounds and the export then start from an idle server.
async fn settle(client: &Client, what: &str) {
    let start = Instant::now();
    let mut fast = 0;
    while fast < 3 && start.elapsed() < Duration::from_secs(600) {
        let t = Instant::now();
        let ok = matches!(
            tokio::time::timeout(Duration::from_secs(30), client.get("/v1/alerts")).await,
            Ok(Ok(a)) if a.status == 200
        );
        fast = if ok && t.elapsed() < Duration::from_millis(50) {
            fast + 1
        } else {
            0
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let waited = start.elapsed().as_secs_f64();
    if waited > 2.0 {
        println!("  (waited {waited:.0} s for the server to work off its backlog before {what})");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = args();
    let client = Client::new(&a.addr, &a.token);
    let data = discover(&client).await;
    println!(
        "api_load: {} months ({} to {}), {} teams, {} services; open loop {} req/s for {} s, {} round(s), warm-up {} s",
        data.months.len(), data.months[0], data.months[data.months.len() - 1], data.teams.len(),
        data.services.len(), a.rate, a.duration, a.rounds, a.warmup
    );
    let mut rng = Rng(a.seed);
    probe(&client, &data, &mut rng, a.probe, a.timeout).await;
    if a.warmup > 0.0 {
        let (warm, _) = run(&client, &data, &mut rng, a.rate, a.warmup, a.timeout).await;
        let errs = warm.iter().filter(|(_, s)| !s.ok).count();
        println!(
            "warm-up: {} requests, {errs} errors (not counted)",
            warm.len()
        );
    }
    let mut rounds = Vec::new();
    // (route, error) -> (count, an example path)
    let mut examples: BTreeMap<(usize, String), (usize, String)> = BTreeMap::new();
    for i in 1..=a.rounds {
        settle(&client, &format!("round {i}")).await;
        let opened = *client.opened.lock().unwrap();
        let (samples, lag) = run(&client, &data, &mut rng, a.rate, a.duration, a.timeout).await;
        for (r, s) in samples.iter().filter(|(_, s)| !s.ok) {
            let e = examples
                .entry((*r, s.what.clone()))
                .or_insert((0, s.path.clone()));
            e.0 += 1;
        }
        let round = summarize(&samples, lag, *client.opened.lock().unwrap() - opened);
        println!(
            "\nround {i}/{}: {} requests at {} req/s over {} s",
            a.rounds, round.all.n, a.rate, a.duration
        );
        println!("{HEADER}");
        for (r, (name, _)) in MIX.iter().enumerate() {
            println!("{}", line(name, &round.per_route[r]));
        }
        println!("{}", line("all", &round.all));
        println!(
            "  driver: latest dispatch {:.1} ms behind schedule; {} new connection(s) this round",
            round.max_dispatch_lag_ms, round.connections
        );
        rounds.push(round);
    }
    println!(
        "\nmedians over {} round(s) (each figure the median of the rounds' figures)",
        a.rounds
    );
    println!("{HEADER}");
    for (r, (name, _)) in MIX.iter().enumerate() {
        let per: Vec<Figures> = rounds.iter().map(|x| x.per_route[r]).collect();
        println!("{}", line(name, &median_figures(&per)));
    }
    let all = median_figures(&rounds.iter().map(|x| x.all).collect::<Vec<_>>());
    println!("{}", line("all", &all));
    let err_rate = 100.0 * all.errors as f64 / all.n.max(1) as f64;
    println!(
        "\ntarget: p99 < {} ms at {} req/s | measured: p50 {:.1} ms, p99 {:.1} ms, errors {} ({:.2} %) => {}",
        a.target_ms, a.rate, all.p50, all.p99, all.errors, err_rate,
        if all.p99 < a.target_ms && all.errors == 0 { "MET" } else { "MISSED" }
    );
    if !examples.is_empty() {
        println!("errors by kind (all rounds):");
        for ((r, what), (n, path)) in examples.iter().take(20) {
            println!("  {n:>6}  {}: {what}\n          e.g. {path}", MIX[*r].0);
        }
    }
    if a.export_runs > 0 {
        settle(&client, "the export").await;
    }
    export(&client, &data, a.export_runs).await;
}
