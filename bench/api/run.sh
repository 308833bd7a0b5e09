#!/usr/bin/env bash
# REST API latency under load (issue #10): `costmill serve` over ROWS generated FOCUS cost rows
# (default 10,000,000: 12 months from 2025-12, seed 1), ingested, allocated with the demo rules and
# daily service metrics, with alerts (`costmill alerts check`), budgets per team and optimizer-shaped
# recommendations, on costmill's managed ClickHouse. The driver (api/examples/api_load) sends an
# open-loop mix of dashboard and portal requests on loopback at RATE req/s for DURATION s, ROUNDS
# times, latency measured from each request's scheduled time. It prints each route's service time
# (requests one at a time), then p50/p90/p99/max and errors per route and overall per round, the
# medians next to the target (p99 < 50 ms), and the heavy FOCUS export timed on its own.
#
# The prepared database is cached (generating, ingesting and allocating 10M rows takes minutes, see
# bench/api/README.md): under $BENCH_API_CACHE (default ~/.cache/costmill-bench-api), one
# directory per row count and fingerprint of what shapes the data (the generator, the demo rules,
# the recommendations SQL, bench/api/prepare.sh, the migrations' names). A re-run reuses it;
# BENCH_API_FRESH=1 prepares it again (do so after changing the allocator or the ingest).
#
# Usage: bench/api/run.sh [ROWS] [RATE] [DURATION] [ROUNDS]   (defaults: 10000000 200 60 3)
#   e.g. a quick smoke run: bench/api/run.sh 200000 50 10 1
#   EXPORT_RUNS=N   timed runs of each export request (default 3; 0: none)
#   COSTMILL_BIN=path/to/costmill   use this binary instead of building target/release/costmill
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
ROWS="${1:-10000000}"
RATE="${2:-200}"
DURATION="${3:-60}"
ROUNDS="${4:-3}"
EXPORT_RUNS="${EXPORT_RUNS:-3}"
USAGE="usage: bench/api/run.sh [ROWS] [RATE] [DURATION] [ROUNDS]"
case "$ROWS$RATE$DURATION$ROUNDS$EXPORT_RUNS" in *[!0-9]*) echo "$USAGE" >&2; exit 2 ;; esac
[ "$ROWS" -gt 0 ] && [ "$RATE" -gt 0 ] && [ "$DURATION" -gt 0 ] && [ "$ROUNDS" -gt 0 ] || { echo "$USAGE" >&2; exit 2; }

scripts/setup.sh >/dev/null
cargo build --release -q -p costmill --example api_load
if [ -n "${COSTMILL_BIN:-}" ]; then
    BIN="$(realpath "$COSTMILL_BIN")"
else
    cargo build --release -q -p costmill
    BIN="$ROOT/target/release/costmill"
fi
LOAD="$ROOT/target/release/examples/api_load"

# Only the defaults and the bench's own costmill.toml: no caller's server URL or database.
for var in $(compgen -e); do case "$var" in COSTMILL_*) unset "$var" ;; esac; done
# The cache key: what shapes the data (the generator, the demo rules, the preparation) and the
# schema's migrations by name.
KEY=$( (cat ingest/src/generate.rs api/src/demo_allocation.toml queries/sql/bench_api_recommendations.sql \
    bench/api/prepare.sh; ls queries/migrations) | sha256sum | cut -c1-12)
CACHE_ROOT="${BENCH_API_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/costmill-bench-api}"
CACHE="$CACHE_ROOT/rows-$ROWS-$KEY"
export COSTMILL_DATA_DIR="$CACHE/data"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/costmill-bench-api.XXXXXX")"
SERVE_PID=""
cleanup() {
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    [ -d "$CACHE" ] && (cd "$CACHE" && "$BIN" db stop >/dev/null 2>&1) || true
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ "${BENCH_API_FRESH:-0}" = 1 ] || [ ! -f "$CACHE/ready" ]; then
    # The same row count prepared by older code (another fingerprint) is never reused, and big.
    for old in "$CACHE_ROOT"/rows-"$ROWS"-*; do
        [ -d "$old" ] || continue
        echo "bench/api: removing the stale prepared data $old" >&2
        (cd "$old" && COSTMILL_DATA_DIR="$old/data" "$BIN" db stop >/dev/null 2>&1) || true
        rm -rf "$old"
    done
    mkdir -p "$CACHE"
    bash "$ROOT/bench/api/prepare.sh" "$BIN" "$CACHE" "$ROWS"
    touch "$CACHE/ready"
else
    echo "bench/api: reusing the prepared data in $CACHE (BENCH_API_FRESH=1 rebuilds it)" >&2
fi
cd "$CACHE"
"$BIN" db migrate >/dev/null
PORT_CH=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tcp_port'])" "$COSTMILL_DATA_DIR/clickhouse/server.json")
CH=(clickhouse-client --host 127.0.0.1 --port "$PORT_CH" --database costmill)

PORT=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
# BENCH_API_RESPONSE_CACHE=off: every request queries ClickHouse (the rollups' share of the figures).
SERVE_ENV=()
[ "${BENCH_API_RESPONSE_CACHE:-on}" = off ] && SERVE_ENV=(COSTMILL_SERVE__API_CACHE_MB=0)
env "${SERVE_ENV[@]}" "$BIN" serve --listen "127.0.0.1:$PORT" > "$WORK/serve.log" 2>&1 &
SERVE_PID=$!
ready() { python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "http://127.0.0.1:$PORT/readyz" 2>/dev/null; }
for _ in $(seq 1 120); do
    ready && break
    kill -0 "$SERVE_PID" 2>/dev/null || { echo "bench/api: costmill serve exited:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
    sleep 0.5
done
ready || { echo "bench/api: costmill serve is not ready after 60 s" >&2; cat "$WORK/serve.log" >&2; exit 1; }

echo "bench/api: response cache ${BENCH_API_RESPONSE_CACHE:-on}"
echo "bench/api: costmill serve on 127.0.0.1:$PORT, ClickHouse $("${CH[@]}" --query 'SELECT version()'), $(nproc) cores"
"${CH[@]}" --query "
    SELECT table, sum(rows), count(), formatReadableSize(sum(bytes))
    FROM system.parts WHERE database = 'costmill' AND active
      AND table IN ('focus_costs', 'allocations', 'service_metrics', 'alerts', 'recommendations')
    GROUP BY table ORDER BY sum(rows) DESC" |
    awk -F'\t' '{ printf "  %-16s %12d rows  %5d parts  %10s on disk\n", $1, $2, $3, $4 }'
[ -f "$CACHE/prepare.txt" ] && sed 's/^/  /' "$CACHE/prepare.txt"

# Other work on the machine slows the server as much as the load does: show it.
echo "  machine load average before the rounds: $(cut -d' ' -f1-3 /proc/loadavg)"
"$LOAD" --url "http://127.0.0.1:$PORT" --token "$(cat "$CACHE/token")" --rate "$RATE" --duration "$DURATION" \
    --rounds "$ROUNDS" --export-runs "$EXPORT_RUNS"
echo "machine load average after the rounds: $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -qiE "error|panic" "$WORK/serve.log"; then
    echo "costmill serve logged errors:"
    grep -iE "error|panic" "$WORK/serve.log" | head -10
fi
