#!/usr/bin/env bash
# Ingest benchmark. One generated FOCUS CSV (the `clickhouse` flavor, so that ClickHouse's own CSV
# reader accepts it too) is loaded, alternately, by `costmill ingest focus FILE --source bench` and by
# `clickhouse-client --query "INSERT INTO bench_focus_native (<header>) FORMAT CSVWithNames"` into the
# same column layout (queries/sql/bench_focus_native.sql), ROUNDS times each, on costmill's managed
# server. Every run starts from the same state: the database dropped, the server restarted, the schema
# migrated again, no merge running. After every run the script waits until the database's background
# merges are done (not counted in the run's time).
#
# Per run: wall time, peak RSS and CPU time of the measured process (costmill, or clickhouse-client),
# and the server's CPU time during the run and peak RSS since its restart; then the medians and the
# ratio costmill / native of the medians.
#
# Usage: bench/ingest/run.sh [ROWS] [ROUNDS]        (defaults: 1000000 rows, 5 rounds)
#   COSTMILL_BIN=path/to/costmill   use this binary instead of building target/release/costmill
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
ROWS="${1:-1000000}"
ROUNDS="${2:-5}"
case "$ROWS$ROUNDS" in *[!0-9]*) echo "usage: bench/ingest/run.sh [ROWS] [ROUNDS]" >&2; exit 2 ;; esac
[ "$ROWS" -gt 0 ] && [ "$ROUNDS" -gt 0 ] || { echo "usage: bench/ingest/run.sh [ROWS] [ROUNDS]" >&2; exit 2; }

scripts/setup.sh >/dev/null
if [ -n "${COSTMILL_BIN:-}" ]; then
    BIN="$(realpath "$COSTMILL_BIN")"
else
    cargo build --release -q -p costmill
    BIN="$ROOT/target/release/costmill"
fi
[ -x "$BIN" ] || { echo "bench/ingest: $BIN is not an executable" >&2; exit 1; }

# Only the defaults: no caller's costmill.toml, server URL or database name.
for var in $(compgen -e); do case "$var" in COSTMILL_*) unset "$var" ;; esac; done
WORK="$(mktemp -d "${TMPDIR:-/tmp}/costmill-bench-ingest.XXXXXX")"
export COSTMILL_DATA_DIR="$WORK/data"
cleanup() { "$BIN" db stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
cd "$WORK"
DB=costmill

CSV="$WORK/focus.csv"
"$BIN" generate focus --rows "$ROWS" --seed 1 --flavor clickhouse -o "$CSV" 2>/dev/null
SIZE_MB=$(( $(stat -c %s "$CSV") / 1048576 ))
HEADER="$(head -1 "$CSV")"
TICKS=$(getconf CLK_TCK)

start_server() { # `db migrate` starts costmill's managed server and creates the schema
    "$BIN" db migrate >/dev/null
    read -r PORT SERVER_PID < <(python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(s['tcp_port'], s['pid'])" \
        "$COSTMILL_DATA_DIR/clickhouse/server.json")
    CH=(clickhouse-client --host 127.0.0.1 --port "$PORT")
}
server_cpu() { # the server's user + system CPU seconds so far
    awk -v t="$TICKS" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / t }' "/proc/$SERVER_PID/stat"
}
server_hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status"; }

wait_merges() { # until the database has no background merge, at most 30 minutes
    local n deadline=$((SECONDS + 1800))
    while n=$("${CH[@]}" --query "SELECT count() FROM system.merges WHERE database = '$DB'"); [ "$n" != 0 ]; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "bench/ingest: merges still running after 30 minutes" >&2; exit 1; }
        sleep 0.5
    done
}

reset() { # the same state before every run: a fresh server, a freshly migrated database, no merge
    "${CH[@]}" --query "DROP DATABASE IF EXISTS $DB"
    "$BIN" db stop >/dev/null
    start_server
    "${CH[@]}" --database "$DB" --multiquery < "$ROOT/queries/sql/bench_focus_native.sql"
    wait_merges
}
start_server

RESULTS="$WORK/results"
: > "$RESULTS"
run() { # run costmill|native; appends "name round wall_s rss_kb cpu_s server_cpu_s server_hwm_kb rows"
    local name=$1 table input cpu0 cpu1 hwm wall rss user sys cmd
    reset # after it: the server's port and pid, for the command and the figures
    case "$name" in
        costmill) table=focus_costs input=/dev/null cmd=("$BIN" ingest focus "$CSV" --source bench) ;;
        native) table=bench_focus_native input="$CSV"
            cmd=("${CH[@]}" --database "$DB" --query "INSERT INTO bench_focus_native ($HEADER) FORMAT CSVWithNames") ;;
    esac
    cpu0=$(server_cpu)
    /usr/bin/time -f "%e %M %U %S" -o "$WORK/time" "${cmd[@]}" < "$input" > "$WORK/out" 2>&1 || {
        echo "bench/ingest: $name failed:" >&2; tail -20 "$WORK/out" >&2; exit 1; }
    cpu1=$(server_cpu)
    hwm=$(server_hwm_kb)
    wait_merges
    read -r wall rss user sys < "$WORK/time"
    echo "$name $round $wall $rss $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') \
$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }') $hwm \
$("${CH[@]}" --database "$DB" --query "SELECT count() FROM $table")" >> "$RESULTS"
}

echo "bench/ingest: $ROWS FOCUS rows, $SIZE_MB MB CSV, $ROUNDS rounds of costmill then clickhouse-client" >&2
for round in $(seq "$ROUNDS"); do
    run costmill
    run native
    echo "  round $round/$ROUNDS done" >&2
done

python3 - "$ROWS" "$SIZE_MB" "$ROUNDS" "$RESULTS" <<'PY'
import statistics, sys
rows, size, rounds, path = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
runs = {"costmill": [], "native": []}
for line in open(path):
    name, rnd, wall, rss, cpu, scpu, shwm, landed = line.split()
    runs[name].append(dict(round=int(rnd), s=float(wall), rate=rows / max(float(wall), 0.01),
                           rss=int(rss) / 1024, cpu=float(cpu), scpu=float(scpu),
                           shwm=int(shwm) / 1024 if shwm.isdigit() else None, landed=int(landed)))
label = {"costmill": "costmill ingest focus", "native": "clickhouse-client CSV"}
cols = "{:<33} {:>7} {:>10} {:>10} {:>6} {:>12} {:>15}"
mib = lambda v: "n/a" if v is None else f"{v:.0f} MiB"
def row(title, r):
    return cols.format(title, f"{r['s']:.2f}", f"{r['rate']:,.0f}", mib(r["rss"]), f"{r['cpu']:.1f}",
                       f"{r['scpu']:.1f}", mib(r["shwm"]))
print(f"bench/ingest: {rows:,} FOCUS rows ({size} MB CSV), {rounds} alternating rounds, same start state, merges waited")
print(cols.format("", "wall s", "rows/s", "peak RSS", "CPU s", "server CPU s", "server peak RSS"))
for i in range(rounds):
    for name in ("costmill", "native"):
        r = runs[name][i]
        print(row(f"round {r['round']} {label[name]}", r))
        if r["landed"] != rows:
            print(f"  warning: {r['landed']:,} rows landed, expected {rows:,}")
med = {}
for name in ("costmill", "native"):
    rs = runs[name]
    m = {k: statistics.median(r[k] for r in rs) for k in ("s", "rss", "cpu", "scpu")}
    m["rate"] = rows / max(m["s"], 0.01)
    hw = [r["shwm"] for r in rs if r["shwm"] is not None]
    m["shwm"] = statistics.median(hw) if hw else None
    med[name] = m
print(row(f"median {label['costmill']}", med["costmill"]))
print(row(f"median {label['native']}", med["native"]))
c, n = med["costmill"], med["native"]
ratio = lambda a, b: "n/a" if a is None or not b else f"{a / b:.2f}x"
print(f"costmill / native, medians: wall time {ratio(c['s'], n['s'])}, rows/s {ratio(c['rate'], n['rate'])}, "
      f"peak RSS {ratio(c['rss'], n['rss'])}, CPU {ratio(c['cpu'], n['cpu'])}, "
      f"server CPU {ratio(c['scpu'], n['scpu'])}")
print("peak RSS, CPU s: the measured process only; server: clickhouse-server, CPU during the run, peak RSS since its restart")
PY
